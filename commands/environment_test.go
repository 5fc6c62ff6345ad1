package commands

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/commands/password"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// fixture is a Directory on a fresh embedded store, with the clock set to the wall clock (the
// reservation grace period compares it with the store's commit times) and ports that count
// from the log itself.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	d     *Deps
	clock *testClock
	dir   *Directory
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	d, clock := testDeps(t)
	clock.Advance(time.Until(clock.Now()) * -1)
	hasher, err := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	counts := logCounts{d: d}
	dir := NewDirectory(d, DirectoryPorts{AttributeUsage: counts, PasswordHasher: hasher, PopulationUsage: counts})
	return &fixture{t: t, ctx: context.Background(), d: d, clock: clock, dir: dir}
}

// env creates an environment and returns its ID and default population.
func (f *fixture) env() (string, string) {
	f.t.Helper()
	res, err := f.dir.CreateEnvironment.Handle(f.ctx, CreateEnvironment{Name: "Acme"})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.EnvironmentID, res.DefaultPopulationID
}

// user creates a user and returns its ID.
func (f *fixture) user(env, username string, custom domain.CustomValues) string {
	f.t.Helper()
	res, err := f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: username}, Custom: custom})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.UserID
}

// events returns the decoded payloads of a stream (nil when it has none).
func (f *fixture) events(stream string) []any {
	f.t.Helper()
	var out []any
	for ev, err := range f.d.Store.ReadStream(f.ctx, stream, eventstore.ReadStreamOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			f.t.Fatal(err)
		}
		p, err := f.d.Registry.Decode(ev)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// last returns the last payload of a stream.
func (f *fixture) last(stream string) any {
	f.t.Helper()
	evs := f.events(stream)
	if len(evs) == 0 {
		f.t.Fatalf("%s has no events", stream)
	}
	return evs[len(evs)-1]
}

// wantKind fails unless err wraps kind; when field is not empty, a *domain.FieldError on field
// must be among the errors.
func wantKind(t *testing.T, err, kind error, field string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v: want kind %v", err, kind)
	}
	if field != "" && !hasField(err, field) {
		t.Fatalf("error %v: want a field error on %q", err, field)
	}
}

func hasField(err error, field string) bool {
	for _, fe := range fieldErrors(err) {
		if fe.Field == field {
			return true
		}
	}
	return false
}

// fieldErrors flattens the *domain.FieldError of an error tree.
func fieldErrors(err error) []*domain.FieldError {
	var fe *domain.FieldError
	if errors.As(err, &fe) && fe == err {
		return []*domain.FieldError{fe}
	}
	var out []*domain.FieldError
	switch x := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range x.Unwrap() {
			out = append(out, fieldErrors(e)...)
		}
	case interface{ Unwrap() error }:
		out = fieldErrors(x.Unwrap())
	}
	return out
}

// logCounts implements PopulationUsage and AttributeUsage by folding the whole log: a real,
// slow implementation for tests (projections implement the ports for the product).
type logCounts struct{ d *Deps }

func (c logCounts) users(ctx context.Context, env string) (map[string]*domain.User, error) {
	users := map[string]*domain.User{}
	for ev, err := range c.d.Store.ReadAll(ctx, eventstore.ReadAllOptions{Filter: &eventstore.Filter{StreamPrefixes: []string{"user-"}}}) {
		if err != nil {
			return nil, err
		}
		p, err := c.d.Registry.Decode(ev)
		if err != nil {
			return nil, err
		}
		if users[ev.Stream] == nil {
			users[ev.Stream] = &domain.User{}
		}
		users[ev.Stream].Apply(p)
	}
	for k, u := range users {
		if !u.Exists || u.EnvironmentID != env {
			delete(users, k)
		}
	}
	return users, nil
}

func (c logCounts) PopulationUserCount(ctx context.Context, env, pop string) (int, error) {
	users, err := c.users(ctx, env)
	n := 0
	for _, u := range users {
		if u.PopulationID == pop {
			n++
		}
	}
	return n, err
}

func (c logCounts) UsersWithAttribute(ctx context.Context, env, name string) (int, error) {
	users, err := c.users(ctx, env)
	n := 0
	for _, u := range users {
		if _, ok := u.Custom[name]; ok {
			n++
		}
	}
	return n, err
}

func TestCreateEnvironment(t *testing.T) {
	f := newFixture(t)
	res, err := f.dir.CreateEnvironment.Handle(f.ctx, CreateEnvironment{Name: "  Acme  "})
	if err != nil {
		t.Fatal(err)
	}
	pop := f.last("population-" + res.DefaultPopulationID).(domain.PopulationCreated)
	if pop.Name != "Default" || pop.EnvironmentID != res.EnvironmentID {
		t.Fatalf("default population %+v", pop)
	}
	env := f.last("environment-" + res.EnvironmentID).(domain.EnvironmentCreated)
	want := domain.EnvironmentCreated{EnvironmentID: res.EnvironmentID, Name: "Acme", DefaultPopulationID: res.DefaultPopulationID,
		PasswordPolicy: domain.DefaultPasswordPolicy()}
	if env != want {
		t.Fatalf("environment.created %+v, want %+v", env, want)
	}
	if res.Position.IsZero() {
		t.Fatal("zero position")
	}
	// The default population's name is reserved.
	_, err = f.dir.CreatePopulation.Handle(f.ctx, CreatePopulation{EnvironmentID: res.EnvironmentID, Name: "default"})
	wantKind(t, err, domain.ErrConflict, "name")

	for _, name := range []string{"", "   ", strings.Repeat("x", 129), "a\x00b", "tab\there"} {
		_, err := f.dir.CreateEnvironment.Handle(f.ctx, CreateEnvironment{Name: name})
		wantKind(t, err, domain.ErrInvalid, "name")
	}
}

func TestEnvironmentCommands(t *testing.T) {
	f := newFixture(t)
	env, defPop := f.env()
	other, otherPop := f.env()
	pop, err := f.dir.CreatePopulation.Handle(f.ctx, CreatePopulation{EnvironmentID: env, Name: "Staff"})
	if err != nil {
		t.Fatal(err)
	}
	stream := "environment-" + env
	tests := []struct {
		name      string
		run       func() (Committed, error)
		wantEvent any   // nil: nothing appended
		wantErr   error // kind
		field     string
	}{
		{"rename", func() (Committed, error) {
			return f.dir.RenameEnvironment.Handle(f.ctx, RenameEnvironment{EnvironmentID: env, Name: "Acme Corp"})
		}, domain.EnvironmentRenamed{EnvironmentID: env, Name: "Acme Corp"}, nil, ""},
		{"rename to the same name", func() (Committed, error) {
			return f.dir.RenameEnvironment.Handle(f.ctx, RenameEnvironment{EnvironmentID: env, Name: "Acme Corp "})
		}, nil, nil, ""},
		{"rename invalid", func() (Committed, error) {
			return f.dir.RenameEnvironment.Handle(f.ctx, RenameEnvironment{EnvironmentID: env, Name: ""})
		}, nil, domain.ErrInvalid, "name"},
		{"rename unknown", func() (Committed, error) {
			return f.dir.RenameEnvironment.Handle(f.ctx, RenameEnvironment{EnvironmentID: "01900000-0000-7000-8000-ffffffffffff", Name: "x"})
		}, nil, domain.ErrNotFound, ""},
		{"rename malformed id", func() (Committed, error) {
			return f.dir.RenameEnvironment.Handle(f.ctx, RenameEnvironment{EnvironmentID: "../x", Name: "x"})
		}, nil, domain.ErrInvalid, "environmentId"},
		{"default population of another environment", func() (Committed, error) {
			return f.dir.SetDefaultPopulation.Handle(f.ctx, SetDefaultPopulation{EnvironmentID: env, PopulationID: otherPop})
		}, nil, domain.ErrNotFound, "populationId"},
		{"default population", func() (Committed, error) {
			return f.dir.SetDefaultPopulation.Handle(f.ctx, SetDefaultPopulation{EnvironmentID: env, PopulationID: pop.PopulationID})
		}, domain.DefaultPopulationChanged{EnvironmentID: env, PopulationID: pop.PopulationID}, nil, ""},
		{"default population unchanged", func() (Committed, error) {
			return f.dir.SetDefaultPopulation.Handle(f.ctx, SetDefaultPopulation{EnvironmentID: env, PopulationID: pop.PopulationID})
		}, nil, nil, ""},
		{"delete", func() (Committed, error) {
			return f.dir.DeleteEnvironment.Handle(f.ctx, DeleteEnvironment{EnvironmentID: env})
		}, domain.EnvironmentDeleted{EnvironmentID: env}, nil, ""},
		{"delete again", func() (Committed, error) {
			return f.dir.DeleteEnvironment.Handle(f.ctx, DeleteEnvironment{EnvironmentID: env})
		}, nil, domain.ErrNotFound, ""},
		{"rename deleted", func() (Committed, error) {
			return f.dir.RenameEnvironment.Handle(f.ctx, RenameEnvironment{EnvironmentID: env, Name: "x"})
		}, nil, domain.ErrNotFound, ""},
		{"population in deleted", func() (Committed, error) {
			return f.dir.UpdatePopulation.Handle(f.ctx, UpdatePopulation{EnvironmentID: env, PopulationID: defPop, Name: "x"})
		}, nil, domain.ErrNotFound, ""},
	}
	for _, tt := range tests {
		before := len(f.events(stream))
		res, err := tt.run()
		after := f.events(stream)
		if tt.wantErr != nil {
			wantKind(t, err, tt.wantErr, tt.field)
		} else if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		switch {
		case tt.wantEvent == nil && len(after) != before:
			t.Fatalf("%s: appended %v", tt.name, after[before:])
		case tt.wantEvent == nil && !res.Position.IsZero():
			t.Fatalf("%s: position %v for nothing appended", tt.name, res.Position)
		case tt.wantEvent != nil && (len(after) != before+1 || after[before] != tt.wantEvent || res.Position.IsZero()):
			t.Fatalf("%s: got %v (position %v), want %v", tt.name, after[before:], res.Position, tt.wantEvent)
		}
	}
	// Every command on a deleted environment is NotFound; the other environment is untouched.
	_, err = f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "ann"}})
	wantKind(t, err, domain.ErrNotFound, "")
	f.user(other, "ann", nil)
}
