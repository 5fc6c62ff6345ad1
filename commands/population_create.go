package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// CreatePopulation creates a population; its name is unique in the environment (any case).
type CreatePopulation struct {
	EnvironmentID string
	Name          string
	Description   string
}

// CreatePopulationResult names the population created.
type CreatePopulationResult struct {
	PopulationID string
	Position     eventstore.Position
}

// CreatePopulationHandler handles CreatePopulation.
type CreatePopulationHandler struct{ d *Deps }

// NewCreatePopulation returns the handler of CreatePopulation.
func NewCreatePopulation(d *Deps) *CreatePopulationHandler { return &CreatePopulationHandler{d: d} }

// Handle reserves the name (ErrConflict on "name" when taken), then appends population.created;
// the reservation is released when the append fails.
func (h *CreatePopulationHandler) Handle(ctx context.Context, in CreatePopulation) (CreatePopulationResult, error) {
	d := h.d
	env, _, err := d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return CreatePopulationResult{}, fmt.Errorf("create population: %w", err)
	}
	id := d.NewID()
	created, err := domain.NewPopulation(env.ID, id, in.Name, in.Description)
	if err != nil {
		return CreatePopulationResult{}, fmt.Errorf("create population: %w", err)
	}
	stream := domain.StreamName(domain.CategoryPopulation, id)
	if err := d.claim(ctx, env.ID, domain.UniquePopulation, "name", created.Name, stream, d.populationHoldsName(created.Name)); err != nil {
		return CreatePopulationResult{}, fmt.Errorf("create population: %w", err)
	}
	pos, err := d.appendEvents(ctx, stream, eventstore.NoStream, env.ID, nil, created)
	if err != nil {
		_ = d.release(context.WithoutCancel(ctx), env.ID, domain.UniquePopulation, created.Name, stream)
		return CreatePopulationResult{}, fmt.Errorf("create population: %w", err)
	}
	return CreatePopulationResult{PopulationID: id, Position: pos}, nil
}
