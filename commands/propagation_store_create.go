package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// CreatePropagationStore creates an identity store in an environment's propagation draft.
// Credentials, optional, are sealed and set in the same append.
type CreatePropagationStore struct {
	EnvironmentID string
	Name          string
	Description   string
	Type          domain.StoreType
	Config        map[string]string
	Status        domain.StoreStatus
	Managed       bool
	Actions       domain.StoreActions
	// Safety are the store's safety rails (nil or zero: none).
	Safety      *domain.StoreSafety
	Credentials map[string]string
}

// PropagationStoreResult is a store as it stands after a command (Credentials is the sealed
// form: callers show only whether it is set) and the commit position.
type PropagationStoreResult struct {
	Store    domain.PropagationStore
	Position eventstore.Position
}

// CreatePropagationStoreHandler handles CreatePropagationStore.
type CreatePropagationStoreHandler struct {
	d       *Deps
	check   StoreConfigChecker
	secrets SecretSealer
}

// NewCreatePropagationStore returns the handler of CreatePropagationStore; check (nil: none)
// validates the type-specific configuration, secrets seals credentials.
func NewCreatePropagationStore(d *Deps, check StoreConfigChecker, secrets SecretSealer) *CreatePropagationStoreHandler {
	return &CreatePropagationStoreHandler{d: d, check: check, secrets: secrets}
}

// Handle appends propagation.store_created (and store_credentials_set when credentials are
// given). Errors: see domain.Propagation.CreateStore; the config checker's on "config";
// UNAVAILABLE when credentials are given and no secret key is configured.
func (h *CreatePropagationStoreHandler) Handle(ctx context.Context, in CreatePropagationStore) (PropagationStoreResult, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err != nil {
		return PropagationStoreResult{}, fmt.Errorf("create propagation store: %w", err)
	}
	id := d.NewID()
	var sealed string
	if in.Credentials != nil {
		if sealed, err = sealStoreCredentials(h.secrets, id, in.Credentials); err != nil {
			return PropagationStoreResult{}, fmt.Errorf("create propagation store: %w", err)
		}
	}
	if h.check != nil && checksConfig(in.Type) {
		if err := checked("config", h.check(in.Type, in.Config)); err != nil {
			return PropagationStoreResult{}, fmt.Errorf("create propagation store: %w", err)
		}
	}
	s := domain.PropagationStore{ID: id, Name: in.Name, Description: in.Description, Type: in.Type, Config: in.Config,
		Status: in.Status, Managed: in.Managed, Actions: in.Actions, Safety: in.Safety}
	_, pos, agg, err := d.decidePropagation(ctx, env, func(p *domain.Propagation) ([]any, error) {
		events, err := p.CreateStore(env, s)
		if err != nil || sealed == "" {
			return events, err
		}
		// A new store never had credentials: these are version 1.
		return append(events, domain.PropagationStoreCredentialsSet{EnvironmentID: env, StoreID: id, Credentials: sealed, Version: 1}), nil
	})
	if err != nil {
		return PropagationStoreResult{}, fmt.Errorf("create propagation store: %w", err)
	}
	out, _ := agg.Store(id)
	return PropagationStoreResult{Store: out, Position: pos}, nil
}
