package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
)

// UpdatePopulation replaces a population's name and description.
type UpdatePopulation struct {
	EnvironmentID string
	PopulationID  string
	Name          string
	Description   string
}

// UpdatePopulationHandler handles UpdatePopulation.
type UpdatePopulationHandler struct{ d *Deps }

// NewUpdatePopulation returns the handler of UpdatePopulation.
func NewUpdatePopulation(d *Deps) *UpdatePopulationHandler { return &UpdatePopulationHandler{d: d} }

// Handle claims a new name (ErrConflict on "name" when taken), appends population.updated, then
// releases the old name. No change appends nothing (zero Position); a concurrent change of the
// population is ErrConflict.
func (h *UpdatePopulationHandler) Handle(ctx context.Context, in UpdatePopulation) (Committed, error) {
	d := h.d
	env, _, err := d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return Committed{}, fmt.Errorf("update population: %w", err)
	}
	pop, expected, err := d.loadPopulation(ctx, "populationId", env.ID, in.PopulationID)
	if err != nil {
		return Committed{}, fmt.Errorf("update population: %w", err)
	}
	events, err := pop.Update(in.Name, in.Description)
	if err != nil || len(events) == 0 {
		return Committed{}, wrapOp("update population "+pop.ID, err)
	}
	oldName, newName := pop.Name, events[0].(domain.PopulationUpdated).Name
	stream := domain.StreamName(domain.CategoryPopulation, pop.ID)
	renamed := NormalizeUnique(oldName) != NormalizeUnique(newName)
	if renamed {
		if err := d.claim(ctx, env.ID, domain.UniquePopulation, "name", newName, stream, d.populationHoldsName(newName)); err != nil {
			return Committed{}, fmt.Errorf("update population %s: %w", pop.ID, err)
		}
	}
	pos, err := d.appendEvents(ctx, stream, expected, env.ID, pop, events...)
	if err != nil {
		if renamed {
			_ = d.releaseUnheld(context.WithoutCancel(ctx), env.ID, domain.UniquePopulation, newName, stream, d.populationHoldsName(newName))
		}
		return Committed{}, fmt.Errorf("update population %s: %w", pop.ID, err)
	}
	if renamed {
		if err := d.releaseUnheld(ctx, env.ID, domain.UniquePopulation, oldName, stream, d.populationHoldsName(oldName)); err != nil {
			return Committed{Position: pos}, fmt.Errorf("update population %s: committed, but releasing the old name: %w", pop.ID, err)
		}
	}
	return Committed{Position: pos}, nil
}

// DeletePopulation deletes a population that holds no users and is not the default.
type DeletePopulation struct {
	EnvironmentID string
	PopulationID  string
}

// DeletePopulationHandler handles DeletePopulation.
type DeletePopulationHandler struct {
	d     *Deps
	usage PopulationUsage
}

// NewDeletePopulation returns the handler of DeletePopulation; usage counts the users of a
// population.
func NewDeletePopulation(d *Deps, usage PopulationUsage) *DeletePopulationHandler {
	return &DeletePopulationHandler{d: d, usage: usage}
}

// Handle refuses (ErrConflict) the default population and a population that usage says holds
// users; else it appends population.deleted and releases the name.
//
// Race: the count comes from a read model, so a user created into (or moved into) the
// population concurrently, or not yet projected, is not counted, and the deletion can leave
// that user in a deleted population. Such users stay readable and can be moved.
func (h *DeletePopulationHandler) Handle(ctx context.Context, in DeletePopulation) (Committed, error) {
	d := h.d
	env, _, err := d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return Committed{}, fmt.Errorf("delete population: %w", err)
	}
	pop, expected, err := d.loadPopulation(ctx, "populationId", env.ID, in.PopulationID)
	if err != nil {
		return Committed{}, fmt.Errorf("delete population: %w", err)
	}
	users, err := h.usage.PopulationUserCount(ctx, env.ID, pop.ID)
	if err != nil {
		return Committed{}, fmt.Errorf("delete population %s: count its users: %w", pop.ID, err)
	}
	events, err := pop.Delete(env, users)
	if err != nil {
		return Committed{}, fmt.Errorf("delete population %s: %w", pop.ID, err)
	}
	stream := domain.StreamName(domain.CategoryPopulation, pop.ID)
	pos, err := d.appendEvents(ctx, stream, expected, env.ID, pop, events...)
	if err != nil {
		return Committed{}, fmt.Errorf("delete population %s: %w", pop.ID, err)
	}
	if err := d.release(ctx, env.ID, domain.UniquePopulation, pop.Name, stream); err != nil {
		return Committed{Position: pos}, fmt.Errorf("delete population %s: committed, but releasing its name: %w", pop.ID, err)
	}
	return Committed{Position: pos}, nil
}

// wrapOp wraps err with op, and keeps nil nil.
func wrapOp(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}
