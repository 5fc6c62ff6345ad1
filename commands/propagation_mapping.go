package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// SetPropagationMapping creates or replaces (by Mapping.ID; empty: a new mapping) a mapping of a
// rule.
type SetPropagationMapping struct {
	EnvironmentID string
	RuleID        string
	Mapping       domain.AttributeMapping
}

// SetPropagationMappingResult is the mapping as set, its rule after and the commit position
// (zero when nothing changed).
type SetPropagationMappingResult struct {
	Mapping  domain.AttributeMapping
	Rule     domain.PropagationRule
	Position eventstore.Position
}

// SetPropagationMappingHandler handles SetPropagationMapping.
type SetPropagationMappingHandler struct {
	d     *Deps
	check MappingChecker
}

// NewSetPropagationMapping returns the handler of SetPropagationMapping; check (nil: none)
// validates the mapping beyond the domain's checks.
func NewSetPropagationMapping(d *Deps, check MappingChecker) *SetPropagationMappingHandler {
	return &SetPropagationMappingHandler{d: d, check: check}
}

// Handle appends propagation.mapping_set. Errors: NOT_FOUND on "ruleId"; INVALID on "target",
// "source", "value", "applyOn", "default" (the checker's too); CONFLICT on "target" when
// another mapping of the rule has it.
func (h *SetPropagationMappingHandler) Handle(ctx context.Context, in SetPropagationMapping) (SetPropagationMappingResult, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err == nil {
		err = validID("ruleId", in.RuleID)
	}
	m := in.Mapping
	if m.ID == "" {
		m.ID = d.NewID()
	} else if err == nil {
		err = validID("id", m.ID)
	}
	if err == nil && h.check != nil {
		err = checked("value", h.check(m))
	}
	if err != nil {
		return SetPropagationMappingResult{}, fmt.Errorf("set propagation mapping: %w", err)
	}
	_, pos, agg, err := d.decidePropagation(ctx, env, func(p *domain.Propagation) ([]any, error) {
		return p.SetMapping(env, in.RuleID, m)
	})
	if err != nil {
		return SetPropagationMappingResult{}, fmt.Errorf("set mapping of propagation rule %s: %w", in.RuleID, err)
	}
	out := SetPropagationMappingResult{Position: pos}
	out.Rule, _ = agg.Rule(in.RuleID)
	for _, x := range out.Rule.Mappings {
		if x.ID == m.ID {
			out.Mapping = x
		}
	}
	return out, nil
}
