package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// CreatePropagationPlan creates a plan; its name is unique in the environment (any case).
type CreatePropagationPlan struct {
	EnvironmentID string
	Name          string
	Description   string
	Status        domain.PlanStatus
}

// PropagationPlanResult is a plan as it stands after a command and the commit position.
type PropagationPlanResult struct {
	Plan     domain.PropagationPlan
	Position eventstore.Position
}

// CreatePropagationPlanHandler handles CreatePropagationPlan.
type CreatePropagationPlanHandler struct{ d *Deps }

// NewCreatePropagationPlan returns the handler of CreatePropagationPlan.
func NewCreatePropagationPlan(d *Deps) *CreatePropagationPlanHandler {
	return &CreatePropagationPlanHandler{d: d}
}

// Handle appends propagation.plan_created. Errors: INVALID on "name", "description",
// "status"; CONFLICT on "name" when taken.
func (h *CreatePropagationPlanHandler) Handle(ctx context.Context, in CreatePropagationPlan) (PropagationPlanResult, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err != nil {
		return PropagationPlanResult{}, fmt.Errorf("create propagation plan: %w", err)
	}
	id := d.NewID()
	_, pos, agg, err := d.decidePropagation(ctx, env, func(p *domain.Propagation) ([]any, error) {
		return p.CreatePlan(env, domain.PropagationPlan{ID: id, Name: in.Name, Description: in.Description, Status: in.Status})
	})
	if err != nil {
		return PropagationPlanResult{}, fmt.Errorf("create propagation plan: %w", err)
	}
	out, _ := agg.Plan(id)
	return PropagationPlanResult{Plan: out, Position: pos}, nil
}
