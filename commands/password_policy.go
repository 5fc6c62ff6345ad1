package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
)

// SetPasswordPolicy replaces an environment's password policy. Passwords already set are not
// re-checked; the policy applies from their next change.
type SetPasswordPolicy struct {
	EnvironmentID string
	Policy        domain.PasswordPolicy
}

// SetPasswordPolicyHandler handles SetPasswordPolicy.
type SetPasswordPolicyHandler struct{ d *Deps }

// NewSetPasswordPolicy returns the handler of SetPasswordPolicy.
func NewSetPasswordPolicy(d *Deps) *SetPasswordPolicyHandler { return &SetPasswordPolicyHandler{d: d} }

// Handle validates the policy (every out-of-range setting, on "passwordPolicy.<setting>") and
// appends environment.password_policy_set; the current policy appends nothing (zero Position).
// It commutes with other environment changes: a concurrent one is reloaded and retried.
func (h *SetPasswordPolicyHandler) Handle(ctx context.Context, in SetPasswordPolicy) (Committed, error) {
	if err := domain.ValidatePasswordPolicy(in.Policy); err != nil {
		return Committed{}, fmt.Errorf("set password policy: %w", err)
	}
	var out Committed
	err := retryOnConflict(ctx, func() error {
		env, expected, err := h.d.loadEnvironment(ctx, in.EnvironmentID)
		if err != nil || env.PasswordPolicy == in.Policy {
			return err
		}
		out.Position, err = h.d.appendEvents(ctx, domain.StreamName(domain.CategoryEnvironment, env.ID), expected, env.ID, env,
			domain.PasswordPolicySet{EnvironmentID: env.ID, Policy: in.Policy})
		return err
	})
	if err != nil {
		return Committed{}, fmt.Errorf("set password policy of environment %s: %w", in.EnvironmentID, err)
	}
	return out, nil
}
