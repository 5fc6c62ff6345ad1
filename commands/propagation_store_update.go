package commands

import (
	"context"
	"fmt"
	"maps"

	"github.com/idstream/idstream/domain"
)

// UpdatePropagationStore changes a store's non-secret configuration; nil fields keep their
// value. Config, when set, replaces the whole configuration.
type UpdatePropagationStore struct {
	EnvironmentID string
	StoreID       string
	Name          *string
	Description   *string
	Config        map[string]string
	Status        *domain.StoreStatus
	Managed       *bool
	Actions       *domain.StoreActions
	// Safety, when not nil, replaces the store's safety rails (zero fields: off).
	Safety *domain.StoreSafety
}

// UpdatePropagationStoreHandler handles UpdatePropagationStore.
type UpdatePropagationStoreHandler struct {
	d     *Deps
	check StoreConfigChecker
}

// NewUpdatePropagationStore returns the handler of UpdatePropagationStore; check (nil: none)
// validates the type-specific configuration.
func NewUpdatePropagationStore(d *Deps, check StoreConfigChecker) *UpdatePropagationStoreHandler {
	return &UpdatePropagationStoreHandler{d: d, check: check}
}

// Handle appends propagation.store_updated, nothing when nothing changes (zero position).
// Errors: NOT_FOUND on "storeId"; see domain.Propagation.UpdateStore.
func (h *UpdatePropagationStoreHandler) Handle(ctx context.Context, in UpdatePropagationStore) (PropagationStoreResult, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err == nil {
		err = validID("storeId", in.StoreID)
	}
	if err != nil {
		return PropagationStoreResult{}, fmt.Errorf("update propagation store: %w", err)
	}
	_, pos, agg, err := d.decidePropagation(ctx, env, func(p *domain.Propagation) ([]any, error) {
		s, ok := p.Store(in.StoreID)
		if !ok {
			return nil, &domain.FieldError{Field: "storeId", Reason: "no propagation store " + in.StoreID, Kind: domain.ErrNotFound}
		}
		if in.Name != nil {
			s.Name = *in.Name
		}
		if in.Description != nil {
			s.Description = *in.Description
		}
		if in.Config != nil {
			s.Config = maps.Clone(in.Config)
		}
		if in.Status != nil {
			s.Status = *in.Status
		}
		if in.Managed != nil {
			s.Managed = *in.Managed
		}
		if in.Actions != nil {
			s.Actions = *in.Actions
		}
		if in.Safety != nil {
			safety := *in.Safety
			s.Safety = &safety
		}
		if h.check != nil && in.Config != nil && checksConfig(s.Type) {
			if err := checked("config", h.check(s.Type, s.Config)); err != nil {
				return nil, err
			}
		}
		return p.UpdateStore(env, s)
	})
	if err != nil {
		return PropagationStoreResult{}, fmt.Errorf("update propagation store %s: %w", in.StoreID, err)
	}
	out, _ := agg.Store(in.StoreID)
	return PropagationStoreResult{Store: out, Position: pos}, nil
}
