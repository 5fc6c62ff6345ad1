package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idstream/idstream/eventstore"
)

// Features declares how a backend legitimately differs from the others. Each field changes
// what the suite expects, never whether a case runs because of which backend it is.
type Features struct {
	// DensePositions: positions are 1, 2, 3, ... with no holes and Commit == Prepare (embedded);
	// false for EventStoreDB, whose positions are byte offsets.
	DensePositions bool
	// MaxAppendBytes is the largest total data+metadata size of one append the backend
	// accepts, measured by eventstore.AppendSize. The suite appends a 1 MiB event when this
	// allows it, else an event of exactly this size; it checks that an append of exactly this
	// size is accepted and that one byte more fails with ErrInvalidArgument, writing nothing.
	// 0 means no limit: the suite appends 1 MiB and looks for no limit.
	MaxAppendBytes int
	// CaughtUpMessage: subscriptions send one MessageCaughtUp when they go live, after every
	// event committed before they started; without it they never send one.
	CaughtUpMessage bool
	// StrictRetryMatching: an append whose event IDs match committed events without being the
	// whole committed batch, in order (a part of it, a reordering, IDs of two batches, committed
	// IDs mixed with new ones, IDs of another stream) is refused with ErrInvalidArgument while
	// the committed events are recent. Without it (EventStoreDB, which checks only the first
	// event ID, or the events after the expected revision) the suite does not look at such
	// appends: the port promises that a true retry never duplicates, not that every misuse of
	// an ID is caught.
	StrictRetryMatching bool
	// SharedLog: the store is shared with other writers and earlier runs: the log is not empty
	// and other cases write concurrently (a real EventStoreDB server). Each case then names
	// every stream it writes, and the event types its type filters select, with a prefix of
	// its own; it reads $all and subscribes through a stream-prefix filter on that prefix,
	// from the head of $all it observed when it began, so it sees its own events only; and
	// "nothing written" means nothing in its own streams. DensePositions then promises
	// Commit == Prepare only: the case's positions have other writers' events between them.
	SharedLog bool
}

// Run runs every case as subtests. newStore returns a fresh, empty store; Run closes it
// (t.Cleanup). newStore is called once per case, from the case's goroutine, possibly in
// parallel with other cases. With Features.SharedLog, newStore instead returns a handle on the
// one shared log: closing a handle must end that handle and its subscriptions only.
func Run(t *testing.T, newStore func(t *testing.T) eventstore.Store, f Features) {
	if f.MaxAppendBytes < 0 {
		t.Fatalf("Features.MaxAppendBytes is %d; want 0 (no limit) or the limit in bytes", f.MaxAppendBytes)
	}
	s := &suite{newStore: newStore, f: f}
	cases := []struct {
		name string
		run  func(*testing.T)
	}{
		{"ExpectedRevision", s.testExpectedRevision},
		{"DeleteExpectedRevision", s.testDeleteExpectedRevision},
		{"ConcurrentExactAppends", s.testConcurrentExactAppends},
		{"ConcurrentRetryingAppends", s.testConcurrentRetryingAppends},
		{"Idempotency", s.testIdempotency},
		{"IdempotencyConcurrent", s.testIdempotencyConcurrent},
		{"IdempotencyLongAfter", s.testIdempotencyLongAfter},
		{"Validation", s.testValidation},
		{"Envelope", s.testEnvelope},
		{"EnvelopeTimes", s.testEnvelopeTimes},
		{"AllOrderConcurrentWriters", s.testAllOrderConcurrentWriters},
		{"ReadStream", s.testReadStream},
		{"ReadAll", s.testReadAll},
		{"ReadAllFilter", s.testReadAllFilter},
		{"ReadNotFoundDeleted", s.testReadNotFoundDeleted},
		{"SystemRecordsHidden", s.testSystemRecordsHidden},
		{"Subscribe", s.testSubscribe},
		{"SubscribeCatchUpWhileWriting", s.testSubscribeCatchUpWhileWriting},
		{"SubscribeFiltered", s.testSubscribeFiltered},
		{"SubscribeCheckpoints", s.testSubscribeCheckpoints},
		{"SubscribeResumeAfterCheckpoint", s.testSubscribeResumeAfterCheckpoint},
		{"SubscribeSlowConsumer", s.testSubscribeSlowConsumer},
		{"SubscribeCaughtUp", s.testSubscribeCaughtUp},
		{"SoftDelete", s.testSoftDelete},
		{"Tombstone", s.testTombstone},
		{"StreamMetadata", s.testStreamMetadata},
		{"MetadataTruncateBefore", s.testTruncateBefore},
		{"MetadataMaxCount", s.testMaxCount},
		{"MetadataMaxAge", s.testMaxAge},
		{"MetadataAfterDelete", s.testMetadataAfterDelete},
		{"LargeEvent", s.testLargeEvent},
		{"AppendLimit", s.testAppendLimit},
		{"Flood", s.testFlood},
		{"Cancellation", s.testCancellation},
		{"CancelFilteredScan", s.testCancelFilteredScan},
		{"CancelInFlightAppend", s.testCancelInFlightAppend},
		{"SubscriptionClose", s.testSubscriptionClose},
		{"StoreClose", s.testStoreClose},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

type suite struct {
	newStore func(t *testing.T) eventstore.Store
	f        Features
}

const (
	// opTimeout bounds a whole case: a hung backend fails instead of stalling the run.
	opTimeout = 45 * time.Second
	// msgTimeout bounds the wait for one subscription message that must come.
	msgTimeout = 15 * time.Second
)

// caseStore is the store one case runs on, with the part of the log the case owns. On a store
// of its own the case owns the whole log: ns is empty and start zero, and every helper reads
// exactly what it would read without caseStore.
type caseStore struct {
	eventstore.Store
	// ns begins the name of every stream the case writes, and every event type its type
	// filters select: "" unless Features.SharedLog, else a token of the case's own.
	ns string
	// start is the head of $all when the case began (zero unless Features.SharedLog): every
	// event the case writes comes after it.
	start eventstore.Position
}

// store opens a fresh store (with Features.SharedLog, a handle on the shared log) for t and
// closes it when t ends.
func (s *suite) store(t *testing.T) *caseStore {
	t.Helper()
	st := s.newStore(t)
	require.NotNil(t, st, "newStore returned nil")
	t.Cleanup(func() {
		if err := st.Close(); err != nil && !errors.Is(err, eventstore.ErrClosed) {
			t.Errorf("Store.Close: %v", err)
		}
	})
	cs := &caseStore{Store: st}
	if s.f.SharedLog {
		cs.ns = "st" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12] + "."
		ctx, cancel := callContext(t)
		defer cancel()
		evs, err := eventstore.Collect(st.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: 1}))
		require.NoError(t, err, "read the head of the shared log")
		if len(evs) > 0 {
			cs.start = evs[0].Position
		}
	}
	return cs
}

// stream is a new stream of category cat, in the case's namespace.
func (c *caseStore) stream(cat string) string { return c.ns + streamName(cat) }

// name puts a fixed stream name, or an event type a filter selects, in the case's namespace.
func (c *caseStore) name(s string) string { return c.ns + s }

// own is the filter that selects the case's streams: nil when the case owns the whole log.
func (c *caseStore) own() *eventstore.Filter {
	if c.ns == "" {
		return nil
	}
	return &eventstore.Filter{StreamPrefixes: []string{c.ns}}
}

// scopeRead narrows opts to the case's part of the log: its streams unless opts has a filter
// of its own, and from the case's start instead of the log's.
func (c *caseStore) scopeRead(opts eventstore.ReadAllOptions) eventstore.ReadAllOptions {
	if opts.Filter == nil {
		opts.Filter = c.own()
	}
	if opts.Direction == eventstore.Forwards && !opts.FromEnd && opts.From.IsZero() {
		opts.From = c.start
	}
	return opts
}

// scopeSub narrows a subscription to the case's part of the log, as scopeRead does.
func (c *caseStore) scopeSub(opts eventstore.SubscribeAllOptions) eventstore.SubscribeAllOptions {
	if opts.Filter == nil {
		opts.Filter = c.own()
	}
	if !opts.FromEnd && opts.After.IsZero() {
		opts.After = c.start
	}
	return opts
}

// testContext is t's context bounded by opTimeout.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// streamName is a new stream of category cat, e.g. "user-1f0c…".
func streamName(cat string) string {
	return cat + "-" + uuid.NewString()
}

func newID() uuid.UUID {
	return uuid.Must(uuid.NewV7())
}

// event is an event of type typ whose data is the JSON encoding of data.
func event(typ string, data any) eventstore.EventData {
	b, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	return eventstore.EventData{
		ID:             newID(),
		Type:           typ,
		PayloadVersion: 1,
		Data:           b,
		Metadata: eventstore.Metadata{
			Actor:      "storetest",
			OccurredAt: time.Now().UTC().Truncate(time.Microsecond),
		},
	}
}

// events returns n events of type typ with data {"i": k} for k from 0.
func events(n int, typ string) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for k := range out {
		out[k] = event(typ, map[string]int{"i": k})
	}
	return out
}

func mustAppend(t testing.TB, st eventstore.Store, stream string, exp eventstore.ExpectedRevision, evs ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	res, err := st.Append(ctx, stream, exp, evs...)
	require.NoError(t, err, "append %d events to %s expecting %s", len(evs), stream, exp)
	return res
}

// callContext bounds one call of a helper.
func callContext(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), opTimeout)
}

func readStream(t testing.TB, st eventstore.Store, stream string, opts eventstore.ReadStreamOptions) []eventstore.RecordedEvent {
	t.Helper()
	ctx, cancel := callContext(t)
	defer cancel()
	evs, err := eventstore.Collect(st.ReadStream(ctx, stream, opts))
	require.NoError(t, err, "read stream %s %+v", stream, opts)
	return evs
}

func readStreamErr(t testing.TB, st eventstore.Store, stream string, opts eventstore.ReadStreamOptions) error {
	t.Helper()
	ctx, cancel := callContext(t)
	defer cancel()
	evs, err := eventstore.Collect(st.ReadStream(ctx, stream, opts))
	require.Error(t, err, "read stream %s %+v: want an error, got %d events", stream, opts, len(evs))
	assert.Empty(t, evs, "read stream %s: events before the error", stream)
	return err
}

// readAll reads $all, scoped to the case's part of the log (see caseStore.scopeRead).
func readAll(t testing.TB, st *caseStore, opts eventstore.ReadAllOptions) []eventstore.RecordedEvent {
	t.Helper()
	ctx, cancel := callContext(t)
	defer cancel()
	opts = st.scopeRead(opts)
	evs, err := eventstore.Collect(st.ReadAll(ctx, opts))
	require.NoError(t, err, "read $all %+v", opts)
	return evs
}

// all reads the whole of $all forwards: the case's part of it.
func all(t testing.TB, st *caseStore) []eventstore.RecordedEvent {
	t.Helper()
	return readAll(t, st, eventstore.ReadAllOptions{})
}

// ids lists the events' IDs; nil for none.
func ids[E eventstore.EventData | eventstore.RecordedEvent](evs []E) []uuid.UUID {
	if len(evs) == 0 {
		return nil
	}
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		switch e := any(e).(type) {
		case eventstore.EventData:
			out[i] = e.ID
		case eventstore.RecordedEvent:
			out[i] = e.ID
		}
	}
	return out
}

// revisions lists the events' revisions; nil for none.
func revisions(evs []eventstore.RecordedEvent) []uint64 {
	if len(evs) == 0 {
		return nil
	}
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Revision
	}
	return out
}

// span returns the integers from..to inclusive, counting down when to < from.
func span(from, to uint64) []uint64 {
	var out []uint64
	for r := from; ; {
		out = append(out, r)
		if r == to {
			return out
		}
		if to > from {
			r++
		} else {
			r--
		}
	}
}

// reversed returns s in reverse order; nil for none.
func reversed[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	out := make([]T, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// requireConflict checks that err is the conflict the rule exp must give on a stream in the
// stated state.
func requireConflict(t testing.TB, err error, stream string, exp eventstore.ExpectedRevision, exists bool, actual uint64) {
	t.Helper()
	require.Error(t, err, "expected %s on %s: want a conflict", exp, stream)
	require.ErrorIs(t, err, eventstore.ErrWrongExpectedRevision)
	var wre *eventstore.WrongExpectedRevisionError
	require.ErrorAs(t, err, &wre)
	assert.Equal(t, stream, wre.Stream, "conflict names the stream")
	assert.Equal(t, exp, wre.Expected, "conflict names the rule given")
	assert.Equal(t, exists, wre.ActualExists, "conflict's ActualExists")
	if exists {
		assert.Equal(t, actual, wre.ActualRevision, "conflict's ActualRevision")
	}
}

// requirePositions checks that positions strictly increase and, for dense backends, that they
// are consecutive from first (when first is not zero and the log is the case's own).
func (s *suite) requirePositions(t testing.TB, evs []eventstore.RecordedEvent, first uint64) {
	t.Helper()
	var prev eventstore.Position
	for i, e := range evs {
		require.True(t, prev.Less(e.Position), "event %d (%s@%d) at position %v, not after %v", i, e.Stream, e.Revision, e.Position, prev)
		prev = e.Position
		if s.f.DensePositions {
			require.Equal(t, e.Position.Commit, e.Position.Prepare, "dense position %v: Commit != Prepare", e.Position)
			if first != 0 && !s.f.SharedLog {
				require.Equal(t, first+uint64(i), e.Position.Commit, "dense positions: event %d", i)
			}
		}
	}
}

// requireSystemFree checks that no event of a system stream or type reached the reader.
func requireSystemFree(t testing.TB, evs []eventstore.RecordedEvent) {
	t.Helper()
	for _, e := range evs {
		require.False(t, len(e.Stream) > 0 && e.Stream[0] == '$', "system stream %q event %s reached the reader", e.Stream, e.Type)
		require.False(t, len(e.Type) > 0 && e.Type[0] == '$', "system event type %q (stream %s) reached the reader", e.Type, e.Stream)
	}
}

// head is the position of the last event of $all (of the case's part of it), if any.
func head(t testing.TB, st *caseStore) (eventstore.Position, bool) {
	t.Helper()
	evs := readAll(t, st, eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: 1})
	if len(evs) == 0 {
		return eventstore.Position{}, false
	}
	return evs[0].Position, true
}

// errs gathers failures from goroutines, which must not call t.FailNow.
type errs struct {
	ch chan error
}

func newErrs() *errs { return &errs{ch: make(chan error, 1024)} }

func (e *errs) add(format string, args ...any) {
	select {
	case e.ch <- fmt.Errorf(format, args...):
	default:
	}
}

// check fails t with every gathered error.
func (e *errs) check(t testing.TB) {
	t.Helper()
	close(e.ch)
	n := 0
	for err := range e.ch {
		n++
		if n <= 20 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.FailNow()
	}
}
