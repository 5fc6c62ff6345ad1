package commands

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/idstream/idstream/domain"
)

// UpdatePropagationRule changes a rule; nil fields keep their value. Its mappings change by
// SetPropagationMapping and RemovePropagationMapping only.
type UpdatePropagationRule struct {
	EnvironmentID        string
	RuleID               string
	PlanID               *string
	Name                 *string
	SourceStoreID        *string
	TargetStoreID        *string
	Filter               *string
	GroupIDs             *[]string
	Active               *bool
	CorrelationAttribute *string
	DriftPolicy          *domain.DriftPolicy
	// TargetConfig, when not nil, replaces the whole target configuration.
	TargetConfig *map[string]string
}

// UpdatePropagationRuleHandler handles UpdatePropagationRule.
type UpdatePropagationRuleHandler struct{ d *Deps }

// NewUpdatePropagationRule returns the handler of UpdatePropagationRule.
func NewUpdatePropagationRule(d *Deps) *UpdatePropagationRuleHandler {
	return &UpdatePropagationRuleHandler{d: d}
}

// Handle appends propagation.rule_updated, nothing when nothing changes. Errors: NOT_FOUND on
// "ruleId"; as CreatePropagationRule's for the fields given.
func (h *UpdatePropagationRuleHandler) Handle(ctx context.Context, in UpdatePropagationRule) (PropagationRuleResult, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err == nil {
		err = validID("ruleId", in.RuleID)
	}
	if err == nil && (in.Filter != nil || in.GroupIDs != nil) {
		var filter string
		var groups []string
		if in.Filter != nil {
			filter = *in.Filter
		}
		if in.GroupIDs != nil {
			groups = *in.GroupIDs
		}
		err = d.checkRuleScope(ctx, env, filter, groups)
	}
	if err != nil {
		return PropagationRuleResult{}, fmt.Errorf("update propagation rule: %w", err)
	}
	_, pos, agg, err := d.decidePropagation(ctx, env, func(p *domain.Propagation) ([]any, error) {
		r, ok := p.Rule(in.RuleID)
		if !ok {
			return nil, &domain.FieldError{Field: "ruleId", Reason: "no propagation rule " + in.RuleID, Kind: domain.ErrNotFound}
		}
		set(&r.PlanID, in.PlanID)
		set(&r.Name, in.Name)
		set(&r.SourceStoreID, in.SourceStoreID)
		set(&r.TargetStoreID, in.TargetStoreID)
		set(&r.Filter, in.Filter)
		set(&r.Active, in.Active)
		set(&r.CorrelationAttribute, in.CorrelationAttribute)
		set(&r.DriftPolicy, in.DriftPolicy)
		if in.TargetConfig != nil {
			r.TargetConfig = maps.Clone(*in.TargetConfig)
		}
		if in.GroupIDs != nil {
			r.GroupIDs = slices.Clone(*in.GroupIDs)
		}
		return p.UpdateRule(env, r)
	})
	if err != nil {
		return PropagationRuleResult{}, fmt.Errorf("update propagation rule %s: %w", in.RuleID, err)
	}
	out, _ := agg.Rule(in.RuleID)
	return PropagationRuleResult{Rule: out, Position: pos}, nil
}

// set assigns *v to *dst when v is not nil.
func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
