package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"testing"

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
	storetest.Prefill(t, shared)
	t.Cleanup(storetest.WriteUnrelated(shared))
	storetest.Run(t, func(t *testing.T) eventstore.Store { return &handle{Store: shared} },
		storetest.Features{DensePositions: true, MaxAppendBytes: 4 << 20, CaughtUpMessage: true, StrictRetryMatching: true, SharedLog: true})
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
