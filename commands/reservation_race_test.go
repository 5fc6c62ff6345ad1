package commands

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// hookStore is the real store with hooks on appends to one stream: the first n appends wait
// until all n have arrived (so n commands that loaded the same revision reach the store
// together), and after the first successful append, after runs once.
type hookStore struct {
	eventstore.Store
	stream  string
	n       int32
	arrived atomic.Int32
	all     chan struct{}
	after   func()
	ran     atomic.Bool
}

func gate(d *Deps, stream string, n int32, after func()) *hookStore {
	h := &hookStore{Store: d.Store, stream: stream, n: n, all: make(chan struct{}), after: after}
	d.Store = h
	return h
}

func (h *hookStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if stream != h.stream {
		return h.Store.Append(ctx, stream, expected, events...)
	}
	if k := h.arrived.Add(1); k <= h.n {
		if k == h.n {
			close(h.all)
		}
		select {
		case <-h.all:
		case <-time.After(5 * time.Second):
		}
	}
	res, err := h.Store.Append(ctx, stream, expected, events...)
	if err == nil && h.after != nil && h.ran.CompareAndSwap(false, true) {
		h.after()
	}
	return res, err
}

// Two identical concurrent updates of one user: the loser's failed append must not release the
// value the winner's commit holds.
func TestConcurrentIdenticalUpdatesKeepTheReservation(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	ann := f.user(env, "ann", nil)
	gate(f.d, "user-"+ann, 2, nil)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = f.dir.UpdateUser.Handle(f.ctx, UpdateUser{EnvironmentID: env, UserID: ann,
				Profile: domain.Profile{Username: "ann", Email: "ann@example.com"}})
		})
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("want one winner and one conflict: %v", errs)
	}
	_, err := f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "bob", Email: "ANN@example.com"}})
	wantKind(t, err, domain.ErrConflict, "email")
}

// A change that takes a value back between another change's commit (giving it up) and that
// change's release: the release must leave the value reserved.
func TestReleaseAfterCommitKeepsAValueTakenBack(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	ann, err := f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "ann", Email: "x@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	var back error
	gate(f.d, "user-"+ann.UserID, 0, func() {
		_, back = f.dir.PatchUser.Handle(f.ctx, PatchUser{EnvironmentID: env, UserID: ann.UserID, Profile: map[string]string{"email": "x@example.com"}})
	})
	if _, err := f.dir.PatchUser.Handle(f.ctx, PatchUser{EnvironmentID: env, UserID: ann.UserID, Profile: map[string]string{"email": "y@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if back != nil {
		t.Fatal(back)
	}
	_, err = f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "bob", Email: "x@example.com"}})
	wantKind(t, err, domain.ErrConflict, "email")
}

// The same for group and population renames.
func TestConcurrentIdenticalRenamesKeepTheReservation(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	g, err := f.dir.CreateGroup.Handle(f.ctx, CreateGroup{EnvironmentID: env, Name: "Eng", Kind: domain.GroupDirect})
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.dir.CreatePopulation.Handle(f.ctx, CreatePopulation{EnvironmentID: env, Name: "Staff"})
	if err != nil {
		t.Fatal(err)
	}
	race := func(stream string, run func() error) {
		t.Helper()
		store := f.d.Store
		defer func() { f.d.Store = store }()
		gate(f.d, stream, 2, nil)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { errs[i] = run() })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("%s: want one winner and one conflict: %v", stream, errs)
		}
	}
	race("group-"+g.GroupID, func() error {
		_, err := f.dir.UpdateGroup.Handle(f.ctx, UpdateGroup{EnvironmentID: env, GroupID: g.GroupID, Name: "Engineering"})
		return err
	})
	_, err = f.dir.CreateGroup.Handle(f.ctx, CreateGroup{EnvironmentID: env, Name: "engineering", Kind: domain.GroupDirect})
	wantKind(t, err, domain.ErrConflict, "name")

	race("population-"+p.PopulationID, func() error {
		_, err := f.dir.UpdatePopulation.Handle(f.ctx, UpdatePopulation{EnvironmentID: env, PopulationID: p.PopulationID, Name: "Employees"})
		return err
	})
	_, err = f.dir.CreatePopulation.Handle(f.ctx, CreatePopulation{EnvironmentID: env, Name: "employees"})
	wantKind(t, err, domain.ErrConflict, "name")
}

// Linking the pair again between an unlink's commit and its release: the release must leave
// the pair reserved.
func TestUnlinkReleaseKeepsAPairLinkedAgain(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	ann, bob := f.user(env, "ann", nil), f.user(env, "bob", nil)
	link := LinkAccount{EnvironmentID: env, UserID: ann, IdentityProvider: "google", Subject: "123"}
	res, err := f.dir.Credentials.LinkAccount.Handle(f.ctx, link)
	if err != nil {
		t.Fatal(err)
	}
	var again error
	gate(f.d, "user-"+ann, 0, func() { _, again = f.dir.Credentials.LinkAccount.Handle(f.ctx, link) })
	if _, err := f.dir.Credentials.UnlinkAccount.Handle(f.ctx, UnlinkAccount{EnvironmentID: env, UserID: ann, LinkID: res.Link.ID}); err != nil {
		t.Fatal(err)
	}
	if again != nil {
		t.Fatal(again)
	}
	_, err = f.dir.Credentials.LinkAccount.Handle(f.ctx, LinkAccount{EnvironmentID: env, UserID: bob, IdentityProvider: "google", Subject: "123"})
	wantKind(t, err, domain.ErrConflict, "subject")
}
