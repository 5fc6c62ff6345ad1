package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idstream/idstream/eventstore"
)

// testEnvelope: every field written comes back, identically, from every read path.
func (s *suite) testEnvelope(t *testing.T) {
	st := s.store(t)
	stream := st.stream("user")
	cet := time.FixedZone("CET", 3600)
	full := eventstore.EventData{
		ID:             newID(),
		Type:           "user.created",
		PayloadVersion: 3,
		Data:           []byte(`{"name":"Ada Lovelace","emails":["ada@example.com"],"n":1.5,"nested":{"ok":true,"none":null},"uni":"é✓"}`),
		Metadata: eventstore.Metadata{
			EnvironmentID: "env-0192f7c4",
			Actor:         "user:admin@example.com",
			CorrelationID: "corr-1",
			CausationID:   "cause-1",
			OccurredAt:    time.Date(2025, 3, 14, 15, 9, 26, 535897932, cet),
			Extra:         map[string]string{"ip": "192.0.2.7", "ua": "curl/8.5.0", "token": "tok-1"},
		},
	}
	minimal := eventstore.EventData{ID: newID(), Type: "user.touched", PayloadVersion: 1}
	spaced := eventstore.EventData{
		ID:             newID(),
		Type:           "user.renamed",
		PayloadVersion: 2,
		Data:           []byte("{ \"b\" : [ 1, 2 ],\n  \"a\": \"\\u00e9\" }"),
		Metadata:       eventstore.Metadata{Actor: "svc", OccurredAt: time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.UTC), Extra: map[string]string{}},
	}
	written := []eventstore.EventData{full, minimal, spaced}
	before := time.Now()
	res := mustAppend(t, st, stream, eventstore.NoStream, written...)
	after := time.Now()
	require.Equal(t, uint64(2), res.NextExpectedRevision)

	check := func(path string, got []eventstore.RecordedEvent) {
		t.Helper()
		require.Len(t, got, len(written), path)
		for i, w := range written {
			checkEnvelope(t, fmt.Sprintf("%s: event %d", path, i), w, stream, uint64(i), got[i], before, after)
		}
		s.requirePositions(t, got, 1)
		assert.Equal(t, res.Position, got[2].Position, "%s: AppendResult.Position is the last event's", path)
	}
	fromStream := readStream(t, st, stream, eventstore.ReadStreamOptions{})
	check("ReadStream", fromStream)
	check("ReadStream backwards", reversed(readStream(t, st, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true})))
	fromAll := all(t, st)
	check("ReadAll", fromAll)
	sub := s.subscribe(t, st, eventstore.SubscribeAllOptions{})
	check("SubscribeAll", sub.events(t, len(written)))
	for i := range fromAll {
		assert.Equal(t, fromStream[i].RecordedAt, fromAll[i].RecordedAt, "RecordedAt is the same on every path")
	}
}

func checkEnvelope(t *testing.T, path string, want eventstore.EventData, stream string, rev uint64, got eventstore.RecordedEvent, before, after time.Time) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID, "%s: ID", path)
	assert.Equal(t, stream, got.Stream, "%s: Stream", path)
	assert.Equal(t, rev, got.Revision, "%s: Revision", path)
	assert.Equal(t, want.Type, got.Type, "%s: Type", path)
	assert.Equal(t, want.PayloadVersion, got.PayloadVersion, "%s: PayloadVersion", path)
	switch {
	case len(want.Data) == 0:
		assert.Empty(t, got.Data, "%s: empty Data stays empty", path)
	case isCompact(want.Data):
		assert.Equal(t, string(want.Data), string(got.Data), "%s: compact Data comes back byte for byte", path)
	default:
		assert.JSONEq(t, string(want.Data), string(got.Data), "%s: Data", path)
	}
	wm, gm := want.Metadata, got.Metadata
	assert.Equal(t, wm.EnvironmentID, gm.EnvironmentID, "%s: EnvironmentID", path)
	assert.Equal(t, wm.Actor, gm.Actor, "%s: Actor", path)
	assert.Equal(t, wm.CorrelationID, gm.CorrelationID, "%s: CorrelationID", path)
	assert.Equal(t, wm.CausationID, gm.CausationID, "%s: CausationID", path)
	if len(wm.Extra) == 0 {
		assert.Empty(t, gm.Extra, "%s: Extra", path)
	} else {
		assert.Equal(t, wm.Extra, gm.Extra, "%s: Extra", path)
	}
	if wm.OccurredAt.IsZero() {
		assert.True(t, gm.OccurredAt.IsZero(), "%s: zero OccurredAt came back as %v", path, gm.OccurredAt)
	} else {
		assert.Same(t, time.UTC, gm.OccurredAt.Location(), "%s: OccurredAt %v is not in UTC", path, gm.OccurredAt)
		d := gm.OccurredAt.Sub(wm.OccurredAt)
		assert.True(t, d > -time.Microsecond && d < time.Microsecond, "%s: OccurredAt %v, want %v to the microsecond", path, gm.OccurredAt, wm.OccurredAt)
	}
	assert.Same(t, time.UTC, got.RecordedAt.Location(), "%s: RecordedAt %v is not in UTC", path, got.RecordedAt)
	assert.False(t, got.RecordedAt.Before(before.Add(-time.Minute)) || got.RecordedAt.After(after.Add(time.Minute)),
		"%s: RecordedAt %v, the append ran from %v to %v", path, got.RecordedAt, before.UTC(), after.UTC())
}

// isCompact reports whether data is JSON without insignificant white space.
func isCompact(data []byte) bool {
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\n' || c == '\t' || c == '\r'):
			return false
		}
	}
	return true
}

// testAllOrderConcurrentWriters: $all is one total order of every committed event, whoever
// wrote them, and agrees with each stream's order and each AppendResult.
func (s *suite) testAllOrderConcurrentWriters(t *testing.T) {
	const writers, appends = 8, 40
	st := s.store(t)
	ctx := testContext(t)
	shared := st.stream("group")
	type appended struct {
		ids []uuid.UUID
		res eventstore.AppendResult
	}
	results := make([][]appended, writers)
	fails := newErrs()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			own := st.stream("user")
			exp := eventstore.NoStream
			for k := range appends {
				batch := events(1+k%3, "user.renamed")
				stream, rule := own, exp
				if k%4 == 3 {
					stream, rule = shared, eventstore.Any
				}
				res, err := st.Append(ctx, stream, rule, batch...)
				if err != nil {
					fails.add("writer %d append %d: %v", w, k, err)
					return
				}
				if stream == own {
					exp = eventstore.Exact(res.NextExpectedRevision)
				}
				results[w] = append(results[w], appended{ids(batch), res})
			}
		})
	}
	wg.Wait()
	fails.check(t)

	got := all(t, st)
	s.requirePositions(t, got, 1)
	byID := map[uuid.UUID]eventstore.RecordedEvent{}
	for _, e := range got {
		_, dup := byID[e.ID]
		require.False(t, dup, "event %s appears twice in $all", e.ID)
		byID[e.ID] = e
	}
	n := 0
	for w, rs := range results {
		var prev eventstore.Position
		for k, r := range rs {
			n += len(r.ids)
			for i, id := range r.ids {
				e, ok := byID[id]
				require.True(t, ok, "writer %d append %d: event %d missing from $all", w, k, i)
				require.True(t, prev.Less(e.Position), "writer %d: its events are out of order in $all", w)
				prev = e.Position
			}
			last := byID[r.ids[len(r.ids)-1]]
			assert.Equal(t, r.res.Position, last.Position, "writer %d append %d: AppendResult.Position", w, k)
			assert.Equal(t, r.res.NextExpectedRevision, last.Revision, "writer %d append %d: AppendResult.NextExpectedRevision", w, k)
		}
	}
	require.Len(t, got, n, "$all holds every appended event and nothing else")
	// Each stream's order is the $all order of its events.
	byStream := map[string][]uuid.UUID{}
	for _, e := range got {
		byStream[e.Stream] = append(byStream[e.Stream], e.ID)
	}
	for stream, want := range byStream {
		evs := readStream(t, st, stream, eventstore.ReadStreamOptions{})
		assert.Equal(t, want, ids(evs), "stream %s: order differs from $all", stream)
		assert.Equal(t, span(0, uint64(len(evs)-1)), revisions(evs), "stream %s: revisions", stream)
		for _, e := range evs {
			assert.Equal(t, byID[e.ID].Position, e.Position, "stream %s@%d: position differs from $all", stream, e.Revision)
		}
	}
	assert.Equal(t, reversed(ids(got)), ids(readAll(t, st, eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true})), "$all backwards")
}

func (s *suite) testReadStream(t *testing.T) {
	st := s.store(t)
	stream := st.stream("user")
	written := events(10, "user.renamed")
	mustAppend(t, st, stream, eventstore.NoStream, written[:4]...)
	mustAppend(t, st, stream, eventstore.Exact(3), written[4:]...)
	mustAppend(t, st, st.stream("user"), eventstore.NoStream, events(3, "user.renamed")...) // a neighbour

	const fwd, bwd = eventstore.Forwards, eventstore.Backwards
	cases := []struct {
		name string
		opts eventstore.ReadStreamOptions
		want []uint64
	}{
		{"forwards", eventstore.ReadStreamOptions{}, span(0, 9)},
		{"forwards from 3", eventstore.ReadStreamOptions{From: 3}, span(3, 9)},
		{"forwards from 3, 2 events", eventstore.ReadStreamOptions{From: 3, MaxCount: 2}, []uint64{3, 4}},
		{"forwards from the last", eventstore.ReadStreamOptions{From: 9}, []uint64{9}},
		{"forwards past the end", eventstore.ReadStreamOptions{From: 10}, nil},
		{"forwards far past the end", eventstore.ReadStreamOptions{From: 1 << 40}, nil},
		{"forwards from the end", eventstore.ReadStreamOptions{FromEnd: true}, []uint64{9}},
		{"forwards from the end overrides From", eventstore.ReadStreamOptions{From: 2, FromEnd: true}, []uint64{9}},
		{"forwards, MaxCount 1", eventstore.ReadStreamOptions{MaxCount: 1}, []uint64{0}},
		{"forwards, MaxCount above the length", eventstore.ReadStreamOptions{MaxCount: 100}, span(0, 9)},
		{"backwards from the end", eventstore.ReadStreamOptions{Direction: bwd, FromEnd: true}, span(9, 0)},
		{"backwards from the end, 3 events", eventstore.ReadStreamOptions{Direction: bwd, FromEnd: true, MaxCount: 3}, []uint64{9, 8, 7}},
		{"backwards from 5", eventstore.ReadStreamOptions{Direction: bwd, From: 5}, span(5, 0)},
		{"backwards from 5, 2 events", eventstore.ReadStreamOptions{Direction: bwd, From: 5, MaxCount: 2}, []uint64{5, 4}},
		{"backwards from 0", eventstore.ReadStreamOptions{Direction: bwd, From: 0}, []uint64{0}},
		{"backwards from the end overrides From", eventstore.ReadStreamOptions{Direction: bwd, From: 2, FromEnd: true, MaxCount: 1}, []uint64{9}},
		{"explicit forwards", eventstore.ReadStreamOptions{Direction: fwd, From: 8}, []uint64{8, 9}},
	}
	for _, c := range cases {
		got := readStream(t, st, stream, c.opts)
		assert.Equal(t, c.want, revisions(got), c.name)
		for _, e := range got {
			assert.Equal(t, written[e.Revision].ID, e.ID, "%s: event at revision %d", c.name, e.Revision)
			assert.Equal(t, stream, e.Stream, c.name)
		}
	}
}

func (s *suite) testReadAll(t *testing.T) {
	st := s.store(t)
	ctx := testContext(t)
	evs, err := eventstore.Collect(st.ReadAll(ctx, st.scopeRead(eventstore.ReadAllOptions{})))
	require.NoError(t, err, "empty store")
	require.Empty(t, evs, "empty store")
	evs, err = eventstore.Collect(st.ReadAll(ctx, st.scopeRead(eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true})))
	require.NoError(t, err, "empty store backwards")
	require.Empty(t, evs, "empty store backwards")

	a, b := st.stream("user"), st.stream("group")
	mustAppend(t, st, a, eventstore.NoStream, events(3, "user.renamed")...)
	mustAppend(t, st, b, eventstore.NoStream, events(4, "group.renamed")...)
	mustAppend(t, st, a, eventstore.Exact(2), events(3, "user.renamed")...)
	every := all(t, st)
	require.Len(t, every, 10)
	s.requirePositions(t, every, 1)
	pos := func(i int) eventstore.Position { return every[i].Position }

	const bwd = eventstore.Backwards
	cases := []struct {
		name string
		opts eventstore.ReadAllOptions
		want []eventstore.RecordedEvent
	}{
		{"forwards", eventstore.ReadAllOptions{}, every},
		{"forwards from the 5th (inclusive)", eventstore.ReadAllOptions{From: pos(4)}, every[4:]},
		{"forwards from the last", eventstore.ReadAllOptions{From: pos(9)}, every[9:]},
		{"forwards from the first", eventstore.ReadAllOptions{From: pos(0)}, every},
		{"forwards from the 5th, 3 events", eventstore.ReadAllOptions{From: pos(4), MaxCount: 3}, every[4:7]},
		{"forwards, MaxCount 2", eventstore.ReadAllOptions{MaxCount: 2}, every[:2]},
		{"forwards from the end", eventstore.ReadAllOptions{FromEnd: true}, nil},
		{"forwards from the end overrides From", eventstore.ReadAllOptions{From: pos(3), FromEnd: true}, nil},
		{"backwards from the end", eventstore.ReadAllOptions{Direction: bwd, FromEnd: true}, reversed(every)},
		{"backwards from the end, 2 events", eventstore.ReadAllOptions{Direction: bwd, FromEnd: true, MaxCount: 2}, reversed(every[8:])},
		{"backwards from the 5th (inclusive)", eventstore.ReadAllOptions{Direction: bwd, From: pos(4)}, reversed(every[:5])},
		{"backwards from the 5th, 2 events", eventstore.ReadAllOptions{Direction: bwd, From: pos(4), MaxCount: 2}, reversed(every[3:5])},
		{"backwards from the first", eventstore.ReadAllOptions{Direction: bwd, From: pos(0)}, every[:1]},
		{"backwards from the end overrides From", eventstore.ReadAllOptions{Direction: bwd, From: pos(3), FromEnd: true, MaxCount: 1}, every[9:]},
	}
	for _, c := range cases {
		got := readAll(t, st, c.opts)
		assert.Equal(t, ids(c.want), ids(got), c.name)
		for i := range min(len(got), len(c.want)) {
			assert.Equal(t, c.want[i].Position, got[i].Position, "%s: event %d position", c.name, i)
			assert.Equal(t, c.want[i].Revision, got[i].Revision, "%s: event %d revision", c.name, i)
			assert.Equal(t, c.want[i].Stream, got[i].Stream, "%s: event %d stream", c.name, i)
		}
	}
	if s.f.DensePositions && !s.f.SharedLog {
		// Between positions does not exist; past the head is empty.
		assert.Empty(t, readAll(t, st, eventstore.ReadAllOptions{From: eventstore.Position{Commit: 11, Prepare: 11}}), "forwards past the head")
	}
}

func (s *suite) testReadAllFilter(t *testing.T) {
	st := s.store(t)
	user1, user2, group, role := st.stream("user"), st.stream("user"), st.stream("group"), st.stream("role")
	usersOfGroup := st.stream("usergroup") // shares a prefix with "user" but not with "user-"
	// On a shared log the types the type filters select are in the case's namespace too.
	ty := st.name
	mustAppend(t, st, user1, eventstore.NoStream, event(ty("user.created"), nil), event(ty("user.renamed"), nil))
	mustAppend(t, st, group, eventstore.NoStream, event(ty("group.created"), nil))
	mustAppend(t, st, role, eventstore.NoStream, event(ty("role.granted"), nil), event(ty("user.role_granted"), nil))
	mustAppend(t, st, user2, eventstore.NoStream, event(ty("user.created"), nil))
	mustAppend(t, st, usersOfGroup, eventstore.NoStream, event(ty("usergroup.created"), nil))
	mustAppend(t, st, group, eventstore.Exact(0), event(ty("group.member_added"), nil), event(ty("group.renamed"), nil))
	every := all(t, st)
	require.Len(t, every, 9)

	where := func(keep func(eventstore.RecordedEvent) bool) []eventstore.RecordedEvent {
		var out []eventstore.RecordedEvent
		for _, e := range every {
			if keep(e) {
				out = append(out, e)
			}
		}
		return out
	}
	inStreams := func(streams ...string) func(eventstore.RecordedEvent) bool {
		return func(e eventstore.RecordedEvent) bool {
			for _, s := range streams {
				if e.Stream == s {
					return true
				}
			}
			return false
		}
	}
	ofTypes := func(types ...string) func(eventstore.RecordedEvent) bool {
		return func(e eventstore.RecordedEvent) bool {
			for _, typ := range types {
				if e.Type == ty(typ) {
					return true
				}
			}
			return false
		}
	}
	cases := []struct {
		name   string
		filter *eventstore.Filter
		want   []eventstore.RecordedEvent
	}{
		{"nil filter", nil, every},
		{"stream prefix", &eventstore.Filter{StreamPrefixes: []string{st.name("user-")}}, where(inStreams(user1, user2))},
		{"short stream prefix", &eventstore.Filter{StreamPrefixes: []string{st.name("user")}}, where(inStreams(user1, user2, usersOfGroup))},
		{"two stream prefixes", &eventstore.Filter{StreamPrefixes: []string{st.name("group-"), st.name("role-")}}, where(inStreams(group, role))},
		{"one whole stream", &eventstore.Filter{StreamPrefixes: []string{user2}}, where(inStreams(user2))},
		{"stream prefix matching nothing", &eventstore.Filter{StreamPrefixes: []string{st.name("tenant-")}}, nil},
		{"type prefix", &eventstore.Filter{EventTypePrefixes: []string{ty("user.")}}, where(ofTypes("user.created", "user.renamed", "user.role_granted"))},
		{"two type prefixes", &eventstore.Filter{EventTypePrefixes: []string{ty("group.member"), ty("role.")}}, where(ofTypes("group.member_added", "role.granted"))},
		{"exact type", &eventstore.Filter{EventTypePrefixes: []string{ty("user.created")}}, where(ofTypes("user.created"))},
		{"type prefix matching nothing", &eventstore.Filter{EventTypePrefixes: []string{ty("tenant.")}}, nil},
	}
	for _, c := range cases {
		if c.filter != nil {
			require.NoError(t, c.filter.Validate(), c.name)
		}
		got := readAll(t, st, eventstore.ReadAllOptions{Filter: c.filter})
		assert.Equal(t, ids(c.want), ids(got), "%s forwards", c.name)
		got = readAll(t, st, eventstore.ReadAllOptions{Filter: c.filter, Direction: eventstore.Backwards, FromEnd: true})
		assert.Equal(t, reversed(ids(c.want)), ids(got), "%s backwards", c.name)
		if len(c.want) > 2 {
			// MaxCount counts matching events; From is inclusive with a filter too.
			got = readAll(t, st, eventstore.ReadAllOptions{Filter: c.filter, MaxCount: 2})
			assert.Equal(t, ids(c.want[:2]), ids(got), "%s, MaxCount 2", c.name)
			got = readAll(t, st, eventstore.ReadAllOptions{Filter: c.filter, From: c.want[1].Position})
			assert.Equal(t, ids(c.want[1:]), ids(got), "%s, from its 2nd match", c.name)
			got = readAll(t, st, eventstore.ReadAllOptions{Filter: c.filter, Direction: eventstore.Backwards, From: c.want[1].Position, MaxCount: 5})
			assert.Equal(t, reversed(ids(c.want[:2])), ids(got), "%s, backwards from its 2nd match", c.name)
		}
	}

	ctx := testContext(t)
	for _, bad := range []*eventstore.Filter{
		{},
		{StreamPrefixes: []string{}},
		{StreamPrefixes: []string{"user-"}, EventTypePrefixes: []string{"user."}},
	} {
		require.ErrorIs(t, bad.Validate(), eventstore.ErrInvalidArgument, "Filter.Validate(%+v)", bad)
		evs, err := eventstore.Collect(st.ReadAll(ctx, st.scopeRead(eventstore.ReadAllOptions{Filter: bad})))
		assert.ErrorIs(t, err, eventstore.ErrInvalidArgument, "ReadAll with filter %+v", bad)
		assert.Empty(t, evs, "ReadAll with filter %+v", bad)
		sub, err := st.SubscribeAll(ctx, eventstore.SubscribeAllOptions{Filter: bad})
		if err == nil {
			sub.Close()
		}
		assert.ErrorIs(t, err, eventstore.ErrInvalidArgument, "SubscribeAll with filter %+v", bad)
	}
}

func (s *suite) testReadNotFoundDeleted(t *testing.T) {
	st := s.store(t)
	states := []struct {
		state streamState
		want  error
	}{
		{missing, eventstore.ErrStreamNotFound},
		{softDeleted, eventstore.ErrStreamNotFound},
		{tombstoned, eventstore.ErrStreamDeleted},
	}
	for _, c := range states {
		stream := st.stream("user")
		prepare(t, st, stream, c.state)
		for _, opts := range []eventstore.ReadStreamOptions{
			{},
			{From: 1, MaxCount: 1},
			{FromEnd: true},
			{Direction: eventstore.Backwards, FromEnd: true},
			{Direction: eventstore.Backwards, From: 1},
		} {
			err := readStreamErr(t, st, stream, opts)
			assert.ErrorIs(t, err, c.want, "%s stream, read %+v", c.state, opts)
		}
	}
	// A stream with a similar name does not hide a missing one.
	stream := st.stream("user")
	mustAppend(t, st, stream+"x", eventstore.NoStream, event("user.created", nil))
	mustAppend(t, st, stream[:len(stream)-1], eventstore.NoStream, event("user.created", nil))
	assert.ErrorIs(t, readStreamErr(t, st, stream, eventstore.ReadStreamOptions{}), eventstore.ErrStreamNotFound, "neighbouring names")
	assert.ErrorIs(t, readStreamErr(t, st, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true}), eventstore.ErrStreamNotFound, "neighbouring names, backwards")
}

// testSystemRecordsHidden: what metadata writes and deletions store never shows up in $all.
func (s *suite) testSystemRecordsHidden(t *testing.T) {
	st := s.store(t)
	ctx := testContext(t)
	var want []uuid.UUID
	a, b, c := st.stream("user"), st.stream("user"), st.stream("user")
	for _, stream := range []string{a, b, c} {
		batch := events(2, "user.created")
		mustAppend(t, st, stream, eventstore.NoStream, batch...)
		want = append(want, ids(batch)...)
	}
	_, err := st.SetStreamMetadata(ctx, a, eventstore.NoStream, eventstore.StreamMetadata{MaxCount: 10})
	require.NoError(t, err)
	_, err = st.DeleteStream(ctx, b, eventstore.Any)
	require.NoError(t, err)
	_, err = st.TombstoneStream(ctx, c, eventstore.Any)
	require.NoError(t, err)
	late := event("user.renamed", nil)
	mustAppend(t, st, a, eventstore.Exact(1), late)
	want = append(want, late.ID)

	got := all(t, st)
	requireSystemFree(t, got)
	// Soft-deleted and tombstoned events may have been scavenged already; the rest must be there.
	for _, e := range got {
		assert.Contains(t, want, e.ID, "$all shows an event nobody appended: %s %s@%d", e.Type, e.Stream, e.Revision)
	}
	gotIDs := ids(got)
	for _, id := range append(want[:2:2], late.ID) {
		assert.Contains(t, gotIDs, id, "an event of a live stream is missing from $all")
	}
	s.requirePositions(t, got, 0)
	back := readAll(t, st, eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true})
	requireSystemFree(t, back)
	assert.Equal(t, reversed(gotIDs), ids(back), "$all backwards")

	sub := s.subscribe(t, st, eventstore.SubscribeAllOptions{})
	assert.Equal(t, gotIDs, ids(sub.events(t, len(got))), "subscription")
	h, _ := head(t, st)
	assert.Equal(t, got[len(got)-1].Position, h, "head")
	if s.f.SharedLog {
		// The case's filter alone keeps system streams out; read the log unfiltered too, from
		// the case's start to its last event, and find every event of the case there.
		var raw []eventstore.RecordedEvent
		var rawErr error
		for e, err := range st.ReadAll(ctx, eventstore.ReadAllOptions{From: st.start}) {
			if err != nil || h.Less(e.Position) {
				rawErr = err
				break
			}
			raw = append(raw, e)
		}
		require.NoError(t, rawErr, "unfiltered $all")
		requireSystemFree(t, raw)
		var mine []uuid.UUID
		for _, e := range raw {
			if strings.HasPrefix(e.Stream, st.ns) {
				mine = append(mine, e.ID)
			}
		}
		assert.Equal(t, gotIDs, mine, "unfiltered $all: the case's events")
	}
}
