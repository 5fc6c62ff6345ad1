package commands

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// CreatePropagationRule creates a rule propagating from the environment's DIRECTORY store to a
// target store, in a plan, with its initial mappings (an empty mapping ID gets a new one).
type CreatePropagationRule struct {
	EnvironmentID        string
	PlanID               string
	Name                 string
	SourceStoreID        string
	TargetStoreID        string
	Filter               string
	GroupIDs             []string
	Active               bool
	CorrelationAttribute string
	Mappings             []domain.AttributeMapping
	DriftPolicy          domain.DriftPolicy
	TargetConfig         map[string]string
}

// PropagationRuleResult is a rule as it stands after a command and the commit position.
type PropagationRuleResult struct {
	Rule     domain.PropagationRule
	Position eventstore.Position
}

// CreatePropagationRuleHandler handles CreatePropagationRule.
type CreatePropagationRuleHandler struct {
	d     *Deps
	check MappingChecker
}

// NewCreatePropagationRule returns the handler of CreatePropagationRule; check (nil: none)
// validates each mapping beyond the domain's checks.
func NewCreatePropagationRule(d *Deps, check MappingChecker) *CreatePropagationRuleHandler {
	return &CreatePropagationRuleHandler{d: d, check: check}
}

// Handle appends propagation.rule_created. Errors: INVALID on "filter" (it must parse as a SCIM
// filter and name known user attributes, as a dynamic group's), NOT_FOUND on "groupIds[i]",
// "planId", "sourceStoreId", "targetStoreId"; INVALID on "mappings[i].<field>"; see
// domain.Propagation.CreateRule.
func (h *CreatePropagationRuleHandler) Handle(ctx context.Context, in CreatePropagationRule) (PropagationRuleResult, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err != nil {
		return PropagationRuleResult{}, fmt.Errorf("create propagation rule: %w", err)
	}
	mappings := make([]domain.AttributeMapping, len(in.Mappings))
	var errs []error
	for i, m := range in.Mappings {
		if m.ID == "" {
			m.ID = d.NewID()
		}
		mappings[i] = m
		if h.check != nil {
			errs = append(errs, withPrefix(fmt.Sprintf("mappings[%d].", i), checked("value", h.check(m))))
		}
	}
	errs = append(errs, d.checkRuleScope(ctx, env, in.Filter, in.GroupIDs))
	if err := errors.Join(errs...); err != nil {
		return PropagationRuleResult{}, fmt.Errorf("create propagation rule: %w", err)
	}
	id := d.NewID()
	r := domain.PropagationRule{ID: id, PlanID: in.PlanID, Name: in.Name, SourceStoreID: in.SourceStoreID, TargetStoreID: in.TargetStoreID,
		Filter: in.Filter, GroupIDs: in.GroupIDs, Active: in.Active, CorrelationAttribute: in.CorrelationAttribute, Mappings: mappings,
		DriftPolicy: in.DriftPolicy, TargetConfig: maps.Clone(in.TargetConfig)}
	_, pos, agg, err := d.decidePropagation(ctx, env, func(p *domain.Propagation) ([]any, error) { return p.CreateRule(env, r) })
	if err != nil {
		return PropagationRuleResult{}, fmt.Errorf("create propagation rule: %w", err)
	}
	out, _ := agg.Rule(id)
	return PropagationRuleResult{Rule: out, Position: pos}, nil
}

// checkRuleScope validates a rule's scoping filter against the environment's schema (as a
// dynamic group's filter) and checks that its groups exist.
func (d *Deps) checkRuleScope(ctx context.Context, env, filter string, groupIDs []string) error {
	var errs []error
	if filter != "" {
		schema, _, err := d.loadSchema(ctx, env)
		if err != nil {
			return err
		}
		errs = append(errs, validateGroupFilter(filter, schema))
	}
	if len(groupIDs) > domain.MaxRuleGroups {
		return errors.Join(append(errs, domain.Invalidf("groupIds", "at most %d groups, got %d", domain.MaxRuleGroups, len(groupIDs)))...)
	}
	for i, g := range groupIDs {
		if _, _, err := d.loadGroup(ctx, fmt.Sprintf("groupIds[%d]", i), env, g); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
