package commands

import (
	"context"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// loadEnvironment loads an environment that exists (not deleted). A missing or deleted
// environment is ErrNotFound, the same answer either way.
func (d *Deps) loadEnvironment(ctx context.Context, envID string) (*domain.Environment, eventstore.ExpectedRevision, error) {
	if err := validID("environmentId", envID); err != nil {
		return nil, eventstore.NoStream, err
	}
	env := &domain.Environment{}
	expected, err := d.load(ctx, domain.StreamName(domain.CategoryEnvironment, envID), env)
	if err != nil {
		return nil, expected, err
	}
	if !env.Exists {
		return nil, expected, domain.NotFoundf("environment %s", envID)
	}
	return env, expected, nil
}

// loadUser loads a user of environment envID that exists. A user that is missing, deleted, or in
// another environment is ErrNotFound, the same answer for all three.
func (d *Deps) loadUser(ctx context.Context, envID, userID string) (*domain.User, eventstore.ExpectedRevision, error) {
	if err := validID("environmentId", envID); err != nil {
		return nil, eventstore.NoStream, err
	}
	if err := validID("userId", userID); err != nil {
		return nil, eventstore.NoStream, err
	}
	u := &domain.User{}
	expected, err := d.load(ctx, domain.StreamName(domain.CategoryUser, userID), u)
	if err != nil {
		return nil, expected, err
	}
	if !u.Exists || u.EnvironmentID != envID {
		return nil, expected, domain.NotFoundf("user %s", userID)
	}
	return u, expected, nil
}
