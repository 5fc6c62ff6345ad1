package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idstream/idstream/eventstore"
)

// testCancellation: a done context ends every call with its error, promptly, and the store
// keeps working.
func (s *suite) testCancellation(t *testing.T) {
	st := s.store(t)
	stream := st.stream("user")
	mustAppend(t, st, stream, eventstore.NoStream, events(2000, "user.renamed")...)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()

	// An append with a cancelled context reports it; its retry leaves exactly one copy.
	other := st.stream("user")
	batch := events(3, "user.created")
	_, err := st.Append(cancelled, other, eventstore.NoStream, batch...)
	assert.ErrorIs(t, err, context.Canceled, "Append")
	res := mustAppend(t, st, other, eventstore.NoStream, batch...)
	assert.Equal(t, uint64(2), res.NextExpectedRevision)
	assert.Equal(t, ids(batch), ids(readStream(t, st, other, eventstore.ReadStreamOptions{})), "retry after a cancelled append")

	_, err = eventstore.Collect(st.ReadStream(cancelled, stream, eventstore.ReadStreamOptions{}))
	assert.ErrorIs(t, err, context.Canceled, "ReadStream")
	_, err = eventstore.Collect(st.ReadAll(cancelled, eventstore.ReadAllOptions{}))
	assert.ErrorIs(t, err, context.Canceled, "ReadAll")
	_, err = eventstore.Collect(st.ReadAll(cancelled, eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true}))
	assert.ErrorIs(t, err, context.Canceled, "ReadAll backwards")
	_, _, _, err = st.GetStreamMetadata(cancelled, stream)
	assert.ErrorIs(t, err, context.Canceled, "GetStreamMetadata")
	sub, err := st.SubscribeAll(cancelled, eventstore.SubscribeAllOptions{})
	if err == nil {
		sub.Close()
	}
	assert.ErrorIs(t, err, context.Canceled, "SubscribeAll")

	// Cancelled while iterating: the read ends with the context's error, not as if complete.
	for name, opts := range map[string]eventstore.ReadAllOptions{
		"ReadAll":           {},
		"ReadAll backwards": {Direction: eventstore.Backwards, FromEnd: true},
	} {
		ctx, cancel := context.WithCancel(t.Context())
		n := 0
		var last error
		for _, err := range st.ReadAll(ctx, st.scopeRead(opts)) {
			if err != nil {
				last = err
				break
			}
			if n++; n == 10 {
				cancel()
			}
		}
		cancel()
		assert.ErrorIs(t, last, context.Canceled, "%s cancelled after 10 of 2000 events ended after %d events", name, n)
	}
	ctx, cancelRead := context.WithCancel(t.Context())
	n := 0
	var last error
	for _, err := range st.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}) {
		if err != nil {
			last = err
			break
		}
		if n++; n == 10 {
			cancelRead()
		}
	}
	cancelRead()
	assert.ErrorIs(t, last, context.Canceled, "ReadStream cancelled after 10 of 2000 events ended after %d events", n)

	// Next: already cancelled, cancelled while blocked, deadline passed.
	r := s.subscribe(t, st, eventstore.SubscribeAllOptions{FromEnd: true})
	err = nextErr(cancelled, r.sub)
	assert.ErrorIs(t, err, context.Canceled, "Next with a cancelled context")

	r = s.subscribe(t, st, eventstore.SubscribeAllOptions{FromEnd: true})
	r.untilCaughtUp(t)
	ctx, cancelNext := context.WithCancel(t.Context())
	got := make(chan error, 1)
	go func() { got <- nextErr(ctx, r.sub) }()
	cancelNext()
	select {
	case err := <-got:
		assert.ErrorIs(t, err, context.Canceled, "Next cancelled while blocked")
	case <-time.After(msgTimeout):
		t.Fatalf("Next still blocked %v after its context was cancelled", msgTimeout)
	}

	r = s.subscribe(t, st, eventstore.SubscribeAllOptions{FromEnd: true})
	r.untilCaughtUp(t)
	ctx, cancelDeadline := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancelDeadline()
	err = nextErr(ctx, r.sub)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "Next past its deadline with nothing to deliver")

	// The store still works: append, read, subscribe.
	e := event("user.renamed", nil)
	mustAppend(t, st, stream, eventstore.Exact(1999), e)
	assert.Equal(t, span(1995, 2000), revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{From: 1995})))
	fresh := s.subscribe(t, st, eventstore.SubscribeAllOptions{After: res.Position})
	assert.Equal(t, e.ID, fresh.event(t).ID)
}

// testStoreClose: closing the store ends its subscriptions with ErrClosed, and every later call
// returns ErrClosed.
func (s *suite) testStoreClose(t *testing.T) {
	st := s.store(t)
	stream := st.stream("user")
	mustAppend(t, st, stream, eventstore.NoStream, events(1000, "user.renamed")...)
	live := s.subscribe(t, st, eventstore.SubscribeAllOptions{FromEnd: true})
	live.untilCaughtUp(t)
	behind := s.subscribe(t, st, eventstore.SubscribeAllOptions{})
	behind.event(t)

	ctx := testContext(t)
	blocked := make(chan error, 1)
	go func() { blocked <- nextErr(ctx, live.sub) }()
	require.NoError(t, st.Close())
	select {
	case err := <-blocked:
		assert.ErrorIs(t, err, eventstore.ErrClosed, "Next blocked during the store's Close")
	case <-ctx.Done():
		t.Fatal("Next still blocked after the store was closed")
	}
	// A subscription far behind may hand out what it had already read, then ends.
	var err error
	for i := 0; err == nil && i <= 1000; i++ {
		_, err = behind.sub.Next(ctx)
	}
	assert.ErrorIs(t, err, eventstore.ErrClosed, "Next of a subscription behind the closed store")
	if err := live.sub.Close(); err != nil {
		assert.ErrorIs(t, err, eventstore.ErrClosed, "Close of a subscription ended by the store's Close")
	}

	_, err = st.Append(ctx, stream, eventstore.Any, event("user.renamed", nil))
	assert.ErrorIs(t, err, eventstore.ErrClosed, "Append")
	_, err = eventstore.Collect(st.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}))
	assert.ErrorIs(t, err, eventstore.ErrClosed, "ReadStream")
	_, err = eventstore.Collect(st.ReadAll(ctx, eventstore.ReadAllOptions{}))
	assert.ErrorIs(t, err, eventstore.ErrClosed, "ReadAll")
	sub, err := st.SubscribeAll(ctx, eventstore.SubscribeAllOptions{})
	if err == nil {
		sub.Close()
	}
	assert.ErrorIs(t, err, eventstore.ErrClosed, "SubscribeAll")
	_, err = st.DeleteStream(ctx, stream, eventstore.Any)
	assert.ErrorIs(t, err, eventstore.ErrClosed, "DeleteStream")
	_, err = st.TombstoneStream(ctx, stream, eventstore.Any)
	assert.ErrorIs(t, err, eventstore.ErrClosed, "TombstoneStream")
	_, err = st.SetStreamMetadata(ctx, stream, eventstore.Any, eventstore.StreamMetadata{MaxCount: 1})
	assert.ErrorIs(t, err, eventstore.ErrClosed, "SetStreamMetadata")
	_, _, _, err = st.GetStreamMetadata(ctx, stream)
	assert.ErrorIs(t, err, eventstore.ErrClosed, "GetStreamMetadata")
	if err := st.Close(); err != nil && !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}
