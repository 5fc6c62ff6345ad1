package domain

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ValidateName checks a display name of an environment, population, group or API client: 1–128
// characters after trimming surrounding space, no control characters. It returns the trimmed
// name, or a *FieldError naming field.
func ValidateName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case !utf8.ValidString(name):
		return "", Invalidf(field, "must be valid UTF-8")
	case n == 0:
		return "", Invalidf(field, "is required")
	case n > 128:
		return "", Invalidf(field, "must be at most 128 characters, got %d", n)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", Invalidf(field, "must not contain control characters")
	}
	return name, nil
}

// NewEnvironment decides the creation of environment id whose default population (created
// beforehand by the caller) is defaultPopulationID. The password policy is DefaultPasswordPolicy.
func NewEnvironment(id, name, defaultPopulationID string) (EnvironmentCreated, error) {
	name, err := ValidateName("name", name)
	if err != nil {
		return EnvironmentCreated{}, err
	}
	return EnvironmentCreated{EnvironmentID: id, Name: name, DefaultPopulationID: defaultPopulationID,
		PasswordPolicy: DefaultPasswordPolicy()}, nil
}

// Rename decides a new name; renaming to the current name records nothing.
func (e *Environment) Rename(name string) ([]any, error) {
	if !e.Exists {
		return nil, NotFoundf("environment %s", e.ID)
	}
	name, err := ValidateName("name", name)
	if err != nil || name == e.Name {
		return nil, err
	}
	return []any{EnvironmentRenamed{EnvironmentID: e.ID, Name: name}}, nil
}

// Delete decides the deletion of the environment: every resource in it becomes unreachable.
func (e *Environment) Delete() ([]any, error) {
	if !e.Exists {
		return nil, NotFoundf("environment %s", e.ID)
	}
	return []any{EnvironmentDeleted{EnvironmentID: e.ID}}, nil
}

// SetDefaultPopulation decides a new default population. pop must be a population of e that
// exists (the caller loads it); choosing the current one records nothing.
func (e *Environment) SetDefaultPopulation(pop *Population) ([]any, error) {
	if !e.Exists {
		return nil, NotFoundf("environment %s", e.ID)
	}
	if pop == nil || !pop.Exists || pop.EnvironmentID != e.ID {
		return nil, &FieldError{Field: "populationId", Reason: "no such population in this environment", Kind: ErrNotFound}
	}
	if pop.ID == e.DefaultPopulationID {
		return nil, nil
	}
	return []any{DefaultPopulationChanged{EnvironmentID: e.ID, PopulationID: pop.ID}}, nil
}
