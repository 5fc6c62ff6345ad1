package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
	"github.com/idstream/idstream/eventstore/storetest"
)

// The embedded store passes the same conformance suite as every backend.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		s, err := embedded.Open(t.TempDir(), embedded.Options{MaxAppendBytes: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, storetest.Features{DensePositions: true, MaxAppendBytes: 4 << 20, CaughtUpMessage: true, StrictRetryMatching: true})
}

// TestConformanceSharedLog runs the suite in its SharedLog mode over ONE embedded store shared
// by every case, pre-filled with unrelated events (in the suite's own categories and types,
// with metadata, a deletion and a tombstone) and written to by an unrelated writer throughout.
// It shows that the mode's assertions hold on a correct backend whose log is not the case's
// own, with every assertion that is not about the whole log still made (DensePositions still
// checks Commit == Prepare; StrictRetryMatching still applies).
//
// Each case gets a handle on the shared store: closing it ends the handle and its
// subscriptions, not the store (the StoreClose case exercises that handle here; the store's own
// Close is covered by TestConformance).
func TestConformanceSharedLog(t *testing.T) {
	shared, err := embedded.Open(t.TempDir(), embedded.Options{MaxAppendBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shared.Close() })
	prefill(t, shared)
	stop := writeUnrelated(shared)
	t.Cleanup(stop)
	storetest.Run(t, func(t *testing.T) eventstore.Store { return &handle{Store: shared} },
		storetest.Features{DensePositions: true, MaxAppendBytes: 4 << 20, CaughtUpMessage: true, StrictRetryMatching: true, SharedLog: true})
}

func unrelated(typ string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: typ, PayloadVersion: 1, Data: []byte(`{"unrelated":true}`),
		Metadata: eventstore.Metadata{Actor: "other-writer", OccurredAt: time.Now().UTC()}}
}

// prefill writes what an earlier run and other applications would have left in the log.
func prefill(t *testing.T, st eventstore.Store) {
	t.Helper()
	ctx := context.Background()
	for i := range 40 {
		stream := fmt.Sprintf("%s-%s", []string{"user", "group", "role", "usergroup"}[i%4], uuid.NewString())
		batch := []eventstore.EventData{unrelated("user.created"), unrelated("group.member_added"), unrelated("role.granted")}
		if _, err := st.Append(ctx, stream, eventstore.NoStream, batch...); err != nil {
			t.Fatal(err)
		}
		var err error
		switch i % 5 {
		case 1:
			_, err = st.SetStreamMetadata(ctx, stream, eventstore.NoStream, eventstore.StreamMetadata{MaxCount: 1})
		case 2:
			_, err = st.DeleteStream(ctx, stream, eventstore.Any)
		case 3:
			_, err = st.TombstoneStream(ctx, stream, eventstore.Any)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for k := range 5 {
		if _, err := st.Append(ctx, fmt.Sprintf("user-filler%d", k), eventstore.Any, unrelated("user.imported")); err != nil {
			t.Fatal(err)
		}
	}
}

// writeUnrelated appends unrelated events until the returned stop is called.
func writeUnrelated(st eventstore.Store) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		stream := "user-" + uuid.NewString()
		for i := 0; ctx.Err() == nil; i++ {
			typ := []string{"user.created", "group.member_added", "user.renamed"}[i%3]
			if _, err := st.Append(ctx, stream, eventstore.Any, unrelated(typ)); err != nil {
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() { cancel(); <-done }
}

// handle is one case's view of the shared store: every call goes to the store, and Close ends
// the handle (later calls return ErrClosed) and the subscriptions opened through it.
type handle struct {
	eventstore.Store
	mu     sync.Mutex
	closed bool
	subs   []eventstore.Subscription
}

var errHandleClosed = fmt.Errorf("handle on the shared store: %w", eventstore.ErrClosed)

func (h *handle) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *handle) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if h.isClosed() {
		return eventstore.AppendResult{}, errHandleClosed
	}
	return h.Store.Append(ctx, stream, expected, events...)
}

func closedSeq() iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		yield(eventstore.RecordedEvent{}, errHandleClosed)
	}
}

func (h *handle) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	if h.isClosed() {
		return closedSeq()
	}
	return h.Store.ReadStream(ctx, stream, opts)
}

func (h *handle) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	if h.isClosed() {
		return closedSeq()
	}
	return h.Store.ReadAll(ctx, opts)
}

func (h *handle) SubscribeAll(ctx context.Context, opts eventstore.SubscribeAllOptions) (eventstore.Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errHandleClosed
	}
	sub, err := h.Store.SubscribeAll(ctx, opts)
	if err == nil {
		h.subs = append(h.subs, sub)
	}
	return sub, err
}

func (h *handle) DeleteStream(ctx context.Context, stream string, expected eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	if h.isClosed() {
		return eventstore.DeleteResult{}, errHandleClosed
	}
	return h.Store.DeleteStream(ctx, stream, expected)
}

func (h *handle) TombstoneStream(ctx context.Context, stream string, expected eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	if h.isClosed() {
		return eventstore.DeleteResult{}, errHandleClosed
	}
	return h.Store.TombstoneStream(ctx, stream, expected)
}

func (h *handle) SetStreamMetadata(ctx context.Context, stream string, expected eventstore.ExpectedRevision, meta eventstore.StreamMetadata) (eventstore.AppendResult, error) {
	if h.isClosed() {
		return eventstore.AppendResult{}, errHandleClosed
	}
	return h.Store.SetStreamMetadata(ctx, stream, expected, meta)
}

func (h *handle) GetStreamMetadata(ctx context.Context, stream string) (eventstore.StreamMetadata, uint64, bool, error) {
	if h.isClosed() {
		return eventstore.StreamMetadata{}, 0, false, errHandleClosed
	}
	return h.Store.GetStreamMetadata(ctx, stream)
}

func (h *handle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	var errs []error
	for _, sub := range h.subs {
		if err := sub.Close(); err != nil && !errors.Is(err, eventstore.ErrClosed) {
			errs = append(errs, err)
		}
	}
	h.subs = nil
	return errors.Join(errs...)
}
