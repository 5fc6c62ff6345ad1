package projections

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/commands/password"
	"github.com/idstream/idstream/commands/secret"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
)

// histFixture is a log built by the real commands on the embedded store.
type histFixture struct {
	t     *testing.T
	ctx   context.Context
	deps  *commands.Deps
	dir   *commands.Directory
	creds *commands.Credentials
	hist  *History
	now   atomic.Int64
}

// logUsage answers the commands' usage questions from a fold of the whole log.
type logUsage struct{ f *histFixture }

func (u logUsage) UsersWithAttribute(ctx context.Context, env, name string) (int, error) {
	return u.f.foldUpTo(eventstore.Position{}).UsersWithAttribute(ctx, env, name)
}

func (u logUsage) PopulationUserCount(ctx context.Context, env, pop string) (int, error) {
	return u.f.foldUpTo(eventstore.Position{}).PopulationUserCount(ctx, env, pop)
}

func newHistFixture(t *testing.T) *histFixture {
	t.Helper()
	store, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	reg, err := commands.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	f := &histFixture{t: t, ctx: commands.WithActor(context.Background(), commands.Actor{ID: "apiclient:admin"})}
	f.now.Store(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC).UnixNano())
	var n atomic.Uint64
	f.deps = &commands.Deps{Store: store, Registry: reg,
		Now:   func() time.Time { return time.Unix(0, f.now.Add(int64(time.Second))).UTC() },
		NewID: func() string { return fmt.Sprintf("01900000-0000-7000-8000-%012x", n.Add(1)) }}
	hasher, err := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := secret.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	f.dir = commands.NewDirectory(f.deps, commands.DirectoryPorts{AttributeUsage: logUsage{f}, PopulationUsage: logUsage{f}, PasswordHasher: hasher})
	f.creds = commands.NewCredentials(f.deps, commands.CredentialPorts{Passwords: hasher, Secrets: sealer})
	hreg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	f.hist = NewHistory(store, hreg)
	return f
}

// foldUpTo folds the whole log up to pos (zero: all of it) into a fresh Directory: the live
// model as it was at pos.
func (f *histFixture) foldUpTo(pos eventstore.Position) *Directory {
	d := NewDirectory()
	for e, err := range f.deps.Store.ReadAll(f.ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			f.t.Fatal(err)
		}
		if !pos.IsZero() && pos.Less(e.Position) {
			break
		}
		p, err := f.deps.Registry.Decode(e)
		if err != nil {
			f.t.Fatal(err)
		}
		d.Apply(Change{Position: e.Position, Type: e.Type, Metadata: e.Metadata, Payload: p})
	}
	return d
}

func (f *histFixture) head() eventstore.Position {
	for e, err := range f.deps.Store.ReadAll(f.ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: 1}) {
		if err != nil {
			f.t.Fatal(err)
		}
		return e.Position
	}
	return eventstore.Position{}
}

// ok fails the test on a command's error.
func (f *histFixture) ok(_ any, err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// must returns v, failing the test on err.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// story builds a log where user ann of env changes in every way, beside noise: another user's
// changes and another environment. It returns env, ann's ID, and the position of each of ann's
// steps by name.
func (f *histFixture) story() (env, ann string, steps map[string]eventstore.Position) {
	ctx, d, c := f.ctx, f.dir, f.creds
	steps = map[string]eventstore.Position{}
	mark := func(name string) { steps[name] = f.head() }
	e := must(d.CreateEnvironment.Handle(ctx, commands.CreateEnvironment{Name: "Acme"}))
	env = e.EnvironmentID
	other := must(d.CreateEnvironment.Handle(ctx, commands.CreateEnvironment{Name: "Other"}))
	f.ok(d.CreateSchemaAttribute.Handle(ctx, commands.CreateSchemaAttribute{EnvironmentID: env, Attribute: domain.AttributeDef{Name: "badge", Type: domain.AttributeString}}))
	f.ok(d.CreateSchemaAttribute.Handle(ctx, commands.CreateSchemaAttribute{EnvironmentID: env, Attribute: domain.AttributeDef{Name: "vip", Type: domain.AttributeBoolean}}))
	staff := must(d.CreatePopulation.Handle(ctx, commands.CreatePopulation{EnvironmentID: env, Name: "Staff"}))
	mark("before")
	bob := must(d.CreateUser.Handle(ctx, commands.CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "bob"}})).UserID
	ann = must(d.CreateUser.Handle(ctx, commands.CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "ann", Email: "ann@example.com"},
		Custom: domain.CustomValues{"badge": raw(`"B-1"`)}})).UserID
	mark("created")
	f.ok(d.CreateUser.Handle(ctx, commands.CreateUser{EnvironmentID: other.EnvironmentID, Profile: domain.Profile{Username: "ann"}}))
	f.ok(d.UpdateUser.Handle(ctx, commands.UpdateUser{EnvironmentID: env, UserID: ann,
		Profile: domain.Profile{Username: "ann", Email: "ann@acme.example", Name: domain.Name{Given: "Ann"}, Address: domain.Address{Locality: "Lyon"}},
		Custom:  domain.CustomValues{"badge": raw(`"B-2"`), "vip": raw(`true`)}}))
	mark("updated")
	f.ok(d.DisableUser.Handle(ctx, commands.DisableUser{EnvironmentID: env, UserID: bob}))
	f.ok(d.DisableUser.Handle(ctx, commands.DisableUser{EnvironmentID: env, UserID: ann}))
	mark("disabled")
	f.ok(d.EnableUser.Handle(ctx, commands.EnableUser{EnvironmentID: env, UserID: ann}))
	f.ok(d.LockUser.Handle(ctx, commands.LockUser{EnvironmentID: env, UserID: ann}))
	mark("locked")
	f.ok(d.UnlockUser.Handle(ctx, commands.UnlockUser{EnvironmentID: env, UserID: ann}))
	f.ok(d.MoveUser.Handle(ctx, commands.MoveUser{EnvironmentID: env, UserID: ann, PopulationID: staff.PopulationID}))
	mark("moved")
	f.ok(c.SetUserPassword.Handle(ctx, commands.SetUserPassword{EnvironmentID: env, UserID: ann, Password: "Correct horse battery 9"}))
	mark("password")
	f.ok(c.EnrollMFADevice.Handle(ctx, commands.EnrollMFADevice{EnvironmentID: env, UserID: ann, Type: domain.MFATOTP, Name: "phone"}))
	f.ok(c.RecordConsent.Handle(ctx, commands.RecordConsent{EnvironmentID: env, UserID: ann, Purpose: "marketing", Version: "1", Text: "Yes"}))
	f.ok(c.LinkAccount.Handle(ctx, commands.LinkAccount{EnvironmentID: env, UserID: ann, IdentityProvider: "google", Subject: "g-123"}))
	mark("credentials")
	f.ok(d.UpdateUser.Handle(ctx, commands.UpdateUser{EnvironmentID: env, UserID: bob, Profile: domain.Profile{Username: "bob", Title: "Boss"}}))
	f.ok(d.DeleteSchemaAttribute.Handle(ctx, commands.DeleteSchemaAttribute{EnvironmentID: env, Name: "badge", Force: true}))
	mark("badge removed")
	f.ok(d.DeleteUser.Handle(ctx, commands.DeleteUser{EnvironmentID: env, UserID: ann}))
	mark("deleted")
	f.ok(d.UpdateUser.Handle(ctx, commands.UpdateUser{EnvironmentID: env, UserID: bob, Profile: domain.Profile{Username: "bob", Title: "CEO"}}))
	return env, ann, steps
}

// TestUserAtEveryPosition compares UserAt with the whole log's fold at every position.
func TestUserAtEveryPosition(t *testing.T) {
	f := newHistFixture(t)
	env, ann, steps := f.story()
	head := f.head()
	var seen, found int
	for c := uint64(1); c <= head.Commit; c++ {
		pos := eventstore.Position{Commit: c, Prepare: c}
		want, wantErr := f.foldUpTo(pos).User(env, ann)
		got, err := f.hist.UserAt(f.ctx, env, ann, pos)
		seen++
		switch {
		case wantErr != nil:
			if !errors.Is(err, domain.ErrNotFound) || !strings.Contains(err.Error(), "as of position "+pos.String()) {
				t.Fatalf("at %s: got %v, %v; want not found as of position %s", pos, got, err, pos)
			}
		case err != nil:
			t.Fatalf("at %s: %v", pos, err)
		case !reflect.DeepEqual(got, want):
			t.Fatalf("at %s:\n got %+v\nwant %+v", pos, got, want)
		default:
			found++
		}
	}
	if found < 10 || found == seen {
		t.Fatalf("ann found at %d of %d positions: the story does not exercise both cases", found, seen)
	}
	// Spot checks that the compared states are the expected ones.
	u := must(f.hist.UserAt(f.ctx, env, ann, steps["updated"]))
	if badge, _ := u.CustomValue("badge"); u.Profile.Address.Locality != "Lyon" || string(badge) != `"B-2"` {
		t.Fatalf("after update: %+v", u)
	}
	if u := must(f.hist.UserAt(f.ctx, env, ann, steps["disabled"])); u.Enabled {
		t.Fatal("enabled after disable")
	}
	if u := must(f.hist.UserAt(f.ctx, env, ann, steps["locked"])); !u.Locked {
		t.Fatal("not locked")
	}
	if u := must(f.hist.UserAt(f.ctx, env, ann, steps["badge removed"])); len(u.Custom) != 1 || u.Custom[0].Name != "vip" {
		t.Fatalf("custom after forced removal: %+v", u.Custom)
	}
	if _, err := f.hist.UserAt(f.ctx, env, ann, steps["deleted"]); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("after deletion: %v", err)
	}
	if _, err := f.hist.UserAt(f.ctx, env, ann, steps["before"]); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("before creation: %v", err)
	}
	others := f.foldUpTo(head).Environments()
	for _, o := range others {
		if o.ID != env {
			if _, err := f.hist.UserAt(f.ctx, o.ID, ann, steps["moved"]); !errors.Is(err, domain.ErrNotFound) {
				t.Fatalf("in environment %s: %v", o.ID, err)
			}
		}
	}
	if _, err := f.hist.UserAt(f.ctx, env, ann, eventstore.Position{}); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("zero position: %v", err)
	}
}
