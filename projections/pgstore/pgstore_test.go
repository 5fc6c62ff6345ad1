package pgstore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idstream/idstream/projections"
	"github.com/idstream/idstream/projections/pgstore"
	"github.com/idstream/idstream/projections/readmodeltest"
)

// testURL is the PostgreSQL the tests use (IDSTREAM_TEST_POSTGRES overrides).
func testURL() string {
	if u := os.Getenv("IDSTREAM_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var schemaSeq atomic.Int64

// openStore opens a store on a fresh schema, dropped after the test; it skips loudly (fails
// under CI=true) when PostgreSQL is unreachable.
func openStore(t testing.TB) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	schema := fmt.Sprintf("idstream_test_%d_%d", os.Getpid(), schemaSeq.Add(1))
	s, err := pgstore.Open(ctx, pgstore.Options{URL: testURL(), Schema: schema, PollInterval: 50 * time.Millisecond})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is required under CI=true: %v", testURL(), err)
		}
		t.Skipf("SKIPPED: PostgreSQL unreachable at %s (set IDSTREAM_TEST_POSTGRES): %v", testURL(), err)
	}
	t.Cleanup(func() {
		if err := s.DropSchema(context.Background()); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		s.Close()
	})
	return s
}

func pgHarness(t *testing.T) readmodeltest.Harness {
	s := openStore(t)
	w, err := s.NewWriter(context.Background(), projections.NewDirectory())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return readmodeltest.Harness{Store: s, Apply: func(t testing.TB, changes []projections.Change) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Apply(ctx, changes...); err != nil {
			t.Fatal(err)
		}
		if err := s.WaitFor(ctx, changes[len(changes)-1].Position); err != nil {
			t.Fatal(err)
		}
	}}
}

func TestPostgresConformance(t *testing.T) { readmodeltest.Run(t, pgHarness) }

func memoryHarness(t *testing.T) readmodeltest.Harness {
	d := projections.NewDirectory()
	return readmodeltest.Harness{Store: d, Apply: func(_ testing.TB, changes []projections.Change) { d.Apply(changes...) }}
}

// TestDifferential: one randomized workload applied to the memory Directory and to PostgreSQL,
// every query answered identically.
func TestDifferential(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			readmodeltest.Differential(t, seed, 120, memoryHarness, pgHarness)
		})
	}
}
