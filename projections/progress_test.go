package projections

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

func TestProgressWaitsAdvancesAndStops(t *testing.T) {
	p := NewProgress("test")
	at := func(n uint64) eventstore.Position { return eventstore.Position{Commit: n, Prepare: n} }
	done := make(chan error, 1)
	go func() { done <- p.WaitFor(context.Background(), at(5)) }()
	p.Advance(at(3))
	p.Advance(at(2)) // never backwards
	if p.Position() != at(3) {
		t.Fatalf("position %s, want 3", p.Position())
	}
	p.Advance(at(5))
	if err := <-done; err != nil {
		t.Fatalf("WaitFor(5) after Advance(5): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := p.WaitFor(ctx, at(9)); !errors.Is(err, domain.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor past a deadline: %v, want UNAVAILABLE wrapping the deadline", err)
	}
	stopped := errors.New("subscription broke")
	p.Stop(stopped)
	if err := p.WaitFor(context.Background(), at(9)); !errors.Is(err, stopped) || !errors.Is(p.Err(), stopped) {
		t.Fatalf("WaitFor on a stopped progress: %v", err)
	}
	if err := p.WaitFor(context.Background(), at(4)); err != nil {
		t.Fatalf("a position already passed: %v", err)
	}
}
