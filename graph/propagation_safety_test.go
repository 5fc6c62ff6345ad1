package graph_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/graph"
	"github.com/idstream/idstream/projections"
)

// hold appends a change_held for store in env, as the runtime does.
func (e *env) hold(env, store, rule, identity string) string {
	e.t.Helper()
	h := domain.PropagationChangeHeld{EnvironmentID: env, StoreID: store, HeldID: uuid.NewString(), RuleID: rule, RevisionID: uuid.NewString(),
		Kind: domain.IdentityUser, IdentityID: identity, TargetID: "t-" + identity, Operation: domain.OpDelete, Trigger: "publish",
		Cause: uuid.NewString(), Rail: "maxRemovalsPerPublish", Reason: "the store's bound of 3 removals per publication is reached"}
	ev, err := e.reg.Encode(uuid.New(), h, eventstore.Metadata{EnvironmentID: env, Actor: "system:propagation", OccurredAt: time.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.store.Append(context.Background(), domain.StreamName(domain.CategoryPropagationStoreState, store), eventstore.Any, ev)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.held.WaitFor(context.Background(), res.Position); err != nil {
		e.t.Fatal(err)
	}
	return h.HeldID
}

type heldList struct {
	PropagationHeldChanges struct {
		Changes []struct {
			ID, StoreID, RuleID, IdentityID, Operation, Rail, Reason, Trigger string
		}
		StoreRevision *int
	} `json:"propagationHeldChanges"`
}

func TestPropagationHeldChanges(t *testing.T) {
	e := newEnv(t)
	org := e.client("", admin())
	envA, _ := e.createEnvironment(org, "A")
	envB, pos := e.createEnvironment(org, "B")
	if err := e.runner.WaitFor(context.Background(), mustPos(t, pos)); err != nil {
		t.Fatal(err)
	}
	adminA := e.client(envA, domain.RoleAssignment{Role: domain.RoleEnvironmentAdmin, EnvironmentID: envA})
	readerA := e.client(envA, domain.RoleAssignment{Role: domain.RoleIdentityDataReadOnly, EnvironmentID: envA})
	adminB := e.client(envB, domain.RoleAssignment{Role: domain.RoleEnvironmentAdmin, EnvironmentID: envB})

	// A store's safety rails round-trip through create and update.
	var created struct {
		CreatePropagationStore struct {
			Store struct {
				ID     string
				Safety *struct{ MaxRemovalsPerHour, MaxRemovalsPerPublish, WritesPerMinute int }
			}
		} `json:"createPropagationStore"`
	}
	e.ok(adminA, `mutation($e: ID!) { createPropagationStore(input: {environmentId: $e, name: "App", type: SCIM, safety: {maxRemovalsPerPublish: 3, writesPerMinute: 600}}) { store { id safety { maxRemovalsPerHour maxRemovalsPerPublish writesPerMinute } } } }`,
		map[string]any{"e": envA}, &created)
	store := created.CreatePropagationStore.Store.ID
	if s := created.CreatePropagationStore.Store.Safety; s == nil || s.MaxRemovalsPerPublish != 3 || s.WritesPerMinute != 600 || s.MaxRemovalsPerHour != 0 {
		t.Fatalf("created safety %+v", s)
	}
	var updated struct {
		UpdatePropagationStore struct {
			Store struct {
				Safety *struct{ MaxRemovalsPerHour, MaxRemovalsPerPublish int }
			}
		} `json:"updatePropagationStore"`
	}
	e.ok(adminA, `mutation($e: ID!, $s: ID!) { updatePropagationStore(input: {environmentId: $e, storeId: $s, safety: {maxRemovalsPerHour: 50}}) { store { safety { maxRemovalsPerHour maxRemovalsPerPublish } } } }`,
		map[string]any{"e": envA, "s": store}, &updated)
	if s := updated.UpdatePropagationStore.Store.Safety; s == nil || s.MaxRemovalsPerHour != 50 || s.MaxRemovalsPerPublish != 0 {
		t.Fatalf("updated safety %+v", s)
	}
	e.fails(adminA, `mutation($e: ID!, $s: ID!) { updatePropagationStore(input: {environmentId: $e, storeId: $s, safety: {maxRemovalsPerHour: -1}}) { position } }`,
		map[string]any{"e": envA, "s": store}, "INVALID", "")

	h1 := e.hold(envA, store, "r1", "u1")
	h2 := e.hold(envA, store, "r1", "u2")
	h3 := e.hold(envA, store, "r1", "u3")
	const list = `query($e: ID!, $s: ID) { propagationHeldChanges(environmentId: $e, storeId: $s) { changes { id storeId ruleId identityId operation rail reason trigger } storeRevision } }`
	var got heldList
	e.ok(adminA, list, map[string]any{"e": envA, "s": store}, &got)
	ch := got.PropagationHeldChanges.Changes
	if len(ch) != 3 || ch[0].ID != h1 || ch[2].ID != h3 || ch[0].Operation != "DELETE" || ch[0].Rail != "maxRemovalsPerPublish" || ch[0].Trigger != "publish" {
		t.Fatalf("held changes %+v", got)
	}
	rev := got.PropagationHeldChanges.StoreRevision
	if rev == nil || *rev != 2 {
		t.Fatalf("store revision %v, want 2", rev)
	}
	// Readers and other environments' admins neither read nor decide.
	e.fails(readerA, list, map[string]any{"e": envA, "s": store}, "FORBIDDEN", "")
	e.fails(readerA, `mutation($e: ID!, $s: ID!) { approvePropagationHeldChanges(input: {environmentId: $e, storeId: $s, all: true}) { heldIds } }`,
		map[string]any{"e": envA, "s": store}, "FORBIDDEN", "")
	e.fails(adminB, list, map[string]any{"e": envA, "s": store}, "NOT_FOUND", "")
	// Held changes of environment A do not show under B, even naming the store.
	e.ok(adminB, list, map[string]any{"e": envB, "s": store}, &got)
	if len(got.PropagationHeldChanges.Changes) != 0 {
		t.Fatalf("B sees A's held changes: %+v", got)
	}
	e.fails(adminB, `mutation($e: ID!, $s: ID!) { approvePropagationHeldChanges(input: {environmentId: $e, storeId: $s, all: true}) { heldIds } }`,
		map[string]any{"e": envB, "s": store}, "NOT_FOUND", "input.storeId")

	// Bad decisions: unknown ID, neither IDs nor all, both.
	const approve = `mutation($e: ID!, $s: ID!, $ids: [ID!], $all: Boolean, $rev: Int) { approvePropagationHeldChanges(input: {environmentId: $e, storeId: $s, heldIds: $ids, all: $all, expectedRevision: $rev}) { heldIds position } }`
	const discard = `mutation($e: ID!, $s: ID!, $ids: [ID!], $all: Boolean, $rev: Int) { discardPropagationHeldChanges(input: {environmentId: $e, storeId: $s, heldIds: $ids, all: $all, expectedRevision: $rev}) { heldIds position } }`
	e.fails(adminA, approve, map[string]any{"e": envA, "s": store, "ids": []string{uuid.NewString()}}, "NOT_FOUND", "input.heldIds")
	e.fails(adminA, approve, map[string]any{"e": envA, "s": store}, "INVALID", "input.heldIds")
	e.fails(adminA, approve, map[string]any{"e": envA, "s": store, "ids": []string{h1}, "all": true}, "INVALID", "input.heldIds")

	// Approve one at the revision read; a second decision at that revision is a CONFLICT.
	var dec struct {
		ApprovePropagationHeldChanges struct {
			HeldIds  []string
			Position string
		} `json:"approvePropagationHeldChanges"`
	}
	e.ok(adminA, approve, map[string]any{"e": envA, "s": store, "ids": []string{h1}, "rev": *rev}, &dec)
	if len(dec.ApprovePropagationHeldChanges.HeldIds) != 1 || dec.ApprovePropagationHeldChanges.HeldIds[0] != h1 {
		t.Fatalf("approved %+v", dec)
	}
	e.fails(adminA, discard, map[string]any{"e": envA, "s": store, "ids": []string{h2}, "rev": *rev}, "CONFLICT", "")
	e.fails(adminA, discard, map[string]any{"e": envA, "s": store, "ids": []string{h1}}, "CONFLICT", "")
	var dis struct {
		DiscardPropagationHeldChanges struct{ HeldIds []string } `json:"discardPropagationHeldChanges"`
	}
	e.ok(adminA, discard, map[string]any{"e": envA, "s": store, "all": true}, &dis)
	if b, _ := json.Marshal(dis.DiscardPropagationHeldChanges.HeldIds); string(b) != `["`+h2+`","`+h3+`"]` {
		t.Fatalf("discarded %s", b)
	}
	if err := e.held.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.ok(adminA, list, map[string]any{"e": envA}, &got)
	if len(got.PropagationHeldChanges.Changes) != 0 || got.PropagationHeldChanges.StoreRevision != nil {
		t.Fatalf("after the decisions: %+v", got)
	}
}

func TestPropagationRuleQuarantine(t *testing.T) {
	e := newEnv(t)
	org := e.client("", admin())
	envID, pos := e.createEnvironment(org, "A")
	if err := e.runner.WaitFor(context.Background(), mustPos(t, pos)); err != nil {
		t.Fatal(err)
	}
	rule := uuid.NewString()
	e.appendEvents("propagation-"+envID, envID, domain.PropagationRevisionPublished{EnvironmentID: envID, RevisionID: "rev1", Number: 1,
		Content: domain.PropagationContent{
			Stores: []domain.PropagationStore{{ID: "app", Name: "App", Type: domain.StoreSCIM, Status: domain.StoreActive}},
			Plans:  []domain.PropagationPlan{{ID: "p1", Status: domain.PlanActive}},
			Rules:  []domain.PropagationRule{{ID: rule, PlanID: "p1", Name: "To app", SourceStoreID: "dir", TargetStoreID: "app", Active: true}}}})
	e.appendEvents("proprule-"+rule, envID, domain.PropagationRuleQuarantined{EnvironmentID: envID, RuleID: rule, StoreID: "app",
		Reason: "18 of the last 20 change orders failed for good (INVALID 18)", Failures: 18, Total: 20, Since: time.Now()})
	ctx := context.Background()
	status, err := projections.NewPropagationStatus(e.store, e.reg, projections.StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := status.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := status.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	s := e.withConfig(func(c *graph.Config) { c.PropagationStatus = status })
	var got struct {
		PropagationRuleSummary struct {
			State      string
			Quarantine *struct {
				Reason          string
				Failures, Total int
			}
		}
	}
	const q = `query($e: ID!, $r: ID!) { propagationRuleSummary(environmentId: $e, ruleId: $r) { state quarantine { reason failures total since } } }`
	vars := map[string]any{"e": envID, "r": rule}
	s.ok(org, q, vars, &got)
	if r := got.PropagationRuleSummary; r.State != "QUARANTINED" || r.Quarantine == nil || r.Quarantine.Failures != 18 || r.Quarantine.Reason == "" {
		t.Fatalf("quarantined rule %+v", r)
	}
	reader := e.client(envID, domain.RoleAssignment{Role: domain.RoleIdentityDataReadOnly, EnvironmentID: envID})
	const release = `mutation($e: ID!, $r: ID!) { releasePropagationRule(input: {environmentId: $e, ruleId: $r, reason: "mapping fixed in the store"}) { position } }`
	e.fails(reader, release, vars, "FORBIDDEN", "")
	e.fails(org, release, map[string]any{"e": envID, "r": uuid.NewString()}, "NOT_FOUND", "input.ruleId")
	var rel struct {
		ReleasePropagationRule struct{ Position string } `json:"releasePropagationRule"`
	}
	e.ok(org, release, vars, &rel)
	e.fails(org, release, vars, "CONFLICT", "")
	if err := status.WaitFor(ctx, mustPos(t, rel.ReleasePropagationRule.Position)); err != nil {
		t.Fatal(err)
	}
	s.ok(org, q, vars, &got)
	if r := got.PropagationRuleSummary; r.State != "RUNNING" || r.Quarantine != nil {
		t.Fatalf("released rule %+v", r)
	}
}
