package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"

	"github.com/idstream/idstream/eventstore"
)

// GetStreamMetadata implements eventstore.Store.
func (s *Store) GetStreamMetadata(ctx context.Context, stream string) (eventstore.StreamMetadata, uint64, bool, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.StreamMetadata{}, 0, false, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.StreamMetadata{}, 0, false, err
	}
	if err := s.enter(); err != nil {
		return eventstore.StreamMetadata{}, 0, false, err
	}
	defer s.inflight.Done()
	st, err := s.readState(s.db, stream)
	if err != nil {
		return eventstore.StreamMetadata{}, 0, false, err
	}
	if err := s.awaitDurable(ctx, stream); err != nil {
		return eventstore.StreamMetadata{}, 0, false, err
	}
	if st.tombstoned {
		return eventstore.StreamMetadata{}, 0, false, fmt.Errorf("%w: %q", eventstore.ErrStreamDeleted, stream)
	}
	if st.metaNext == 0 {
		return eventstore.StreamMetadata{}, 0, false, nil
	}
	return st.meta, st.metaNext - 1, true, nil
}

type getter interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

// readState reads a stream's state: deletion and metadata from its 'm' key, the next revision
// from the last entry of its index.
func (s *Store) readState(r interface {
	iterable
	getter
}, stream string) (streamState, error) {
	var st streamState
	v, closer, err := r.Get(stateKey(stream))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return streamState{}, s.engineErr("read stream state", err)
	default:
		st, err = decodeState(stream, v)
		closer.Close()
		if err != nil {
			return streamState{}, err
		}
	}
	loc, err := s.newLocator(r, stream)
	if err != nil {
		return streamState{}, err
	}
	defer loc.close()
	if st.next, err = loc.end(); err != nil {
		return streamState{}, err
	}
	return st, nil
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		if err := eventstore.ValidateStreamName(stream); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		if err := s.enter(); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		defer s.inflight.Done()
		snap := s.db.NewSnapshot()
		defer snap.Close()
		if err := s.readStream(ctx, snap, stream, opts, yield); err != nil {
			yield(eventstore.RecordedEvent{}, err)
		}
	}
}

func (s *Store) readStream(ctx context.Context, snap *pebble.Snapshot, stream string, opts eventstore.ReadStreamOptions, yield func(eventstore.RecordedEvent, error) bool) error {
	if err := s.awaitDurable(ctx, stream); err != nil {
		return err
	}
	st, err := s.readState(snap, stream)
	if err != nil {
		return err
	}
	if st.tombstoned {
		return fmt.Errorf("%w: %q", eventstore.ErrStreamDeleted, stream)
	}
	lo := st.visibleFrom()
	if st.next <= lo {
		return fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
	}
	hi := st.next - 1
	dec := newDecoder()
	loc, err := s.newLocator(snap, stream)
	if err != nil {
		return err
	}
	defer loc.close()
	load := func(rev uint64) (eventstore.RecordedEvent, error) {
		pos, err := loc.locate(rev)
		if err != nil {
			return eventstore.RecordedEvent{}, err
		}
		v, closer, err := snap.Get(eventKey(pos))
		if err != nil {
			return eventstore.RecordedEvent{}, s.engineErr(fmt.Sprintf("read %s@%d at position %d", stream, rev, pos), err)
		}
		defer closer.Close()
		h, r, err := decodeHead(pos, v)
		if err != nil {
			return eventstore.RecordedEvent{}, err
		}
		return dec.decode(pos, v, h, r)
	}
	// Events the engine shows before their WAL sync is done are not readable yet: a stream read
	// ends at the durable head, like $all. Batches are applied whole, so step back by batches.
	head := s.head.Load()
	for {
		pos, err := loc.locate(hi)
		if err != nil {
			return err
		}
		if pos <= head {
			break
		}
		if loc.first <= lo {
			return fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
		}
		hi = loc.first - 1
	}
	// MaxAge: RecordedAt grows with revision, so the newest event tells whether any survive,
	// and older ones are skipped until the first young enough.
	var cutoff int64 = math.MinInt64
	if st.meta.MaxAge > 0 {
		cutoff = s.opts.Now().Add(-st.meta.MaxAge).UnixNano()
		last, err := load(hi)
		if err != nil {
			return err
		}
		if last.RecordedAt.UnixNano() < cutoff {
			return fmt.Errorf("%w: %q (every event is older than the stream's max age)", eventstore.ErrStreamNotFound, stream)
		}
	}
	from := opts.From
	step := int64(1)
	if opts.Direction == eventstore.Backwards {
		step = -1
		if opts.FromEnd || from > hi {
			from = hi
		}
	} else if opts.FromEnd {
		from = hi
	}
	if from < lo {
		if step < 0 {
			return nil
		}
		from = lo
	}
	var n uint64
	for rev := from; rev >= lo && rev <= hi; rev = uint64(int64(rev) + step) {
		if opts.MaxCount > 0 && n == opts.MaxCount {
			return nil
		}
		if err := s.interrupted(ctx); err != nil {
			return err
		}
		e, err := load(rev)
		if err != nil {
			return err
		}
		if e.RecordedAt.UnixNano() < cutoff {
			if step < 0 {
				return nil
			}
			continue
		}
		n++
		if !yield(e, nil) {
			return nil
		}
		if rev == 0 && step < 0 {
			return nil
		}
	}
	return nil
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		if err := opts.Filter.Validate(); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		if err := s.enter(); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		defer s.inflight.Done()
		head := s.head.Load()
		from := opts.From.Commit
		backwards := opts.Direction == eventstore.Backwards
		if opts.FromEnd || (backwards && from > head) {
			from = head
			if !backwards {
				from = head + 1
			}
		}
		lo, hi := from, head
		if backwards {
			lo, hi = 1, from
		}
		if err := s.scan(ctx, lo, hi, backwards, opts.Filter, opts.MaxCount, func(e eventstore.RecordedEvent) bool { return yield(e, nil) }, nil); err != nil {
			yield(eventstore.RecordedEvent{}, err)
		}
	}
}

// scan visits the events with positions in [lo, hi] in order, passing those that match filter
// to visit until it returns false or max of them were visited. skipped, if not nil, is called
// with the position of each event the filter rejected.
func (s *Store) scan(ctx context.Context, lo, hi uint64, backwards bool, filter *eventstore.Filter, max uint64,
	visit func(eventstore.RecordedEvent) bool, skipped func(pos uint64) bool) error {
	return s.scanCheck(ctx, lo, hi, backwards, filter, max, false, visit, skipped)
}

// scanCheck is scan, checking each record's checksum when checksums is set.
func (s *Store) scanCheck(ctx context.Context, lo, hi uint64, backwards bool, filter *eventstore.Filter, max uint64, checksums bool,
	visit func(eventstore.RecordedEvent) bool, skipped func(pos uint64) bool) error {
	if lo > hi {
		return nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: eventKey(lo), UpperBound: eventKey(hi + 1)})
	if err != nil {
		return s.engineErr("read $all", err)
	}
	defer it.Close()
	dec := newDecoder()
	var n uint64
	valid := it.First()
	if backwards {
		valid = it.Last()
	}
	for seen := 0; valid; valid, seen = step(it, backwards), seen+1 {
		if seen&1023 == 0 { // every 1,024 records read, matching or not
			if err := s.interrupted(ctx); err != nil {
				return err
			}
		}
		pos := decodePos(it.Key()[1:])
		v, err := it.ValueAndErr()
		if err != nil {
			return s.engineErr(fmt.Sprintf("read event at position %d", pos), err)
		}
		h, r, err := decodeHeadCheck(pos, v, checksums)
		if err != nil {
			return err
		}
		if !filter.Match(unsafeString(h.stream), unsafeString(h.typ)) {
			if skipped != nil && !skipped(pos) {
				return nil
			}
			continue
		}
		e, err := dec.decode(pos, v, h, r)
		if err != nil {
			return err
		}
		n++
		if !visit(e) || (max > 0 && n >= max) {
			return nil
		}
	}
	return s.engineErr("read $all", it.Error())
}

func step(it *pebble.Iterator, backwards bool) bool {
	if backwards {
		return it.Prev()
	}
	return it.Next()
}

// unsafeString views b as a string without copying, for calls that do not retain it.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

type iterable interface {
	NewIter(*pebble.IterOptions) (*pebble.Iterator, error)
}

// locator maps revisions of one stream to positions through its batch index.
type locator struct {
	s      *Store
	stream string
	it     *pebble.Iterator
	prefix []byte
	first  uint64 // the current batch: revisions first..first+count-1 at positions pos..
	pos    uint64
	count  uint64
}

func (s *Store) newLocator(r iterable, stream string) (*locator, error) {
	prefix := streamKeyPrefix(stream)
	upper := append(append([]byte(nil), prefix...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return nil, s.engineErr("read stream index", err)
	}
	return &locator{s: s, stream: stream, it: it, prefix: prefix}, nil
}

func (l *locator) close() { l.it.Close() }

// end returns the revision after the stream's last indexed event: 0 for a stream never written.
func (l *locator) end() (uint64, error) {
	if !l.it.Last() {
		return 0, l.s.engineErr("read stream index", l.it.Error())
	}
	k := l.it.Key()
	pos, count, ok := decodeIndex(l.it.Value())
	if len(k) != len(l.prefix)+8 || !ok {
		return 0, fmt.Errorf("%w: stream %q: malformed last index entry", eventstore.ErrCorrupt, l.stream)
	}
	l.first, l.pos, l.count = decodePos(k[len(l.prefix):]), pos, count
	return l.first + l.count, nil
}

func (l *locator) locate(rev uint64) (uint64, error) {
	if l.count > 0 && rev >= l.first && rev-l.first < l.count {
		return l.pos + rev - l.first, nil
	}
	if !l.it.SeekLT(streamKey(l.prefix, rev+1)) {
		if err := l.it.Error(); err != nil {
			return 0, l.s.engineErr("read stream index", err)
		}
		return 0, fmt.Errorf("%w: stream %q has no index entry for revision %d", eventstore.ErrCorrupt, l.stream, rev)
	}
	k := l.it.Key()
	pos, count, ok := decodeIndex(l.it.Value())
	if len(k) != len(l.prefix)+8 || !ok {
		return 0, fmt.Errorf("%w: stream %q: malformed index entry for revision %d", eventstore.ErrCorrupt, l.stream, rev)
	}
	l.first, l.pos, l.count = decodePos(k[len(l.prefix):]), pos, count
	if rev-l.first >= l.count {
		return 0, fmt.Errorf("%w: stream %q has no index entry for revision %d", eventstore.ErrCorrupt, l.stream, rev)
	}
	return l.pos + rev - l.first, nil
}

// eventAt returns where the event at rev in stream is, with its batch, and its ID.
func (s *Store) eventAt(r interface {
	iterable
	getter
}, stream string, rev uint64) (idRef, uuid.UUID, error) {
	loc, err := s.newLocator(r, stream)
	if err != nil {
		return idRef{}, uuid.UUID{}, err
	}
	defer loc.close()
	pos, err := loc.locate(rev)
	if err != nil {
		return idRef{}, uuid.UUID{}, err
	}
	v, closer, err := r.Get(eventKey(pos))
	if err != nil {
		return idRef{}, uuid.UUID{}, s.engineErr(fmt.Sprintf("read %s@%d at position %d", stream, rev, pos), err)
	}
	defer closer.Close()
	if _, _, err := decodeHead(pos, v); err != nil {
		return idRef{}, uuid.UUID{}, err
	}
	rd := reader{b: v, off: recordFixed}
	rd.uvarint()
	var id uuid.UUID
	copy(id[:], rd.bytes(16))
	return idRef{stream: stream, rev: rev, pos: pos, batch: loc.first, count: loc.count}, id, nil
}

// interrupted reports why a long read must stop: its context is done, or the store is closing
// (Close waits for reads in progress, so they must not outlast it by much).
func (s *Store) interrupted(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-s.closing:
		return eventstore.ErrClosed
	default:
		return nil
	}
}
