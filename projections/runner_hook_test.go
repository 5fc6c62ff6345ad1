package projections

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// TestRunnerOnAppliedFailureHoldsThePosition: while the hook fails, the runner retries the same
// batch and reports nothing applied past it; once the hook succeeds, the position advances.
func TestRunnerOnAppliedFailureHoldsThePosition(t *testing.T) {
	s := openStore(t)
	reg, _ := NewRegistry()
	pos := appendPayloads(t, s, reg, "environment-e1", "e1", domain.EnvironmentCreated{EnvironmentID: "e1", Name: "One", DefaultPopulationID: "p1"})
	var fail atomic.Bool
	fail.Store(true)
	var calls atomic.Int64
	var seen atomic.Int64
	dir := NewDirectory()
	r := NewRunner(s, reg, dir)
	r.OnApplied(func(changes []Change, upTo eventstore.Position) error {
		calls.Add(1)
		seen.Add(int64(len(changes)))
		if fail.Load() {
			return errors.New("store down")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); <-r.Done() }()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	err := r.WaitFor(wctx, pos)
	wcancel()
	if !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("WaitFor while the hook fails: %v, want unavailable", err)
	}
	if calls.Load() < 2 {
		t.Fatalf("hook called %d times in 400 ms, want retries", calls.Load())
	}
	if !r.Position().Less(pos) {
		t.Fatalf("position %v reported while the hook fails", r.Position())
	}
	fail.Store(false)
	wctx, wcancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := r.WaitFor(wctx, pos); err != nil {
		t.Fatalf("after the hook recovers: %v", err)
	}
	// The failed batch was handed again, never skipped: the hook saw the event every time.
	if seen.Load() < calls.Load()-1 {
		t.Fatalf("hook calls %d saw %d changes", calls.Load(), seen.Load())
	}
}

// TestRunnerOnAppliedStopsWithTheContext: a hook failing until the context ends stops the
// runner with ErrStopped and the batch unreported.
func TestRunnerOnAppliedStopsWithTheContext(t *testing.T) {
	s := openStore(t)
	reg, _ := NewRegistry()
	pos := appendPayloads(t, s, reg, "environment-e1", "e1", domain.EnvironmentCreated{EnvironmentID: "e1", Name: "One", DefaultPopulationID: "p1"})
	r := NewRunner(s, reg, NewDirectory())
	r.OnApplied(func([]Change, eventstore.Position) error { return errors.New("store down") })
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	cancel()
	<-r.Done()
	if !errors.Is(r.Err(), ErrStopped) {
		t.Fatalf("runner error %v, want ErrStopped", r.Err())
	}
	if !r.Position().Less(pos) {
		t.Fatalf("position %v reported past a batch never persisted", r.Position())
	}
}
