package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
	"github.com/idstream/idstream/projections/readmodeltest"
)

// appendWorkload appends n batches of w to log, one stream per batch.
func appendWorkload(t testing.TB, log eventstore.Store, reg *eventstore.Registry, w *readmodeltest.Workload, from, n int) eventstore.Position {
	var pos eventstore.Position
	for i := from; i < from+n; i++ {
		pos = appendPayloads(t, log, reg, fmt.Sprintf("batch-%d", i), "", w.Batch()...)
	}
	return pos
}

// TestRebuildThenApply: a bulk rebuild from a log equals the memory fold of the same log; then a
// Projector applies more of the workload incrementally through the ordinary Runner, and the
// tables still equal the memory fold.
func TestRebuildThenApply(t *testing.T) {
	s := openStore(t)
	log, reg := openLog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := readmodeltest.NewWorkload(42)
	head := appendWorkload(t, log, reg, w, 0, 150)
	st, err := s.Rebuild(ctx, log, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rebuild loaded %+v", st)
	if st.Users == 0 || st.Groups == 0 || st.Environments == 0 {
		t.Fatalf("rebuild loaded %+v", st)
	}
	if pos, err := s.Position(ctx); err != nil || pos != head {
		t.Fatalf("checkpoint %v (%v), want %v", pos, err, head)
	}
	mem, err := projections.Rebuild(ctx, log, reg, head, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Compare(t, "after the rebuild", mem, s)
	// A second rebuild switches tables again (the index names survive).
	if _, err := s.Rebuild(ctx, log, reg, nil); err != nil {
		t.Fatalf("second rebuild: %v", err)
	}
	w.Compare(t, "after the second rebuild", mem, s)

	p, stop := runProjector(t, s, log, reg)
	eventually(t, "the projector leads", p.Leading)
	if _, err := s.Rebuild(ctx, log, reg, nil); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("rebuild while a projector applies: %v, want a conflict", err)
	}
	head = appendWorkload(t, log, reg, w, 150, 100)
	if err := s.WaitFor(ctx, head); err != nil {
		t.Fatal(err)
	}
	mem, err = projections.Rebuild(ctx, log, reg, head, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Compare(t, "after applying incrementally", mem, s)
	stop()
}
