package graph

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// TimeTravel is what the API needs to answer a query as of a past instant or position.
type TimeTravel interface {
	// PositionAt returns the position of the last event recorded at or before at (the zero
	// Position when there is none; the head for an instant in the future).
	PositionAt(ctx context.Context, at time.Time) (eventstore.Position, error)
	// DirectoryAt returns the read model exactly as it stood after the last event at or before
	// pos. The value is the caller's: it never changes afterwards.
	DirectoryAt(ctx context.Context, pos eventstore.Position) (ReadModel, error)
	// UserAt returns user id of env as of pos, replayed from the user's own streams; a user that
	// did not exist then is domain.ErrNotFound.
	UserAt(ctx context.Context, env, id string, pos eventstore.Position) (*projections.User, error)
}

// requestModels pins, for one request, the live read model (taken once, so that a rebuild
// switching models mid-request cannot mix two of them) and the historical models its
// top-level fields ask for with asOf or atPosition, each built at most once per request.
type requestModels struct {
	live        ReadModel
	liveLoaders *loaders

	mu    sync.Mutex
	times map[time.Time]*resolvedTime
	at    map[eventstore.Position]*pinnedModel
}

type resolvedTime struct {
	once sync.Once
	pos  eventstore.Position
	err  error
}

type pinnedModel struct {
	once    sync.Once
	rm      ReadModel
	loaders *loaders
}

type requestModelsKey struct{}

func withRequestModels(ctx context.Context, live ReadModel) context.Context {
	m := &requestModels{live: live, times: map[time.Time]*resolvedTime{}, at: map[eventstore.Position]*pinnedModel{}}
	m.liveLoaders = newLoaders(live)
	return context.WithValue(ctx, requestModelsKey{}, m)
}

func requestModelsFrom(ctx context.Context) *requestModels {
	m, _ := ctx.Value(requestModelsKey{}).(*requestModels)
	return m
}

// pointInTime returns the position the request's top-level query field asks for with asOf or
// atPosition, and whether it asks for one. Nested fields answer as of their top-level field.
func (r *Resolver) pointInTime(ctx context.Context) (eventstore.Position, bool, error) {
	var root *graphql.FieldContext
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		if fc.Object == "Query" && fc.Field.Field != nil { // gqlgen's operation root has no field
			root = fc
		}
	}
	if root == nil {
		return eventstore.Position{}, false, nil
	}
	asOf := argTime(root.Args["asOf"])
	atPosition := argString(root.Args["atPosition"])
	switch {
	case asOf == nil && atPosition == "":
		return eventstore.Position{}, false, nil
	case asOf != nil && atPosition != "":
		return eventstore.Position{}, false, domain.Invalidf("asOf", "give asOf or atPosition, not both")
	case atPosition != "":
		pos, err := eventstore.ParsePosition(atPosition)
		if err != nil {
			return eventstore.Position{}, false, domain.Invalidf("atPosition", "%q is not a position (want C or C/P, as mutations return)", atPosition)
		}
		return pos, true, nil
	}
	if r.cfg.TimeTravel == nil {
		return eventstore.Position{}, false, unavailablef("time travel is not configured on this server")
	}
	m := requestModelsFrom(ctx)
	if m == nil {
		pos, err := r.cfg.TimeTravel.PositionAt(ctx, *asOf)
		return pos, err == nil, err
	}
	m.mu.Lock()
	t := m.times[*asOf]
	if t == nil {
		t = &resolvedTime{}
		m.times[*asOf] = t
	}
	m.mu.Unlock()
	t.once.Do(func() { t.pos, t.err = r.cfg.TimeTravel.PositionAt(ctx, *asOf) })
	return t.pos, t.err == nil, t.err
}

func argTime(v any) *time.Time {
	switch t := v.(type) {
	case *time.Time:
		return t
	case time.Time:
		return &t
	}
	return nil
}

func argString(v any) string {
	switch s := v.(type) {
	case *string:
		if s != nil {
			return *s
		}
	case string:
		return s
	}
	return ""
}

// rm returns the read model the current field answers from: the request's live model, or the
// model as of the top-level field's asOf / atPosition. A historical model that cannot be built
// answers every call with the error.
func (r *Resolver) rm(ctx context.Context) ReadModel {
	rm, _ := r.models(ctx)
	return rm
}

// ld returns the request's loaders over the read model rm(ctx) answers from.
func (r *Resolver) ld(ctx context.Context) *loaders {
	_, l := r.models(ctx)
	return l
}

func (r *Resolver) models(ctx context.Context) (ReadModel, *loaders) {
	m := requestModelsFrom(ctx)
	pos, ok, err := r.pointInTime(ctx)
	if err != nil {
		e := errReadModel{err}
		return e, newLoaders(e)
	}
	if !ok {
		if m == nil { // a resolver run outside NewHandler (tests of one resolver)
			return r.cfg.ReadModel, newLoaders(r.cfg.ReadModel)
		}
		return m.live, m.liveLoaders
	}
	if r.cfg.TimeTravel == nil {
		e := errReadModel{unavailablef("time travel is not configured on this server")}
		return e, newLoaders(e)
	}
	var p *pinnedModel
	if m != nil {
		m.mu.Lock()
		if p = m.at[pos]; p == nil {
			p = &pinnedModel{}
			m.at[pos] = p
		}
		m.mu.Unlock()
	} else {
		p = &pinnedModel{}
	}
	p.once.Do(func() {
		rm, err := r.cfg.TimeTravel.DirectoryAt(ctx, pos)
		if err != nil {
			rm = errReadModel{err}
		}
		p.rm, p.loaders = rm, newLoaders(rm)
	})
	return p.rm, p.loaders
}

// errReadModel answers every query with err: the model of a past instant that could not be
// built.
type errReadModel struct{ err error }

var _ ReadModel = errReadModel{}

func (e errReadModel) Environment(string) (projections.Environment, error) {
	return projections.Environment{}, e.err
}
func (e errReadModel) Environments() []projections.Environment { return nil }
func (e errReadModel) PasswordPolicy(string) (domain.PasswordPolicy, error) {
	return domain.PasswordPolicy{}, e.err
}
func (e errReadModel) Schema(string) ([]domain.AttributeDef, error) { return nil, e.err }
func (e errReadModel) Population(string, string) (projections.Population, error) {
	return projections.Population{}, e.err
}
func (e errReadModel) Populations(string) ([]projections.Population, error) { return nil, e.err }
func (e errReadModel) User(string, string) (*projections.User, error)       { return nil, e.err }
func (e errReadModel) UsersByIDs(string, []string) ([]*projections.User, error) {
	return nil, e.err
}
func (e errReadModel) Users(string, projections.UserQuery) (projections.UserPage, error) {
	return projections.UserPage{}, e.err
}
func (e errReadModel) Group(string, string) (projections.Group, error) {
	return projections.Group{}, e.err
}
func (e errReadModel) Groups(string, projections.GroupQuery) (projections.GroupPage, error) {
	return projections.GroupPage{}, e.err
}
func (e errReadModel) GroupMembers(string, string, bool) (projections.GroupMembers, error) {
	return projections.GroupMembers{}, e.err
}
func (e errReadModel) UserGroups(string, string, bool) ([]projections.Group, error) {
	return nil, e.err
}
func (e errReadModel) APIClient(string) (projections.APIClient, error) {
	return projections.APIClient{}, e.err
}
func (e errReadModel) APIClients(string) ([]projections.APIClient, error) { return nil, e.err }
func (e errReadModel) APIClientByTokenHash(string, time.Time) (projections.APIClient, projections.APIToken, bool) {
	return projections.APIClient{}, projections.APIToken{}, false
}

func unavailablef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", domain.ErrUnavailable, fmt.Sprintf(format, args...))
}
func (e errReadModel) Configuration(string) (domain.Configuration, error) {
	return domain.Configuration{}, e.err
}
