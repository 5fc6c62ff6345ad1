package graph_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/graph"
	"github.com/idstream/idstream/projections"
)

// fakePropagator is a test double of the propagation runtime, at the graph's boundary: it
// records its calls and answers what it is given.
type fakePropagator struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakePropagator) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	return f.err
}

func (f *fakePropagator) ProvisionUserNow(_ context.Context, env, ruleID, userID string) (domain.ProvisionTrace, error) {
	if err := f.record("provision " + env + " " + ruleID + " " + userID); err != nil {
		return domain.ProvisionTrace{}, err
	}
	return domain.ProvisionTrace{RuleID: ruleID, IdentityID: userID, InScope: true, Operation: domain.OpUpdate, TargetID: "t1",
		Diff:   []domain.AttributeDiff{{Path: "title", Current: `"Engineer"`, Desired: `"Lead"`}},
		Result: "applied", Steps: []domain.TraceStep{{Name: "scope", Detail: "in scope"}, {Name: "match", Detail: "target t1"}}}, nil
}

func (f *fakePropagator) ResyncRule(_ context.Context, env, ruleID string) (string, error) {
	return "rs-1", f.record("resync " + env + " " + ruleID)
}

func (f *fakePropagator) ReconcileRule(_ context.Context, env, ruleID string) (graph.Reconciliation, error) {
	if err := f.record("reconcile " + env + " " + ruleID); err != nil {
		return graph.Reconciliation{}, err
	}
	return graph.Reconciliation{ResyncID: "rs-2", Identities: 3, Unchanged: 2, Updated: 1, DriftModified: 1, DriftCreated: 1, DriftRepaired: 1}, nil
}

func (f *fakePropagator) Preview(_ context.Context, env string) (domain.PropagationPreview, error) {
	if err := f.record("preview " + env); err != nil {
		return domain.PropagationPreview{}, err
	}
	return domain.PropagationPreview{DraftHash: "sha256:d", PublishedHash: "sha256:p", Rules: []domain.RulePreview{{RuleID: "r1", Creates: 2,
		Samples: []domain.ProvisionTrace{{RuleID: "r1", IdentityID: "u9", Operation: domain.OpCreate, Result: "would apply"}}}}}, nil
}

// withConfig returns e served by a second handler on the same store and read model, whose
// configuration set changes.
func (e *env) withConfig(set func(*graph.Config)) *env {
	cfg := graph.Config{ReadModel: e.reads, Runner: e.runner}
	set(&cfg)
	srv := httptest.NewServer(graph.NewHandler(cfg))
	e.t.Cleanup(srv.Close)
	out := *e
	out.srv = srv
	return &out
}

func statusOutcome(env, rule, id string, kind domain.IdentityKind, op domain.ChangeOperation) domain.ChangeOutcome {
	return domain.ChangeOutcome{EnvironmentID: env, ChangeOrderID: "co-" + id + string(op), RuleID: rule, StoreID: "app", RevisionID: "rev1",
		Kind: kind, IdentityID: id, Operation: op, Trigger: "event"}
}

func TestPropagationStatusThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	org, envID, popID := e.directory()
	alice := e.createUser(org, envID, "alice", "eng", "100001", popID)
	bob := e.createUser(org, envID, "bob", "sales", "100002", "")
	carol := e.createUser(org, envID, "carol", "sales", "100003", "")
	e.appendEvents("propagation-"+envID, envID, domain.PropagationRevisionPublished{EnvironmentID: envID, RevisionID: "rev1", Number: 1,
		Content: domain.PropagationContent{
			Stores: []domain.PropagationStore{{ID: "app", Name: "App", Type: domain.StoreSCIM, Status: domain.StoreActive}},
			Plans:  []domain.PropagationPlan{{ID: "p1", Status: domain.PlanActive}},
			Rules:  []domain.PropagationRule{{ID: "r1", PlanID: "p1", Name: "To app", SourceStoreID: "dir", TargetStoreID: "app", Active: true}}}})
	e.appendEvents("propaccount-r1_"+alice, envID, domain.PropagationChangeApplied{ChangeOutcome: statusOutcome(envID, "r1", alice, domain.IdentityUser, domain.OpCreate),
		Subject: alice, Attributes: []string{"userName", "title"}, Digests: map[string]string{"userName": "sha256:x"}, CreatedByIdstream: true})
	e.appendEvents("propaccount-r1_"+bob, envID, domain.PropagationChangeFailed{ChangeOutcome: statusOutcome(envID, "r1", bob, domain.IdentityUser, domain.OpCreate),
		Class: "CONFLICT", Message: "409 from target", Attempt: 1, Final: true})
	e.appendEvents("propaccount-r1_"+carol, envID, domain.PropagationChangeApplied{ChangeOutcome: statusOutcome(envID, "r1", carol, domain.IdentityUser, domain.OpLink),
		Subject: carol, Attributes: []string{"title"}})
	e.appendEvents("propaccount-r1_g1", envID, domain.PropagationChangeApplied{ChangeOutcome: statusOutcome(envID, "r1", "g1", domain.IdentityGroup, domain.OpCreate),
		Subject: "g1", Attributes: []string{"displayName"}, CreatedByIdstream: true})
	e.appendEvents("propresync-r1", envID, domain.PropagationResyncStarted{EnvironmentID: envID, ResyncID: "rs0", RuleID: "r1", RevisionID: "rev1", Trigger: "publish"})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status, err := projections.NewPropagationStatus(e.store, e.reg, projections.StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := status.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := status.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	fake := &fakePropagator{}
	s := e.withConfig(func(c *graph.Config) { c.PropagationStatus, c.Propagator = status, fake })
	vars := map[string]any{"e": envID}

	// Store and rule status.
	var store struct {
		PropagationStoreStatus struct {
			State                                                           string
			SuccessCount, FailedCount, DeprovisionFailedCount, UsersInScope int
			LastError                                                       *struct{ IdentityID, Class string }
		}
	}
	const storeQuery = `query($e: ID!) { propagationStoreStatus(environmentId: $e, storeId: "app") { state successCount failedCount
		deprovisionFailedCount usersInScope lastSyncAt lastError { identityId class message } } }`
	s.ok(org, storeQuery, vars, &store)
	if st := store.PropagationStoreStatus; st.State != "ACTIVE" || st.SuccessCount != 3 || st.FailedCount != 1 || st.UsersInScope != 2 ||
		st.LastError == nil || st.LastError.IdentityID != bob || st.LastError.Class != "CONFLICT" {
		t.Errorf("store status %+v", st)
	}
	var rule struct {
		PropagationRuleSummary struct {
			Name                                                 string
			Active                                               bool
			Impacted, Success, Unsynced, PartiallySynced, Failed int
			LastResync                                           struct {
				ResyncID  string
				Running   bool
				Processed int
			}
		}
	}
	s.ok(org, `query($e: ID!) { propagationRuleSummary(environmentId: $e, ruleId: "r1") { name active impacted success unsynced
		partiallySynced failed lastResync { resyncId running processed } } }`, vars, &rule)
	if r := rule.PropagationRuleSummary; r.Name != "To app" || !r.Active || r.Impacted != 4 || r.Success != 3 || r.Failed != 1 ||
		r.LastResync.ResyncID != "rs0" || !r.LastResync.Running {
		t.Errorf("rule summary %+v", r)
	}
	s.fails(org, `query($e: ID!) { propagationRuleSummary(environmentId: $e, ruleId: "nope") { impacted } }`, vars, graph.CodeNotFound, "")
	s.fails(org, `query($e: ID!) { propagationStoreStatus(environmentId: $e, storeId: "nope") { state } }`, vars, graph.CodeNotFound, "")

	// A user's and a group's status.
	var user struct {
		PropagationUserStatus []struct {
			RuleID, Status, LastOperation, TargetID string
			Live, CreatedByIdstream                 bool
			Details                                 struct{ Attributes []string }
		}
	}
	const userQuery = `query($e: ID!, $u: ID!) { propagationUserStatus(environmentId: $e, userId: $u) { ruleId status lastOperation
		targetId live createdByIdstream lastSyncAt lastOutcomeAt details { at changeOrderId trigger attributes reason errorClass candidates } } }`
	s.ok(org, userQuery, map[string]any{"e": envID, "u": alice}, &user)
	if u := user.PropagationUserStatus; len(u) != 1 || u[0].RuleID != "r1" || u[0].Status != "SYNCED" || u[0].LastOperation != "CREATE" ||
		!u[0].Live || !u[0].CreatedByIdstream || !slices.Equal(u[0].Details.Attributes, []string{"userName", "title"}) {
		t.Errorf("alice's status %+v", u)
	}
	res := s.do(org, userQuery, map[string]any{"e": envID, "u": bob})
	if len(res.Errors) > 0 || !strings.Contains(string(res.Data["propagationUserStatus"]), `"errorClass":"CONFLICT"`) {
		t.Errorf("bob's status %s %+v", res.Data["propagationUserStatus"], res.Errors)
	}
	if strings.Contains(string(res.Data["propagationUserStatus"]), "sha256") {
		t.Error("a digest in the API")
	}
	s.fails(org, userQuery, map[string]any{"e": envID, "u": "no-such-user"}, graph.CodeNotFound, "")
	res = s.do(org, `query($e: ID!) { propagationGroupStatus(environmentId: $e, groupId: "g1") { kind status } }`, vars)
	if len(res.Errors) > 0 || string(res.Data["propagationGroupStatus"]) != `[{"kind":"GROUP","status":"SYNCED"}]` {
		t.Errorf("group status %s %+v", res.Data["propagationGroupStatus"], res.Errors)
	}

	// The rule's accounts, paged by identity ID, filtered by status.
	const accountsQuery = `query($e: ID!, $first: Int, $after: String, $status: PropagationStatusAccountState) {
		propagationAccounts(environmentId: $e, ruleId: "r1", status: $status, first: $first, after: $after) {
			edges { cursor node { identityId status } } pageInfo { hasNextPage endCursor } } }`
	type accountsPage struct {
		PropagationAccounts struct {
			Edges []struct {
				Node struct{ IdentityID, Status string }
			}
			PageInfo struct {
				HasNextPage bool
				EndCursor   string
			}
		}
	}
	var seen []string
	var after any
	for {
		var p accountsPage
		s.ok(org, accountsQuery, map[string]any{"e": envID, "first": 3, "after": after}, &p)
		for _, ed := range p.PropagationAccounts.Edges {
			seen = append(seen, ed.Node.IdentityID)
		}
		if !p.PropagationAccounts.PageInfo.HasNextPage {
			break
		}
		after = p.PropagationAccounts.PageInfo.EndCursor
	}
	want := []string{alice, bob, carol, "g1"}
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		t.Errorf("accounts %v, want %v", seen, want)
	}
	var failedPage accountsPage
	s.ok(org, accountsQuery, map[string]any{"e": envID, "status": "FAILED"}, &failedPage)
	if ed := failedPage.PropagationAccounts.Edges; len(ed) != 1 || ed[0].Node.IdentityID != bob {
		t.Errorf("failed accounts %+v, want bob", ed)
	}
	s.fails(org, accountsQuery, map[string]any{"e": envID, "after": "bm9wZQ"}, graph.CodeInvalid, "after")
	s.fails(org, `query($e: ID!) { propagationAccounts(environmentId: $e, ruleId: "r1", first: 1001) { pageInfo { hasNextPage } } }`,
		vars, graph.CodeInvalid, "first")
	s.fails(org, accountsQuery, map[string]any{"e": envID, "status": "BOGUS"}, "GRAPHQL_VALIDATION_FAILED", "")

	// A reader of one population sees its users only, and no store error.
	eng := e.client(envID, domain.RoleAssignment{Role: domain.RoleIdentityDataReadOnly, EnvironmentID: envID, PopulationID: popID})
	seen = nil
	var engPage accountsPage
	s.ok(eng, accountsQuery, vars, &engPage)
	for _, ed := range engPage.PropagationAccounts.Edges {
		seen = append(seen, ed.Node.IdentityID)
	}
	if slices.Contains(seen, bob) || slices.Contains(seen, carol) || !slices.Contains(seen, alice) {
		t.Errorf("population reader sees %v", seen)
	}
	s.ok(eng, userQuery, map[string]any{"e": envID, "u": alice}, nil)
	s.fails(eng, userQuery, map[string]any{"e": envID, "u": bob}, graph.CodeNotFound, "")
	store.PropagationStoreStatus.LastError = nil
	s.ok(eng, storeQuery, vars, &store)
	if store.PropagationStoreStatus.LastError != nil {
		t.Error("a population reader sees the store's last error")
	}

	// minPosition waits for the status to fold an outcome just appended.
	e.appendEvents("propaccount-r1_"+bob, envID, domain.PropagationChangeApplied{ChangeOutcome: statusOutcome(envID, "r1", bob, domain.IdentityUser, domain.OpCreate),
		Subject: bob, Attributes: []string{"userName"}, CreatedByIdstream: true})
	head, _, err := projections.LastEvent(ctx, e.store)
	if err != nil {
		t.Fatal(err)
	}
	res = s.do(org, `query($e: ID!, $u: ID!, $p: String) { propagationUserStatus(environmentId: $e, userId: $u, minPosition: $p) { status } }`,
		map[string]any{"e": envID, "u": bob, "p": head.String()})
	if len(res.Errors) > 0 || string(res.Data["propagationUserStatus"]) != `[{"status":"SYNCED"}]` {
		t.Errorf("bob after his create, at minPosition: %s %+v", res.Data["propagationUserStatus"], res.Errors)
	}
	s.fails(org, `query($e: ID!) { propagationRuleSummary(environmentId: $e, ruleId: "r1", minPosition: "nope") { impacted } }`, vars, graph.CodeInvalid, "minPosition")

	// Another environment's admin sees nothing.
	otherEnv, _ := e.createEnvironment(org, "other")
	other := e.client(otherEnv, domain.RoleAssignment{Role: domain.RoleEnvironmentAdmin, EnvironmentID: otherEnv})
	s.fails(other, storeQuery, vars, graph.CodeNotFound, "")
	s.fails(other, userQuery, map[string]any{"e": envID, "u": alice}, graph.CodeNotFound, "")

	// Mutations reach the runtime.
	var trace struct {
		ProvisionUserNow struct {
			Operation, Result, TargetID string
			InScope                     bool
			Diff                        []struct{ Path, Current, Desired string }
			Steps                       []struct{ Name, Detail string }
		}
	}
	const provision = `mutation($e: ID!, $u: ID!) { provisionUserNow(input: {environmentId: $e, ruleId: "r1", userId: $u}) {
		ruleId identityId inScope operation targetId result error diff { path current desired } steps { name detail } } }`
	s.ok(org, provision, map[string]any{"e": envID, "u": alice}, &trace)
	if tr := trace.ProvisionUserNow; tr.Operation != "UPDATE" || tr.Result != "applied" || !tr.InScope || len(tr.Steps) != 2 ||
		len(tr.Diff) != 1 || tr.Diff[0].Desired != `"Lead"` {
		t.Errorf("trace %+v", tr)
	}
	var resync struct{ ResyncPropagationRule struct{ ResyncID string } }
	s.ok(org, `mutation($e: ID!) { resyncPropagationRule(input: {environmentId: $e, ruleId: "r1"}) { resyncId position } }`, vars, &resync)
	if resync.ResyncPropagationRule.ResyncID != "rs-1" {
		t.Errorf("resync %+v", resync)
	}
	const preview = `mutation($e: ID!) { previewPropagationRevision(input: {environmentId: $e}) { draftHash publishedHash
		rules { ruleId creates updates disables deletes samples { identityId operation result } } } }`
	res = s.do(org, preview, vars)
	if len(res.Errors) > 0 || !strings.Contains(string(res.Data["previewPropagationRevision"]), `"creates":2`) {
		t.Errorf("preview %s %+v", res.Data["previewPropagationRevision"], res.Errors)
	}
	if got := fmt.Sprint(fake.calls); got != fmt.Sprintf("[provision %s r1 %s resync %s r1 preview %s]", envID, alice, envID, envID) {
		t.Errorf("runtime calls %s", got)
	}
	auditor := e.client(envID, domain.RoleAssignment{Role: domain.RoleAuditor, EnvironmentID: envID})
	s.fails(auditor, provision, map[string]any{"e": envID, "u": alice}, graph.CodeForbidden, "")
	s.fails(other, preview, vars, graph.CodeNotFound, "")
	fake.err = domain.NotFoundf("propagation rule r1")
	s.fails(org, provision, map[string]any{"e": envID, "u": alice}, graph.CodeNotFound, "")
	if len(fake.calls) != 4 {
		t.Errorf("%d runtime calls, want 4 (refused callers never reach it)", len(fake.calls))
	}

	// Without the runtime or the status, UNAVAILABLE.
	bare := e.withConfig(func(*graph.Config) {})
	bare.fails(org, provision, map[string]any{"e": envID, "u": alice}, graph.CodeUnavailable, "")
	bare.fails(org, storeQuery, vars, graph.CodeUnavailable, "")
}

func TestPropagationAccountsComplexityWeighsThePage(t *testing.T) {
	e := newEnv(t)
	org := e.client("", admin())
	res := e.do(org, `{ propagationAccounts(environmentId: "x", ruleId: "r", first: 1000) {
		edges { cursor node { identityId ruleId storeId status lastOperation targetId details { attributes } } } } }`, nil)
	if res.code(0) != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Errorf("a page of 1,000 accounts with 8 fields: %+v, want COMPLEXITY_LIMIT_EXCEEDED", res.Errors)
	}
}
