package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
)

// UpdatePropagationPlan changes a plan; nil fields keep their value.
type UpdatePropagationPlan struct {
	EnvironmentID string
	PlanID        string
	Name          *string
	Description   *string
	Status        *domain.PlanStatus
}

// UpdatePropagationPlanHandler handles UpdatePropagationPlan.
type UpdatePropagationPlanHandler struct{ d *Deps }

// NewUpdatePropagationPlan returns the handler of UpdatePropagationPlan.
func NewUpdatePropagationPlan(d *Deps) *UpdatePropagationPlanHandler {
	return &UpdatePropagationPlanHandler{d: d}
}

// Handle appends propagation.plan_updated, nothing when nothing changes. Errors: NOT_FOUND on
// "planId"; as CreatePropagationPlan's.
func (h *UpdatePropagationPlanHandler) Handle(ctx context.Context, in UpdatePropagationPlan) (PropagationPlanResult, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err == nil {
		err = validID("planId", in.PlanID)
	}
	if err != nil {
		return PropagationPlanResult{}, fmt.Errorf("update propagation plan: %w", err)
	}
	_, pos, agg, err := d.decidePropagation(ctx, env, func(p *domain.Propagation) ([]any, error) {
		pl, ok := p.Plan(in.PlanID)
		if !ok {
			return nil, &domain.FieldError{Field: "planId", Reason: "no propagation plan " + in.PlanID, Kind: domain.ErrNotFound}
		}
		if in.Name != nil {
			pl.Name = *in.Name
		}
		if in.Description != nil {
			pl.Description = *in.Description
		}
		if in.Status != nil {
			pl.Status = *in.Status
		}
		return p.UpdatePlan(env, pl)
	})
	if err != nil {
		return PropagationPlanResult{}, fmt.Errorf("update propagation plan %s: %w", in.PlanID, err)
	}
	out, _ := agg.Plan(in.PlanID)
	return PropagationPlanResult{Plan: out, Position: pos}, nil
}
