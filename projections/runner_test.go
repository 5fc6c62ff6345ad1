package projections

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
)

func openStore(t testing.TB) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// appendPayloads encodes payloads with reg and appends them to stream in one batch.
func appendPayloads(t testing.TB, s eventstore.Store, reg *eventstore.Registry, stream, env string, payloads ...any) eventstore.Position {
	t.Helper()
	events := make([]eventstore.EventData, len(payloads))
	for i, p := range payloads {
		ev, err := reg.Encode(uuid.Must(uuid.NewV7()), p, eventstore.Metadata{EnvironmentID: env, OccurredAt: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		events[i] = ev
	}
	res, err := s.Append(context.Background(), stream, eventstore.Any, events...)
	if err != nil {
		t.Fatal(err)
	}
	return res.Position
}

func startRunner(t *testing.T, s eventstore.Store, dir *Directory) *Runner {
	t.Helper()
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := NewRunner(s, reg, dir)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-r.Done()
	})
	return r
}

func TestRunnerWaitForReadsItsWrites(t *testing.T) {
	s := openStore(t)
	reg, _ := NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Some history before the runner starts, then live writes.
	appendPayloads(t, s, reg, "environment-e1", "e1", domain.EnvironmentCreated{EnvironmentID: "e1", Name: "One", DefaultPopulationID: "p1"})
	appendPayloads(t, s, reg, "population-p1", "e1", domain.PopulationCreated{EnvironmentID: "e1", PopulationID: "p1", Name: "P"})
	dir := NewDirectory()
	r := startRunner(t, s, dir)
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if !r.Ready() {
		t.Fatal("not ready after catching up")
	}
	if _, err := dir.Environment("e1"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 50; i++ {
		id := userID(i)
		appendPayloads(t, s, reg, "unique-username-e1-"+id, "e1", domain.ReservationClaimed{EnvironmentID: "e1", Kind: "username", Owner: "user-" + id})
		pos := appendPayloads(t, s, reg, "user-"+id, "e1", domain.UserCreated{EnvironmentID: "e1", UserID: id, PopulationID: "p1",
			Profile: domain.Profile{Username: "u" + id}})
		if err := r.WaitFor(ctx, pos); err != nil {
			t.Fatal(err)
		}
		if _, err := dir.User("e1", id); err != nil {
			t.Fatalf("user %d after WaitFor(%s): %v", i, pos, err)
		}
		if dir.Position().Less(pos) || r.Position().Less(pos) {
			t.Fatalf("positions %s / %s behind %s", dir.Position(), r.Position(), pos)
		}
	}
	lag, err := r.Lag(ctx)
	if err != nil || lag != (Lag{}) {
		t.Fatalf("lag when caught up = %+v, %v", lag, err)
	}
	// WaitFor beyond the head is bounded by its context.
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	err = r.WaitFor(short, eventstore.Position{Commit: 1 << 40, Prepare: 1 << 40})
	if !errors.Is(err, domain.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitFor with a done context: %v", err)
	}
	// A fresh runner replays the whole log into a fresh directory.
	dir2 := NewDirectory()
	r2 := startRunner(t, s, dir2)
	if err := r2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := dir2.Population("e1", "p1"); p.UserCount != 50 {
		t.Fatalf("replayed population count = %d", p.UserCount)
	}
}

func TestRunnerSkipsUnknownAndStopsOnCorrupt(t *testing.T) {
	s := openStore(t)
	reg, _ := NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	appendPayloads(t, s, reg, "environment-e1", "e1", domain.EnvironmentCreated{EnvironmentID: "e1", Name: "One"})
	newer := eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "user.teleported", PayloadVersion: 1, Data: []byte(`{}`)}
	if _, err := s.Append(ctx, "user-x", eventstore.Any, newer); err != nil {
		t.Fatal(err)
	}
	future := eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: domain.EvUserEnabled, PayloadVersion: 9, Data: []byte(`{}`)}
	res, err := s.Append(ctx, "user-x", eventstore.Any, future)
	if err != nil {
		t.Fatal(err)
	}
	dir := NewDirectory()
	r := startRunner(t, s, dir)
	if err := r.WaitFor(ctx, res.Position); err != nil {
		t.Fatal(err)
	}
	if n := r.UnknownEvents(); n != 2 {
		t.Fatalf("unknown events = %d, want 2", n)
	}
	bad := eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: domain.EvUserCreated, PayloadVersion: 1, Data: []byte(`{"userId": 42}`)}
	res, err = s.Append(ctx, "user-y", eventstore.Any, bad)
	if err != nil {
		t.Fatal(err)
	}
	err = r.WaitFor(ctx, res.Position)
	if err == nil || !strings.Contains(err.Error(), "position "+res.Position.String()) || !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("WaitFor past a corrupt event: %v", err)
	}
	<-r.Done()
	if r.Err() == nil {
		t.Fatal("runner has no error after stopping")
	}
}

// TestRunnerDefaultPopulationBeforeItsEnvironment replays the log CreateEnvironment writes: the
// default population's population.created comes before environment.created.
func TestRunnerDefaultPopulationBeforeItsEnvironment(t *testing.T) {
	s := openStore(t)
	reg, _ := NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	appendPayloads(t, s, reg, "unique-population-e1-default", "e1", domain.ReservationClaimed{EnvironmentID: "e1", Kind: domain.UniquePopulation, Owner: "population-p1"})
	appendPayloads(t, s, reg, "population-p1", "e1", domain.PopulationCreated{EnvironmentID: "e1", PopulationID: "p1", Name: "Default"})
	appendPayloads(t, s, reg, "environment-e1", "e1", domain.EnvironmentCreated{EnvironmentID: "e1", Name: "One", DefaultPopulationID: "p1"})
	// A crash between the two appends: a population whose environment never comes.
	appendPayloads(t, s, reg, "population-px", "ghost", domain.PopulationCreated{EnvironmentID: "ghost", PopulationID: "px", Name: "Default"})
	// A pending population of an environment deleted is dropped.
	appendPayloads(t, s, reg, "population-p3", "e3", domain.PopulationCreated{EnvironmentID: "e3", PopulationID: "p3", Name: "Default"})
	appendPayloads(t, s, reg, "environment-e3", "e3", domain.EnvironmentDeleted{EnvironmentID: "e3"})

	dir := NewDirectory()
	r := startRunner(t, s, dir)
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	pops, err := dir.Populations("e1")
	if err != nil || len(pops) != 1 || pops[0].ID != "p1" || pops[0].Name != "Default" || pops[0].EnvironmentID != "e1" {
		t.Fatalf("Populations(e1) = %+v, %v", pops, err)
	}
	if n, err := dir.PopulationUserCount(ctx, "e1", "p1"); err != nil || n != 0 {
		t.Fatalf("PopulationUserCount before users = %d, %v", n, err)
	}
	if _, err := dir.Populations("ghost"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Populations(ghost) = %v, want not found", err)
	}
	if _, err := dir.Populations("e3"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Populations(e3) = %v, want not found", err)
	}
	dir.mu.RLock()
	_, ghost := dir.pendingPops["ghost"]
	_, e3 := dir.pendingPops["e3"]
	pending := len(dir.pendingPops)
	dir.mu.RUnlock()
	if !ghost || e3 || pending != 1 {
		t.Fatalf("pending populations: ghost %v, e3 %v, %d environments", ghost, e3, pending)
	}

	// Users created into the default population, live, count there.
	var last eventstore.Position
	for i := 1; i <= 3; i++ {
		id := userID(i)
		appendPayloads(t, s, reg, "unique-username-e1-"+id, "e1", domain.ReservationClaimed{EnvironmentID: "e1", Kind: domain.UniqueUsername, Owner: "user-" + id})
		last = appendPayloads(t, s, reg, "user-"+id, "e1", domain.UserCreated{EnvironmentID: "e1", UserID: id, PopulationID: "p1",
			Profile: domain.Profile{Username: fmt.Sprint("u", i)}, Enabled: true})
	}
	if err := r.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}
	check := func(dir *Directory) {
		t.Helper()
		if n, err := dir.PopulationUserCount(ctx, "e1", "p1"); err != nil || n != 3 {
			t.Fatalf("PopulationUserCount = %d, %v; want 3", n, err)
		}
		page, err := dir.Users("e1", UserQuery{Filter: `populationId eq "p1"`})
		if err != nil || page.TotalCount != 3 {
			t.Fatalf("users of p1: %+v, %v", page, err)
		}
		page, err = dir.Users("e1", UserQuery{PopulationIDs: []string{"p1"}})
		if err != nil || page.TotalCount != 3 || page.Users[0].PopulationID != "p1" {
			t.Fatalf("users scoped to p1: %+v, %v", page, err)
		}
	}
	check(dir)
	// A cold replay of the same log agrees.
	dir2 := NewDirectory()
	r2 := startRunner(t, s, dir2)
	if err := r2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	check(dir2)
}

func TestDirectoryFilterSkipsOnlyReservationsAndPropagation(t *testing.T) {
	f, audit := directoryFilter(), auditFilter()
	for _, et := range domain.EventTypes() {
		reservation, propagation := strings.HasPrefix(et.Name, "reservation."), strings.HasPrefix(et.Name, "propagation.")
		if got, want := f.Match("s", et.Name), !reservation && !propagation; got != want {
			t.Errorf("directory filter matches %s: %v, want %v", et.Name, got, want)
		}
		if got, want := audit.Match("s", et.Name), !reservation; got != want {
			t.Errorf("audit filter matches %s: %v, want %v", et.Name, got, want)
		}
	}
	if !f.Match("s", "user.teleported") { // a newer build's event of a known category is counted
		t.Error("filter drops an unknown user event")
	}
}

// TestRunnerWaitsForFilteredEvents: waiting for the position of a reservation (filtered out by
// the store) returns, live and after catching up.
func TestRunnerWaitsForFilteredEvents(t *testing.T) {
	s := openStore(t)
	reg, _ := NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	appendPayloads(t, s, reg, "environment-e1", "e1", domain.EnvironmentCreated{EnvironmentID: "e1", Name: "One"})
	var pos eventstore.Position
	for i := range 2000 { // more than a checkpoint interval of filtered events
		pos = appendPayloads(t, s, reg, fmt.Sprint("unique-username-e1-", i), "e1", domain.ReservationClaimed{EnvironmentID: "e1", Kind: domain.UniqueUsername, Owner: "x"})
	}
	dir := NewDirectory()
	r := startRunner(t, s, dir)
	if err := r.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	pos = appendPayloads(t, s, reg, "unique-username-e1-live", "e1", domain.ReservationClaimed{EnvironmentID: "e1", Kind: domain.UniqueUsername, Owner: "y"})
	if err := r.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	if dir.Position() != pos || !r.Ready() {
		t.Fatalf("directory at %s, want %s; ready %v", dir.Position(), pos, r.Ready())
	}
}

func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// TestRunnerRaisesGCPercentWhileCatchingUp: the runner restores the GC percent once caught up,
// or stopped, and leaves a higher one alone.
func TestRunnerRaisesGCPercentWhileCatchingUp(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	s := openStore(t)
	reg, _ := NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pos := appendPayloads(t, s, reg, "environment-e1", "e1", domain.EnvironmentCreated{EnvironmentID: "e1", Name: "One"})

	restore := raiseGCPercent()
	if p := gcPercent(); p != catchUpGCPercent {
		t.Fatalf("GC percent while catching up = %d", p)
	}
	restore()
	restore()
	if p := gcPercent(); p != 100 {
		t.Fatalf("GC percent restored = %d, want 100", p)
	}

	r := startRunner(t, s, NewDirectory())
	if err := r.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	if p := gcPercent(); p != 100 {
		t.Fatalf("GC percent after catching up = %d, want 100", p)
	}
	// Stopped before catching up (the context is done already).
	stopped, stop := context.WithCancel(ctx)
	r2 := NewRunner(s, reg, NewDirectory())
	if err := r2.Start(stopped); err != nil {
		t.Fatal(err)
	}
	stop()
	<-r2.Done()
	if p := gcPercent(); p != 100 {
		t.Fatalf("GC percent after a runner stopped = %d, want 100", p)
	}
	// A higher percent is left alone, and so is one changed meanwhile.
	debug.SetGCPercent(500)
	raiseGCPercent()()
	if p := gcPercent(); p != 500 {
		t.Fatalf("GC percent = %d, want 500 left alone", p)
	}
	debug.SetGCPercent(100)
	restore = raiseGCPercent()
	debug.SetGCPercent(150)
	restore()
	if p := gcPercent(); p != 150 {
		t.Fatalf("GC percent = %d, want 150 set meanwhile", p)
	}
}
