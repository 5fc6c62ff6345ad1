package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idstream/idstream/eventstore"
)

const mib = 1 << 20

// appendSize is the size of an append as Features.MaxAppendBytes counts it.
func appendSize(evs ...eventstore.EventData) int { return eventstore.AppendSize(evs) }

// sized is an event whose size, as appendSize counts it, is exactly size bytes.
func sized(size int) eventstore.EventData {
	e := event("user.imported", nil)
	n := size - appendSize(e) + len(e.Data) // bytes left for Data
	if n < 2 {
		panic(fmt.Sprintf("storetest: no room for %d bytes of data", n))
	}
	data := make([]byte, n)
	data[0], data[n-1] = '"', '"'
	for i := 1; i < n-1; i++ {
		data[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(i*7+i/37)%36]
	}
	e.Data = data
	return e
}

// testLargeEvent: a 1 MiB event, or the largest the backend accepts, round-trips intact.
func (s *suite) testLargeEvent(t *testing.T) {
	st := s.store(t)
	size := mib + 200 // 1 MiB of data and its metadata
	if s.f.MaxAppendBytes > 0 && s.f.MaxAppendBytes < size {
		size = s.f.MaxAppendBytes
	}
	big := sized(size)
	require.Equal(t, size, appendSize(big))
	if size > mib {
		require.GreaterOrEqual(t, len(big.Data), mib)
	}
	small := event("user.renamed", nil)
	stream := st.stream("user")
	res := mustAppend(t, st, stream, eventstore.NoStream, big)
	mustAppend(t, st, stream, eventstore.Exact(0), small)
	for path, got := range map[string][]eventstore.RecordedEvent{
		"ReadStream":           readStream(t, st, stream, eventstore.ReadStreamOptions{}),
		"ReadStream backwards": reversed(readStream(t, st, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true})),
		"ReadAll":              all(t, st),
	} {
		require.Len(t, got, 2, path)
		assert.Equal(t, big.ID, got[0].ID, path)
		assert.True(t, string(big.Data) == string(got[0].Data), "%s: %d bytes of data came back as %d different bytes", path, len(big.Data), len(got[0].Data))
		assert.Equal(t, res.Position, got[0].Position, path)
		assert.Equal(t, small.ID, got[1].ID, path)
	}
	sub := s.subscribe(t, st, eventstore.SubscribeAllOptions{})
	got := sub.event(t)
	assert.Equal(t, big.ID, got.ID, "subscription")
	assert.Equal(t, len(big.Data), len(got.Data), "subscription")
}

// testAppendLimit: an append over Features.MaxAppendBytes fails whole, with ErrInvalidArgument.
func (s *suite) testAppendLimit(t *testing.T) {
	limit := s.f.MaxAppendBytes
	if limit == 0 {
		t.Skip("Features.MaxAppendBytes is 0 (no limit): there is no limit to exceed")
	}
	st := s.store(t)
	ctx := testContext(t)
	stream := st.stream("user")
	mustAppend(t, st, stream, eventstore.NoStream, event("user.created", nil))
	before := ids(all(t, st))

	over := sized(limit + 1)
	half := limit / 2
	pair := []eventstore.EventData{sized(half), sized(limit + 1 - half)}
	require.Equal(t, limit+1, appendSize(pair...))
	tiny := event("user.renamed", nil)
	for name, batch := range map[string][]eventstore.EventData{
		"one event one byte over":             {over},
		"two halves one byte over":            pair,
		"a small and a large event, one over": {tiny, sized(limit + 1 - appendSize(tiny))},
	} {
		require.Equal(t, limit+1, appendSize(batch...), name)
		_, err := st.Append(ctx, stream, eventstore.Any, batch...)
		require.ErrorIs(t, err, eventstore.ErrInvalidArgument, name)
		require.Equal(t, before, ids(all(t, st)), "%s: nothing written", name)
	}
	// The limit itself is accepted, in one event or spread over several.
	exact := []eventstore.EventData{sized(half), sized(limit - half)}
	require.Equal(t, limit, appendSize(exact...))
	res := mustAppend(t, st, stream, eventstore.Exact(0), exact...)
	assert.Equal(t, uint64(2), res.NextExpectedRevision)
	got := readStream(t, st, stream, eventstore.ReadStreamOptions{From: 1})
	require.Len(t, got, 2)
	assert.Equal(t, len(exact[0].Data), len(got[0].Data))
	assert.Equal(t, len(exact[1].Data), len(got[1].Data))
}

// testFlood: many small events, appended in batches and one by one from many goroutines, are
// all there afterwards.
func (s *suite) testFlood(t *testing.T) {
	const (
		batches, batchSize    = 100, 100 // 10,000 events in 100 appends over 10 streams
		singleWriters, single = 16, 625  // 10,000 events in 10,000 appends over 16 streams
	)
	st := s.store(t)
	ctx := testContext(t)
	fails := newErrs()
	var wg sync.WaitGroup
	var batched [][]uuid.UUID
	wg.Go(func() {
		batched = writeSequenced(ctx, st, 1, batches*batchSize, batchSize, "user.imported", func(_, k int) string {
			return st.name(fmt.Sprintf("user-batched%d", k%10))
		}, fails)
	})
	var singles [][]uuid.UUID
	wg.Go(func() {
		singles = writeSequenced(ctx, st, singleWriters, single, 1, "user.renamed", func(w, _ int) string {
			return st.name(fmt.Sprintf("user-single%d", w))
		}, fails)
	})
	wg.Wait()
	fails.check(t)

	total := batches*batchSize + singleWriters*single
	got := all(t, st)
	require.Len(t, got, total)
	s.requirePositions(t, got, 1)
	seen := make(map[uuid.UUID]bool, total)
	for _, e := range got {
		require.False(t, seen[e.ID], "event %s twice in $all", e.ID)
		seen[e.ID] = true
	}
	for _, written := range append(batched, singles...) {
		for _, id := range written {
			require.True(t, seen[id], "event %s missing from $all", id)
		}
	}
	for w := range singleWriters {
		evs := readStream(t, st, st.name(fmt.Sprintf("user-single%d", w)), eventstore.ReadStreamOptions{})
		require.Equal(t, singles[w], ids(evs), "stream of single writer %d", w)
	}
	n := 0
	for k := range 10 {
		evs := readStream(t, st, st.name(fmt.Sprintf("user-batched%d", k)), eventstore.ReadStreamOptions{})
		require.Len(t, evs, batches*batchSize/10)
		assert.Equal(t, span(0, uint64(len(evs)-1)), revisions(evs))
		n += len(evs)
	}
	assert.Equal(t, batches*batchSize, n)
	back := readAll(t, st, eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: 1000})
	assert.Equal(t, reversed(ids(got[total-1000:])), ids(back), "the last 1000 backwards")
}
