package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idstream/idstream/eventstore"
)

// testSoftDelete: a soft-deleted stream reads as not found and comes back on the next append,
// with revisions continuing after the last one ever written and only the new events readable.
func (s *suite) testSoftDelete(t *testing.T) {
	st := s.store(t)
	ctx := testContext(t)
	stream, neighbour := st.stream("user"), st.stream("user")
	mustAppend(t, st, stream, eventstore.NoStream, events(3, "user.renamed")...)
	mustAppend(t, st, neighbour, eventstore.NoStream, events(2, "user.renamed")...)

	_, err := st.DeleteStream(ctx, stream, eventstore.Exact(2))
	require.NoError(t, err)
	for _, opts := range []eventstore.ReadStreamOptions{{}, {Direction: eventstore.Backwards, FromEnd: true}} {
		assert.ErrorIs(t, readStreamErr(t, st, stream, opts), eventstore.ErrStreamNotFound, "read %+v after delete", opts)
	}
	assert.Equal(t, []uint64{0, 1}, revisions(readStream(t, st, neighbour, eventstore.ReadStreamOptions{})), "neighbour untouched")

	revived := events(2, "user.created")
	res := mustAppend(t, st, stream, eventstore.NoStream, revived...)
	assert.Equal(t, uint64(4), res.NextExpectedRevision, "revisions continue after the last one ever written")
	got := readStream(t, st, stream, eventstore.ReadStreamOptions{})
	assert.Equal(t, []uint64{3, 4}, revisions(got), "only the events since the revival are readable")
	assert.Equal(t, ids(revived), ids(got))
	assert.Equal(t, []uint64{4, 3}, revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true})))
	assert.Equal(t, []uint64{3, 4}, revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{From: 1})), "reading from a deleted revision starts at the first readable one")
	assert.Equal(t, []uint64{4}, revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{From: 4})))
	mustAppend(t, st, stream, eventstore.Exact(4), event("user.renamed", nil))

	// Delete again, this time with StreamExists, and revive with Any.
	_, err = st.DeleteStream(ctx, stream, eventstore.StreamExists)
	require.NoError(t, err)
	assert.ErrorIs(t, readStreamErr(t, st, stream, eventstore.ReadStreamOptions{}), eventstore.ErrStreamNotFound)
	res = mustAppend(t, st, stream, eventstore.Any, event("user.created", nil))
	assert.Equal(t, uint64(6), res.NextExpectedRevision)
	assert.Equal(t, []uint64{6}, revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{})))
}

// testTombstone: a tombstoned stream is gone for ever, for every operation.
func (s *suite) testTombstone(t *testing.T) {
	st := s.store(t)
	ctx := testContext(t)
	stream, neighbour := st.stream("user"), st.stream("user")
	batch := events(2, "user.created")
	mustAppend(t, st, stream, eventstore.NoStream, batch...)
	mustAppend(t, st, neighbour, eventstore.NoStream, events(2, "user.created")...)
	_, err := st.TombstoneStream(ctx, stream, eventstore.StreamExists)
	require.NoError(t, err)

	before := ids(all(t, st))
	for _, opts := range []eventstore.ReadStreamOptions{{}, {From: 1}, {Direction: eventstore.Backwards, FromEnd: true}} {
		assert.ErrorIs(t, readStreamErr(t, st, stream, opts), eventstore.ErrStreamDeleted, "read %+v", opts)
	}
	for _, exp := range []eventstore.ExpectedRevision{eventstore.Any, eventstore.NoStream, eventstore.StreamExists, eventstore.Exact(1), eventstore.Exact(2)} {
		_, err := st.Append(ctx, stream, exp, event("user.renamed", nil))
		assert.ErrorIs(t, err, eventstore.ErrStreamDeleted, "append expecting %s", exp)
		_, err = st.DeleteStream(ctx, stream, exp)
		assert.ErrorIs(t, err, eventstore.ErrStreamDeleted, "delete expecting %s", exp)
		_, err = st.TombstoneStream(ctx, stream, exp)
		assert.ErrorIs(t, err, eventstore.ErrStreamDeleted, "tombstone expecting %s", exp)
	}
	_, err = st.Append(ctx, stream, eventstore.Any, batch...)
	assert.ErrorIs(t, err, eventstore.ErrStreamDeleted, "retry of a batch committed before the tombstone")
	_, err = st.SetStreamMetadata(ctx, stream, eventstore.Any, eventstore.StreamMetadata{MaxCount: 1})
	assert.ErrorIs(t, err, eventstore.ErrStreamDeleted, "set metadata")
	assert.Equal(t, before, ids(all(t, st)), "refused operations wrote nothing")
	assert.Len(t, readStream(t, st, neighbour, eventstore.ReadStreamOptions{}), 2, "neighbour untouched")

	// A name that was never used can be tombstoned, and is then dead.
	never := st.stream("user")
	_, err = st.TombstoneStream(ctx, never, eventstore.NoStream)
	require.NoError(t, err, "tombstone a stream that never existed")
	assert.ErrorIs(t, readStreamErr(t, st, never, eventstore.ReadStreamOptions{}), eventstore.ErrStreamDeleted)
	_, err = st.Append(ctx, never, eventstore.NoStream, event("user.created", nil))
	assert.ErrorIs(t, err, eventstore.ErrStreamDeleted)

	// A soft-deleted stream can be tombstoned.
	soft := st.stream("user")
	prepare(t, st, soft, softDeleted)
	_, err = st.TombstoneStream(ctx, soft, eventstore.Any)
	require.NoError(t, err, "tombstone a soft-deleted stream")
	assert.ErrorIs(t, readStreamErr(t, st, soft, eventstore.ReadStreamOptions{}), eventstore.ErrStreamDeleted)
	_, err = st.Append(ctx, soft, eventstore.NoStream, event("user.created", nil))
	assert.ErrorIs(t, err, eventstore.ErrStreamDeleted)
}

func (s *suite) testStreamMetadata(t *testing.T) {
	st := s.store(t)
	ctx := testContext(t)
	stream := st.stream("user")

	meta, rev, found, err := st.GetStreamMetadata(ctx, stream)
	require.NoError(t, err, "metadata of a stream that does not exist")
	assert.False(t, found)
	assert.Equal(t, eventstore.StreamMetadata{}, meta)
	assert.Zero(t, rev)
	mustAppend(t, st, stream, eventstore.NoStream, events(2, "user.created")...)
	meta, _, found, err = st.GetStreamMetadata(ctx, stream)
	require.NoError(t, err, "metadata of a stream without metadata")
	assert.False(t, found)
	assert.Equal(t, eventstore.StreamMetadata{}, meta)

	five := uint64(5)
	m0 := eventstore.StreamMetadata{MaxAge: 90 * time.Minute, MaxCount: 1000, TruncateBefore: &five}
	_, err = st.SetStreamMetadata(ctx, stream, eventstore.Exact(0), m0)
	requireConflict(t, err, stream, eventstore.Exact(0), false, 0)
	_, err = st.SetStreamMetadata(ctx, stream, eventstore.StreamExists, m0)
	requireConflict(t, err, stream, eventstore.StreamExists, false, 0)
	res, err := st.SetStreamMetadata(ctx, stream, eventstore.NoStream, m0)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), res.NextExpectedRevision, "first metadata revision")
	meta, rev, found, err = st.GetStreamMetadata(ctx, stream)
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, uint64(0), rev)
	assert.Equal(t, m0, meta)

	m1 := eventstore.StreamMetadata{MaxCount: 3}
	_, err = st.SetStreamMetadata(ctx, stream, eventstore.NoStream, m1)
	requireConflict(t, err, stream, eventstore.NoStream, true, 0)
	_, err = st.SetStreamMetadata(ctx, stream, eventstore.Exact(1), m1)
	requireConflict(t, err, stream, eventstore.Exact(1), true, 0)
	res, err = st.SetStreamMetadata(ctx, stream, eventstore.Exact(0), m1)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), res.NextExpectedRevision)
	_, err = st.SetStreamMetadata(ctx, stream, eventstore.Exact(0), m0)
	requireConflict(t, err, stream, eventstore.Exact(0), true, 1)
	meta, rev, _, err = st.GetStreamMetadata(ctx, stream)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), rev)
	assert.Equal(t, m1, meta, "replaced, not merged")

	res, err = st.SetStreamMetadata(ctx, stream, eventstore.Any, eventstore.StreamMetadata{MaxAge: 2 * time.Hour})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), res.NextExpectedRevision)
	res, err = st.SetStreamMetadata(ctx, stream, eventstore.StreamExists, eventstore.StreamMetadata{})
	require.NoError(t, err)
	assert.Equal(t, uint64(3), res.NextExpectedRevision)
	meta, rev, found, err = st.GetStreamMetadata(ctx, stream)
	require.NoError(t, err)
	assert.True(t, found, "empty metadata written is still metadata")
	assert.Equal(t, uint64(3), rev)
	assert.Equal(t, eventstore.StreamMetadata{}, meta)

	// Metadata may come before the stream's first event, and does not make the stream exist.
	early := st.stream("user")
	zero := uint64(0)
	_, err = st.SetStreamMetadata(ctx, early, eventstore.NoStream, eventstore.StreamMetadata{TruncateBefore: &zero})
	require.NoError(t, err)
	assert.ErrorIs(t, readStreamErr(t, st, early, eventstore.ReadStreamOptions{}), eventstore.ErrStreamNotFound)
	mustAppend(t, st, early, eventstore.NoStream, event("user.created", nil))
	assert.Len(t, readStream(t, st, early, eventstore.ReadStreamOptions{}), 1)
	res = mustAppend(t, st, stream, eventstore.Exact(1), event("user.renamed", nil))
	assert.Equal(t, uint64(2), res.NextExpectedRevision, "metadata writes are not stream events")
}

// testTruncateBefore: events below TruncateBefore are no longer readable from the stream.
func (s *suite) testTruncateBefore(t *testing.T) {
	st := s.store(t)
	ctx := testContext(t)
	stream := st.stream("user")
	written := events(10, "user.renamed")
	mustAppend(t, st, stream, eventstore.NoStream, written...)
	four := uint64(4)
	_, err := st.SetStreamMetadata(ctx, stream, eventstore.NoStream, eventstore.StreamMetadata{TruncateBefore: &four})
	require.NoError(t, err)

	assert.Equal(t, span(4, 9), revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{})))
	assert.Equal(t, span(4, 9), revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{From: 2})), "from a hidden revision")
	assert.Equal(t, []uint64{4, 5}, revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{MaxCount: 2})))
	assert.Equal(t, span(9, 4), revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true})))
	assert.Equal(t, []uint64{6, 5, 4}, revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, From: 6})))
	got := readStream(t, st, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, From: 3})
	assert.Empty(t, got, "backwards from a hidden revision")
	assert.Equal(t, ids(written[4:]), ids(readStream(t, st, stream, eventstore.ReadStreamOptions{})))

	// Appends go on after the last revision.
	res := mustAppend(t, st, stream, eventstore.Exact(9), event("user.renamed", nil))
	assert.Equal(t, uint64(10), res.NextExpectedRevision)

	// Everything truncated: the stream reads as not found, yet keeps its revision.
	hundred := uint64(100)
	_, err = st.SetStreamMetadata(ctx, stream, eventstore.Exact(0), eventstore.StreamMetadata{TruncateBefore: &hundred})
	require.NoError(t, err)
	assert.ErrorIs(t, readStreamErr(t, st, stream, eventstore.ReadStreamOptions{}), eventstore.ErrStreamNotFound)
	assert.ErrorIs(t, readStreamErr(t, st, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true}), eventstore.ErrStreamNotFound)
	_, err = st.Append(ctx, stream, eventstore.NoStream, event("user.renamed", nil))
	requireConflict(t, err, stream, eventstore.NoStream, true, 10)
}

// testMaxCount: only the last MaxCount events stay readable.
func (s *suite) testMaxCount(t *testing.T) {
	st := s.store(t)
	ctx := testContext(t)
	stream := st.stream("user")
	mustAppend(t, st, stream, eventstore.NoStream, events(10, "user.renamed")...)
	_, err := st.SetStreamMetadata(ctx, stream, eventstore.NoStream, eventstore.StreamMetadata{MaxCount: 3})
	require.NoError(t, err)
	assert.Equal(t, []uint64{7, 8, 9}, revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{})))
	assert.Equal(t, []uint64{9, 8, 7}, revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true})))
	assert.Equal(t, []uint64{7}, revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{MaxCount: 1})))
	mustAppend(t, st, stream, eventstore.Exact(9), events(2, "user.renamed")...)
	assert.Equal(t, []uint64{9, 10, 11}, revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{})), "the window moves with appends")
	assert.Equal(t, []uint64{9, 10, 11}, revisions(readStream(t, st, stream, eventstore.ReadStreamOptions{From: 1})))
}

// testMaxAge: events older than MaxAge disappear from the stream. The suite waits for it with a
// bounded poll and asserts no duration.
func (s *suite) testMaxAge(t *testing.T) {
	st := s.store(t)
	ctx := testContext(t)
	stream, kept := st.stream("user"), st.stream("user")
	mustAppend(t, st, stream, eventstore.NoStream, events(3, "user.renamed")...)
	mustAppend(t, st, kept, eventstore.NoStream, events(3, "user.renamed")...)
	_, err := st.SetStreamMetadata(ctx, kept, eventstore.NoStream, eventstore.StreamMetadata{MaxAge: time.Hour})
	require.NoError(t, err)
	assert.Len(t, readStream(t, st, kept, eventstore.ReadStreamOptions{}), 3, "an hour has not passed")
	require.Len(t, readStream(t, st, stream, eventstore.ReadStreamOptions{}), 3)

	_, err = st.SetStreamMetadata(ctx, stream, eventstore.NoStream, eventstore.StreamMetadata{MaxAge: time.Millisecond})
	require.NoError(t, err)
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := eventstore.Collect(st.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}))
		if err != nil {
			require.ErrorIs(t, err, eventstore.ErrStreamNotFound, "every event expired")
			break
		}
		require.LessOrEqual(t, len(evs), 3)
		require.False(t, time.Now().After(deadline), "events still readable 10s after a MaxAge of 1ms: %v", revisions(evs))
		time.Sleep(20 * time.Millisecond)
	}
	assert.Len(t, readStream(t, st, kept, eventstore.ReadStreamOptions{}), 3, "other streams keep their events")
}

// testMetadataAfterDelete: soft deletion and revival are not stream metadata. Metadata written
// after them never brings deleted events back nor revives a deleted stream; GetStreamMetadata
// reports what the caller wrote, with the caller's revisions, whatever deletions did.
func (s *suite) testMetadataAfterDelete(t *testing.T) {
	st := s.store(t)
	ctx := testContext(t)
	noMeta := func(stream, when string) {
		t.Helper()
		meta, rev, found, err := st.GetStreamMetadata(ctx, stream)
		require.NoError(t, err, "metadata %s", when)
		assert.False(t, found, "metadata %s, never set by the caller: found", when)
		assert.Equal(t, eventstore.StreamMetadata{}, meta, "metadata %s", when)
		assert.Zero(t, rev, "metadata revision %s", when)
	}
	hasMeta := func(stream, when string, want eventstore.StreamMetadata, wantRev uint64) {
		t.Helper()
		meta, rev, found, err := st.GetStreamMetadata(ctx, stream)
		require.NoError(t, err, "metadata %s", when)
		assert.True(t, found, "metadata %s: found", when)
		assert.Equal(t, want, meta, "metadata %s: the caller's own", when)
		assert.Equal(t, wantRev, rev, "metadata revision %s: counts the caller's writes only", when)
	}

	// Delete, revive, then set metadata: only the revived events are readable.
	stream := st.stream("user")
	mustAppend(t, st, stream, eventstore.NoStream, events(2, "user.created")...)
	_, err := st.DeleteStream(ctx, stream, eventstore.Any)
	require.NoError(t, err)
	noMeta(stream, "after a delete")
	revived := event("user.created", nil)
	mustAppend(t, st, stream, eventstore.NoStream, revived)
	noMeta(stream, "after a revival")
	res, err := st.SetStreamMetadata(ctx, stream, eventstore.NoStream, eventstore.StreamMetadata{MaxCount: 100})
	require.NoError(t, err, "first metadata of the caller, after a delete and a revival: NoStream holds")
	assert.Equal(t, uint64(0), res.NextExpectedRevision, "first metadata revision")
	got := readStream(t, st, stream, eventstore.ReadStreamOptions{})
	assert.Equal(t, []uint64{2}, revisions(got), "metadata written after a revival brought deleted events back")
	assert.Equal(t, []uuid.UUID{revived.ID}, ids(got))
	hasMeta(stream, "set after a revival", eventstore.StreamMetadata{MaxCount: 100}, 0)

	// Metadata, then delete, revive, and relax the TruncateBefore: the caller's metadata stays
	// what it wrote, and the deleted events stay deleted.
	kept := st.stream("user")
	mustAppend(t, st, kept, eventstore.NoStream, events(3, "user.created")...)
	one := uint64(1)
	m0 := eventstore.StreamMetadata{MaxAge: time.Hour, MaxCount: 50, TruncateBefore: &one}
	_, err = st.SetStreamMetadata(ctx, kept, eventstore.NoStream, m0)
	require.NoError(t, err)
	_, err = st.DeleteStream(ctx, kept, eventstore.Exact(2))
	require.NoError(t, err)
	hasMeta(kept, "set before a delete", m0, 0)
	revivedKept := events(2, "user.renamed")
	mustAppend(t, st, kept, eventstore.NoStream, revivedKept...)
	hasMeta(kept, "set before a delete and a revival", m0, 0)
	_, err = st.SetStreamMetadata(ctx, kept, eventstore.NoStream, eventstore.StreamMetadata{})
	requireConflict(t, err, kept, eventstore.NoStream, true, 0)
	zero := uint64(0)
	res, err = st.SetStreamMetadata(ctx, kept, eventstore.Exact(0), eventstore.StreamMetadata{TruncateBefore: &zero})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), res.NextExpectedRevision, "deletions and revivals take no metadata revision")
	hasMeta(kept, "relaxed after a revival", eventstore.StreamMetadata{TruncateBefore: &zero}, 1)
	assert.Equal(t, ids(revivedKept), ids(readStream(t, st, kept, eventstore.ReadStreamOptions{})), "relaxing TruncateBefore brought deleted events back")

	// Metadata written while a stream is soft-deleted keeps it deleted.
	gone := st.stream("user")
	mustAppend(t, st, gone, eventstore.NoStream, events(2, "user.created")...)
	_, err = st.DeleteStream(ctx, gone, eventstore.Any)
	require.NoError(t, err)
	_, err = st.SetStreamMetadata(ctx, gone, eventstore.NoStream, eventstore.StreamMetadata{MaxCount: 10})
	require.NoError(t, err)
	assert.ErrorIs(t, readStreamErr(t, st, gone, eventstore.ReadStreamOptions{}), eventstore.ErrStreamNotFound, "metadata revived a deleted stream")
	_, err = st.Append(ctx, gone, eventstore.StreamExists, event("user.renamed", nil))
	requireConflict(t, err, gone, eventstore.StreamExists, false, 0)
	last := event("user.created", nil)
	res = mustAppend(t, st, gone, eventstore.NoStream, last)
	assert.Equal(t, uint64(2), res.NextExpectedRevision)
	assert.Equal(t, []uuid.UUID{last.ID}, ids(readStream(t, st, gone, eventstore.ReadStreamOptions{})))
	hasMeta(gone, "set while deleted, after the revival", eventstore.StreamMetadata{MaxCount: 10}, 0)
}
