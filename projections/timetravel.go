package projections

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// TimeTravel answers environment-wide questions about the past: the whole Directory as of a
// position (the nearest stored snapshot at or before it, then the log's tail up to it, with the
// Runner's decoding) and the position of an instant. Methods are safe for concurrent use.
type TimeTravel struct {
	store eventstore.Store
	reg   *eventstore.Registry
	snaps *SnapshotStore // nil: always replay from the log's start

	mu    sync.Mutex
	cache []cachedDir // most recently used last
	index []timeMark  // sparse (position, recorded-at), every timeIndexEvery events, ascending
	// indexed is the last position the index has looked at; indexLast its event's time.
	indexed   eventstore.Position
	indexLast time.Time
	sinceMark int        // events indexed since the last mark
	indexMu   sync.Mutex // serialises index extension
}

type cachedDir struct {
	pos eventstore.Position
	dir *Directory
	// epoch is the registry's ErasureEpoch when dir was folded: a subject forgotten since
	// may be readable in it, so it is not served again.
	epoch uint64
}

type timeMark struct {
	pos eventstore.Position
	at  time.Time
}

// timeTravelCache is how many past Directories TimeTravel keeps (one GraphQL request asks for
// the same instant several times).
const timeTravelCache = 4

// timeIndexEvery is the spacing, in events, of PositionAt's sparse index: an answer reads at
// most this many events. At 256 a mark costs 40 bytes per 256 events (1.6 MB for a log of 10M)
// and an answer well under a millisecond; at 4096, the scan between marks was most of a
// user(asOf:) request (2.7 ms p50, idstream bench audit-first).
const timeIndexEvery = 256

// NewTimeTravel returns time travel over store, decoding with reg, starting from the snapshots
// in snaps (which may be nil).
func NewTimeTravel(store eventstore.Store, reg *eventstore.Registry, snaps *SnapshotStore) *TimeTravel {
	return &TimeTravel{store: store, reg: reg, snaps: snaps}
}

// DirectoryAt returns the Directory as of pos: exactly the events at or before pos folded, its
// Position the last directory event at or before pos (a snapshot's position when none follows
// it). A pos past the head of the log gives the model at the head. The result is shared (a few
// recent ones are cached): callers only query it, never Apply to it. A snapshot that cannot be
// read is passed over for an older one or the log's start. Errors are of kind
// domain.ErrUnavailable (the store failed, ctx ended).
func (t *TimeTravel) DirectoryAt(ctx context.Context, pos eventstore.Position) (*Directory, error) {
	head, _, err := LastEvent(ctx, t.store)
	if err != nil {
		return nil, err
	}
	if head.Less(pos) {
		pos = head
	}
	epoch := t.reg.ErasureEpoch()
	t.mu.Lock()
	t.cache = slices.DeleteFunc(t.cache, func(c cachedDir) bool { return c.epoch != epoch })
	for i, c := range t.cache {
		if c.pos == pos {
			t.cache = append(append(t.cache[:i:i], t.cache[i+1:]...), c)
			t.mu.Unlock()
			return c.dir, nil
		}
	}
	t.mu.Unlock()

	d, from := t.startAt(pos)
	if _, err := replayRange(ctx, t.store, t.reg, d, from, pos, nil); err != nil {
		return nil, fmt.Errorf("directory at position %s: %w", pos, err)
	}
	t.mu.Lock()
	t.cache = append(t.cache, cachedDir{pos: pos, dir: d, epoch: epoch})
	if len(t.cache) > timeTravelCache {
		t.cache = t.cache[1:]
	}
	t.mu.Unlock()
	return d, nil
}

// startAt returns the Directory to replay from for pos and its position: the nearest readable
// snapshot at or before pos, else an empty Directory. Snapshots older than the newest erasure
// the registry decoded are passed over: they may hold the erased data (the Snapshotter removes
// them soon after).
func (t *TimeTravel) startAt(pos eventstore.Position) (*Directory, eventstore.Position) {
	erased := t.reg.LastErasure()
	if t.snaps != nil {
		all, err := t.snaps.List()
		if err == nil {
			for i := len(all) - 1; i >= 0; i-- {
				ref := all[i]
				if ref.ProjectionVersion != DirectoryVersion || pos.Less(ref.Position) || ref.Position.Less(erased) {
					continue
				}
				if d, info, err := t.snaps.Load(ref); err == nil {
					return d, info.Position
				}
			}
		}
	}
	return NewDirectory(), eventstore.Position{}
}

// PositionAt returns the position of the last event recorded at or before at (RecordedAt),
// the zero Position when there is none; an instant past the last event gives the head. It
// reads at most a few thousand events per call beyond what the log gained since the previous
// call (the first call indexes the log once). It assumes recording times do not decrease
// along the log, as a store's commit clock gives. Errors: domain.ErrInvalid for a zero
// instant, domain.ErrUnavailable for store failures.
func (t *TimeTravel) PositionAt(ctx context.Context, at time.Time) (eventstore.Position, error) {
	if at.IsZero() {
		return eventstore.Position{}, domain.Invalidf("asOf", "no instant given")
	}
	if err := t.extendIndex(ctx); err != nil {
		return eventstore.Position{}, err
	}
	t.mu.Lock()
	index, indexed, last := t.index, t.indexed, t.indexLast
	t.mu.Unlock()
	if !at.Before(last) {
		return indexed, nil
	}
	// The last mark at or before at; the answer lies between it and the next mark.
	i := sort.Search(len(index), func(i int) bool { return index[i].at.After(at) })
	if i == 0 {
		return eventstore.Position{}, nil // before the first event (marks start at the first)
	}
	mark := index[i-1]
	found := mark.pos
	for e, err := range t.store.ReadAll(ctx, eventstore.ReadAllOptions{From: mark.pos, MaxCount: timeIndexEvery + 1}) {
		if err != nil {
			return eventstore.Position{}, fmt.Errorf("position at %s: %w: %w", at.Format(time.RFC3339Nano), domain.ErrUnavailable, err)
		}
		if e.RecordedAt.After(at) {
			break
		}
		found = e.Position
	}
	return found, nil
}

// extendIndex reads the log from where the index stopped to its head, marking the first event
// and every timeIndexEvery-th after it.
func (t *TimeTravel) extendIndex(ctx context.Context) error {
	t.indexMu.Lock()
	defer t.indexMu.Unlock()
	t.mu.Lock()
	from, since := t.indexed, t.sinceMark
	started := len(t.index) > 0
	t.mu.Unlock()
	var marks []timeMark
	var last eventstore.Position
	var lastAt time.Time
	for e, err := range t.store.ReadAll(ctx, eventstore.ReadAllOptions{From: from}) {
		if err != nil {
			return fmt.Errorf("index the log by time: %w: %w", domain.ErrUnavailable, err)
		}
		if started && !from.Less(e.Position) {
			continue // From is inclusive
		}
		if !started || since >= timeIndexEvery {
			marks = append(marks, timeMark{pos: e.Position, at: e.RecordedAt})
			since, started = 0, true
		}
		since++
		last, lastAt = e.Position, e.RecordedAt
	}
	if last.IsZero() {
		return nil
	}
	t.mu.Lock()
	t.index = append(t.index, marks...)
	t.indexed, t.indexLast, t.sinceMark = last, lastAt, since
	t.mu.Unlock()
	return nil
}

// LastEvent returns the position and recording time of store's last event (zero when empty).
func LastEvent(ctx context.Context, store eventstore.Store) (eventstore.Position, time.Time, error) {
	opts := eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: 1}
	for e, err := range store.ReadAll(ctx, opts) {
		if err != nil {
			return eventstore.Position{}, time.Time{}, fmt.Errorf("projections: read the head of the log: %w: %w", domain.ErrUnavailable, err)
		}
		return e.Position, e.RecordedAt, nil
	}
	return eventstore.Position{}, time.Time{}, nil
}

// LoadLatest returns the Directory of the newest readable snapshot in snaps with the log after
// it folded up to the head as of the call, or a full replay when there is none; the server
// uses it before starting a Runner (which resumes from Directory.Position). Snapshots that
// cannot be read are passed over (an older one or the log's start serves). Errors are of kind
// domain.ErrUnavailable.
func LoadLatest(ctx context.Context, store eventstore.Store, reg *eventstore.Registry, snaps *SnapshotStore) (*Directory, error) {
	head, _, err := LastEvent(ctx, store)
	if err != nil {
		return nil, err
	}
	t := &TimeTravel{store: store, reg: reg, snaps: snaps}
	d, from := t.startAt(head)
	if _, err := replayRange(ctx, store, reg, d, from, head, nil); err != nil {
		return nil, fmt.Errorf("load the directory: %w", err)
	}
	return d, nil
}
