package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idstream/idstream/eventstore"
)

// streamState is a state a stream can be in before an append.
type streamState string

const (
	missing     streamState = "missing"
	existing    streamState = "existing"     // two events: revisions 0 and 1
	softDeleted streamState = "soft-deleted" // two events, then DeleteStream
	tombstoned  streamState = "tombstoned"   // two events, then TombstoneStream
)

// prepare puts stream into state.
func prepare(t *testing.T, st eventstore.Store, stream string, state streamState) {
	t.Helper()
	if state == missing {
		return
	}
	mustAppend(t, st, stream, eventstore.NoStream, events(2, "test.seeded")...)
	ctx, cancel := callContext(t)
	defer cancel()
	switch state {
	case softDeleted:
		_, err := st.DeleteStream(ctx, stream, eventstore.Exact(1))
		require.NoError(t, err, "soft-delete %s", stream)
	case tombstoned:
		_, err := st.TombstoneStream(ctx, stream, eventstore.Exact(1))
		require.NoError(t, err, "tombstone %s", stream)
	}
}

func (s *suite) testExpectedRevision(t *testing.T) {
	type want struct {
		ok       bool   // the append succeeds...
		rev      uint64 // ...at this revision
		deleted  bool   // it fails with ErrStreamDeleted
		exists   bool   // else it conflicts: the actual state
		revision uint64
	}
	cases := []struct {
		state streamState
		exp   eventstore.ExpectedRevision
		want  want
	}{
		{missing, eventstore.Any, want{ok: true, rev: 0}},
		{missing, eventstore.NoStream, want{ok: true, rev: 0}},
		{missing, eventstore.StreamExists, want{exists: false}},
		{missing, eventstore.Exact(0), want{exists: false}},
		{missing, eventstore.Exact(3), want{exists: false}},

		{existing, eventstore.Any, want{ok: true, rev: 2}},
		{existing, eventstore.NoStream, want{exists: true, revision: 1}},
		{existing, eventstore.StreamExists, want{ok: true, rev: 2}},
		{existing, eventstore.Exact(1), want{ok: true, rev: 2}},
		{existing, eventstore.Exact(0), want{exists: true, revision: 1}},
		{existing, eventstore.Exact(2), want{exists: true, revision: 1}},

		{softDeleted, eventstore.Any, want{ok: true, rev: 2}},
		{softDeleted, eventstore.NoStream, want{ok: true, rev: 2}},
		{softDeleted, eventstore.StreamExists, want{exists: false}},
		{softDeleted, eventstore.Exact(1), want{exists: false}},
		{softDeleted, eventstore.Exact(2), want{exists: false}},

		{tombstoned, eventstore.Any, want{deleted: true}},
		{tombstoned, eventstore.NoStream, want{deleted: true}},
		{tombstoned, eventstore.StreamExists, want{deleted: true}},
		{tombstoned, eventstore.Exact(1), want{deleted: true}},
	}
	for _, c := range cases {
		t.Run(string(c.state)+"/"+strings.ReplaceAll(c.exp.String(), " ", "_"), func(t *testing.T) {
			t.Parallel()
			st := s.store(t)
			stream := st.stream("user")
			prepare(t, st, stream, c.state)
			before := all(t, st)

			e := event("user.renamed", map[string]string{"name": "Ada"})
			ctx, cancel := callContext(t)
			defer cancel()
			res, err := st.Append(ctx, stream, c.exp, e)
			switch {
			case c.want.ok:
				require.NoError(t, err)
				assert.Equal(t, c.want.rev, res.NextExpectedRevision, "NextExpectedRevision")
				got := readStream(t, st, stream, eventstore.ReadStreamOptions{})
				wantRevs := span(0, c.want.rev)
				if c.state == softDeleted {
					wantRevs = []uint64{c.want.rev} // the events before the deletion stay hidden
				}
				assert.Equal(t, wantRevs, revisions(got), "readable revisions after the append")
				require.NotEmpty(t, got)
				assert.Equal(t, e.ID, got[len(got)-1].ID, "last event is the one appended")
				assert.Equal(t, res.Position, got[len(got)-1].Position, "AppendResult.Position")
				assert.Len(t, all(t, st), len(before)+1, "$all grew by one event")
				return
			case c.want.deleted:
				require.ErrorIs(t, err, eventstore.ErrStreamDeleted)
				require.NotErrorIs(t, err, eventstore.ErrWrongExpectedRevision)
			default:
				requireConflict(t, err, stream, c.exp, c.want.exists, c.want.revision)
			}
			// Nothing was written.
			assert.Equal(t, ids(before), ids(all(t, st)), "$all after a refused append")
			switch c.state {
			case existing:
				assert.Equal(t, []uint64{0, 1}, revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{})))
			case missing, softDeleted:
				assert.ErrorIs(t, readStreamErr(t, st, stream, eventstore.ReadStreamOptions{}), eventstore.ErrStreamNotFound)
			case tombstoned:
				assert.ErrorIs(t, readStreamErr(t, st, stream, eventstore.ReadStreamOptions{}), eventstore.ErrStreamDeleted)
			}
		})
	}
}

// testDeleteExpectedRevision: DeleteStream and TombstoneStream check their expected revision
// like Append, and a refused deletion changes nothing.
func (s *suite) testDeleteExpectedRevision(t *testing.T) {
	type op struct {
		name string
		do   func(eventstore.Store, context.Context, string, eventstore.ExpectedRevision) (eventstore.DeleteResult, error)
	}
	ops := []op{
		{"delete", eventstore.Store.DeleteStream},
		{"tombstone", eventstore.Store.TombstoneStream},
	}
	rules := []eventstore.ExpectedRevision{eventstore.NoStream, eventstore.Exact(0), eventstore.Exact(2)}
	for _, o := range ops {
		for _, exp := range rules {
			t.Run(o.name+"/"+strings.ReplaceAll(exp.String(), " ", "_"), func(t *testing.T) {
				t.Parallel()
				st := s.store(t)
				stream := st.stream("user")
				prepare(t, st, stream, existing)
				ctx, cancel := callContext(t)
				defer cancel()
				_, err := o.do(st, ctx, stream, exp)
				requireConflict(t, err, stream, exp, true, 1)
				assert.Equal(t, []uint64{0, 1}, revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{})), "stream intact")
				mustAppend(t, st, stream, eventstore.Exact(1), event("user.renamed", nil))
			})
		}
	}
	t.Run("soft-deleted/StreamExists", func(t *testing.T) {
		t.Parallel()
		st := s.store(t)
		stream := st.stream("user")
		prepare(t, st, stream, softDeleted)
		ctx, cancel := callContext(t)
		defer cancel()
		_, err := st.TombstoneStream(ctx, stream, eventstore.StreamExists)
		requireConflict(t, err, stream, eventstore.StreamExists, false, 0)
		mustAppend(t, st, stream, eventstore.NoStream, event("user.created", nil))
	})
}

// testConcurrentExactAppends: 32 writers race for each revision with Exact; exactly one wins
// each round and every loser learns the winner's revision.
func (s *suite) testConcurrentExactAppends(t *testing.T) {
	const writers, rounds = 32, 12
	st := s.store(t)
	ctx := testContext(t)
	stream := st.stream("user")
	var winners []uuid.UUID
	for r := range uint64(rounds) {
		exp := eventstore.NoStream
		if r > 0 {
			exp = eventstore.Exact(r - 1)
		}
		type result struct {
			e   eventstore.EventData
			res eventstore.AppendResult
			err error
		}
		results := make([]result, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := range results {
			results[w].e = event("user.renamed", map[string]any{"writer": w, "round": r})
			wg.Go(func() {
				<-start
				results[w].res, results[w].err = st.Append(ctx, stream, exp, results[w].e)
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for _, res := range results {
			if res.err == nil {
				won++
				winners = append(winners, res.e.ID)
				assert.Equal(t, r, res.res.NextExpectedRevision, "round %d: winner's revision", r)
				continue
			}
			requireConflict(t, res.err, stream, exp, true, r)
		}
		require.Equal(t, 1, won, "round %d: winners", r)
	}
	got := readStream(t, st, stream, eventstore.ReadStreamOptions{})
	assert.Equal(t, span(0, rounds-1), revisions(got), "revisions are dense")
	assert.Equal(t, winners, ids(got), "the stream holds exactly the winners, in round order")
	assert.Equal(t, winners, ids(all(t, st)), "$all holds exactly the winners")
}

// testConcurrentRetryingAppends: writers that retry from the conflict's actual revision, as
// commands do, all get their events in, each exactly once.
func (s *suite) testConcurrentRetryingAppends(t *testing.T) {
	const writers, perWriter = 16, 8
	st := s.store(t)
	ctx := testContext(t)
	stream := st.stream("group")
	fails := newErrs()
	var wg sync.WaitGroup
	written := make([][]uuid.UUID, writers)
	for w := range writers {
		wg.Go(func() {
			exp := eventstore.NoStream
			for k := 0; k < perWriter; {
				e := event("group.member_added", map[string]int{"writer": w, "k": k})
				for attempt := 0; ; attempt++ {
					if attempt == 10_000 {
						fails.add("writer %d: no progress after %d attempts", w, attempt)
						return
					}
					res, err := st.Append(ctx, stream, exp, e)
					var wre *eventstore.WrongExpectedRevisionError
					if errors.As(err, &wre) {
						if !wre.ActualExists {
							fails.add("writer %d: conflict says the stream does not exist: %v", w, err)
							return
						}
						exp = eventstore.Exact(wre.ActualRevision)
						continue
					}
					if err != nil {
						fails.add("writer %d: %v", w, err)
						return
					}
					written[w] = append(written[w], e.ID)
					exp = eventstore.Exact(res.NextExpectedRevision)
					k++
					break
				}
			}
		})
	}
	wg.Wait()
	fails.check(t)
	got := readStream(t, st, stream, eventstore.ReadStreamOptions{})
	require.Len(t, got, writers*perWriter)
	assert.Equal(t, span(0, writers*perWriter-1), revisions(got), "revisions are dense")
	seen := map[uuid.UUID]int{}
	for _, e := range got {
		seen[e.ID]++
	}
	for w, wrote := range written {
		var order []uuid.UUID
		for _, e := range got {
			if seen[e.ID] == 1 && contains(wrote, e.ID) {
				order = append(order, e.ID)
			}
		}
		assert.Equal(t, wrote, order, "writer %d: its events, once each, in its order", w)
	}
}

func contains(s []uuid.UUID, id uuid.UUID) bool {
	for _, x := range s {
		if x == id {
			return true
		}
	}
	return false
}

func (s *suite) testIdempotency(t *testing.T) {
	st := s.store(t)
	ctx := testContext(t)
	stream := st.stream("user")
	batch := events(3, "user.created")
	first := mustAppend(t, st, stream, eventstore.NoStream, batch...)
	require.Equal(t, uint64(2), first.NextExpectedRevision)

	// A retry returns the original result whatever the rule says, and writes nothing.
	// (Exact(2), the revision the stream is now at, is no retry rule: EventStoreDB takes it as a
	// fresh append, and the port does not promise otherwise.)
	for _, exp := range []eventstore.ExpectedRevision{eventstore.NoStream, eventstore.Any, eventstore.StreamExists, eventstore.Exact(0), eventstore.Exact(9)} {
		res, err := st.Append(ctx, stream, exp, batch...)
		require.NoError(t, err, "retry expecting %s", exp)
		assert.Equal(t, first, res, "retry expecting %s returns the original result", exp)
	}
	require.Equal(t, ids(batch), ids(all(t, st)), "retries wrote nothing")

	// Still a retry after the stream moved on.
	single := event("user.renamed", nil)
	second := mustAppend(t, st, stream, eventstore.Exact(2), single)
	third := mustAppend(t, st, stream, eventstore.Exact(3), events(2, "user.renamed")...)
	res, err := st.Append(ctx, stream, eventstore.NoStream, batch...)
	require.NoError(t, err)
	assert.Equal(t, first, res, "stale retry of the first batch")
	res, err = st.Append(ctx, stream, eventstore.Exact(2), single)
	require.NoError(t, err)
	assert.Equal(t, second, res, "stale retry of a one-event batch")
	require.Equal(t, uint64(5), third.NextExpectedRevision)
	want := ids(all(t, st))
	require.Len(t, want, 6)

	other := st.stream("user")
	mustAppend(t, st, other, eventstore.NoStream, event("user.created", nil))
	want = ids(all(t, st))

	refused := []struct {
		name   string
		stream string
		batch  []eventstore.EventData
	}{
		{"committed and new IDs", stream, []eventstore.EventData{batch[2], event("user.renamed", nil)}},
		{"new and committed IDs", stream, []eventstore.EventData{event("user.renamed", nil), single}},
		{"part of a committed batch", stream, batch[:2]},
		{"reordered batch", stream, []eventstore.EventData{batch[1], batch[0], batch[2]}},
		{"IDs of two batches", stream, []eventstore.EventData{batch[2], single}},
		{"ID of another stream", other, []eventstore.EventData{single}},
		{"ID of another stream with a new one", other, []eventstore.EventData{event("user.renamed", nil), batch[0]}},
		{"ID of another stream, to a new stream", st.stream("user"), []eventstore.EventData{single}},
	}
	if !s.f.StrictRetryMatching {
		t.Logf("Features.StrictRetryMatching is false: not checking that %d malformed retries are refused", len(refused))
		refused = nil
	}
	for _, r := range refused {
		res, err := st.Append(ctx, r.stream, eventstore.Any, r.batch...)
		assert.ErrorIs(t, err, eventstore.ErrInvalidArgument, "%s (got result %+v)", r.name, res)
		require.Equal(t, want, ids(all(t, st)), "%s: nothing written", r.name)
	}
	got := readStream(t, st, stream, eventstore.ReadStreamOptions{})
	assert.Equal(t, span(0, 5), revisions(got))
}

func (s *suite) testValidation(t *testing.T) {
	st := s.store(t)
	ctx := testContext(t)
	good := func() eventstore.EventData { return event("user.created", map[string]string{"name": "Ada"}) }
	with := func(f func(*eventstore.EventData)) eventstore.EventData {
		e := good()
		f(&e)
		return e
	}
	dup := good()
	cases := []struct {
		name   string
		stream string
		events []eventstore.EventData
	}{
		{"empty stream name", "", []eventstore.EventData{good()}},
		{"reserved stream name", "$user-1", []eventstore.EventData{good()}},
		{"stream name over 1024 bytes", "user-" + strings.Repeat("x", 1020), []eventstore.EventData{good()}},
		{"no events", st.stream("user"), nil},
		{"zero ID", st.stream("user"), []eventstore.EventData{with(func(e *eventstore.EventData) { e.ID = uuid.UUID{} })}},
		{"empty type", st.stream("user"), []eventstore.EventData{with(func(e *eventstore.EventData) { e.Type = "" })}},
		{"reserved type", st.stream("user"), []eventstore.EventData{with(func(e *eventstore.EventData) { e.Type = "$user.created" })}},
		{"payload version 0", st.stream("user"), []eventstore.EventData{with(func(e *eventstore.EventData) { e.PayloadVersion = 0 })}},
		{"invalid JSON", st.stream("user"), []eventstore.EventData{with(func(e *eventstore.EventData) { e.Data = []byte(`{"name":`) })}},
		{"not JSON", st.stream("user"), []eventstore.EventData{with(func(e *eventstore.EventData) { e.Data = []byte("Ada") })}},
		{"duplicate IDs in the batch", st.stream("user"), []eventstore.EventData{dup, good(), dup}},
		{"one bad event among good ones", st.stream("user"), []eventstore.EventData{good(), good(), with(func(e *eventstore.EventData) { e.PayloadVersion = 0 })}},
	}
	for _, c := range cases {
		for _, exp := range []eventstore.ExpectedRevision{eventstore.Any, eventstore.NoStream, eventstore.Exact(7)} {
			_, err := st.Append(ctx, c.stream, exp, c.events...)
			require.ErrorIs(t, err, eventstore.ErrInvalidArgument, "%s, expecting %s", c.name, exp)
			require.NotErrorIs(t, err, eventstore.ErrWrongExpectedRevision, c.name)
		}
		if c.stream != "" && c.stream[0] != '$' && len(c.stream) <= 1024 {
			require.ErrorIs(t, readStreamErr(t, st, c.stream, eventstore.ReadStreamOptions{}), eventstore.ErrStreamNotFound, "%s: stream written", c.name)
		}
		require.Empty(t, all(t, st), "%s: $all written", c.name)
	}

	// A refused batch reserved nothing: its valid events go in afterwards.
	last := cases[len(cases)-1]
	mustAppend(t, st, last.stream, eventstore.NoStream, last.events[:2]...)
	mustAppend(t, st, st.stream("user"), eventstore.NoStream, dup)

	// Every method that takes a stream name refuses an empty one.
	_, err := eventstore.Collect(st.ReadStream(ctx, "", eventstore.ReadStreamOptions{}))
	assert.ErrorIs(t, err, eventstore.ErrInvalidArgument, "ReadStream")
	_, err = st.DeleteStream(ctx, "", eventstore.Any)
	assert.ErrorIs(t, err, eventstore.ErrInvalidArgument, "DeleteStream")
	_, err = st.TombstoneStream(ctx, "", eventstore.Any)
	assert.ErrorIs(t, err, eventstore.ErrInvalidArgument, "TombstoneStream")
	_, err = st.SetStreamMetadata(ctx, "", eventstore.Any, eventstore.StreamMetadata{MaxCount: 1})
	assert.ErrorIs(t, err, eventstore.ErrInvalidArgument, "SetStreamMetadata")
	_, _, _, err = st.GetStreamMetadata(ctx, "")
	assert.ErrorIs(t, err, eventstore.ErrInvalidArgument, "GetStreamMetadata")
}

// testIdempotencyConcurrent: the same batch appended at once from many goroutines, as a client
// retrying a slow request does, is written once and every caller gets the same result.
func (s *suite) testIdempotencyConcurrent(t *testing.T) {
	const callers, rounds = 8, 10
	st := s.store(t)
	ctx := testContext(t)
	stream := st.stream("user")
	var want []uuid.UUID
	for r := range uint64(rounds) {
		batch := events(2, "user.renamed")
		want = append(want, ids(batch)...)
		exp := eventstore.Exact(2*r - 1)
		if r == 0 {
			exp = eventstore.NoStream
		}
		results := make([]eventstore.AppendResult, callers)
		errs := make([]error, callers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for c := range callers {
			wg.Go(func() {
				<-start
				results[c], errs[c] = st.Append(ctx, stream, exp, batch...)
			})
		}
		close(start)
		wg.Wait()
		for c := range callers {
			require.NoError(t, errs[c], "round %d, caller %d", r, c)
			assert.Equal(t, results[0], results[c], "round %d, caller %d: result", r, c)
		}
		assert.Equal(t, 2*r+1, results[0].NextExpectedRevision, "round %d", r)
	}
	assert.Equal(t, want, ids(readStream(t, st, stream, eventstore.ReadStreamOptions{})), "each batch once")
	assert.Equal(t, want, ids(all(t, st)), "each batch once in $all")
}

// testIdempotencyLongAfter: a retry that repeats its original expectation is recognised for
// good, not only while it is recent: long after, it still writes nothing and returns the original
// result. (Retries with Any or StreamExists are only promised while recent; see the port.)
func (s *suite) testIdempotencyLongAfter(t *testing.T) {
	const later, batchSize = 100_000, 1000
	st := s.store(t)
	stream := st.stream("user")
	batch := events(2, "user.created")
	first := mustAppend(t, st, stream, eventstore.NoStream, batch...)
	single := event("user.renamed", nil)
	second := mustAppend(t, st, stream, eventstore.Exact(1), single)
	for k := 0; k < later; k += batchSize {
		mustAppend(t, st, st.name(fmt.Sprintf("user-filler%d", k%10)), eventstore.Any, events(batchSize, "user.imported")...)
	}
	mustAppend(t, st, stream, eventstore.Exact(2), event("user.renamed", nil))
	before, _ := head(t, st)

	// The bound starts after the filler: 100k appends under the race detector on a loaded
	// machine took longer than a case's whole bound once.
	ctx := testContext(t)
	res, err := st.Append(ctx, stream, eventstore.NoStream, batch...)
	require.NoError(t, err, "retry of the first batch expecting no stream")
	assert.Equal(t, first, res, "retry of the first batch expecting no stream")
	res, err = st.Append(ctx, stream, eventstore.Exact(1), single)
	require.NoError(t, err, "retry of the second batch expecting revision 1")
	assert.Equal(t, second, res, "retry of the second batch expecting revision 1")
	_, err = st.Append(ctx, stream, eventstore.NoStream, batch[1], batch[0])
	assert.Error(t, err, "the first batch reordered, long after, is no retry")
	h, _ := head(t, st)
	assert.Equal(t, before, h, "nothing written")
	assert.Equal(t, span(0, 3), revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{})))
}
