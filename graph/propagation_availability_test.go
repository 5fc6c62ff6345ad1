package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/graph"
	"github.com/idstream/idstream/projections"
)

// TestPropagationAvailabilityThroughTheAPI: an unavailable store shows UNAVAILABLE with its
// class, reason and since, and the backlog; its rule shows paused with the reason. Once
// available and drained, both are back to normal.
func TestPropagationAvailabilityThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	org, envID, _ := e.directory()
	e.appendEvents("propagation-"+envID, envID, domain.PropagationRevisionPublished{EnvironmentID: envID, RevisionID: "rev1", Number: 1,
		Content: domain.PropagationContent{
			Stores: []domain.PropagationStore{{ID: "app", Name: "App", Type: domain.StoreSCIM, Status: domain.StoreActive}},
			Plans:  []domain.PropagationPlan{{ID: "p1", Status: domain.PlanActive}},
			Rules:  []domain.PropagationRule{{ID: "r1", PlanID: "p1", Name: "To app", SourceStoreID: "dir", TargetStoreID: "app", Active: true}}}})
	since := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	e.appendEvents("propstore-app", envID, domain.PropagationStoreUnavailable{EnvironmentID: envID, StoreID: "app", Class: "AUTH",
		Reason: "check: 401 Unauthorized", Since: since})
	for _, id := range []string{"u1", "u2", "u1"} {
		e.appendEvents("proprule-r1", envID, domain.PropagationChangeDeferred{EnvironmentID: envID, RuleID: "r1", StoreID: "app",
			Kind: domain.IdentityUser, IdentityID: id, Cause: "ev-" + id, Trigger: "event", Reason: "store app unavailable"})
	}
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
	s := e.withConfig(func(c *graph.Config) { c.PropagationStatus, c.Propagator = status, &fakePropagator{} })
	vars := map[string]any{"e": envID}
	type result struct {
		PropagationStoreStatus struct {
			State       string
			Backlog     int
			Unavailable *struct {
				Class, Reason string
				Since         time.Time
			}
		}
		PropagationRuleSummary struct {
			Paused       bool
			PausedReason *string
			Backlog      int
		}
	}
	const q = `query($e: ID!) {
		propagationStoreStatus(environmentId: $e, storeId: "app") { state backlog unavailable { class reason since } }
		propagationRuleSummary(environmentId: $e, ruleId: "r1") { paused pausedReason backlog } }`
	var got result
	s.ok(org, q, vars, &got)
	st, r := got.PropagationStoreStatus, got.PropagationRuleSummary
	if st.State != "UNAVAILABLE" || st.Backlog != 3 || st.Unavailable == nil || st.Unavailable.Class != "AUTH" ||
		st.Unavailable.Reason != "check: 401 Unauthorized" || !st.Unavailable.Since.Equal(since) {
		t.Errorf("store while down: %+v", st)
	}
	if !r.Paused || r.PausedReason == nil || *r.PausedReason == "" || r.Backlog != 3 {
		t.Errorf("rule while down: %+v", r)
	}

	e.appendEvents("propstore-app", envID, domain.PropagationStoreAvailable{EnvironmentID: envID, StoreID: "app", Since: since.Add(time.Minute), DownSince: since})
	if err := status.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	got = result{}
	s.ok(org, q, vars, &got)
	if st, r := got.PropagationStoreStatus, got.PropagationRuleSummary; st.State != "ACTIVE" || st.Unavailable != nil || st.Backlog != 3 || !r.Paused {
		t.Errorf("back, not drained: store %+v, rule %+v", st, r)
	}
	// The drain covers the three deferrals (stream revisions 0 to 2).
	e.appendEvents("proprule-r1", envID, domain.PropagationBacklogDrained{EnvironmentID: envID, RuleID: "r1", StoreID: "app", Through: 2, Orders: 2})
	if err := status.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	got = result{}
	s.ok(org, q, vars, &got)
	if st, r := got.PropagationStoreStatus, got.PropagationRuleSummary; st.State != "ACTIVE" || st.Backlog != 0 || r.Paused || r.PausedReason != nil || r.Backlog != 0 {
		t.Errorf("drained: store %+v, rule %+v", st, r)
	}
}
