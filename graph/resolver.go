package graph

import (
	"context"
	"errors"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/graph/model"
)

// Resolver is the root of every resolver; it holds the handler's configuration. Resolvers are
// thin: authorize through authorize/authorizeUser, call one command or read-model query, convert.
type Resolver struct {
	cfg Config
}

// principal returns the request's principal; a resolver run without one (never through
// NewHandler) is unauthenticated.
func principal(ctx context.Context) (*Principal, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return nil, errUnauthenticated
	}
	return p, nil
}

// envNotFound is the one answer for an environment that does not exist or that the caller does
// not see: the two are indistinguishable.
func envNotFound(envID string) error { return domain.NotFoundf("environment %s", envID) }

// authorize checks that the caller may do act on a resource of environment env and population
// pop ("" for environment-wide resources). An environment the caller does not see is NOT_FOUND,
// exactly like one that does not exist; a visible one without the needed role is FORBIDDEN.
func authorize(ctx context.Context, act domain.Action, env, pop string) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	if env != "" && !domain.Sees(p.Roles, env) {
		return envNotFound(env)
	}
	if !domain.Allowed(p.Roles, act, env, pop) {
		return domain.Forbiddenf("the API client's roles do not allow %s here", act)
	}
	return nil
}

// authorizeUser checks act on a user of population pop. A user the caller may not even read is
// NOT_FOUND (population-scoped callers do not see other populations' users); one it may read
// but not change is FORBIDDEN.
func authorizeUser(ctx context.Context, act domain.Action, env, pop, userID string) error {
	if err := authorize(ctx, domain.ActReadEnvironment, env, ""); err != nil {
		return err
	}
	p, _ := principal(ctx)
	if !domain.Allowed(p.Roles, domain.ActReadIdentities, env, pop) {
		return domain.NotFoundf("user %s", userID)
	}
	if !domain.Allowed(p.Roles, act, env, pop) {
		return domain.Forbiddenf("the API client's roles do not allow %s here", act)
	}
	return nil
}

// readScope returns the populations of env whose identities the caller may read: nil for all,
// else the list (possibly empty).
func readScope(ctx context.Context, env string) ([]string, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	all, pops := domain.PopulationScope(p.Roles, domain.ActReadIdentities, env)
	if all {
		return nil, nil
	}
	if pops == nil {
		pops = []string{}
	}
	return pops, nil
}

// awaitMin waits, at most minPositionTimeout, for the read model to pass minPosition (when
// given): read-your-writes. An unparsable position is INVALID naming the argument; a read model
// that does not get there in time is UNAVAILABLE.
func (r *Resolver) awaitMin(ctx context.Context, minPosition *string) error {
	if _, _, err := r.pointInTime(ctx); err != nil { // asOf / atPosition: refused before any work
		return err
	}
	if minPosition == nil || *minPosition == "" {
		return nil
	}
	pos, err := eventstore.ParsePosition(*minPosition)
	if err != nil {
		return domain.Invalidf("minPosition", "%q is not a position (want a mutation's position)", *minPosition)
	}
	return r.await(ctx, pos)
}

// await waits, at most minPositionTimeout, for the read model to pass pos.
func (r *Resolver) await(ctx context.Context, pos eventstore.Position) error {
	if pos.IsZero() {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, minPositionTimeout)
	defer cancel()
	if err := r.cfg.Runner.WaitFor(wctx, pos); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%w: the read model has not reached position %s within %s", domain.ErrUnavailable, pos, minPositionTimeout)
		}
		return err
	}
	return nil
}

// begin starts a query on environment env: authorize act, then wait for minPosition.
func (r *Resolver) begin(ctx context.Context, act domain.Action, env string, minPosition *string) error {
	if err := authorize(ctx, act, env, ""); err != nil {
		return err
	}
	return r.awaitMin(ctx, minPosition)
}

// environmentPayload reads the environment once the read model has passed pos.
func (r *Resolver) environmentPayload(ctx context.Context, id string, pos eventstore.Position) (*model.EnvironmentPayload, error) {
	if err := r.await(ctx, pos); err != nil {
		return nil, err
	}
	e, err := r.rm(ctx).Environment(id)
	if err != nil {
		return nil, err
	}
	return &model.EnvironmentPayload{Environment: toEnvironment(&e), Position: pos.String()}, nil
}
