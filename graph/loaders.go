package graph

import (
	"context"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/graph/model"
	"github.com/idstream/idstream/projections"
)

// ReadModel is what the API reads (the memory Directory or PostgreSQL). Every environment-scoped query
// answers domain.ErrNotFound for an unknown environment and for another environment's resources.
type ReadModel = projections.Queries

var _ ReadModel = (*projections.Directory)(nil)

// loaders batch the nested lists of one request: a page of users asks for its populations once
// per environment, not once per user. They live for one request (their caches never go stale
// across requests).
type loaders struct {
	populations *dataloadgen.Loader[envKey, *projections.Population]
	userGroups  *dataloadgen.Loader[memberKey, []projections.Group]
	members     *dataloadgen.Loader[memberKey, projections.GroupMembers]
}

type envKey struct{ env, id string }

type memberKey struct {
	env, id    string
	transitive bool
}

const loaderWait = 500 * time.Microsecond

// newLoaders returns loaders over rm, for one request.
func newLoaders(rm ReadModel) *loaders {
	return &loaders{
		populations: dataloadgen.NewLoader(func(_ context.Context, keys []envKey) ([]*projections.Population, []error) {
			out := make([]*projections.Population, len(keys))
			errs := make([]error, len(keys))
			byEnv := map[string]map[string]*projections.Population{}
			for i, k := range keys {
				pops, ok := byEnv[k.env]
				if !ok {
					list, err := rm.Populations(k.env)
					if err != nil {
						errs[i] = err
						continue
					}
					pops = make(map[string]*projections.Population, len(list))
					for j := range list {
						pops[list[j].ID] = &list[j]
					}
					byEnv[k.env] = pops
				}
				if out[i] = pops[k.id]; out[i] == nil {
					errs[i] = domain.NotFoundf("population %s", k.id)
				}
			}
			return out, errs
		}, dataloadgen.WithWait(loaderWait)),
		userGroups: dataloadgen.NewLoader(func(_ context.Context, keys []memberKey) ([][]projections.Group, []error) {
			out := make([][]projections.Group, len(keys))
			errs := make([]error, len(keys))
			for i, k := range keys {
				out[i], errs[i] = rm.UserGroups(k.env, k.id, k.transitive)
			}
			return out, errs
		}, dataloadgen.WithWait(loaderWait)),
		members: dataloadgen.NewLoader(func(_ context.Context, keys []memberKey) ([]projections.GroupMembers, []error) {
			out := make([]projections.GroupMembers, len(keys))
			errs := make([]error, len(keys))
			for i, k := range keys {
				out[i], errs[i] = rm.GroupMembers(k.env, k.id, k.transitive)
			}
			return out, errs
		}, dataloadgen.WithWait(loaderWait)),
	}
}

// population loads population id of env through the request's loader.
func (l *loaders) population(ctx context.Context, env, id string) (*model.Population, error) {
	p, err := l.populations.Load(ctx, envKey{env, id})
	if err != nil {
		return nil, err
	}
	return toPopulation(p), nil
}
