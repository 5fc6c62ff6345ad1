package domain

import (
	"unicode/utf8"
)

// Population is the population aggregate, folded from population-<id>. A population partitions
// an environment's users; every user belongs to exactly one.
type Population struct {
	ID            string
	EnvironmentID string
	Name          string
	Description   string
	Exists        bool // created and not deleted
	Deleted       bool
}

// Apply folds one event payload into the state.
func (p *Population) Apply(event any) {
	switch ev := event.(type) {
	case PopulationCreated:
		p.ID, p.EnvironmentID, p.Name, p.Description, p.Exists = ev.PopulationID, ev.EnvironmentID, ev.Name, ev.Description, true
	case PopulationUpdated:
		p.Name, p.Description = ev.Name, ev.Description
	case PopulationDeleted:
		p.Exists, p.Deleted = false, true
	}
}

// maxDescription bounds descriptions of populations, groups and API clients, in characters.
const maxDescription = 1024

func validateDescription(field, d string) error {
	if n := utf8.RuneCountInString(d); n > maxDescription {
		return Invalidf(field, "must be at most %d characters, got %d", maxDescription, n)
	}
	if !utf8.ValidString(d) {
		return Invalidf(field, "must be valid UTF-8")
	}
	return nil
}

// NewPopulation decides the creation of population id in environment env. Name uniqueness is
// the caller's (a reservation), not decided here.
func NewPopulation(env, id, name, description string) (PopulationCreated, error) {
	name, err := ValidateName("name", name)
	if err2 := validateDescription("description", description); err != nil || err2 != nil {
		return PopulationCreated{}, FieldErrors(err, err2)
	}
	return PopulationCreated{EnvironmentID: env, PopulationID: id, Name: name, Description: description}, nil
}

// Update decides a new name and description; no change records nothing.
func (p *Population) Update(name, description string) ([]any, error) {
	if !p.Exists {
		return nil, NotFoundf("population %s", p.ID)
	}
	name, err := ValidateName("name", name)
	if err2 := validateDescription("description", description); err != nil || err2 != nil {
		return nil, FieldErrors(err, err2)
	}
	if name == p.Name && description == p.Description {
		return nil, nil
	}
	return []any{PopulationUpdated{EnvironmentID: p.EnvironmentID, PopulationID: p.ID, Name: name, Description: description}}, nil
}

// Delete decides the deletion of the population. It is refused (ErrConflict) for the
// environment's default population and while users counts more than zero users in it.
func (p *Population) Delete(env *Environment, users int) ([]any, error) {
	if !p.Exists {
		return nil, NotFoundf("population %s", p.ID)
	}
	if env != nil && env.DefaultPopulationID == p.ID {
		return nil, Conflictf("population %q is the environment's default population: choose another default first", p.Name)
	}
	if users > 0 {
		return nil, Conflictf("population %q holds %d users: move or delete them first", p.Name, users)
	}
	return []any{PopulationDeleted{EnvironmentID: p.EnvironmentID, PopulationID: p.ID}}, nil
}
