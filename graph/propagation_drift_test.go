package graph_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/graph"
	"github.com/idstream/idstream/projections"
)

// TestPropagationDriftThroughTheAPI: drift records page newest first, name attributes and no
// value, feed the rule's and the store's open drift; a population-scoped reader sees only its
// users' records; reconcilePropagationRule returns the runtime's summary and needs the manage
// right.
func TestPropagationDriftThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	org, envID, popID := e.directory()
	alice := e.createUser(org, envID, "alice", "eng", "100001", popID)
	bob := e.createUser(org, envID, "bob", "sales", "100002", "")
	e.appendEvents("propagation-"+envID, envID, domain.PropagationRevisionPublished{EnvironmentID: envID, RevisionID: "rev1", Number: 1,
		Content: domain.PropagationContent{
			Stores: []domain.PropagationStore{{ID: "app", Name: "App", Type: domain.StoreSCIM, Status: domain.StoreActive}},
			Plans:  []domain.PropagationPlan{{ID: "p1", Status: domain.PlanActive}},
			Rules:  []domain.PropagationRule{{ID: "r1", PlanID: "p1", Name: "To app", SourceStoreID: "dir", TargetStoreID: "app", Active: true}}}})
	d := func(id, target string, kind domain.DriftKind, attrs ...string) domain.PropagationDriftDetected {
		return domain.PropagationDriftDetected{EnvironmentID: envID, RuleID: "r1", StoreID: "app", Kind: domain.IdentityUser, IdentityID: id,
			TargetID: target, Drift: kind, Attributes: attrs, Policy: domain.DriftReport, Trigger: "reconcile"}
	}
	e.appendEvents("propaccount-r1_"+alice, envID, d(alice, "t1", domain.DriftModified, "displayName"))
	e.appendEvents("propaccount-r1_"+bob, envID, d(bob, "t2", domain.DriftDeleted))
	e.appendEvents("proprule-r1", envID, d("", "t9", domain.DriftCreated))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status, err := projections.NewPropagationStatus(e.store, e.reg, projections.StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	drift := projections.NewPropagationDrift(e.store, e.reg)
	for _, f := range []interface {
		Start(context.Context) error
		CatchUp(context.Context) error
	}{status, drift} {
		if err := f.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := f.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	fake := &fakePropagator{}
	s := e.withConfig(func(c *graph.Config) { c.PropagationStatus, c.PropagationDrift, c.Propagator = status, drift, fake })
	vars := map[string]any{"e": envID}

	const list = `query($e: ID!, $after: String) { propagationDrift(environmentId: $e, first: 2, after: $after) {
		edges { cursor node { ruleId storeId identityKind identityId targetId kind attributes policy repaired trigger at } }
		pageInfo { hasNextPage endCursor } } }`
	type page struct {
		PropagationDrift struct {
			Edges []struct {
				Cursor string
				Node   struct {
					IdentityID *string
					TargetID   string
					Kind       string
					Attributes []string
					Policy     string
				}
			}
			PageInfo struct {
				HasNextPage bool
				EndCursor   *string
			}
		}
	}
	var p1 page
	s.ok(org, list, vars, &p1)
	if n := p1.PropagationDrift.Edges; len(n) != 2 || n[0].Node.Kind != "CREATED" || n[0].Node.IdentityID != nil || n[1].Node.Kind != "DELETED" ||
		!p1.PropagationDrift.PageInfo.HasNextPage {
		t.Fatalf("first page %+v", p1)
	}
	var p2 page
	s.ok(org, list, map[string]any{"e": envID, "after": *p1.PropagationDrift.PageInfo.EndCursor}, &p2)
	if n := p2.PropagationDrift.Edges; len(n) != 1 || n[0].Node.Kind != "MODIFIED" || n[0].Node.Attributes[0] != "displayName" ||
		n[0].Node.Policy != "REPORT" || p2.PropagationDrift.PageInfo.HasNextPage {
		t.Fatalf("second page %+v", p2)
	}

	var rule struct {
		PropagationRuleSummary struct {
			Drift struct {
				OpenAccounts, UnownedAccounts int
				LastDriftAt                   *string
			}
		}
	}
	s.ok(org, `query($e: ID!) { propagationRuleSummary(environmentId: $e, ruleId: "r1") { drift { openAccounts unownedAccounts lastDriftAt } } }`, vars, &rule)
	if r := rule.PropagationRuleSummary.Drift; r.OpenAccounts != 2 || r.UnownedAccounts != 1 || r.LastDriftAt == nil {
		t.Errorf("rule drift %+v", r)
	}
	res := s.do(org, `query($e: ID!) { propagationStoreStatus(environmentId: $e, storeId: "app") { drift { openAccounts unownedAccounts } } }`, vars)
	if len(res.Errors) > 0 || !strings.Contains(string(res.Data["propagationStoreStatus"]), `"openAccounts":2,"unownedAccounts":1`) {
		t.Errorf("store drift %s %+v", res.Data["propagationStoreStatus"], res.Errors)
	}

	// A reader of alice's population sees her record only.
	scoped := e.client(envID, domain.RoleAssignment{Role: domain.RoleAuditor, EnvironmentID: envID, PopulationID: popID})
	var sp page
	s.ok(scoped, list, vars, &sp)
	if n := sp.PropagationDrift.Edges; len(n) != 1 || n[0].Node.IdentityID == nil || *n[0].Node.IdentityID != alice {
		raw, _ := json.Marshal(sp)
		t.Errorf("scoped reader sees %s", raw)
	}

	const reconcile = `mutation($e: ID!) { reconcilePropagationRule(input: {environmentId: $e, ruleId: "r1"}) {
		resyncId identities updated unchanged driftModified driftDeleted driftCreated driftRepaired } }`
	var rec struct {
		ReconcilePropagationRule struct {
			ResyncID                                                 string
			Identities, Updated, Unchanged                           int
			DriftModified, DriftDeleted, DriftCreated, DriftRepaired int
		}
	}
	s.ok(org, reconcile, vars, &rec)
	if r := rec.ReconcilePropagationRule; r.ResyncID != "rs-2" || r.Identities != 3 || r.DriftModified != 1 || r.DriftCreated != 1 || r.DriftRepaired != 1 {
		t.Errorf("reconciliation %+v", r)
	}
	auditor := e.client(envID, domain.RoleAssignment{Role: domain.RoleAuditor, EnvironmentID: envID})
	s.fails(auditor, reconcile, vars, graph.CodeForbidden, "")
	if len(fake.calls) != 1 {
		t.Errorf("runtime calls %v", fake.calls)
	}
	bare := e.withConfig(func(*graph.Config) {})
	bare.fails(org, list, vars, graph.CodeUnavailable, "")
	bare.fails(org, reconcile, vars, graph.CodeUnavailable, "")
}
