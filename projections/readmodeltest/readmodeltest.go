// Package readmodeltest is the conformance suite of directory read-model stores: the memory
// Directory and pgstore run the same cases (Run), and a differential check (Differential)
// applies one randomized workload to two stores and compares every answer.
package readmodeltest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// ReadModel is what the API reads: projections.Queries.
type ReadModel = projections.Queries

// Harness is a fresh, empty store under test.
type Harness struct {
	Store ReadModel
	// Apply folds changes, in order, and returns once Store answers with them applied.
	Apply func(t testing.TB, changes []projections.Change)
}

// Factory returns a fresh, empty store; it registers its own clean-up with t.
type Factory func(t *testing.T) Harness

// fixture feeds a harness payloads, one position each, at a clock it advances.
type fixture struct {
	t   *testing.T
	h   Harness
	s   ReadModel
	pos uint64
	now time.Time
}

func newFixture(t *testing.T, factory Factory) *fixture {
	h := factory(t)
	return &fixture{t: t, h: h, s: h.Store, now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
}

// Changes turns payloads into changes at positions after pos, one second apart after now.
func Changes(pos *uint64, now *time.Time, payloads ...any) []projections.Change {
	out := make([]projections.Change, len(payloads))
	for i, p := range payloads {
		*pos++
		*now = now.Add(time.Second)
		out[i] = projections.Change{Position: eventstore.Position{Commit: *pos, Prepare: *pos}, Payload: p,
			Metadata: eventstore.Metadata{OccurredAt: *now}}
	}
	return out
}

func (f *fixture) apply(payloads ...any) {
	f.t.Helper()
	f.h.Apply(f.t, Changes(&f.pos, &f.now, payloads...))
}

const env1, env2 = "env-1", "env-2"

// UserID returns the n-th user ID (sorted as n).
func UserID(n int) string { return fmt.Sprintf("01900000-0000-7000-8000-%012d", n) }

func (f *fixture) env(id string) {
	f.apply(domain.PopulationCreated{EnvironmentID: id, PopulationID: id + "-pop", Name: "Default"},
		domain.EnvironmentCreated{EnvironmentID: id, Name: "Env " + id, DefaultPopulationID: id + "-pop",
			PasswordPolicy: domain.DefaultPasswordPolicy()})
}

func userCreated(env string, n int, mod func(*domain.UserCreated)) domain.UserCreated {
	e := domain.UserCreated{EnvironmentID: env, UserID: UserID(n), PopulationID: env + "-pop", Enabled: true,
		Profile: domain.Profile{Username: fmt.Sprintf("user%d", n), Email: fmt.Sprintf("user%d@example.com", n),
			Name: domain.Name{Given: "Given", Family: fmt.Sprintf("Family%d", n%10)}}}
	if mod != nil {
		mod(&e)
	}
	return e
}

func (f *fixture) user(env string, n int, mod func(*domain.UserCreated)) string {
	e := userCreated(env, n, mod)
	f.apply(e)
	return e.UserID
}

// same fails unless got and want encode to the same JSON (the stores' values are compared by
// what they hold, not by pointer or by a nil/empty slice the API renders alike... except that
// JSON keeps null and [] apart, so those must agree too).
func same(t testing.TB, what string, got, want any) {
	t.Helper()
	g, err1 := json.Marshal(got)
	w, err2 := json.Marshal(want)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Fatalf("%s:\n got  %s\n want %s", what, g, w)
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func wantErr(t testing.TB, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: got error %v, want one of kind %v", what, err, kind)
	}
}

func wantField(t testing.TB, what string, err error, field string) {
	t.Helper()
	var fe *domain.FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("%s: got error %v, want a *domain.FieldError on %q", what, err, field)
	}
}

func ids(us []*projections.User) []string {
	out := []string{}
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}

func groupIDs(gs []projections.Group) []string {
	out := []string{}
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
}
