package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
)

// SetPropagationStoreCredentials replaces a store's credentials (token, password,
// clientSecret...): they are sealed with the operator's key, bound to the store, before they
// enter the log, and never returned.
type SetPropagationStoreCredentials struct {
	EnvironmentID string
	StoreID       string
	Credentials   map[string]string
}

// SetPropagationStoreCredentialsHandler handles SetPropagationStoreCredentials.
type SetPropagationStoreCredentialsHandler struct {
	d       *Deps
	secrets SecretSealer
}

// NewSetPropagationStoreCredentials returns the handler of SetPropagationStoreCredentials.
func NewSetPropagationStoreCredentials(d *Deps, secrets SecretSealer) *SetPropagationStoreCredentialsHandler {
	return &SetPropagationStoreCredentialsHandler{d: d, secrets: secrets}
}

// Handle appends propagation.store_credentials_set, always (a new seal is a new version).
// Errors: NOT_FOUND on "storeId"; INVALID on "credentials" (empty, too many, too long: the
// error never quotes a value); UNAVAILABLE when no secret key is configured.
func (h *SetPropagationStoreCredentialsHandler) Handle(ctx context.Context, in SetPropagationStoreCredentials) (PropagationStoreResult, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err == nil {
		err = validID("storeId", in.StoreID)
	}
	var sealed string
	if err == nil {
		sealed, err = sealStoreCredentials(h.secrets, in.StoreID, in.Credentials)
	}
	if err != nil {
		return PropagationStoreResult{}, fmt.Errorf("set propagation store credentials: %w", err)
	}
	_, pos, agg, err := d.decidePropagation(ctx, env, func(p *domain.Propagation) ([]any, error) {
		return p.SetStoreCredentials(env, in.StoreID, sealed)
	})
	if err != nil {
		return PropagationStoreResult{}, fmt.Errorf("set credentials of propagation store %s: %w", in.StoreID, err)
	}
	out, _ := agg.Store(in.StoreID)
	return PropagationStoreResult{Store: out, Position: pos}, nil
}
