package embedded

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"

	"github.com/idstream/idstream/eventstore"
)

type reqKind uint8

const (
	reqAppend reqKind = iota
	reqDelete
	reqTombstone
	reqSetMeta
)

// writeReq is one write waiting for the committer.
type writeReq struct {
	kind     reqKind
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedRevision
	events   []eventstore.EventData
	bodies   [][]byte
	meta     eventstore.StreamMetadata
	done     chan writeResult
}

type writeResult struct {
	res eventstore.AppendResult
	err error
}

// Group limits: the committer stops draining the queue at either.
const (
	maxGroupReqs  = 8192
	maxGroupBytes = 64 << 20
)

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := eventstore.ValidateEvents(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := eventstore.CheckAppendSize(stream, events, s.opts.MaxAppendBytes); err != nil {
		return eventstore.AppendResult{}, err
	}
	bodies := make([][]byte, len(events))
	for i := range events {
		bodies[i] = encodeBody(stream, &events[i])
	}
	return s.submit(ctx, &writeReq{kind: reqAppend, stream: stream, expected: expected, events: events, bodies: bodies})
}

// DeleteStream implements eventstore.Store.
func (s *Store) DeleteStream(ctx context.Context, stream string, expected eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.DeleteResult{}, err
	}
	r, err := s.submit(ctx, &writeReq{kind: reqDelete, stream: stream, expected: expected})
	return eventstore.DeleteResult{Position: r.Position}, err
}

// TombstoneStream implements eventstore.Store.
func (s *Store) TombstoneStream(ctx context.Context, stream string, expected eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.DeleteResult{}, err
	}
	r, err := s.submit(ctx, &writeReq{kind: reqTombstone, stream: stream, expected: expected})
	return eventstore.DeleteResult{Position: r.Position}, err
}

// SetStreamMetadata implements eventstore.Store.
func (s *Store) SetStreamMetadata(ctx context.Context, stream string, expected eventstore.ExpectedRevision, meta eventstore.StreamMetadata) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.AppendResult{}, err
	}
	if meta.MaxAge < 0 {
		return eventstore.AppendResult{}, fmt.Errorf("%w: stream %q metadata: negative max age", eventstore.ErrInvalidArgument, stream)
	}
	if tb := meta.TruncateBefore; tb != nil {
		v := *tb
		meta.TruncateBefore = &v // the caller may reuse its variable
	}
	return s.submit(ctx, &writeReq{kind: reqSetMeta, stream: stream, expected: expected, meta: meta})
}

// submit queues r for the committer and waits for its durable outcome or ctx.
func (s *Store) submit(ctx context.Context, r *writeReq) (eventstore.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := s.enter(); err != nil {
		return eventstore.AppendResult{}, err
	}
	r.ctx, r.done = ctx, make(chan writeResult, 1)
	select {
	case s.reqs <- r:
		s.inflight.Done()
	case <-ctx.Done(): // the queue is full and the caller gave up: nothing was written
		s.inflight.Done()
		return eventstore.AppendResult{}, ctx.Err()
	}
	select {
	case res := <-r.done:
		return res.res, res.err
	case <-ctx.Done():
		// The committer may still commit r: the contract lets the caller retry with the same IDs.
		return eventstore.AppendResult{}, ctx.Err()
	}
}

// commitLoop is the single writer. It drains the queue into groups and commits each group with
// one synced batch.
func (s *Store) commitLoop(head uint64) {
	syncs := make(chan *applied, pipelineDepth)
	synced := make(chan struct{})
	go s.syncLoop(syncs, synced)
	defer func() {
		close(syncs)
		<-synced
		close(s.stopped)
	}()
	g := &group{s: s, states: map[string]*streamState{}, written: map[string]struct{}{}, ids: map[uuid.UUID]idRef{}, recent: newRecentIDs(recentIDCapacity), base: map[string]uint64{}}
	g.cache = make(map[string]streamState, 1024)
	var seq uint64
	for first := range s.reqs {
		reqs := []*writeReq{first}
		size := 0
	drain:
		for len(reqs) < maxGroupReqs && size < maxGroupBytes {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				reqs = append(reqs, r)
				for _, b := range r.bodies {
					size += len(b)
				}
			default:
				break drain
			}
		}
		seq++
		a := g.apply(seq, head, reqs)
		head = a.head
		syncs <- a
	}
}

// pipelineDepth is how many applied groups may wait for their WAL sync while the committer
// builds the next: the engine merges their syncs, and building overlaps syncing.
const pipelineDepth = 8

// applied is a group the committer has applied to the engine, waiting for its WAL sync.
type applied struct {
	seq     uint64
	streams []string      // streams whose state the group changed
	batch   *pebble.Batch // nil when the group wrote nothing
	reqs    []*writeReq
	results []writeResult
	head    uint64 // the last position once this group is durable
	err     error  // the group could not be applied
}

// syncLoop acknowledges applied groups in order, each once its WAL sync is done: only then does
// the head advance and do the group's callers hear back, conflicts and refusals included, so that
// no answer ever rests on a write that could still be lost.
func (s *Store) syncLoop(syncs <-chan *applied, done chan<- struct{}) {
	defer close(done)
	var failed error
	for a := range syncs {
		err := a.err
		if a.batch != nil {
			if serr := a.batch.SyncWait(); serr != nil && err == nil {
				err = serr
			}
			a.batch.Close()
		}
		if err != nil && failed == nil {
			// Durability is unknown from here on: refuse every later write rather than risk
			// acknowledging on top of a hole. Reopening the store recovers what was synced.
			failed = fmt.Errorf("%w: commit to %s failed, the store must be reopened: %v", eventstore.ErrUnavailable, s.dir, err)
			s.opts.Logger.Error("event store commit failed", "dir", s.dir, "err", err)
			s.fail(failed)
		}
		if failed != nil {
			for _, r := range a.reqs {
				r.done <- writeResult{err: failed}
			}
			continue
		}
		s.groupDurable(a.seq, a.streams, a.head)
		for i, r := range a.reqs {
			r.done <- a.results[i]
		}
	}
}

// idRef is where an event ID was committed (or is being committed in this group).
type idRef struct {
	stream string
	rev    uint64
	pos    uint64
	batch  uint64 // revision of the first event of its batch
	count  uint64 // events in its batch
}

// group holds the committer's working state. cache mirrors committed stream states (the
// committer is the only writer, so it stays true); states holds this group's changes.
type group struct {
	s       *Store
	batch   *pebble.Batch
	cache   map[string]streamState
	states  map[string]*streamState
	written map[string]struct{} // streams whose state this group writes
	base    map[string]uint64   // each stream's next revision when this group began
	ids     map[uuid.UUID]idRef // IDs written by this group
	recent  *recentIDs          // IDs of recently committed groups
	buf     []byte
}

// apply validates the group's requests against the state left by every group before it,
// assigns positions and revisions, and applies the writes to the engine without waiting for
// their sync.
func (g *group) apply(seq, head uint64, reqs []*writeReq) *applied {
	s := g.s
	a := &applied{seq: seq, reqs: reqs, results: make([]writeResult, len(reqs)), head: head}
	if err := s.failure(); err != nil {
		a.err = err
		return a
	}
	g.batch = s.db.NewBatch()
	clear(g.states)
	clear(g.written)
	clear(g.base)
	clear(g.ids)
	now := s.opts.Now().UTC()
	next := head
	for i, r := range reqs {
		if err := r.ctx.Err(); err != nil {
			a.results[i].err = err
			continue
		}
		a.results[i] = g.applyOne(r, &next, now)
	}
	if g.batch.Count() == 0 {
		g.batch.Close()
		return a
	}
	for stream := range g.written {
		a.streams = append(a.streams, stream)
	}
	s.markPending(seq, a.streams)
	if err := s.db.ApplyNoSyncWait(g.batch, pebble.Sync); err != nil {
		clear(g.cache)
		a.err = err
		g.batch.Close()
		return a
	}
	a.batch, a.head = g.batch, next
	for id, ref := range g.ids {
		g.recent.add(id, ref)
	}
	for stream, st := range g.states {
		if len(g.cache) >= 100_000 {
			clear(g.cache)
		}
		g.cache[stream] = *st
	}
	return a
}

// state returns the stream's state as of the requests applied so far in this group.
func (g *group) state(stream string) (*streamState, error) {
	if st := g.states[stream]; st != nil {
		return st, nil
	}
	st, ok := g.cache[stream]
	if !ok {
		var err error
		if st, err = g.s.readState(g.s.db, stream); err != nil {
			return nil, err
		}
	}
	p := &st
	g.states[stream] = p
	g.base[stream] = st.next
	return p, nil
}

func (g *group) applyOne(r *writeReq, next *uint64, now time.Time) writeResult {
	st, err := g.state(r.stream)
	if err != nil {
		return writeResult{err: err}
	}
	if st.tombstoned {
		return writeResult{err: fmt.Errorf("%w: %q", eventstore.ErrStreamDeleted, r.stream)}
	}
	wrong := func(exists bool, last uint64) writeResult {
		return writeResult{err: &eventstore.WrongExpectedRevisionError{Stream: r.stream, Expected: r.expected, ActualExists: exists, ActualRevision: last}}
	}
	switch r.kind {
	case reqAppend:
		if res, done := g.idempotent(r, st); done {
			return res
		}
		if !r.expected.Check(st.exists(), st.next-1) {
			return wrong(st.exists(), st.next-1)
		}
		firstPos, firstRev := *next+1, st.next
		for i := range r.events {
			*next++
			pos, rev := *next, st.next
			st.next++
			g.buf = appendRecord(g.buf[:0], pos, rev, now, r.events[i].Metadata.OccurredAt, r.bodies[i])
			g.batch.Set(eventKey(pos), g.buf, nil)
			g.ids[r.events[i].ID] = idRef{stream: r.stream, rev: rev, pos: pos, batch: firstRev, count: uint64(len(r.events))}
		}
		g.batch.Set(streamKey(streamKeyPrefix(r.stream), firstRev), encodeIndex(firstPos, uint64(len(r.events))), nil)
		return writeResult{res: eventstore.AppendResult{NextExpectedRevision: st.next - 1, Position: position(*next)}}
	case reqDelete, reqTombstone:
		if !r.expected.Check(st.exists(), st.next-1) {
			return wrong(st.exists(), st.next-1)
		}
		if r.kind == reqDelete {
			if !st.exists() {
				return writeResult{err: fmt.Errorf("%w: delete %q", eventstore.ErrStreamNotFound, r.stream)}
			}
			st.hiddenBefore = st.next
		} else {
			st.tombstoned = true
		}
		g.setState(r.stream, st)
		return writeResult{res: eventstore.AppendResult{Position: position(*next)}}
	case reqSetMeta:
		if !r.expected.Check(st.metaNext > 0, st.metaNext-1) {
			return wrong(st.metaNext > 0, st.metaNext-1)
		}
		st.meta = r.meta
		st.metaNext++
		g.setState(r.stream, st)
		return writeResult{res: eventstore.AppendResult{NextExpectedRevision: st.metaNext - 1, Position: position(*next)}}
	}
	return writeResult{err: fmt.Errorf("%w: unknown write kind %d", eventstore.ErrInvalidArgument, r.kind)}
}

// idempotent decides whether r retries a committed batch; done is false when r is new.
// IDs are looked up in this group and the recent-ID cache; failing that, a retry that repeats an
// Exact or NoStream expectation is recognised by comparing IDs at the revision it expected.
func (g *group) idempotent(r *writeReq, st *streamState) (res writeResult, done bool) {
	refs := make([]idRef, len(r.events))
	found := 0
	for i, e := range r.events {
		if ref, ok := g.ids[e.ID]; ok {
			refs[i], found = ref, found+1
		} else if ref, ok := g.recent.get(e.ID); ok {
			refs[i], found = ref, found+1
		}
	}
	if found == 0 {
		rev, ok := uint64(0), false
		if want, exact := r.expected.Revision(); exact && want < math.MaxUint64 && st.next > want+1 {
			rev, ok = want+1, true
		} else if r.expected.IsNoStream() && st.exists() {
			rev, ok = st.hiddenBefore, true
		}
		if !ok {
			return writeResult{}, false
		}
		// Revisions written by this group are not on disk yet; their IDs are in g.ids, where
		// the first event of r was not found, so r cannot retry them.
		for i := range r.events {
			if rev+uint64(i) >= g.base[r.stream] {
				break
			}
			ref, id, err := g.s.eventAt(g.s.db, r.stream, rev+uint64(i))
			if err != nil {
				return writeResult{err: err}, true
			}
			if id != r.events[i].ID {
				break
			}
			refs[i], found = ref, found+1
		}
		if found == 0 {
			return writeResult{}, false
		}
	}
	// A retry is the whole original batch, in order: exactly one committed batch.
	n := uint64(len(refs))
	for i := range refs {
		if i >= found || refs[i].stream != r.stream || refs[i].rev != refs[0].rev+uint64(i) ||
			refs[i].batch != refs[0].rev || refs[i].count != n {
			return writeResult{err: fmt.Errorf("%w: append to %q: the batch matches a committed batch only in part (event %s); retry the whole original batch or use new IDs",
				eventstore.ErrInvalidArgument, r.stream, r.events[min(i, len(r.events)-1)].ID)}, true
		}
	}
	last := refs[len(refs)-1]
	return writeResult{res: eventstore.AppendResult{NextExpectedRevision: last.rev, Position: position(last.pos)}}, true
}

// recentIDs remembers the IDs of the last n committed events, for idempotent retries with Any.
type recentIDs struct {
	ring []uuid.UUID
	next int
	m    map[uuid.UUID]idRef
}

const recentIDCapacity = 1 << 16

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{ring: make([]uuid.UUID, 0, n), m: make(map[uuid.UUID]idRef, n)}
}

func (c *recentIDs) add(id uuid.UUID, ref idRef) {
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, id)
	} else {
		delete(c.m, c.ring[c.next])
		c.ring[c.next] = id
		c.next = (c.next + 1) % len(c.ring)
	}
	c.m[id] = ref
}

func (c *recentIDs) get(id uuid.UUID) (idRef, bool) {
	ref, ok := c.m[id]
	return ref, ok
}

func encodePos(pos uint64) []byte { return binary.BigEndian.AppendUint64(nil, pos) }

// encodeIndex is a stream index value: the position of a batch's first event and its size.
func encodeIndex(firstPos, count uint64) []byte {
	return binary.AppendUvarint(binary.BigEndian.AppendUint64(make([]byte, 0, 8+binary.MaxVarintLen64), firstPos), count)
}

func decodeIndex(b []byte) (firstPos, count uint64, ok bool) {
	if len(b) < 9 {
		return 0, 0, false
	}
	count, n := binary.Uvarint(b[8:])
	return binary.BigEndian.Uint64(b), count, n > 0 && count > 0
}

func decodePos(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func position(p uint64) eventstore.Position { return eventstore.Position{Commit: p, Prepare: p} }

func (g *group) setState(stream string, st *streamState) {
	g.batch.Set(stateKey(stream), st.encode(), nil)
	g.written[stream] = struct{}{}
}
