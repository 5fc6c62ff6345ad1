package commands

import (
	"context"

	"github.com/idstream/idstream/domain"
)

// ApprovePropagationHeldChangesHandler handles the approval of held changes.
type ApprovePropagationHeldChangesHandler struct{ d *Deps }

// NewApprovePropagationHeldChanges returns the handler approving held changes.
func NewApprovePropagationHeldChanges(d *Deps) *ApprovePropagationHeldChangesHandler {
	return &ApprovePropagationHeldChangesHandler{d: d}
}

// Handle appends propagation.held_approved: the runtime reruns each approved change order past
// the store's safety rails (level-triggered: an identity back in scope since keeps its
// account). Errors: NOT_FOUND on "environmentId", "storeId" or "heldIds" (unknown IDs);
// CONFLICT for IDs already decided or a stale ExpectedRevision; INVALID on "heldIds".
func (h *ApprovePropagationHeldChangesHandler) Handle(ctx context.Context, in DecidePropagationHeldChanges) (HeldDecisionResult, error) {
	return h.d.decideHeld(ctx, "approve held changes", in, func(ids []string) any {
		return domain.PropagationHeldApproved{EnvironmentID: in.EnvironmentID, StoreID: in.StoreID, HeldIDs: ids}
	})
}
