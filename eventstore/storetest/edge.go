package storetest

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idstream/idstream/eventstore"
)

// testEnvelopeTimes: occurred-at times at the ends of the allowed range, with nanoseconds, and
// the Unix epoch, come back exactly (Equal) on every read path; the zero time stays zero.
func (s *suite) testEnvelopeTimes(t *testing.T) {
	st := s.store(t)
	stream := st.stream("user")
	times := []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1500, 6, 15, 12, 30, 45, 123456789, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 0).UTC(),
		time.Date(1970, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(3000, 2, 28, 1, 2, 3, 456789012, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		{},
	}
	written := make([]eventstore.EventData, len(times))
	for i, at := range times {
		written[i] = event("user.renamed", map[string]int{"i": i})
		written[i].Metadata.OccurredAt = at
	}
	res := mustAppend(t, st, stream, eventstore.NoStream, written...)
	check := func(path string, got []eventstore.RecordedEvent) {
		t.Helper()
		require.Len(t, got, len(times), path)
		for i, e := range got {
			want := times[i]
			if want.IsZero() {
				assert.True(t, e.Metadata.OccurredAt.IsZero(), "%s: zero occurred-at came back as %v", path, e.Metadata.OccurredAt)
				continue
			}
			assert.True(t, want.Equal(e.Metadata.OccurredAt), "%s: occurred-at %s came back as %s", path,
				want.Format(time.RFC3339Nano), e.Metadata.OccurredAt.Format(time.RFC3339Nano))
			assert.Equal(t, time.UTC, e.Metadata.OccurredAt.Location(), "%s: occurred-at in UTC", path)
		}
	}
	check("ReadStream", readStream(t, st, stream, eventstore.ReadStreamOptions{}))
	check("ReadAll", all(t, st))
	r := s.subscribe(t, st, eventstore.SubscribeAllOptions{})
	check("SubscribeAll", r.events(t, len(times)))
	assert.Equal(t, uint64(len(times)-1), res.NextExpectedRevision)
}

// testCancelFilteredScan: a filtered read or subscription cancelled while the backend scans
// events the filter leaves out ends with the context's error, never as if the log were
// exhausted.
func (s *suite) testCancelFilteredScan(t *testing.T) {
	st := s.store(t)
	match := st.name("match-" + uuid.NewString())
	mustAppend(t, st, match, eventstore.NoStream, event("user.created", nil))
	filler := st.stream("user")
	const fill, batch = 50_000, 1_000
	var last eventstore.AppendResult
	for i := 0; i < fill; i += batch {
		exp := eventstore.NoStream
		if i > 0 {
			exp = eventstore.Exact(uint64(i - 1))
		}
		last = mustAppend(t, st, filler, exp, events(batch, "user.renamed")...)
	}
	filter := &eventstore.Filter{StreamPrefixes: []string{st.name("match-")}}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := 0
	var end error
	for _, err := range st.ReadAll(ctx, st.scopeRead(eventstore.ReadAllOptions{Filter: filter})) {
		if err != nil {
			end = err
			break
		}
		if n++; n == 1 {
			cancel()
		}
	}
	assert.Equal(t, 1, n, "filtered ReadAll: matching events")
	assert.ErrorIs(t, end, context.Canceled, "filtered ReadAll cancelled after its only match, before %d events it filters out, ended with %v", fill, end)

	r := s.subscribe(t, st, eventstore.SubscribeAllOptions{Filter: filter, CheckpointInterval: math.MaxUint32})
	require.Equal(t, match, r.event(t).Stream)
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	type result struct {
		m   eventstore.Message
		err error
	}
	got := make(chan result, 1)
	go func() {
		m, err := r.sub.Next(ctx)
		got <- result{m, err}
	}()
	time.AfterFunc(time.Duration(rand.IntN(2000))*time.Microsecond, cancel)
	var res result
	select {
	case res = <-got:
	case <-time.After(msgTimeout):
		t.Fatalf("filtered Next still blocked %v after its context was cancelled", msgTimeout)
	}
	if res.err == nil {
		// The scan ended before the cancellation: only a checkpoint at or past the scan's end
		// (or MessageCaughtUp) may have come. Calls with the context cancelled may hand out
		// such messages already waiting, never an event, and then fail with its error.
		<-ctx.Done()
		for i := 0; res.err == nil; i++ {
			require.NoError(t, r.check(res.m))
			require.NotEqual(t, eventstore.MessageEvent, res.m.Kind, "filtered Next delivered an event the filter leaves out: %+v", res.m.Event)
			if res.m.Kind == eventstore.MessageCheckpoint {
				assert.False(t, res.m.Position.Less(last.Position), "checkpoint %v before the scan's end %v", res.m.Position, last.Position)
			}
			require.Less(t, i, 4, "Next with a cancelled context keeps delivering messages")
			res.m, res.err = r.sub.Next(ctx)
		}
	}
	assert.ErrorIs(t, res.err, context.Canceled, "filtered Next cancelled mid-scan")
}

// testCancelInFlightAppend: appends whose context is cancelled at a random moment, each
// retried with the same IDs and the original expectation until it succeeds, leave exactly one
// copy of every batch, at dense revisions.
func (s *suite) testCancelInFlightAppend(t *testing.T) {
	st := s.store(t)
	stream := st.stream("user")
	const rounds, size = 200, 3
	var want []uuid.UUID
	cancelled := 0
	for round := range rounds {
		batch := events(size, "user.renamed")
		want = append(want, ids(batch)...)
		exp := eventstore.NoStream
		if round > 0 {
			exp = eventstore.Exact(uint64(round*size - 1))
		}
		ctx, cancel := context.WithCancel(t.Context())
		if round%4 == 0 {
			go cancel() // from another goroutine, racing the call
		} else {
			time.AfterFunc(time.Duration(rand.IntN(2000))*time.Microsecond, cancel)
		}
		res, err := st.Append(ctx, stream, exp, batch...)
		cancel()
		for attempt := 0; err != nil; attempt++ {
			require.Truef(t, errors.Is(err, context.Canceled) || errors.Is(err, eventstore.ErrUnavailable),
				"round %d: an append whose context was cancelled failed with %v; want the context's error", round, err)
			require.Less(t, attempt, 20, "round %d: retry keeps failing: %v", round, err)
			if attempt == 0 {
				cancelled++
			}
			ctx, cancel := callContext(t)
			res, err = st.Append(ctx, stream, exp, batch...)
			cancel()
		}
		require.Equal(t, uint64((round+1)*size-1), res.NextExpectedRevision, "round %d: result of the append or its retry", round)
	}
	got := readStream(t, st, stream, eventstore.ReadStreamOptions{})
	assert.Equal(t, span(0, rounds*size-1), revisions(got), "revisions dense")
	assert.Equal(t, want, ids(got), "exactly one copy of every batch")
	t.Logf("%d of %d appends were cancelled and retried", cancelled, rounds)
}
