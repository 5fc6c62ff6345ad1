package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// Deps is what every handler needs: the log, the codec, a clock and an ID source. Tests inject a
// fixed clock and a deterministic ID source so that they run in parallel.
type Deps struct {
	Store    eventstore.Store
	Registry *eventstore.Registry
	// Now returns the current time (UTC).
	Now func() time.Time
	// NewID returns a new UUIDv7 string; it is used for resource and event IDs alike.
	NewID func() string
}

// NewRegistry returns a codec registry holding every directory event type.
func NewRegistry() (*eventstore.Registry, error) {
	r := eventstore.NewRegistry()
	for _, et := range domain.EventTypes() {
		if err := r.RegisterValue(et.Name, et.Version, et.Payload); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Actor is who or what issues a command: it becomes the metadata of every event the command
// appends, which is what the audit trail answers "who, when, why" from.
type Actor struct {
	// ID names the actor: "apiclient:<id>", "user:<id>", "system:bootstrap"...
	ID            string
	CorrelationID string
	CausationID   string
	// Extra holds further audit context (client address, user agent, token ID). Never secrets.
	Extra map[string]string
}

type actorKey struct{}

// WithActor returns ctx carrying the actor of the commands issued under it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor carried by ctx (the zero Actor when none).
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// Aggregate is a state folded from its stream's events.
type Aggregate interface{ Apply(event any) }

// load folds the stream's events into agg. It returns the stream's expected revision for the next
// append: NoStream when the stream has no events, else Exact(last revision).
func (d *Deps) load(ctx context.Context, stream string, agg Aggregate) (eventstore.ExpectedRevision, error) {
	expected := eventstore.NoStream
	for ev, err := range d.Store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}) {
		if err != nil {
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				return eventstore.NoStream, nil
			}
			return expected, storeError(fmt.Sprintf("read %s", stream), err)
		}
		payload, err := d.Registry.Decode(ev)
		if err != nil {
			return expected, fmt.Errorf("read %s: %w", stream, err)
		}
		agg.Apply(payload)
		expected = eventstore.Exact(ev.Revision)
	}
	return expected, nil
}

// appendEvents encodes payloads with the actor's metadata for environment env, appends them to
// stream in one batch (all or none) and applies them to agg when agg is not nil. A revision
// conflict comes back as domain.ErrConflict wrapping the store's error.
func (d *Deps) appendEvents(ctx context.Context, stream string, expected eventstore.ExpectedRevision, env string,
	agg Aggregate, payloads ...any) (eventstore.Position, error) {
	if len(payloads) == 0 {
		return eventstore.Position{}, nil
	}
	actor := ActorFrom(ctx)
	meta := eventstore.Metadata{EnvironmentID: env, Actor: actor.ID, CorrelationID: actor.CorrelationID,
		CausationID: actor.CausationID, OccurredAt: d.Now().UTC(), Extra: actor.Extra}
	if err := d.Registry.PrepareKeys(ctx, payloads...); err != nil {
		return eventstore.Position{}, personalError("append to "+stream, err)
	}
	events := make([]eventstore.EventData, len(payloads))
	for i, p := range payloads {
		id, err := parseID(d.NewID())
		if err != nil {
			return eventstore.Position{}, err
		}
		if events[i], err = d.Registry.EncodeContext(ctx, id, p, meta); err != nil {
			return eventstore.Position{}, personalError("append to "+stream, err)
		}
	}
	res, err := d.Store.Append(ctx, stream, expected, events...)
	if err != nil {
		return eventstore.Position{}, storeError("append to "+stream, err)
	}
	if agg != nil {
		for _, p := range payloads {
			agg.Apply(p)
		}
	}
	return res.Position, nil
}

// personalError maps the refusal to record personal data of a forgotten subject onto
// domain.ErrNotFound (the user is gone).
func personalError(op string, err error) error {
	if errors.Is(err, eventstore.ErrSubjectForgotten) {
		return fmt.Errorf("%s: %w: %w", op, domain.ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// storeError maps the event store's error kinds onto domain kinds, keeping the original wrapped.
func storeError(op string, err error) error {
	switch {
	case errors.Is(err, eventstore.ErrWrongExpectedRevision):
		return fmt.Errorf("%s: %w: %w", op, domain.ErrConflict, err)
	case errors.Is(err, eventstore.ErrUnavailable), errors.Is(err, eventstore.ErrClosed):
		return fmt.Errorf("%s: %w: %w", op, domain.ErrUnavailable, err)
	case errors.Is(err, eventstore.ErrStreamDeleted):
		return fmt.Errorf("%s: %w: %w", op, domain.ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// maxAttempts bounds the reload-and-retry of commands that commute.
const maxAttempts = 8

// retryOnConflict runs attempt until it succeeds, fails with anything but a revision conflict,
// or has run maxAttempts times. Only commands whose effect commutes with concurrent ones use it:
// each attempt reloads its aggregate and decides again.
func retryOnConflict(ctx context.Context, attempt func() error) error {
	var err error
	for range maxAttempts {
		if err = attempt(); err == nil || !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
	}
	return err
}
