package commands

import (
	"context"

	"github.com/idstream/idstream/domain"
)

// DiscardPropagationHeldChangesHandler handles the discarding of held changes.
type DiscardPropagationHeldChangesHandler struct{ d *Deps }

// NewDiscardPropagationHeldChanges returns the handler discarding held changes.
func NewDiscardPropagationHeldChanges(d *Deps) *DiscardPropagationHeldChangesHandler {
	return &DiscardPropagationHeldChangesHandler{d: d}
}

// Handle appends propagation.held_discarded: nothing is done, the accounts stay. A later change
// of the identity (or a resync) evaluates it again, and may hold its removal anew. Errors as
// ApprovePropagationHeldChangesHandler's.
func (h *DiscardPropagationHeldChangesHandler) Handle(ctx context.Context, in DecidePropagationHeldChanges) (HeldDecisionResult, error) {
	return h.d.decideHeld(ctx, "discard held changes", in, func(ids []string) any {
		return domain.PropagationHeldDiscarded{EnvironmentID: in.EnvironmentID, StoreID: in.StoreID, HeldIDs: ids}
	})
}
