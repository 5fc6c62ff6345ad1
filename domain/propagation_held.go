package domain

import (
	"fmt"
	"slices"
)

// HeldChanges is the fold of a store's held changes (stream propstore-<store id>): the pending
// ones, and the decided ones by ID. The approve and discard commands decide on it; the runtime
// and the read model fold it too. Other events of the stream (availability) are ignored.
type HeldChanges struct {
	StoreID string
	// Pending are the held changes awaiting a decision, in the order they were held.
	Pending []PropagationChangeHeld
	// Decided maps a decided held ID to "approved" or "discarded".
	Decided map[string]string
}

// Apply folds one event of the store's stream.
func (h *HeldChanges) Apply(e any) {
	if h.Decided == nil {
		h.Decided = map[string]string{}
	}
	switch p := e.(type) {
	case PropagationChangeHeld:
		if h.StoreID == "" {
			h.StoreID = p.StoreID
		}
		if _, done := h.Decided[p.HeldID]; done || h.pendingIndex(p.HeldID) >= 0 {
			return
		}
		h.Pending = append(h.Pending, p)
	case PropagationHeldApproved:
		h.decide(p.HeldIDs, "approved")
	case PropagationHeldDiscarded:
		h.decide(p.HeldIDs, "discarded")
	}
}

func (h *HeldChanges) decide(ids []string, how string) {
	for _, id := range ids {
		if i := h.pendingIndex(id); i >= 0 {
			h.Pending = slices.Delete(h.Pending, i, i+1)
		}
		h.Decided[id] = how
	}
}

func (h *HeldChanges) pendingIndex(id string) int {
	return slices.IndexFunc(h.Pending, func(p PropagationChangeHeld) bool { return p.HeldID == id })
}

// PendingFor returns the pending held change of (rule, identity), if any.
func (h *HeldChanges) PendingFor(ruleID, identityID string) (PropagationChangeHeld, bool) {
	for _, p := range h.Pending {
		if p.RuleID == ruleID && p.IdentityID == identityID {
			return p, true
		}
	}
	return PropagationChangeHeld{}, false
}

// maxHeldDecision bounds the held IDs one decision names.
const maxHeldDecision = 10_000

// Select returns the pending held changes a decision names: every pending one with all, else
// exactly ids (each pending, none twice). Errors: INVALID on "heldIds" (none named, both all
// and IDs, too many, a duplicate), NOT_FOUND on "heldIds" naming the unknown IDs, CONFLICT
// naming the IDs already decided (and how).
func (h *HeldChanges) Select(ids []string, all bool) ([]PropagationChangeHeld, error) {
	switch {
	case all && len(ids) > 0:
		return nil, Invalidf("heldIds", "give either heldIds or all, not both")
	case all:
		if len(h.Pending) == 0 {
			return nil, fmt.Errorf("%w: store %s has no pending held change", ErrConflict, h.StoreID)
		}
		return slices.Clone(h.Pending), nil
	case len(ids) == 0:
		return nil, Invalidf("heldIds", "name at least one held change (or all)")
	case len(ids) > maxHeldDecision:
		return nil, Invalidf("heldIds", "at most %d per decision, got %d", maxHeldDecision, len(ids))
	}
	seen := map[string]bool{}
	var out []PropagationChangeHeld
	var unknown, decided []string
	for _, id := range ids {
		if seen[id] {
			return nil, Invalidf("heldIds", "held change %q is named twice", id)
		}
		seen[id] = true
		if i := h.pendingIndex(id); i >= 0 {
			out = append(out, h.Pending[i])
		} else if how, ok := h.Decided[id]; ok {
			decided = append(decided, fmt.Sprintf("%s (%s)", id, how))
		} else {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return nil, &FieldError{Field: "heldIds", Reason: fmt.Sprintf("no held change %v in store %s", unknown, h.StoreID), Kind: ErrNotFound}
	}
	if len(decided) > 0 {
		return nil, fmt.Errorf("%w: held changes already decided: %v", ErrConflict, decided)
	}
	return out, nil
}
