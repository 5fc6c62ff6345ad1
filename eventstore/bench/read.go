package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idstream/idstream/eventstore"
)

// Fill appends n generated events to store (in batches of 500 from 4 writers, each to streams
// of its own under prefix), so that Scan and CatchUp have a log to read, then lets a store that
// has a Compact method settle. It is set-up, not a measurement.
func Fill(ctx context.Context, store eventstore.Store, n int64, prefix string) error {
	const batch, writers = 500, 4
	var left atomic.Int64
	left.Store(n)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			g := newGenerator(uint64(w) + 7)
			stream := fmt.Sprintf("%s-w%d", prefix, w)
			expected := eventstore.NoStream
			for ctx.Err() == nil {
				k := min(left.Add(-batch)+batch, batch)
				if k <= 0 {
					return
				}
				evs, err := g.events(int(k))
				if err == nil {
					var res eventstore.AppendResult
					res, err = store.Append(ctx, stream, expected, evs...)
					expected = eventstore.Exact(res.NextExpectedRevision)
				}
				if err != nil {
					cancel(fmt.Errorf("bench: fill %s: %w", stream, err))
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	// A store that can settle its background work after the bulk load does, so that reads are
	// measured on a warm, steady store rather than one busy rewriting what was just written.
	if c, ok := store.(interface{ Compact(context.Context) error }); ok {
		if err := c.Compact(ctx); err != nil {
			return fmt.Errorf("bench: settle after fill: %w", err)
		}
	}
	return nil
}

// Scan reads the first n events of the global log once to warm caches, then again, timed. The
// log must hold at least n events (see Fill); fewer is an error.
func Scan(ctx context.Context, store eventstore.Store, n int64) (Throughput, error) {
	if _, err := ScanPass(ctx, store, n); err != nil {
		return Throughput{}, err
	}
	return ScanPass(ctx, store, n)
}

// ScanPass is one timed read of the first n events of the global log, without a warm-up.
func ScanPass(ctx context.Context, store eventstore.Store, n int64) (Throughput, error) {
	start := time.Now()
	var got int64
	var bytes int
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{MaxCount: uint64(n)}) {
		if err != nil {
			return Throughput{}, fmt.Errorf("bench: scan: %w", err)
		}
		got++
		bytes += len(e.Data) // touch what a reader uses
	}
	elapsed := time.Since(start)
	if got < n || bytes == 0 {
		return Throughput{}, fmt.Errorf("bench: scan: the log holds %d events, want %d", got, n)
	}
	return Throughput{Events: got, Elapsed: elapsed}, nil
}

// CatchUp subscribes to the global log from its start and times the delivery of its first n
// events: until MessageCaughtUp, or until n events for a backend that does not send it (or a
// log longer than n). The log must hold at least n events.
func CatchUp(ctx context.Context, store eventstore.Store, n int64) (Throughput, error) {
	start := time.Now()
	sub, err := store.SubscribeAll(ctx, eventstore.SubscribeAllOptions{})
	if err != nil {
		return Throughput{}, fmt.Errorf("bench: catch-up: %w", err)
	}
	defer sub.Close()
	var got int64
	for got < n {
		m, err := sub.Next(ctx)
		if err != nil {
			return Throughput{}, fmt.Errorf("bench: catch-up after %d events: %w", got, err)
		}
		if m.Kind == eventstore.MessageCaughtUp {
			break
		}
		if m.Kind == eventstore.MessageEvent {
			got++
		}
	}
	elapsed := time.Since(start)
	if got < n {
		return Throughput{}, fmt.Errorf("bench: catch-up: caught up after %d events, want %d", got, n)
	}
	return Throughput{Events: got, Elapsed: elapsed}, nil
}
