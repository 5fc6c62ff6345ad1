package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// DeletePropagationPlan deletes a plan that holds no rules.
type DeletePropagationPlan struct {
	EnvironmentID string
	PlanID        string
}

// DeletePropagationPlanHandler handles DeletePropagationPlan.
type DeletePropagationPlanHandler struct{ d *Deps }

// NewDeletePropagationPlan returns the handler of DeletePropagationPlan.
func NewDeletePropagationPlan(d *Deps) *DeletePropagationPlanHandler {
	return &DeletePropagationPlanHandler{d: d}
}

// Handle appends propagation.plan_deleted. Errors: NOT_FOUND on "planId"; CONFLICT naming the
// rules the plan holds.
func (h *DeletePropagationPlanHandler) Handle(ctx context.Context, in DeletePropagationPlan) (eventstore.Position, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err == nil {
		err = validID("planId", in.PlanID)
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("delete propagation plan: %w", err)
	}
	_, pos, _, err := d.decidePropagation(ctx, env, func(p *domain.Propagation) ([]any, error) {
		return p.DeletePlan(env, in.PlanID)
	})
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("delete propagation plan %s: %w", in.PlanID, err)
	}
	return pos, nil
}
