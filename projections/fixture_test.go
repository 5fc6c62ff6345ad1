package projections

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// fixture folds payloads into a fresh Directory, one position each, at a clock it advances.
type fixture struct {
	t   testing.TB
	d   *Directory
	pos uint64
	now time.Time
}

const env1, env2 = "env-1", "env-2"

func newFixture(t testing.TB) *fixture {
	return &fixture{t: t, d: NewDirectory(), now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
}

func (f *fixture) apply(payloads ...any) {
	changes := make([]Change, len(payloads))
	for i, p := range payloads {
		f.pos++
		f.now = f.now.Add(time.Second)
		changes[i] = Change{Position: eventstore.Position{Commit: f.pos, Prepare: f.pos}, Payload: p,
			Metadata: eventstore.Metadata{OccurredAt: f.now}}
	}
	f.d.Apply(changes...)
}

// env creates an environment with population "<env>-pop".
func (f *fixture) env(id string) {
	f.apply(domain.EnvironmentCreated{EnvironmentID: id, Name: "Env " + id, DefaultPopulationID: id + "-pop",
		PasswordPolicy: domain.DefaultPasswordPolicy()},
		domain.PopulationCreated{EnvironmentID: id, PopulationID: id + "-pop", Name: "Default"})
}

func userID(n int) string {
	return fmt.Sprintf("0190000%d-0000-7000-8000-%012d", n/1_000_000_000, n%1_000_000_000)
}

func (f *fixture) user(env string, n int, mod func(*domain.UserCreated)) string {
	e := domain.UserCreated{EnvironmentID: env, UserID: userID(n), PopulationID: env + "-pop", Enabled: true,
		Profile: domain.Profile{Username: fmt.Sprintf("user%d", n), Email: fmt.Sprintf("user%d@example.com", n),
			Name: domain.Name{Given: "Given", Family: fmt.Sprintf("Family%d", n%10)}}}
	if mod != nil {
		mod(&e)
	}
	f.apply(e)
	return e.UserID
}

func (f *fixture) mustUser(env, id string) *User {
	f.t.Helper()
	u, err := f.d.User(env, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }
