package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
)

// RenameEnvironment renames an environment.
type RenameEnvironment struct {
	EnvironmentID string
	Name          string
}

// RenameEnvironmentHandler handles RenameEnvironment.
type RenameEnvironmentHandler struct{ d *Deps }

// NewRenameEnvironment returns the handler of RenameEnvironment.
func NewRenameEnvironment(d *Deps) *RenameEnvironmentHandler { return &RenameEnvironmentHandler{d: d} }

// Handle renames; the current name appends nothing (zero Position). A concurrent change of the
// environment is ErrConflict.
func (h *RenameEnvironmentHandler) Handle(ctx context.Context, in RenameEnvironment) (Committed, error) {
	env, expected, err := h.d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return Committed{}, fmt.Errorf("rename environment: %w", err)
	}
	events, err := env.Rename(in.Name)
	if err != nil {
		return Committed{}, fmt.Errorf("rename environment %s: %w", in.EnvironmentID, err)
	}
	pos, err := h.d.appendEvents(ctx, domain.StreamName(domain.CategoryEnvironment, env.ID), expected, env.ID, env, events...)
	if err != nil {
		return Committed{}, fmt.Errorf("rename environment %s: %w", in.EnvironmentID, err)
	}
	return Committed{Position: pos}, nil
}

// DeleteEnvironment deletes an environment: every command on it, and on anything in it, then
// answers ErrNotFound.
type DeleteEnvironment struct {
	EnvironmentID string
}

// DeleteEnvironmentHandler handles DeleteEnvironment.
type DeleteEnvironmentHandler struct{ d *Deps }

// NewDeleteEnvironment returns the handler of DeleteEnvironment.
func NewDeleteEnvironment(d *Deps) *DeleteEnvironmentHandler { return &DeleteEnvironmentHandler{d: d} }

// Handle appends environment.deleted. The environment's streams stay in the log (the audit
// trail) but are unreachable: loadEnvironment refuses a deleted environment.
func (h *DeleteEnvironmentHandler) Handle(ctx context.Context, in DeleteEnvironment) (Committed, error) {
	env, expected, err := h.d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return Committed{}, fmt.Errorf("delete environment: %w", err)
	}
	events, err := env.Delete()
	if err != nil {
		return Committed{}, fmt.Errorf("delete environment %s: %w", in.EnvironmentID, err)
	}
	pos, err := h.d.appendEvents(ctx, domain.StreamName(domain.CategoryEnvironment, env.ID), expected, env.ID, env, events...)
	if err != nil {
		return Committed{}, fmt.Errorf("delete environment %s: %w", in.EnvironmentID, err)
	}
	return Committed{Position: pos}, nil
}

// SetDefaultPopulation chooses the population new users go to when none is named.
type SetDefaultPopulation struct {
	EnvironmentID string
	PopulationID  string
}

// SetDefaultPopulationHandler handles SetDefaultPopulation.
type SetDefaultPopulationHandler struct{ d *Deps }

// NewSetDefaultPopulation returns the handler of SetDefaultPopulation.
func NewSetDefaultPopulation(d *Deps) *SetDefaultPopulationHandler {
	return &SetDefaultPopulationHandler{d: d}
}

// Handle appends environment.default_population_changed; the current default appends nothing.
// The population must exist in the environment (ErrNotFound on "populationId"). A population
// deleted concurrently may become the default: DeletePopulation checks the default first, so
// the window is the two commands racing.
func (h *SetDefaultPopulationHandler) Handle(ctx context.Context, in SetDefaultPopulation) (Committed, error) {
	env, expected, err := h.d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return Committed{}, fmt.Errorf("set default population: %w", err)
	}
	pop, _, err := h.d.loadPopulation(ctx, "populationId", env.ID, in.PopulationID)
	if err != nil {
		return Committed{}, fmt.Errorf("set default population of %s: %w", env.ID, err)
	}
	events, err := env.SetDefaultPopulation(pop)
	if err != nil {
		return Committed{}, fmt.Errorf("set default population of %s: %w", env.ID, err)
	}
	pos, err := h.d.appendEvents(ctx, domain.StreamName(domain.CategoryEnvironment, env.ID), expected, env.ID, env, events...)
	if err != nil {
		return Committed{}, fmt.Errorf("set default population of %s: %w", env.ID, err)
	}
	return Committed{Position: pos}, nil
}
