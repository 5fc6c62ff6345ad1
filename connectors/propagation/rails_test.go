package propagation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// heldEvents returns the held-change events of store (change_held, held_approved,
// held_discarded) in order.
func (e *env) heldEvents(store string) []any {
	e.t.Helper()
	var out []any
	for ev, err := range e.store.ReadStream(e.ctx, domain.StreamName(domain.CategoryPropagationStoreState, store), eventstore.ReadStreamOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			e.t.Fatal(err)
		}
		p, err := e.reg.Decode(ev)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func (e *env) held(store string) *domain.HeldChanges {
	h := &domain.HeldChanges{StoreID: store}
	for _, p := range e.heldEvents(store) {
		h.Apply(p)
	}
	return h
}

// waitFor polls cond until it holds; the bound only keeps a broken run from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// railStore is the target store's ID in the rails tests (commands take UUIDs).
const railStore = "0192d6c4-7d1e-7000-8000-00000000a11e"

func withSafety(c domain.PropagationContent, s domain.StoreSafety) domain.PropagationContent {
	c.Stores[1].Safety = &s
	c.Stores[1].ID = railStore
	c.Rules[0].TargetStoreID = railStore
	return c
}

// railsSetup provisions keep0, keep1 and out00..out09 to the scimmy target, then publishes a
// rule change taking the ten out* users out of scope with MaxRemovalsPerPublish 3.
func railsSetup(t *testing.T) (*scimEnv, *Runtime, connectors.Connector, *commands.Propagation) {
	s := newSCIMEnv(t)
	safety := domain.StoreSafety{MaxRemovalsPerPublish: 3}
	s.publish(withSafety(s.content(`username ne "nobody"`, allActions()), safety))
	rt := s.runtime(s.scimConfig)
	t.Cleanup(func() { rt.Close() })
	s.user("keep0", "K", nil)
	s.user("keep1", "K", nil)
	for i := range 10 {
		s.user(fmt.Sprintf("out%02d", i), "O", nil)
	}
	s.settle(rt)
	target := s.client()
	if n := len(listAll(t, target, connectors.KindUser, "userName")); n != 12 {
		t.Fatalf("%d users in the target, want 12", n)
	}
	s.publish(withSafety(s.content(`username sw "keep"`, allActions()), safety))
	s.settle(rt)
	return s, rt, target, commands.NewPropagation(s.deps, commands.PropagationPorts{})
}

func outUsers(t *testing.T, c connectors.Connector) int {
	n := 0
	for name := range listAll(t, c, connectors.KindUser, "userName") {
		if strings.HasPrefix(name, "out") {
			n++
		}
	}
	return n
}

// TestRailsPerPublishHoldThenApprove: a publication taking 10 users out of scope removes 3
// (the store's MaxRemovalsPerPublish) and holds 7; approving them all removes the 7.
func TestRailsPerPublishHoldThenApprove(t *testing.T) {
	s, _, target, cmds := railsSetup(t)
	if n := outUsers(t, target); n != 7 {
		t.Fatalf("%d out-of-scope users left in the target, want 7 (3 removed)", n)
	}
	h := s.held(railStore)
	if len(h.Pending) != 7 {
		t.Fatalf("%d held changes, want 7: %+v", len(h.Pending), h.Pending)
	}
	for _, p := range h.Pending {
		if p.Rail != RailPerPublish || p.Operation != domain.OpDelete || p.RuleID != "r1" || p.TargetID == "" {
			t.Fatalf("held change %+v", p)
		}
		last := s.outcomes("r1", p.IdentityID)
		sk, ok := last[len(last)-1].(domain.PropagationChangeSkipped)
		if !ok || !strings.HasPrefix(sk.Reason, "held for approval: ") {
			t.Fatalf("last outcome of a held removal = %#v", last[len(last)-1])
		}
	}
	// A wrong expected revision, an unknown ID: clear errors, nothing decided.
	stale := uint64(0)
	if _, err := cmds.ApproveHeld.Handle(s.ctx, commands.DecidePropagationHeldChanges{EnvironmentID: s.envID, StoreID: railStore, All: true,
		ExpectedRevision: &stale}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("stale expected revision: %v", err)
	}
	if _, err := cmds.ApproveHeld.Handle(s.ctx, commands.DecidePropagationHeldChanges{EnvironmentID: s.envID, StoreID: railStore,
		HeldIDs: []string{"no-such"}}); !errors.Is(err, domain.ErrNotFound) || !strings.Contains(err.Error(), "heldIds") {
		t.Fatalf("unknown held ID: %v", err)
	}
	res, err := cmds.ApproveHeld.Handle(s.ctx, commands.DecidePropagationHeldChanges{EnvironmentID: s.envID, StoreID: railStore, All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.HeldIDs) != 7 {
		t.Fatalf("approved %d, want 7", len(res.HeldIDs))
	}
	waitFor(t, "the approved removals", func() bool { return outUsers(t, target) == 0 })
	if n := len(listAll(t, target, connectors.KindUser, "userName")); n != 2 {
		t.Fatalf("%d users left, want keep0 and keep1", n)
	}
	// Deciding again is a conflict naming the decision.
	_, err = cmds.DiscardHeld.Handle(s.ctx, commands.DecidePropagationHeldChanges{EnvironmentID: s.envID, StoreID: railStore, HeldIDs: res.HeldIDs[:1]})
	if !errors.Is(err, domain.ErrConflict) || !strings.Contains(err.Error(), "approved") {
		t.Fatalf("discarding an approved held change: %v", err)
	}
}

// TestRailsDiscard: discarded held changes do nothing; the accounts stay.
func TestRailsDiscard(t *testing.T) {
	s, rt, target, cmds := railsSetup(t)
	h := s.held(railStore)
	if len(h.Pending) != 7 {
		t.Fatalf("%d held, want 7", len(h.Pending))
	}
	ids := []string{h.Pending[0].HeldID, h.Pending[1].HeldID}
	if _, err := cmds.DiscardHeld.Handle(s.ctx, commands.DecidePropagationHeldChanges{EnvironmentID: s.envID, StoreID: railStore, HeldIDs: ids}); err != nil {
		t.Fatal(err)
	}
	if _, err := cmds.ApproveHeld.Handle(s.ctx, commands.DecidePropagationHeldChanges{EnvironmentID: s.envID, StoreID: railStore, All: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the approved removals", func() bool { return outUsers(t, target) == 2 })
	s.settle(rt)
	if after := s.held(railStore); len(after.Pending) != 0 || after.Decided[ids[0]] != "discarded" {
		t.Fatalf("after the decisions: pending %d, %s %q", len(after.Pending), ids[0], after.Decided[ids[0]])
	}
	if n := outUsers(t, target); n != 2 {
		t.Fatalf("%d discarded accounts left, want 2", n)
	}
}

// TestRailsHourlyAcrossRestart: with MaxRemovalsPerHour 3, three removals before a restart
// count after it: the next two are held.
func TestRailsHourlyAcrossRestart(t *testing.T) {
	s := newSCIMEnv(t)
	s.publish(withSafety(s.content(`username ne "nobody"`, allActions()), domain.StoreSafety{MaxRemovalsPerHour: 3}))
	rt := s.runtime(s.scimConfig)
	var ids []string
	for i := range 5 {
		id, _ := s.user(fmt.Sprintf("h%d", i), "H", nil)
		ids = append(ids, id)
	}
	s.settle(rt)
	target := s.client()
	for _, id := range ids[:3] {
		if _, err := s.cmds.DeleteUser.Handle(s.ctx, commands.DeleteUser{EnvironmentID: s.envID, UserID: id}); err != nil {
			t.Fatal(err)
		}
	}
	s.settle(rt)
	if n := len(listAll(t, target, connectors.KindUser, "userName")); n != 2 {
		t.Fatalf("%d users after 3 removals, want 2", n)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	rt = s.runtime(s.scimConfig)
	defer func() { rt.Close() }()
	for _, id := range ids[3:] {
		if _, err := s.cmds.DeleteUser.Handle(s.ctx, commands.DeleteUser{EnvironmentID: s.envID, UserID: id}); err != nil {
			t.Fatal(err)
		}
	}
	s.settle(rt)
	if n := len(listAll(t, target, connectors.KindUser, "userName")); n != 2 {
		t.Fatalf("%d users after the restart's removals, want 2 (held)", n)
	}
	h := s.held(railStore)
	if len(h.Pending) != 2 || h.Pending[0].Rail != RailPerHour {
		t.Fatalf("held %+v, want the 2 removals held by the hourly bound", h.Pending)
	}
}

// TestRailsApprovalReplay: after a restart the approvals replayed from the log run nothing
// again: no account gets another outcome.
func TestRailsApprovalReplay(t *testing.T) {
	s, rt, target, cmds := railsSetup(t)
	h := s.held(railStore)
	if _, err := cmds.ApproveHeld.Handle(s.ctx, commands.DecidePropagationHeldChanges{EnvironmentID: s.envID, StoreID: railStore, All: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the approved removals", func() bool { return outUsers(t, target) == 0 })
	count := func() int {
		n := 0
		for _, p := range h.Pending {
			n += len(s.outcomes("r1", p.IdentityID))
		}
		return n
	}
	// The removals' outcomes are appended after the target's write: wait for every one.
	waitFor(t, "the approved removals' outcomes", func() bool { return count() == 7*3 })
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	rt2 := s.runtime(s.scimConfig)
	defer rt2.Close()
	if err := rt2.rec.rails.follower.CatchUp(s.ctx); err != nil {
		t.Fatal(err)
	}
	s.settle(rt2)
	waitFor(t, "the replayed approvals", func() bool { return rt2.rec.rails.handled.Load() == 7 })
	if got := count(); got != 7*3 {
		t.Fatalf("%d outcomes after the restart, want %d (create, held, delete per account)", got, 7*3)
	}
}
