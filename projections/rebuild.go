package projections

import (
	"context"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// RebuildProgress reports a replay of the log into a Directory.
type RebuildProgress struct {
	// Applied counts the directory's events read so far (reservations are skipped by the store).
	Applied  uint64
	Position eventstore.Position // of the last event applied
	Target   eventstore.Position
	Elapsed  time.Duration
	Rate     float64 // events per second so far
}

// progressEvery bounds how often a replay reports progress.
const progressEvery = 200 * time.Millisecond

// replayRange folds the directory's events of the log in (after, upTo] into d, in order, decoding
// them in parallel as the Runner does. It returns the events applied. When it returns without
// error, d's position is the last event applied, or unchanged when there was none. An error is
// of kind domain.ErrUnavailable for a store failure (d then holds a prefix), or names the event
// whose payload does not decode.
func replayRange(ctx context.Context, store eventstore.Store, reg *eventstore.Registry, d *Directory,
	after, upTo eventstore.Position, progress func(RebuildProgress)) (uint64, error) {
	if upTo.Less(after) || upTo == after {
		return 0, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := max(1, runtime.GOMAXPROCS(0))
	work := make(chan *chunk, 2*workers)
	ordered := make(chan *chunk, 4*workers)
	free := make(chan *chunk, 6*workers)
	var unknown atomic.Uint64
	fast := fastUserDecoding(reg)
	for range workers {
		go func() {
			var users *userCreatedDecoder
			if fast {
				users = newUserCreatedDecoder()
			}
			for c := range work {
				decodeChunk(reg, &unknown, c, users)
				close(c.done)
			}
		}()
	}
	go func() { // reader
		defer close(work)
		defer close(ordered)
		newChunk := func() *chunk {
			select {
			case c := <-free:
				*c = chunk{events: c.events[:0], changes: c.changes[:0], done: make(chan struct{})}
				return c
			default:
				return &chunk{events: make([]eventstore.RecordedEvent, 0, catchUpBatch), done: make(chan struct{})}
			}
		}
		c := newChunk()
		flush := func() bool {
			select {
			case work <- c:
			case <-ctx.Done():
				return false
			}
			ordered <- c // buffered beyond work: the applier drains it
			c = newChunk()
			return true
		}
		for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{From: after, Filter: directoryFilter()}) {
			if err != nil {
				c.err = fmt.Errorf("projections: replay the log after %s: %w: %w", after, domain.ErrUnavailable, err)
				break
			}
			if !after.Less(e.Position) {
				continue // From is inclusive
			}
			if upTo.Less(e.Position) {
				break
			}
			c.events = append(c.events, e)
			c.last = e.Position
			if len(c.events) >= catchUpBatch && !flush() {
				return
			}
		}
		if c.err == nil && ctx.Err() != nil {
			c.err = fmt.Errorf("projections: replay: %w: %w", domain.ErrUnavailable, ctx.Err())
		}
		flush()
	}()

	start, lastReport := time.Now(), time.Now()
	var applied uint64
	var firstErr error
	for c := range ordered {
		<-c.done
		if firstErr != nil {
			continue
		}
		if len(c.changes) > 0 {
			d.Apply(c.changes...)
		}
		applied += uint64(len(c.events))
		if c.err != nil {
			firstErr = c.err
			cancel()
			continue
		}
		if !c.last.IsZero() {
			d.mu.Lock()
			if d.pos.Less(c.last) {
				d.pos = c.last
			}
			d.mu.Unlock()
		}
		if progress != nil && time.Since(lastReport) >= progressEvery {
			lastReport = time.Now()
			progress(rebuildProgress(applied, c.last, upTo, start))
		}
		clear(c.events[:cap(c.events)])
		clear(c.changes[:cap(c.changes)])
		select {
		case free <- c:
		default:
		}
	}
	if firstErr != nil {
		return applied, firstErr
	}
	if progress != nil {
		progress(rebuildProgress(applied, d.Position(), upTo, start))
	}
	return applied, nil
}

func rebuildProgress(applied uint64, at, target eventstore.Position, start time.Time) RebuildProgress {
	el := time.Since(start)
	p := RebuildProgress{Applied: applied, Position: at, Target: target, Elapsed: el}
	if el > 0 {
		p.Rate = float64(applied) / el.Seconds()
	}
	return p
}

// Rebuild folds the log from its start up to upTo (inclusive) into a fresh Directory, calling
// progress (when not nil) from the calling goroutine at most every 200 ms and once at the end.
// The result's Position is the last directory event at or before upTo (zero for none). Errors
// are of kind domain.ErrUnavailable for store failures and ctx's end.
func Rebuild(ctx context.Context, store eventstore.Store, reg *eventstore.Registry, upTo eventstore.Position,
	progress func(RebuildProgress)) (*Directory, error) {
	d := NewDirectory()
	if _, err := replayRange(ctx, store, reg, d, eventstore.Position{}, upTo, progress); err != nil {
		return nil, err
	}
	return d, nil
}

// VerifyProgress reports a Verify's replay.
type VerifyProgress = RebuildProgress

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	// Position is the live model's checkpoint the rebuild replayed up to.
	Position        eventstore.Position
	EventsReplayed  uint64
	LiveChecksum    string // hex SHA-256 (Directory.Checksum)
	RebuiltChecksum string
	Equal           bool
	Duration        time.Duration
	Rate            float64 // events replayed per second
}

// Verify proves that a rebuild equals the live model: it takes live's position and checksum
// atomically, replays the log from its start up to exactly that position into a fresh
// Directory, and compares checksums. live keeps folding meanwhile. A difference is no error:
// Equal is false. Errors are those of Rebuild.
func Verify(ctx context.Context, store eventstore.Store, reg *eventstore.Registry, live *Directory,
	progress func(VerifyProgress)) (VerifyResult, error) {
	start := time.Now()
	pos, liveSum := live.Checksum()
	d := NewDirectory()
	n, err := replayRange(ctx, store, reg, d, eventstore.Position{}, pos, progress)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("verify the directory at %s: %w", pos, err)
	}
	_, sum := d.Checksum()
	res := VerifyResult{Position: pos, EventsReplayed: n, LiveChecksum: hex.EncodeToString(liveSum[:]),
		RebuiltChecksum: hex.EncodeToString(sum[:]), Equal: sum == liveSum, Duration: time.Since(start)}
	if res.Duration > 0 {
		res.Rate = float64(n) / res.Duration.Seconds()
	}
	return res, nil
}
