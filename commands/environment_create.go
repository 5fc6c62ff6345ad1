package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// CreateEnvironment creates an environment with its default population, named "Default".
type CreateEnvironment struct {
	Name string
}

// CreateEnvironmentResult names the environment and default population created.
type CreateEnvironmentResult struct {
	EnvironmentID       string
	DefaultPopulationID string
	Position            eventstore.Position
}

// CreateEnvironmentHandler handles CreateEnvironment.
type CreateEnvironmentHandler struct{ d *Deps }

// NewCreateEnvironment returns the handler of CreateEnvironment.
func NewCreateEnvironment(d *Deps) *CreateEnvironmentHandler { return &CreateEnvironmentHandler{d: d} }

// DefaultPopulationName is the name of the population every environment is created with.
const DefaultPopulationName = "Default"

// Handle appends population.created (its name reserved) and then environment.created. A crash
// between the two leaves a population of an environment that does not exist: unreachable, since
// every command loads the environment first.
func (h *CreateEnvironmentHandler) Handle(ctx context.Context, in CreateEnvironment) (CreateEnvironmentResult, error) {
	d := h.d
	envID, popID := d.NewID(), d.NewID()
	created, err := domain.NewEnvironment(envID, in.Name, popID)
	if err != nil {
		return CreateEnvironmentResult{}, fmt.Errorf("create environment: %w", err)
	}
	pop, err := domain.NewPopulation(envID, popID, DefaultPopulationName, "")
	if err != nil {
		return CreateEnvironmentResult{}, fmt.Errorf("create environment: %w", err)
	}
	popStream := domain.StreamName(domain.CategoryPopulation, popID)
	if err := d.claim(ctx, envID, domain.UniquePopulation, "name", pop.Name, popStream, d.populationHoldsName(pop.Name)); err != nil {
		return CreateEnvironmentResult{}, fmt.Errorf("create environment: %w", err)
	}
	if _, err := d.appendEvents(ctx, popStream, eventstore.NoStream, envID, nil, pop); err != nil {
		return CreateEnvironmentResult{}, fmt.Errorf("create environment: %w", err)
	}
	pos, err := d.appendEvents(ctx, domain.StreamName(domain.CategoryEnvironment, envID), eventstore.NoStream, envID, nil, created)
	if err != nil {
		return CreateEnvironmentResult{}, fmt.Errorf("create environment: %w", err)
	}
	return CreateEnvironmentResult{EnvironmentID: envID, DefaultPopulationID: popID, Position: pos}, nil
}
