package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
)

// RemovePropagationMapping removes a mapping from a rule.
type RemovePropagationMapping struct {
	EnvironmentID string
	RuleID        string
	MappingID     string
}

// RemovePropagationMappingHandler handles RemovePropagationMapping.
type RemovePropagationMappingHandler struct{ d *Deps }

// NewRemovePropagationMapping returns the handler of RemovePropagationMapping.
func NewRemovePropagationMapping(d *Deps) *RemovePropagationMappingHandler {
	return &RemovePropagationMappingHandler{d: d}
}

// Handle appends propagation.mapping_removed and returns the rule after. Errors: NOT_FOUND on
// "ruleId" or "mappingId". Removing the mapping of the rule's correlation attribute is allowed;
// publishing refuses the rule until it maps it again.
func (h *RemovePropagationMappingHandler) Handle(ctx context.Context, in RemovePropagationMapping) (PropagationRuleResult, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err == nil {
		err = validID("ruleId", in.RuleID)
	}
	if err == nil {
		err = validID("mappingId", in.MappingID)
	}
	if err != nil {
		return PropagationRuleResult{}, fmt.Errorf("remove propagation mapping: %w", err)
	}
	_, pos, agg, err := d.decidePropagation(ctx, env, func(p *domain.Propagation) ([]any, error) {
		return p.RemoveMapping(env, in.RuleID, in.MappingID)
	})
	if err != nil {
		return PropagationRuleResult{}, fmt.Errorf("remove mapping %s of propagation rule %s: %w", in.MappingID, in.RuleID, err)
	}
	out, _ := agg.Rule(in.RuleID)
	return PropagationRuleResult{Rule: out, Position: pos}, nil
}
