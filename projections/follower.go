package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/idstream/idstream/eventstore"
)

// Follower keeps a small read model current by its own subscription to $all from the start of
// the log: it decodes each event its filter matches and hands it to the model's fold, one at a
// time, in log order. It is for read models small enough to rebuild at every start (propagation
// configuration and status); the Directory has its own, faster Runner.
//
// Events of types this build does not know are skipped; a payload that does not decode stops the
// follower with an error naming its position. Methods are safe for concurrent use; Start once.
type Follower struct {
	name     string
	store    eventstore.Store
	reg      *eventstore.Registry
	filter   *eventstore.Filter
	fold     FoldFunc
	progress *Progress
}

// FoldFunc folds one decoded event into a read model. It is called from one goroutine, in log
// order; it guards the model with its own lock against concurrent readers.
type FoldFunc func(e *eventstore.RecordedEvent, d eventstore.Decoded)

// NewFollower returns a follower named name (for errors) feeding fold with the events of store
// that filter matches (nil: all), decoded with reg. Start it.
func NewFollower(name string, store eventstore.Store, reg *eventstore.Registry, filter *eventstore.Filter, fold FoldFunc) *Follower {
	return &Follower{name: name, store: store, reg: reg, filter: filter, fold: fold, progress: NewProgress(name)}
}

// Start subscribes and folds in the background until ctx ends.
func (f *Follower) Start(ctx context.Context) error {
	sub, err := f.store.SubscribeAll(ctx, eventstore.SubscribeAllOptions{Filter: f.filter, CheckpointInterval: catchUpBatch})
	if err != nil {
		return fmt.Errorf("%s: subscribe to $all: %w", f.name, err)
	}
	go func() {
		defer sub.Close()
		for {
			msg, err := sub.Next(ctx)
			if err != nil {
				if ctx.Err() != nil {
					err = fmt.Errorf("%w: %w", ErrStopped, ctx.Err())
				}
				f.progress.Stop(fmt.Errorf("%s: subscription: %w", f.name, err))
				return
			}
			if msg.Kind == eventstore.MessageEvent {
				d, err := f.reg.DecodeEvent(msg.Event)
				switch {
				case errors.Is(err, eventstore.ErrUnknownEventType):
				case err != nil:
					f.progress.Stop(fmt.Errorf("%s: event at %s: %w", f.name, msg.Event.Position, err))
					return
				default:
					f.fold(&msg.Event, d)
				}
			}
			f.progress.Advance(msg.Position)
		}
	}()
	return nil
}

// WaitFor returns once the follower has folded everything up to pos, or with its error, or with
// an error of kind domain.ErrUnavailable wrapping ctx's when ctx ends first.
func (f *Follower) WaitFor(ctx context.Context, pos eventstore.Position) error {
	return f.progress.WaitFor(ctx, pos)
}

// CatchUp waits until the follower has folded the log's last event as of the call.
func (f *Follower) CatchUp(ctx context.Context) error {
	head, _, err := LastEvent(ctx, f.store)
	if err != nil {
		return err
	}
	return f.WaitFor(ctx, head)
}

// Position returns the position of the last event folded (or skipped by the filter).
func (f *Follower) Position() eventstore.Position { return f.progress.Position() }

// Err returns the error that stopped the follower, or nil while it runs.
func (f *Follower) Err() error { return f.progress.Err() }
