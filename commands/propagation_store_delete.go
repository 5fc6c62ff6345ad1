package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// DeletePropagationStore deletes a store from the draft. Deleting a MANAGED store asks for
// deprovisioning: the rules targeting it are deleted with it, and once the draft is published
// the runtime removes the accounts idstream created there.
type DeletePropagationStore struct {
	EnvironmentID string
	StoreID       string
}

// DeletePropagationStoreResult reports a deletion: the rules deleted with the store and whether
// deprovisioning was asked for.
type DeletePropagationStoreResult struct {
	DeletedRuleIDs []string
	Deprovision    bool
	Position       eventstore.Position
}

// DeletePropagationStoreHandler handles DeletePropagationStore.
type DeletePropagationStoreHandler struct{ d *Deps }

// NewDeletePropagationStore returns the handler of DeletePropagationStore.
func NewDeletePropagationStore(d *Deps) *DeletePropagationStoreHandler {
	return &DeletePropagationStoreHandler{d: d}
}

// Handle appends the rule deletions and propagation.store_deleted in one append. Errors:
// NOT_FOUND on "storeId"; CONFLICT naming the rules using a store that is not managed, or the
// directory store rules read from.
func (h *DeletePropagationStoreHandler) Handle(ctx context.Context, in DeletePropagationStore) (DeletePropagationStoreResult, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err == nil {
		err = validID("storeId", in.StoreID)
	}
	if err != nil {
		return DeletePropagationStoreResult{}, fmt.Errorf("delete propagation store: %w", err)
	}
	events, pos, _, err := d.decidePropagation(ctx, env, func(p *domain.Propagation) ([]any, error) {
		return p.DeleteStore(env, in.StoreID)
	})
	if err != nil {
		return DeletePropagationStoreResult{}, fmt.Errorf("delete propagation store %s: %w", in.StoreID, err)
	}
	out := DeletePropagationStoreResult{Position: pos}
	for _, e := range events {
		switch ev := e.(type) {
		case domain.PropagationRuleDeleted:
			out.DeletedRuleIDs = append(out.DeletedRuleIDs, ev.RuleID)
		case domain.PropagationStoreDeleted:
			out.Deprovision = ev.Deprovision
		}
	}
	return out, nil
}
