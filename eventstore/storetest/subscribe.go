package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idstream/idstream/eventstore"
)

// reader consumes a subscription and checks, on every message, the invariants every
// subscription keeps: kinds are known, events come in strictly increasing positions and never
// from system streams, checkpoints increase and never go back behind a delivered event, and
// MessageCaughtUp comes at most once and only when the backend declares it.
type reader struct {
	sub      eventstore.Subscription
	f        Features
	last     eventstore.Position // of the last event or checkpoint delivered
	lastCP   eventstore.Position
	cps      []eventstore.Position
	caughtUp int
	// seenBeforeCaughtUp counts the events delivered before MessageCaughtUp.
	seenBeforeCaughtUp int
	seen               int
}

// subscribe starts a subscription closed when t ends.
// It is scoped to the case's part of the log (see caseStore.scopeSub).
func (s *suite) subscribe(t *testing.T, st *caseStore, opts eventstore.SubscribeAllOptions) *reader {
	t.Helper()
	ctx, cancel := callContext(t)
	defer cancel()
	opts = st.scopeSub(opts)
	sub, err := st.SubscribeAll(ctx, opts)
	require.NoError(t, err, "SubscribeAll %+v", opts)
	require.NotNil(t, sub)
	t.Cleanup(func() { sub.Close() })
	r := &reader{sub: sub, f: s.f}
	if !opts.FromEnd {
		r.last = opts.After
	}
	return r
}

// next returns the next message within msgTimeout, failing t if none comes or an invariant breaks.
func (r *reader) next(t testing.TB) eventstore.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), msgTimeout)
	defer cancel()
	m, err := r.sub.Next(ctx)
	require.NoError(t, err, "Next: no message within %v after %d events", msgTimeout, r.seen)
	require.NoError(t, r.check(m))
	return m
}

// check verifies m against what came before. It is safe to call from any goroutine.
func (r *reader) check(m eventstore.Message) error {
	switch m.Kind {
	case eventstore.MessageEvent:
		e := m.Event
		switch {
		case m.Position != e.Position:
			return errorf("event message: Position %v, but the event's is %v", m.Position, e.Position)
		case !r.last.Less(e.Position):
			return errorf("event %s@%d at position %v, not after %v (last event or checkpoint delivered)", e.Stream, e.Revision, e.Position, r.last)
		case len(e.Stream) > 0 && e.Stream[0] == '$', len(e.Type) > 0 && e.Type[0] == '$':
			return errorf("system event %s of stream %s delivered", e.Type, e.Stream)
		}
		r.last = e.Position
		r.seen++
		if r.caughtUp == 0 {
			r.seenBeforeCaughtUp++
		}
	case eventstore.MessageCheckpoint:
		switch {
		case len(r.cps) > 0 && !r.lastCP.Less(m.Position):
			return errorf("checkpoint %v does not come after checkpoint %v", m.Position, r.lastCP)
		case m.Position.Less(r.last):
			return errorf("checkpoint %v is behind position %v already delivered", m.Position, r.last)
		}
		r.last, r.lastCP = m.Position, m.Position
		r.cps = append(r.cps, m.Position)
	case eventstore.MessageCaughtUp:
		r.caughtUp++
		switch {
		case !r.f.CaughtUpMessage:
			return errorf("MessageCaughtUp delivered, but Features.CaughtUpMessage is false")
		case r.caughtUp > 1:
			return errorf("MessageCaughtUp delivered a second time")
		}
	default:
		return errorf("message of unknown kind %d", m.Kind)
	}
	return nil
}

// event returns the next event, passing over checkpoints and MessageCaughtUp.
func (r *reader) event(t testing.TB) eventstore.RecordedEvent {
	t.Helper()
	for {
		if m := r.next(t); m.Kind == eventstore.MessageEvent {
			return m.Event
		}
	}
}

// events returns the next n events.
func (r *reader) events(t testing.TB, n int) []eventstore.RecordedEvent {
	t.Helper()
	out := make([]eventstore.RecordedEvent, 0, n)
	for len(out) < n {
		out = append(out, r.event(t))
	}
	return out
}

// untilCaughtUp consumes messages up to MessageCaughtUp, if the backend sends one, and returns
// the events delivered before it. Without the feature it returns nothing.
func (r *reader) untilCaughtUp(t testing.TB) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for r.f.CaughtUpMessage && r.caughtUp == 0 {
		if m := r.next(t); m.Kind == eventstore.MessageEvent {
			out = append(out, m.Event)
		}
	}
	return out
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// nextErr calls Next until it fails, and returns its error. It passes over checkpoints and
// MessageCaughtUp, which may come at any time (a filtered subscription on a shared log receives
// checkpoints while other writers write); an event is an error of its own.
func nextErr(ctx context.Context, sub eventstore.Subscription) error {
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		if m.Kind == eventstore.MessageEvent {
			return errorf("Next delivered event %s of %s at %v where it should have failed", m.Event.Type, m.Event.Stream, m.Position)
		}
	}
}

// testSubscribe: from the start, after a position (exclusive), from the end; then live.
func (s *suite) testSubscribe(t *testing.T) {
	st := s.store(t)
	a, b := st.stream("user"), st.stream("group")
	mustAppend(t, st, a, eventstore.NoStream, events(4, "user.renamed")...)
	mustAppend(t, st, b, eventstore.NoStream, events(3, "group.renamed")...)
	mustAppend(t, st, a, eventstore.Exact(3), events(3, "user.renamed")...)
	past := all(t, st)
	require.Len(t, past, 10)

	fromStart := s.subscribe(t, st, eventstore.SubscribeAllOptions{})
	afterFifth := s.subscribe(t, st, eventstore.SubscribeAllOptions{After: past[4].Position})
	afterLast := s.subscribe(t, st, eventstore.SubscribeAllOptions{After: past[9].Position})
	fromEnd := s.subscribe(t, st, eventstore.SubscribeAllOptions{FromEnd: true, After: past[2].Position})

	assertSame := func(name string, want, got []eventstore.RecordedEvent) {
		t.Helper()
		require.Equal(t, ids(want), ids(got), name)
		for i := range want {
			assert.Equal(t, want[i].Position, got[i].Position, "%s: event %d position", name, i)
			assert.Equal(t, want[i].Revision, got[i].Revision, "%s: event %d revision", name, i)
			assert.Equal(t, want[i].Stream, got[i].Stream, "%s: event %d stream", name, i)
		}
	}
	assertSame("from the start", past, fromStart.events(t, 10))
	assertSame("after the 5th", past[5:], afterFifth.events(t, 5))

	// Live: events appended now reach every subscription, after what it caught up on.
	mustAppend(t, st, b, eventstore.Exact(2), events(2, "group.renamed")...)
	mustAppend(t, st, st.stream("role"), eventstore.NoStream, events(1, "role.granted")...)
	every := all(t, st)
	require.Len(t, every, 13)
	live := every[10:]
	assertSame("from the start, live", live, fromStart.events(t, 3))
	assertSame("after the 5th, live", live, afterFifth.events(t, 3))
	assertSame("after the last", live, afterLast.events(t, 3))
	assertSame("from the end", live, fromEnd.events(t, 3))

	// No duplicates and nothing extra: the next event of each is the next one appended.
	marker := event("user.renamed", nil)
	mustAppend(t, st, a, eventstore.Exact(6), marker)
	for name, r := range map[string]*reader{"from the start": fromStart, "after the 5th": afterFifth, "after the last": afterLast, "from the end": fromEnd} {
		assert.Equal(t, marker.ID, r.event(t).ID, "%s: next event", name)
	}

	// The context given to SubscribeAll bounds the call only.
	ctx, cancel := context.WithCancel(t.Context())
	sub, err := st.SubscribeAll(ctx, st.scopeSub(eventstore.SubscribeAllOptions{After: every[11].Position}))
	require.NoError(t, err)
	t.Cleanup(func() { sub.Close() })
	cancel()
	r := &reader{sub: sub, f: s.f, last: every[11].Position}
	assert.Equal(t, every[12].ID, r.event(t).ID, "subscription after its SubscribeAll context was cancelled")
	assert.Equal(t, marker.ID, r.event(t).ID, "subscription after its SubscribeAll context was cancelled")
}

// seqData is the data of an event of the catch-up cases: its writer and its rank there.
type seqData struct {
	Writer int `json:"w"`
	Seq    int `json:"seq"`
}

// writeSequenced has each of writers append perWriter events, in batches of batch, to
// streams named by stream(w, k), each event carrying its writer and rank; it returns the IDs
// written. The stream of a writer's kth append must receive that writer only.
func writeSequenced(ctx context.Context, st eventstore.Store, writers, perWriter, batch int, typ string, stream func(w, k int) string, fails *errs) [][]uuid.UUID {
	written := make([][]uuid.UUID, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			next := map[string]eventstore.ExpectedRevision{}
			for k, seq := 0, 0; seq < perWriter; k++ {
				evs := make([]eventstore.EventData, 0, batch)
				for ; len(evs) < batch && seq < perWriter; seq++ {
					evs = append(evs, event(typ, seqData{w, seq}))
				}
				name := stream(w, k)
				exp, ok := next[name]
				if !ok {
					exp = eventstore.NoStream
				}
				res, err := st.Append(ctx, name, exp, evs...)
				if err != nil {
					fails.add("writer %d: append to %s: %v", w, name, err)
					return
				}
				next[name] = eventstore.Exact(res.NextExpectedRevision)
				written[w] = append(written[w], ids(evs)...)
			}
		})
	}
	wg.Wait()
	return written
}

// sequence checks events of a sequenced write as a subscriber sees them.
type sequence struct {
	next map[int]int
}

func (q *sequence) check(e eventstore.RecordedEvent) error {
	var d seqData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return errorf("event %s@%d: data %s: %v", e.Stream, e.Revision, e.Data, err)
	}
	if q.next == nil {
		q.next = map[int]int{}
	}
	if want := q.next[d.Writer]; d.Seq != want {
		return errorf("writer %d: got event %d, want %d (gap or duplicate)", d.Writer, d.Seq, want)
	}
	q.next[d.Writer]++
	return nil
}

// testSubscribeCatchUpWhileWriting: a subscription started from the start while writers run
// catches up and goes live without losing, repeating or reordering anything.
func (s *suite) testSubscribeCatchUpWhileWriting(t *testing.T) {
	const writers, perWriter, batch, backlog = 4, 1000, 5, 500
	st := s.store(t)
	ctx := testContext(t)
	pre := newErrs()
	writeSequenced(ctx, st, 1, backlog, 50, "user.renamed", func(w, k int) string { return st.name("user-backlog") }, pre)
	pre.check(t)

	total := backlog + writers*perWriter
	start := make(chan struct{})
	type result struct {
		name string
		ids  []uuid.UUID
		err  error
	}
	done := make(chan result, 2)
	for _, after := range []int{0, backlog / 2} {
		go func() {
			<-start
			res := result{name: fmt.Sprintf("subscription after %d events", after)}
			defer func() { done <- res }()
			var opts eventstore.SubscribeAllOptions
			if after > 0 {
				evs, err := eventstore.Collect(st.ReadAll(ctx, st.scopeRead(eventstore.ReadAllOptions{MaxCount: uint64(after)})))
				if err != nil || len(evs) != after {
					res.err = errorf("read the first %d events: %d events, %v", after, len(evs), err)
					return
				}
				opts.After = evs[after-1].Position
			}
			opts = st.scopeSub(opts)
			sub, err := st.SubscribeAll(ctx, opts)
			if err != nil {
				res.err = err
				return
			}
			defer sub.Close()
			r := &reader{sub: sub, f: s.f, last: opts.After}
			var q sequence
			for len(res.ids) < total-after {
				m, err := sub.Next(ctx)
				if err != nil {
					res.err = errorf("Next after %d events: %v", len(res.ids), err)
					return
				}
				if res.err = r.check(m); res.err != nil {
					return
				}
				if m.Kind != eventstore.MessageEvent {
					continue
				}
				e := m.Event
				if e.Stream != st.name("user-backlog") {
					if res.err = q.check(e); res.err != nil {
						return
					}
				}
				res.ids = append(res.ids, e.ID)
			}
		}()
	}
	close(start)
	fails := newErrs()
	writeSequenced(ctx, st, writers, perWriter, batch, "user.renamed", func(w, k int) string { return st.name("user-writer" + string(rune('a'+w))) }, fails)
	fails.check(t)
	every := ids(all(t, st))
	require.Len(t, every, total)
	for range 2 {
		res := <-done
		require.NoError(t, res.err, res.name)
		require.Equal(t, every[len(every)-len(res.ids):], res.ids, "%s: order differs from $all", res.name)
	}
}

// testSubscribeFiltered: filtered subscriptions deliver exactly the matching events, in order,
// across catch-up and live.
func (s *suite) testSubscribeFiltered(t *testing.T) {
	st := s.store(t)
	ctx := testContext(t)
	byStream := &eventstore.Filter{StreamPrefixes: []string{st.name("user-"), st.name("role-")}}
	byType := &eventstore.Filter{EventTypePrefixes: []string{st.name("group.member")}}
	write := func(round int) {
		fails := newErrs()
		writeSequenced(ctx, st, 3, 60, 3, "group.renamed", func(w, k int) string {
			return st.name([]string{"user", "group", "role"}[w] + "-" + string(rune('a'+round)))
		}, fails)
		fails.check(t)
		mustAppend(t, st, st.stream("group"), eventstore.NoStream, event(st.name("group.member_added"), nil), event(st.name("group.member_removed"), nil), event("group.renamed", nil))
	}
	write(0)
	subs := map[string]*reader{
		"stream prefixes": s.subscribe(t, st, eventstore.SubscribeAllOptions{Filter: byStream, CheckpointInterval: 7}),
		"type prefixes":   s.subscribe(t, st, eventstore.SubscribeAllOptions{Filter: byType}),
	}
	write(1)
	filters := map[string]*eventstore.Filter{"stream prefixes": byStream, "type prefixes": byType}
	every := all(t, st)
	for name, r := range subs {
		want := readAll(t, st, eventstore.ReadAllOptions{Filter: filters[name]})
		require.NotEmpty(t, want)
		require.Less(t, len(want), len(every))
		got := r.events(t, len(want))
		require.Equal(t, ids(want), ids(got), name)
		for _, e := range got {
			require.True(t, filters[name].Match(e.Stream, e.Type), "%s: %s of %s delivered", name, e.Type, e.Stream)
		}
	}
	// Nothing else matched: the next delivered event is the next matching one.
	mustAppend(t, st, st.stream("group"), eventstore.NoStream, event("group.renamed", nil))
	u, m := event("user.created", nil), event(st.name("group.member_added"), nil)
	mustAppend(t, st, st.stream("user"), eventstore.NoStream, u)
	mustAppend(t, st, st.stream("group"), eventstore.NoStream, m)
	assert.Equal(t, u.ID, subs["stream prefixes"].event(t).ID)
	assert.Equal(t, m.ID, subs["type prefixes"].event(t).ID)
}

// testSubscribeCheckpoints: a filter that matches nothing still lets the consumer advance.
func (s *suite) testSubscribeCheckpoints(t *testing.T) {
	const interval = 10
	st := s.store(t)
	ctx := testContext(t)
	nothing := &eventstore.Filter{StreamPrefixes: []string{st.name("nomatch-")}}
	write := func(round string) {
		fails := newErrs()
		writeSequenced(ctx, st, 2, 100, 4, "user.renamed", func(w, k int) string { return st.name(fmt.Sprintf("user-%s%d", round, w)) }, fails)
		fails.check(t)
	}
	write("a")
	r := s.subscribe(t, st, eventstore.SubscribeAllOptions{Filter: nothing, CheckpointInterval: interval})
	write("b")
	every := all(t, st)
	lastPos := every[len(every)-1].Position
	for len(r.cps) == 0 || r.lastCP.Less(lastPos) {
		m := r.next(t)
		require.NotEqual(t, eventstore.MessageEvent, m.Kind, "event %s of %s passed a filter matching nothing", m.Event.Type, m.Event.Stream)
	}
	// No checkpoint runs ahead of the log: what is appended now comes after all of them.
	sentinel := mustAppend(t, st, st.stream("user"), eventstore.NoStream, event("user.renamed", nil))
	for _, cp := range r.cps {
		require.True(t, cp.Less(sentinel.Position), "checkpoint %v is not before the next event appended (%v)", cp, sentinel.Position)
	}
	// At most interval events were filtered out between checkpoints.
	prev, i := eventstore.Position{}, 0
	for _, cp := range r.cps {
		n := 0
		for ; i < len(every) && !cp.Less(every[i].Position); i++ {
			if prev.Less(every[i].Position) {
				n++
			}
		}
		assert.LessOrEqual(t, n, interval, "events filtered out between checkpoints %v and %v", prev, cp)
		prev = cp
	}
	assert.GreaterOrEqual(t, len(r.cps), len(every)/interval, "checkpoints for %d events filtered out", len(every))

	// The default interval is 32.
	d := s.subscribe(t, st, eventstore.SubscribeAllOptions{Filter: nothing})
	for len(d.cps) == 0 || d.lastCP.Less(sentinel.Position) {
		d.next(t)
	}
	assert.GreaterOrEqual(t, len(d.cps), (len(every)+1)/32, "checkpoints with the default interval")
}

// testSubscribeResumeAfterCheckpoint: a consumer that stores a checkpoint and resumes after it
// receives every matching event exactly once across the two subscriptions.
func (s *suite) testSubscribeResumeAfterCheckpoint(t *testing.T) {
	st := s.store(t)
	filter := &eventstore.Filter{EventTypePrefixes: []string{st.name("user.created")}}
	write := func(n int) {
		for k := range n {
			typ := "user.renamed"
			if k%10 == 4 {
				typ = st.name("user.created")
			}
			mustAppend(t, st, st.stream("user"), eventstore.NoStream, event(typ, map[string]int{"k": k}))
		}
	}
	write(100)
	r := s.subscribe(t, st, eventstore.SubscribeAllOptions{Filter: filter, CheckpointInterval: 4})
	var got []eventstore.RecordedEvent
	for len(got) < 5 || len(r.cps) == 0 || r.lastCP.Less(got[len(got)-1].Position) {
		if m := r.next(t); m.Kind == eventstore.MessageEvent {
			got = append(got, m.Event)
		}
	}
	stored := r.lastCP
	require.NoError(t, r.sub.Close())

	write(100)
	want := readAll(t, st, eventstore.ReadAllOptions{Filter: filter})
	require.Len(t, want, 20)
	resumed := s.subscribe(t, st, eventstore.SubscribeAllOptions{After: stored, Filter: filter, CheckpointInterval: 4})
	var rest []eventstore.RecordedEvent
	for _, e := range want {
		if stored.Less(e.Position) {
			rest = append(rest, e)
		}
	}
	require.Equal(t, ids(rest), ids(resumed.events(t, len(rest))), "resumed after checkpoint %v", stored)
	// Together, the two subscriptions delivered every match once.
	var union []uuid.UUID
	for _, e := range got {
		if !stored.Less(e.Position) {
			union = append(union, e.ID)
		}
	}
	assert.Equal(t, ids(want), append(union, ids(rest)...), "first subscription up to the checkpoint, then the resumed one")
}

// testSubscribeSlowConsumer: a subscriber that stops reading blocks no writer, and later
// receives everything.
func (s *suite) testSubscribeSlowConsumer(t *testing.T) {
	const writers, perWriter = 4, 500
	st := s.store(t)
	ctx := testContext(t)
	first := event("user.created", nil)
	mustAppend(t, st, st.stream("user"), eventstore.NoStream, first)
	r := s.subscribe(t, st, eventstore.SubscribeAllOptions{})
	require.Equal(t, first.ID, r.event(t).ID)
	r.untilCaughtUp(t)

	// The subscriber is live and reads nothing while the writers run: they must finish.
	fails := newErrs()
	written := writeSequenced(ctx, st, writers, perWriter, 1, "user.renamed", func(w, k int) string { return st.name("user-slow" + string(rune('a'+w))) }, fails)
	fails.check(t)
	for w := range written {
		require.Len(t, written[w], perWriter, "writer %d", w)
	}
	var q sequence
	got := r.events(t, writers*perWriter)
	for _, e := range got {
		require.NoError(t, q.check(e))
	}
	assert.Equal(t, ids(all(t, st))[1:], ids(got))
}

// testSubscribeCaughtUp: with the feature, exactly one MessageCaughtUp, after the events
// committed before the subscription started and before the live ones; without, none.
func (s *suite) testSubscribeCaughtUp(t *testing.T) {
	st := s.store(t)
	empty := s.subscribe(t, st, eventstore.SubscribeAllOptions{})
	if s.f.CaughtUpMessage {
		assert.Empty(t, empty.untilCaughtUp(t), "empty store: caught up at once")
	}
	stream := st.stream("user")
	past := events(10, "user.renamed")
	mustAppend(t, st, stream, eventstore.NoStream, past...)
	fromStart := s.subscribe(t, st, eventstore.SubscribeAllOptions{})
	fromEnd := s.subscribe(t, st, eventstore.SubscribeAllOptions{FromEnd: true})
	filtered := s.subscribe(t, st, eventstore.SubscribeAllOptions{Filter: &eventstore.Filter{StreamPrefixes: []string{st.name("group-")}}})
	if s.f.CaughtUpMessage {
		assert.Equal(t, ids(past), ids(fromStart.untilCaughtUp(t)), "from the start: the past, then caught up")
		assert.Empty(t, fromEnd.untilCaughtUp(t), "from the end: caught up at once")
		assert.Empty(t, filtered.untilCaughtUp(t), "filtered: caught up at once")
	}
	live := events(5, "user.renamed")
	mustAppend(t, st, stream, eventstore.Exact(9), live...)
	group := event("group.created", nil)
	mustAppend(t, st, st.stream("group"), eventstore.NoStream, group)
	if !s.f.CaughtUpMessage {
		assert.Equal(t, ids(past), ids(fromStart.events(t, 10)))
	}
	// The reader fails the test on a second MessageCaughtUp, or on any without the feature.
	assert.Equal(t, ids(live), ids(fromStart.events(t, 5)), "from the start: live")
	assert.Equal(t, ids(live), ids(fromEnd.events(t, 5)), "from the end: live")
	assert.Equal(t, ids(past), ids(empty.events(t, 10)), "from an empty store")
	assert.Equal(t, group.ID, filtered.event(t).ID, "filtered")
	mustAppend(t, st, stream, eventstore.Exact(14), event("user.renamed", nil))
	for _, r := range []*reader{empty, fromStart, fromEnd} {
		r.event(t)
		if s.f.CaughtUpMessage {
			assert.Equal(t, 1, r.caughtUp, "MessageCaughtUp count")
		}
	}
	if s.f.CaughtUpMessage {
		assert.Equal(t, 10, fromStart.seenBeforeCaughtUp, "events before MessageCaughtUp")
	}
}

// testSubscriptionClose: Close ends Next with ErrClosed, concurrently or afterwards, and may be
// called twice.
func (s *suite) testSubscriptionClose(t *testing.T) {
	st := s.store(t)
	mustAppend(t, st, st.stream("user"), eventstore.NoStream, event("user.created", nil))
	r := s.subscribe(t, st, eventstore.SubscribeAllOptions{})
	r.event(t)
	r.untilCaughtUp(t)
	ctx := testContext(t)
	got := make(chan error, 1)
	go func() { got <- nextErr(ctx, r.sub) }()
	// Next is blocked (or about to be): nothing more is committed.
	require.NoError(t, r.sub.Close())
	select {
	case err := <-got:
		assert.ErrorIs(t, err, eventstore.ErrClosed, "Next blocked during Close")
	case <-ctx.Done():
		t.Fatal("Next still blocked after Close")
	}
	_, err := r.sub.Next(ctx)
	assert.ErrorIs(t, err, eventstore.ErrClosed, "Next after Close")
	assert.NotPanics(t, func() { _ = r.sub.Close() }, "second Close")

	// Closing a subscription with undelivered events behind it.
	mustAppend(t, st, st.stream("user"), eventstore.NoStream, events(50, "user.created")...)
	r2 := s.subscribe(t, st, eventstore.SubscribeAllOptions{})
	r2.event(t)
	require.NoError(t, r2.sub.Close())
	_, err = r2.sub.Next(ctx)
	assert.ErrorIs(t, err, eventstore.ErrClosed, "Next after Close with events pending")

	// Concurrent Close calls.
	r3 := s.subscribe(t, st, eventstore.SubscribeAllOptions{FromEnd: true})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { _ = r3.sub.Close() })
	}
	wg.Wait()
	_, err = r3.sub.Next(ctx)
	assert.ErrorIs(t, err, eventstore.ErrClosed, "Next after concurrent Close calls")
}
