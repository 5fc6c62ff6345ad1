package domain

import (
	"errors"
	"strings"
	"testing"
)

func TestHeldChangesSelect(t *testing.T) {
	h := &HeldChanges{StoreID: "s"}
	for _, id := range []string{"a", "b", "c"} {
		h.Apply(PropagationChangeHeld{StoreID: "s", HeldID: id, RuleID: "r", IdentityID: "u" + id})
	}
	h.Apply(PropagationChangeHeld{StoreID: "s", HeldID: "a", RuleID: "r", IdentityID: "ua"}) // a redelivery
	if len(h.Pending) != 3 {
		t.Fatalf("%d pending, want 3", len(h.Pending))
	}
	if _, ok := h.PendingFor("r", "ub"); !ok {
		t.Fatal("b not pending for its identity")
	}
	h.Apply(PropagationHeldApproved{HeldIDs: []string{"a"}})
	h.Apply(PropagationChangeHeld{StoreID: "s", HeldID: "a"}) // decided: never pending again
	if len(h.Pending) != 2 || h.Decided["a"] != "approved" {
		t.Fatalf("after approving a: %+v", h)
	}
	for _, c := range []struct {
		ids  []string
		all  bool
		kind error
		text string
	}{
		{nil, false, ErrInvalid, "heldIds"},
		{[]string{"b"}, true, ErrInvalid, "not both"},
		{[]string{"b", "b"}, false, ErrInvalid, "twice"},
		{[]string{"b", "zz"}, false, ErrNotFound, "zz"},
		{[]string{"a"}, false, ErrConflict, "a (approved)"},
	} {
		_, err := h.Select(c.ids, c.all)
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("Select(%v, %v) = %v, want %v naming %q", c.ids, c.all, err, c.kind, c.text)
		}
	}
	sel, err := h.Select(nil, true)
	if err != nil || len(sel) != 2 || sel[0].HeldID != "b" {
		t.Fatalf("all: %v %v", sel, err)
	}
	h.Apply(PropagationHeldDiscarded{HeldIDs: []string{"b", "c"}})
	if _, err := h.Select(nil, true); !errors.Is(err, ErrConflict) {
		t.Fatalf("all with none pending: %v", err)
	}
}

func TestRuleQuarantineRelease(t *testing.T) {
	q := &RuleQuarantine{}
	if _, err := q.Release("e", "r", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("never quarantined: %v", err)
	}
	q.Apply(PropagationRuleQuarantined{EnvironmentID: "e", RuleID: "r", Reason: "INVALID 10"})
	if _, err := q.Release("other", "r", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another environment: %v", err)
	}
	if _, err := q.Release("e", "r", strings.Repeat("x", 501)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("long reason: %v", err)
	}
	evs, err := q.Release("e", "r", "")
	if err != nil || evs[0].(PropagationRuleReleased).Reason == "" {
		t.Fatalf("release: %v %v", evs, err)
	}
	q.Apply(evs[0])
	if _, err := q.Release("e", "r", ""); !errors.Is(err, ErrConflict) || q.Releases != 1 {
		t.Fatalf("released twice: %v", err)
	}
}
