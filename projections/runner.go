package projections

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// Runner keeps a Directory current: it subscribes to $all after the Directory's checkpoint,
// decodes events in a parallel pipeline and folds them, in log order, in batches (one write
// lock per batch). It subscribes with a filter on the directory's event type categories, so the
// store skips reservation events (two thirds of a log of user creations) before decoding them;
// events of unknown types (written by a newer idstream) in those categories are skipped and
// counted, those of unknown categories are not delivered at all; a payload that does not decode
// stops the runner with an error naming its position.
//
// Methods are safe for concurrent use. Start it once.
type Runner struct {
	store eventstore.Store
	reg   *eventstore.Registry
	dir   *Directory

	unknown atomic.Uint64

	// onApplied, when set, is called after each batch is folded; see OnApplied.
	onApplied func(changes []Change, upTo eventstore.Position) error

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever the state below changes
	applied eventstore.Position
	lastAt  time.Time // RecordedAt of the last event applied
	head    eventstore.Position
	ready   bool
	started bool
	err     error
	done    chan struct{}
}

// ErrStopped is wrapped by the error of a runner whose context ended. It is of kind
// domain.ErrUnavailable.
var ErrStopped = fmt.Errorf("projection runner stopped: %w", domain.ErrUnavailable)

// NewRunner returns a runner feeding dir from store, decoding with reg (see NewRegistry).
func NewRunner(store eventstore.Store, reg *eventstore.Registry, dir *Directory) *Runner {
	return &Runner{store: store, reg: reg, dir: dir, changed: make(chan struct{}), done: make(chan struct{})}
}

// OnApplied sets fn to be called, from the runner's fold goroutine, after every batch is folded
// into the Directory: with the batch's changes (valid only during the call) and the position
// the Directory has reached. The runner reports the batch applied (Position, WaitFor) only once
// fn returns nil; on an error it calls fn again with the same batch, backing off from 50 ms to
// 5 s, until fn succeeds or the runner's context ends (then the runner stops with ErrStopped and
// the batch is never reported applied). A store persisting the Directory (pgstore) writes the
// batch's rows there. Call it before Start.
func (r *Runner) OnApplied(fn func(changes []Change, upTo eventstore.Position) error) {
	r.onApplied = fn
}

// catchUpBatch bounds the events decoded and applied together while catching up; live events
// are applied as they come.
const catchUpBatch = 512

type chunk struct {
	events   []eventstore.RecordedEvent
	changes  []Change
	last     eventstore.Position // of the last event or checkpoint of the chunk
	lastAt   time.Time
	caughtUp bool
	err      error
	done     chan struct{}
}

// Start subscribes and starts folding in the background; it returns once subscribed. The
// runner runs until ctx ends (then Err wraps ErrStopped) or it fails.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return fmt.Errorf("%w: projection runner started twice", domain.ErrInvalid)
	}
	r.started = true
	r.mu.Unlock()

	head, _, err := r.lastEvent(ctx)
	if err != nil {
		return err
	}
	from := r.dir.Position()
	sub, err := r.store.SubscribeAll(ctx, eventstore.SubscribeAllOptions{After: from, Filter: directoryFilter(),
		CheckpointInterval: catchUpBatch})
	if err != nil {
		return fmt.Errorf("projections: subscribe to $all after %s: %w", from, err)
	}
	r.mu.Lock()
	r.applied, r.head = from, head
	r.ready = !from.Less(head)
	r.broadcastLocked()
	catchingUp := !r.ready
	r.mu.Unlock()
	restoreGC := func() {}
	if catchingUp {
		restoreGC = raiseGCPercent()
	}

	workers := max(1, runtime.GOMAXPROCS(0))
	work := make(chan *chunk, 2*workers)
	ordered := make(chan *chunk, 4*workers)
	free := make(chan *chunk, 6*workers) // chunks applied, their buffers reused while catching up
	fastUsers := fastUserDecoding(r.reg)
	for range workers {
		go func() {
			var users *userCreatedDecoder
			if fastUsers {
				users = newUserCreatedDecoder()
			}
			for c := range work {
				r.decode(c, users)
				close(c.done)
			}
		}()
	}
	go func() {
		<-ctx.Done()
		sub.Close()
	}()
	go r.read(ctx, sub, head, work, ordered, free)
	go r.applyLoop(ctx, sub, ordered, free, restoreGC)
	return nil
}

// catchUpGCPercent is the garbage collector's target percentage (GOGC) while a runner catches up:
// the heap grows by the read model all along, so at the default 100 the collector runs almost
// without pause, marking a heap that is mostly there to stay. At 300 a cold replay of a
// million users takes about a third less time and its peak heap grows by about a sixth
// (BenchmarkRunnerColdReplay). A memory limit (GOMEMLIMIT) still holds.
const catchUpGCPercent = 300

// raiseGCPercent sets the GC percent to catchUpGCPercent if it is lower (and the collector is not
// off), and returns the function that sets it back, once, unless someone changed it meanwhile.
// (Two runners catching up at once: the first to finish restores the percent.)
func raiseGCPercent() (restore func()) {
	sample := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return func() {}
	}
	cur := sample[0].Value.Uint64()
	if cur == 0 || cur >= catchUpGCPercent { // 0: off (or a collection after every allocation)
		return func() {}
	}
	prev := debug.SetGCPercent(catchUpGCPercent)
	var once sync.Once
	return func() {
		once.Do(func() {
			if now := debug.SetGCPercent(prev); now != catchUpGCPercent {
				debug.SetGCPercent(now) // changed by someone else since: theirs
			}
		})
	}
}

// fastUserDecoding reports whether reg's user.created and user.updated payloads have the shapes
// userCreatedDecoder reads (version 1).
func fastUserDecoding(reg *eventstore.Registry) bool {
	c, okc := reg.Version(domain.EvUserCreated)
	u, oku := reg.Version(domain.EvUserUpdated)
	return okc && c == 1 && oku && u == 1
}

// directoryFilter matches the event types the Directory folds: every category (the type's name
// up to its first dot) of domain.EventTypes but reservations and propagation (configuration and
// change-order outcomes, many and sealed, have read models of their own).
func directoryFilter() *eventstore.Filter { return categoriesBut(reservationPrefix, propagationPrefix) }

// auditFilter matches what the audit trail indexes: every category but reservations.
func auditFilter() *eventstore.Filter { return categoriesBut(reservationPrefix) }

// categoriesBut matches the categories of domain.EventTypes except those of prefixes ("cat.").
func categoriesBut(prefixes ...string) *eventstore.Filter {
	f := &eventstore.Filter{}
	for _, et := range domain.EventTypes() {
		cat, _, _ := strings.Cut(et.Name, ".")
		if slices.Contains(prefixes, cat+".") || slices.Contains(f.EventTypePrefixes, cat+".") {
			continue
		}
		f.EventTypePrefixes = append(f.EventTypePrefixes, cat+".")
	}
	return f
}

const (
	reservationPrefix = "reservation."
	propagationPrefix = "propagation."
)

// read turns subscription messages into chunks, in order.
func (r *Runner) read(ctx context.Context, sub eventstore.Subscription, head eventstore.Position, work, ordered chan<- *chunk, free <-chan *chunk) {
	defer close(work)
	defer close(ordered)
	newChunk := func(live bool) *chunk {
		if live {
			return &chunk{done: make(chan struct{})}
		}
		select {
		case c := <-free:
			*c = chunk{events: c.events[:0], changes: c.changes[:0], done: make(chan struct{})}
			return c
		default:
			return &chunk{events: make([]eventstore.RecordedEvent, 0, catchUpBatch), done: make(chan struct{})}
		}
	}
	live := false
	c := newChunk(live)
	flush := func() {
		work <- c
		ordered <- c
		c = newChunk(live)
	}
	for {
		msg, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w: %w", ErrStopped, ctx.Err())
			} else {
				err = fmt.Errorf("projections: subscription: %w", err)
			}
			c.err = err
			flush()
			return
		}
		switch msg.Kind {
		case eventstore.MessageEvent:
			c.events = append(c.events, msg.Event)
			c.last, c.lastAt = msg.Position, msg.Event.RecordedAt
			if !msg.Position.Less(head) {
				live = true
			}
			if live || len(c.events) >= catchUpBatch {
				flush()
			}
		case eventstore.MessageCheckpoint, eventstore.MessageCaughtUp:
			if c.last.Less(msg.Position) {
				c.last = msg.Position
			}
			c.caughtUp = msg.Kind == eventstore.MessageCaughtUp
			live = live || c.caughtUp
			flush()
		}
	}
}

// decode fills c.changes; see decodeChunk.
func (r *Runner) decode(c *chunk, users *userCreatedDecoder) {
	decodeChunk(r.reg, &r.unknown, c, users)
}

// decodeChunk fills c.changes, decoding with reg; it skips reservation events unread and counts
// events of unknown types in unknown. users, when not nil, decodes user.created payloads of the
// common shape. The Runner, rebuilds and time travel share it.
func decodeChunk(reg *eventstore.Registry, unknown *atomic.Uint64, c *chunk, users *userCreatedDecoder) {
	if c.err != nil {
		return
	}
	if cap(c.changes) < len(c.events) {
		// Exactly what the chunk needs: live chunks hold one event, and a recycled catch-up
		// chunk keeps its capacity (a live event must not cost a catch-up batch's slice).
		c.changes = make([]Change, 0, len(c.events))
	}
	var done eventstore.Position // the last event handled
	for i := range c.events {
		e := &c.events[i]
		if strings.HasPrefix(e.Type, reservationPrefix) { // on a store that does not filter
			done = e.Position
			continue
		}
		if users != nil && e.PayloadVersion <= 1 && (e.Type == domain.EvUserCreated || e.Type == domain.EvUserUpdated) {
			// Sealed personal data is opened first (Clear); the decoders read the result.
			if data, erased, err := reg.Clear(e); err == nil {
				var p any
				ok := false
				if e.Type == domain.EvUserCreated {
					p, ok = users.decode(data)
				} else {
					p, ok = users.decodeUpdated(data)
				}
				if ok {
					done = e.Position
					c.changes = append(c.changes, Change{Position: e.Position, Type: e.Type, Metadata: e.Metadata, Payload: p, Erased: erased})
					continue
				}
			}
		}
		d, err := reg.DecodeEvent(*e)
		if errors.Is(err, eventstore.ErrUnknownEventType) {
			unknown.Add(1)
			done = e.Position
			continue
		}
		if err != nil {
			// Fold what came before; the checkpoint stops short of the corrupt event.
			c.err = fmt.Errorf("projections: event at position %s (%s in %s): %w", e.Position, e.Type, e.Stream, err)
			c.last, c.caughtUp = done, false
			return
		}
		done = e.Position
		c.changes = append(c.changes, Change{Position: e.Position, Type: e.Type, Metadata: e.Metadata, Payload: d.Payload, Erased: d.Erased})
	}
}

// applyLoop folds chunks in order until one carries an error, and hands catch-up chunks back to
// the reader through free. It calls caughtUp once ready, or when it stops before.
func (r *Runner) applyLoop(ctx context.Context, sub eventstore.Subscription, ordered <-chan *chunk, free chan<- *chunk, caughtUp func()) {
	defer close(r.done)
	defer caughtUp()
	for c := range ordered {
		<-c.done
		if len(c.changes) > 0 || !c.last.IsZero() {
			r.dir.applyUpTo(c.changes, c.last)
			if r.onApplied != nil {
				if err := r.persist(ctx, c); err != nil {
					r.mu.Lock()
					if r.err == nil {
						r.err = err
					}
					r.broadcastLocked()
					r.mu.Unlock()
					sub.Close()
					for range ordered { // let the reader finish
					}
					return
				}
			}
		}
		r.mu.Lock()
		if r.applied.Less(c.last) {
			r.applied = c.last
			if !c.lastAt.IsZero() {
				r.lastAt = c.lastAt
			}
		}
		if c.caughtUp || !r.applied.Less(r.head) {
			r.ready = true
		}
		if c.err != nil && r.err == nil {
			r.err = c.err
		}
		failed := r.err != nil
		if r.ready {
			caughtUp() // before waiters learn of it
		}
		r.broadcastLocked()
		r.mu.Unlock()
		if cap(c.events) >= catchUpBatch {
			clear(c.events[:cap(c.events)]) // drop the references to events' data and payloads
			clear(c.changes[:cap(c.changes)])
			select {
			case free <- c:
			default:
			}
		}
		if failed {
			sub.Close()
			for range ordered { // let the reader finish
			}
			return
		}
	}
}

// persist calls onApplied for chunk c until it succeeds, backing off between attempts; it fails
// only when ctx ends.
func (r *Runner) persist(ctx context.Context, c *chunk) error {
	backoff := 50 * time.Millisecond
	for {
		err := r.onApplied(c.changes, r.dir.Position())
		if err == nil {
			return nil
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w (persisting the batch up to %s: %w)", ErrStopped, ctx.Err(), c.last, err)
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (r *Runner) broadcastLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// WaitFor returns once the Directory has applied everything up to pos, or with the runner's
// error, or with an error of kind domain.ErrUnavailable wrapping ctx's when ctx ends first.
func (r *Runner) WaitFor(ctx context.Context, pos eventstore.Position) error {
	for {
		r.mu.Lock()
		applied, err, ch := r.applied, r.err, r.changed
		r.mu.Unlock()
		if !applied.Less(pos) {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for position %s (applied %s): %w: %w", pos, applied, domain.ErrUnavailable, ctx.Err())
		}
	}
}

// CatchUp waits until the Directory has applied the log's last event as of the call.
func (r *Runner) CatchUp(ctx context.Context) error {
	head, _, err := r.lastEvent(ctx)
	if err != nil {
		return err
	}
	return r.WaitFor(ctx, head)
}

// Ready reports whether the runner has caught up with the log once since it started.
func (r *Runner) Ready() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

// Position returns the position of the last event applied.
func (r *Runner) Position() eventstore.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied
}

// Err returns the error that stopped the runner, or nil while it runs.
func (r *Runner) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Done is closed when the runner has stopped.
func (r *Runner) Done() <-chan struct{} { return r.done }

// UnknownEvents counts the events skipped because this build does not know their type or
// payload version.
func (r *Runner) UnknownEvents() uint64 { return r.unknown.Load() }

// Lag is how far the Directory is behind the head of the log.
type Lag struct {
	// Positions is the head's commit position minus the applied one: events, on the embedded
	// store (whose positions are dense); bytes of log on EventStoreDB.
	Positions uint64
	// Seconds is the time between the recording of the last event applied and of the head (0
	// when caught up).
	Seconds float64
}

// Lag measures the lag against the head of the log now (one read of the log's last event), for
// a gauge.
func (r *Runner) Lag(ctx context.Context) (Lag, error) {
	head, headAt, err := r.lastEvent(ctx)
	if err != nil {
		return Lag{}, err
	}
	r.mu.Lock()
	applied, lastAt := r.applied, r.lastAt
	r.mu.Unlock()
	if !applied.Less(head) {
		return Lag{}, nil
	}
	l := Lag{Positions: head.Commit - applied.Commit}
	if !lastAt.IsZero() && headAt.After(lastAt) {
		l.Seconds = headAt.Sub(lastAt).Seconds()
	}
	return l, nil
}

// lastEvent returns the position and recording time of the log's last event (zero when empty).
func (r *Runner) lastEvent(ctx context.Context) (eventstore.Position, time.Time, error) {
	opts := eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: 1}
	for e, err := range r.store.ReadAll(ctx, opts) {
		if err != nil {
			return eventstore.Position{}, time.Time{}, fmt.Errorf("projections: read the head of the log: %w: %w", domain.ErrUnavailable, err)
		}
		return e.Position, e.RecordedAt, nil
	}
	return eventstore.Position{}, time.Time{}, nil
}
