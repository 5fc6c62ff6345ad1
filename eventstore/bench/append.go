package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idstream/idstream/eventstore"
)

// Shape is the concurrency and batching of an append workload.
type Shape struct {
	// Writers is the number of goroutines appending concurrently.
	Writers int
	// Batch is the number of events per append.
	Batch int
}

func (s Shape) String() string { return fmt.Sprintf("writers=%d batch=%d", s.Writers, s.Batch) }

// Shapes are the append shapes of the standard run: 1, 16 and 64 writers, single events and
// batches of 100.
func Shapes() []Shape {
	var out []Shape
	for _, w := range []int{1, 16, 64} {
		for _, b := range []int{1, 100} {
			out = append(out, Shape{Writers: w, Batch: b})
		}
	}
	return out
}

// Throughput is a count of events handled in an elapsed time.
type Throughput struct {
	Events  int64
	Elapsed time.Duration
}

// EventsPerSec is Events / Elapsed, 0 when nothing was measured.
func (t Throughput) EventsPerSec() float64 {
	if t.Elapsed <= 0 {
		return 0
	}
	return float64(t.Events) / t.Elapsed.Seconds()
}

// AppendResult is the outcome of one append workload.
type AppendResult struct {
	Shape Shape
	Throughput
}

// AppendOptions configure Append and RawBaseline. The workload ends after Appends appends in
// all (shared among the writers) when Appends > 0, else when Duration has passed.
type AppendOptions struct {
	Shape    Shape
	Duration time.Duration
	Appends  int64
	// Seed makes the generated content reproducible; writers derive their own seeds from it.
	Seed uint64
	// StreamPrefix starts every stream name written ("<prefix>-w<writer>s<n>"); it must be
	// unique in the store, because each writer starts its streams with NoStream. Append
	// ignores it in RawBaseline.
	StreamPrefix string
}

// streamsPerWriter is how many streams each writer rotates through. Every append names the
// exact expected revision, as a command does after loading its aggregate.
const streamsPerWriter = 32

func (o AppendOptions) validate() error {
	switch {
	case o.Shape.Writers < 1 || o.Shape.Batch < 1:
		return fmt.Errorf("%w: bench: shape %v: need at least one writer and one event per batch", eventstore.ErrInvalidArgument, o.Shape)
	case o.Appends <= 0 && o.Duration <= 0:
		return fmt.Errorf("%w: bench: set a duration or a number of appends", eventstore.ErrInvalidArgument)
	}
	return nil
}

// budget hands out appends to writers until the count or the time runs out.
type budget struct {
	left     atomic.Int64
	counted  bool
	deadline time.Time
}

func newBudget(o AppendOptions) *budget {
	b := &budget{counted: o.Appends > 0, deadline: time.Now().Add(o.Duration)}
	b.left.Store(o.Appends)
	return b
}

func (b *budget) take() bool {
	if b.counted {
		return b.left.Add(-1) >= 0
	}
	return time.Now().Before(b.deadline)
}

// runWriters starts opts.Shape.Writers goroutines, each calling step with a generator of its
// own until the budget is spent, step fails or ctx is done. step returns the events written.
func runWriters(ctx context.Context, o AppendOptions, step func(ctx context.Context, w int, g *generator) (int, error)) (AppendResult, error) {
	if err := o.validate(); err != nil {
		return AppendResult{}, err
	}
	gens := make([]*generator, o.Shape.Writers)
	for w := range gens {
		gens[w] = newGenerator(o.Seed*1_000_003 + uint64(w) + 1)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var events atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	b := newBudget(o)
	for w, g := range gens {
		wg.Go(func() {
			for ctx.Err() == nil && b.take() {
				n, err := step(ctx, w, g)
				if err != nil {
					cancel(err)
					return
				}
				events.Add(int64(n))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return AppendResult{}, err
	}
	return AppendResult{Shape: o.Shape, Throughput: Throughput{Events: events.Load(), Elapsed: elapsed}}, nil
}

// Append measures durable appends to store: each writer appends batches of generated events to
// its own streams with the store's normal, durable Append.
func Append(ctx context.Context, store eventstore.Store, o AppendOptions) (AppendResult, error) {
	if o.StreamPrefix == "" {
		return AppendResult{}, fmt.Errorf("%w: bench: append: no stream prefix", eventstore.ErrInvalidArgument)
	}
	type writerState struct {
		next int
		revs [streamsPerWriter]eventstore.ExpectedRevision
	}
	states := make([]writerState, o.Shape.Writers)
	for w := range states {
		for i := range states[w].revs {
			states[w].revs[i] = eventstore.NoStream
		}
	}
	return runWriters(ctx, o, func(ctx context.Context, w int, g *generator) (int, error) {
		st := &states[w]
		i := st.next % streamsPerWriter
		st.next++
		evs, err := g.events(o.Shape.Batch)
		if err != nil {
			return 0, err
		}
		stream := fmt.Sprintf("%s-w%ds%d", o.StreamPrefix, w, i)
		res, err := store.Append(ctx, stream, st.revs[i], evs...)
		if err != nil {
			return 0, fmt.Errorf("bench: append %v: %w", o.Shape, err)
		}
		st.revs[i] = eventstore.Exact(res.NextExpectedRevision)
		return len(evs), nil
	})
}

// RawBaseline measures what the disk gives the same workload without a store: the writers hand
// their encoded events (the stream name, ID, type, metadata JSON and payload of each, so as many
// bytes as the store is given) to one group-commit goroutine, which appends everything queued to
// a plain file in dir with one Write and one Sync, and acknowledges each batch after the Sync.
// The file is removed afterwards.
func RawBaseline(ctx context.Context, dir string, o AppendOptions) (AppendResult, error) {
	if err := o.validate(); err != nil {
		return AppendResult{}, err
	}
	f, err := os.CreateTemp(dir, "raw-baseline-*.log")
	if err != nil {
		return AppendResult{}, fmt.Errorf("bench: raw baseline: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	gc := &groupCommitter{f: f, reqs: make(chan *rawReq, 4096)}
	stopped := make(chan struct{})
	go func() { defer close(stopped); gc.loop() }()
	res, err := runWriters(ctx, o, func(ctx context.Context, w int, g *generator) (int, error) {
		evs, err := g.events(o.Shape.Batch)
		if err != nil {
			return 0, err
		}
		r := &rawReq{data: encodeRaw(fmt.Sprintf("raw-w%d", w), evs), done: make(chan error, 1)}
		gc.reqs <- r
		select {
		case err := <-r.done:
			if err != nil {
				return 0, fmt.Errorf("bench: raw baseline %v: %w", o.Shape, err)
			}
			return len(evs), nil
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		}
	})
	close(gc.reqs)
	<-stopped
	return res, errors.Join(err, f.Close())
}

// encodeRaw lays out events as length-prefixed records of about the size a store is given.
func encodeRaw(stream string, evs []eventstore.EventData) []byte {
	var b []byte
	for _, e := range evs {
		meta, _ := json.Marshal(e.Metadata) // strings, a time, a map: always marshals
		n := len(stream) + len(e.ID) + len(e.Type) + 4 + len(meta) + len(e.Data)
		b = binary.AppendUvarint(b, uint64(n))
		b = append(b, stream...)
		b = append(b, e.ID[:]...)
		b = append(b, e.Type...)
		b = binary.BigEndian.AppendUint32(b, e.PayloadVersion)
		b = append(b, meta...)
		b = append(b, e.Data...)
	}
	return b
}

type rawReq struct {
	data []byte
	done chan error
}

// groupCommitter is the single writer of the raw baseline.
type groupCommitter struct {
	f    *os.File
	reqs chan *rawReq
	buf  []byte
}

func (gc *groupCommitter) loop() {
	var group []*rawReq
	for first := range gc.reqs {
		group = append(group[:0], first)
		gc.buf = append(gc.buf[:0], first.data...)
	drain:
		for len(gc.buf) < 64<<20 {
			select {
			case r, ok := <-gc.reqs:
				if !ok {
					break drain
				}
				group = append(group, r)
				gc.buf = append(gc.buf, r.data...)
			default:
				break drain
			}
		}
		_, err := gc.f.Write(gc.buf)
		if err == nil {
			err = gc.f.Sync()
		}
		for _, r := range group {
			r.done <- err
		}
	}
}

// StreamPrefix returns a stream-name prefix unique to this run, for AppendOptions.StreamPrefix.
func StreamPrefix(kind string) string {
	return fmt.Sprintf("bench%s-%x", kind, time.Now().UnixNano())
}
