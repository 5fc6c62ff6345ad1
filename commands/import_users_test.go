package commands

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/commands/password"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
)

// preHashed is a bcrypt hash (cost 5) as an import brings it.
const preHashed = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"

func importUsers(n int, prefix string) iter.Seq[ImportUser] {
	return func(yield func(ImportUser) bool) {
		for i := range n {
			h := preHashed
			u := ImportUser{Profile: domain.Profile{Username: fmt.Sprintf("%s%d", prefix, i), Email: fmt.Sprintf("%s%d@example.com", prefix, i)}, PasswordHash: &h}
			if !yield(u) {
				return
			}
		}
	}
}

func TestImportUsers(t *testing.T) {
	f := newFixture(t)
	env, defPop := f.env()
	f.user(env, "taken", nil)
	users := slices.Collect(importUsers(300, "u"))
	users[10].Profile.Username = "taken"                    // conflict
	users[20].Profile.Email = "not an email"                // invalid
	users[30].Profile.Username = users[31].Profile.Username // duplicate inside the import: one of the two wins
	results := map[int]ImportUserResult{}
	progress := 0
	sum, err := f.dir.ImportUsers.Handle(f.ctx, env, slices.Values(users), ImportUsersOptions{Workers: 8,
		OnResult:   func(r ImportUserResult) { results[r.Index] = r },
		OnProgress: func(created, failed int) { progress = created + failed }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 297 || sum.Failed != 3 || len(results) != 300 || progress != 300 || sum.Position.IsZero() {
		t.Fatalf("summary %+v, %d results, progress %d", sum, len(results), progress)
	}
	wantKind(t, results[10].Err, domain.ErrConflict, "username")
	wantKind(t, results[20].Err, domain.ErrInvalid, "email")
	if (results[30].Err == nil) == (results[31].Err == nil) {
		t.Fatalf("duplicate username inside the import: %v / %v", results[30].Err, results[31].Err)
	}
	r := results[0]
	evs := f.events("user-" + r.UserID)
	if len(evs) != 2 || evs[0].(domain.UserCreated).PopulationID != defPop || !evs[1].(domain.UserPasswordSet).Imported {
		t.Fatalf("imported user's events %+v", evs)
	}
	_, err = f.dir.ImportUsers.Handle(f.ctx, "01900000-0000-7000-8000-ffffffffffff", slices.Values(users), ImportUsersOptions{})
	wantKind(t, err, domain.ErrNotFound, "")
}

// BenchmarkImportUsers imports users with pre-hashed passwords into the embedded store: per user,
// username and email reserved (two appends) and user.created with user.password_set (one
// append). It reports users/s.
func BenchmarkImportUsers(b *testing.B) {
	store, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	reg, err := NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	d := &Deps{Store: store, Registry: reg, Now: func() time.Time { return time.Now().UTC() },
		NewID: func() string { return uuid.Must(uuid.NewV7()).String() }}
	hasher, err := password.NewHasher(password.DefaultParams())
	if err != nil {
		b.Fatal(err)
	}
	dir := NewDirectory(d, DirectoryPorts{PasswordHasher: hasher})
	ctx := context.Background()
	env, err := dir.CreateEnvironment.Handle(ctx, CreateEnvironment{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	run := 0
	for _, workers := range []int{32, 128, 256} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			run++
			sum, err := dir.ImportUsers.Handle(ctx, env.EnvironmentID, importUsers(b.N, fmt.Sprintf("r%d-", run)), ImportUsersOptions{Workers: workers})
			if err != nil || sum.Failed > 0 {
				b.Fatalf("%+v, %v", sum, err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "users/s")
		})
	}
}

// TestImportUsersCancelledResultsAreExact cancels imports while users are in flight: a user
// reported created exists, and a user reported failed does not (an append abandoned mid-flight
// used to commit after its user was reported failed).
func TestImportUsersCancelledResultsAreExact(t *testing.T) {
	f := newFixture(t)
	for round := range 8 {
		env, _ := f.env()
		users := slices.Collect(importUsers(300, fmt.Sprintf("r%d-", round)))
		ctx, cancel := context.WithCancel(f.ctx)
		seq := func(yield func(ImportUser) bool) {
			for i, u := range users {
				if i == 100 {
					cancel()
				}
				if !yield(u) {
					return
				}
			}
		}
		results := map[int]ImportUserResult{}
		sum, err := f.dir.ImportUsers.Handle(ctx, env, seq, ImportUsersOptions{Workers: 16, OnResult: func(r ImportUserResult) { results[r.Index] = r }})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("import error %v, want context.Canceled", err)
		}
		created := map[string]bool{} // usernames with a user.created in the log
		for e, err := range f.d.Store.ReadAll(f.ctx, eventstore.ReadAllOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			if e.Type == domain.EvUserCreated && e.Metadata.EnvironmentID == env {
				p, err := f.d.Registry.Decode(e) // personal data is sealed: through the codec
				if err != nil {
					t.Fatal(err)
				}
				created[p.(domain.UserCreated).Profile.Username] = true
			}
		}
		if len(created) != sum.Created {
			t.Fatalf("round %d: summary says %d created, the log holds %d", round, sum.Created, len(created))
		}
		for i, r := range results {
			name := users[i].Profile.Username
			if (r.Err == nil) != created[name] {
				t.Fatalf("round %d: user %d (%s) reported %v, in the log: %v", round, i, name, r.Err, created[name])
			}
			if r.Err != nil && !errors.Is(r.Err, domain.ErrUnavailable) {
				t.Fatalf("round %d: user %d not started: %v, want ErrUnavailable", round, i, r.Err)
			}
		}
	}
}
