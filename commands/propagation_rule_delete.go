package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// DeletePropagationRule deletes a rule and its mappings from the draft.
type DeletePropagationRule struct {
	EnvironmentID string
	RuleID        string
}

// DeletePropagationRuleHandler handles DeletePropagationRule.
type DeletePropagationRuleHandler struct{ d *Deps }

// NewDeletePropagationRule returns the handler of DeletePropagationRule.
func NewDeletePropagationRule(d *Deps) *DeletePropagationRuleHandler {
	return &DeletePropagationRuleHandler{d: d}
}

// Handle appends propagation.rule_deleted. Errors: NOT_FOUND on "ruleId".
func (h *DeletePropagationRuleHandler) Handle(ctx context.Context, in DeletePropagationRule) (eventstore.Position, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err == nil {
		err = validID("ruleId", in.RuleID)
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("delete propagation rule: %w", err)
	}
	_, pos, _, err := d.decidePropagation(ctx, env, func(p *domain.Propagation) ([]any, error) {
		return p.DeleteRule(env, in.RuleID)
	})
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("delete propagation rule %s: %w", in.RuleID, err)
	}
	return pos, nil
}
