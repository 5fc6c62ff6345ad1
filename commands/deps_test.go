package commands

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idstream/idstream/commands/secret"
	"github.com/idstream/idstream/commands/subjectkeys"
	"github.com/idstream/idstream/eventstore/embedded"
)

// testDeps returns Deps on a fresh embedded event store, with a clock the test moves by hand and
// an ID source that counts (UUIDv7-shaped, so IDs sort by creation).
func testDeps(t *testing.T) (*Deps, *testClock) {
	t.Helper()
	store, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	// Personal data is sealed in every command test, with the real key store.
	keys := testKeys(t)
	reg.UseSubjectKeys(keys)
	clock := &testClock{}
	clock.now.Store(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC).UnixNano())
	var n atomic.Uint64
	return &Deps{
		Store:    store,
		Registry: reg,
		Now:      clock.Now,
		NewID: func() string {
			v := n.Add(1)
			return fmt.Sprintf("01900000-0000-7000-8000-%012x", v)
		},
	}, clock
}

// testKeys opens a subject key store in a temporary directory.
func testKeys(t *testing.T) *subjectkeys.Store {
	t.Helper()
	sealer, err := secret.NewSealer(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := subjectkeys.Open(t.TempDir(), sealer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	return keys
}

// testClock is a clock the test advances.
type testClock struct{ now atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Unix(0, c.now.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.now.Add(int64(d)) }
