package commands

import (
	"context"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// PopulationUsage counts the users of a population. Commands may not read read models, so the
// population commands take this port; projections implement it. Its answer may lag the log.
type PopulationUsage interface {
	PopulationUserCount(ctx context.Context, envID, populationID string) (int, error)
}

// loadPopulation loads population popID of environment envID. A population that is missing,
// deleted or of another environment is ErrNotFound on field.
func (d *Deps) loadPopulation(ctx context.Context, field, envID, popID string) (*domain.Population, eventstore.ExpectedRevision, error) {
	if err := validID(field, popID); err != nil {
		return nil, eventstore.NoStream, err
	}
	p := &domain.Population{}
	expected, err := d.load(ctx, domain.StreamName(domain.CategoryPopulation, popID), p)
	if err != nil {
		return nil, expected, err
	}
	if !p.Exists || p.EnvironmentID != envID {
		return nil, expected, &domain.FieldError{Field: field, Reason: "no population " + popID + " in this environment", Kind: domain.ErrNotFound}
	}
	return p, expected, nil
}

// populationHoldsName is the holds check of population name reservations.
func (d *Deps) populationHoldsName(name string) holdsFunc {
	return func(ctx context.Context, owner string) (bool, error) {
		p := &domain.Population{}
		if _, err := d.load(ctx, owner, p); err != nil {
			return false, err
		}
		return p.Exists && NormalizeUnique(p.Name) == NormalizeUnique(name), nil
	}
}
