package projections

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

func TestFollowerFoldsMatchingEventsInOrderAndWaits(t *testing.T) {
	s := openStore(t)
	reg, _ := NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	appendPayloads(t, s, reg, "environment-e1", "e1", domain.EnvironmentCreated{EnvironmentID: "e1", Name: "One"})
	appendPayloads(t, s, reg, "propagation-e1", "e1", domain.PropagationRevisionPublished{EnvironmentID: "e1", RevisionID: "r1", Number: 1})

	var mu sync.Mutex
	var seen []string
	f := NewFollower("test", s, reg, &eventstore.Filter{EventTypePrefixes: []string{"propagation."}},
		func(e *eventstore.RecordedEvent, d eventstore.Decoded) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, d.Payload.(domain.PropagationRevisionPublished).RevisionID)
		})
	fctx, stop := context.WithCancel(ctx)
	if err := f.Start(fctx); err != nil {
		t.Fatal(err)
	}
	if err := f.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	// Live: a later event, then a filtered-out one; WaitFor the last passes on the checkpoint.
	pos := appendPayloads(t, s, reg, "propagation-e1", "e1", domain.PropagationRevisionPublished{EnvironmentID: "e1", RevisionID: "r2", Number: 2})
	if err := f.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(seen) != 2 || seen[0] != "r1" || seen[1] != "r2" {
		t.Errorf("folded %v, want [r1 r2]", seen)
	}
	mu.Unlock()
	if f.Position().Less(pos) {
		t.Errorf("position %s before %s", f.Position(), pos)
	}
	stop()
	waitCtx, cancelWait := context.WithTimeout(ctx, 5*time.Second)
	defer cancelWait()
	later := eventstore.Position{Commit: pos.Commit + 100, Prepare: pos.Commit + 100}
	if err := f.WaitFor(waitCtx, later); err == nil {
		t.Fatal("WaitFor on a stopped follower returned nil")
	}
	if f.Err() == nil {
		t.Error("stopped follower reports no error")
	}
}
