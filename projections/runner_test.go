package projections

import (
	"context"
	"errors"
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
