package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// Uniqueness per environment is kept by reservation streams, never by reading a read model:
// unique-<kind>-<environment>-<hash of the normalized value> holds one reservation.claimed event
// naming its owner stream. A claim appends with NoStream expected, so of two concurrent claims
// exactly one wins on every backend; a release soft-deletes the stream, so the value can be
// claimed again. The value itself never enters a stream name (only its hash).
//
// A claim is made before the owner's change is appended and released after a change that gives
// the value up, so a crash can leave a claim whose owner does not hold the value. Such a claim is
// taken over by the next claimant once it is older than orphanGrace and its owner, re-read from
// the log, confirms it does not hold the value.

// A claim's age is judged by its own metadata time (written by Deps.Now), never by the store's
// commit time, so that one clock decides both ends.
//
// orphanGrace is how old a claim must be before a claimant may take it over from an owner that
// does not hold the value: longer than any command runs (commands are bounded by request
// deadlines well below it), so a claim whose owner is still being appended is never taken.
const orphanGrace = 2 * time.Minute

// holdsFunc reports whether the owner stream currently holds the reserved value.
type holdsFunc func(ctx context.Context, owner string) (bool, error)

// reservationStream names the reservation stream of a normalized value.
func reservationStream(kind, env, normalized string) string {
	sum := sha256.Sum256([]byte(normalized))
	return domain.StreamName(domain.CategoryUnique, kind+"-"+env+"-"+hex.EncodeToString(sum[:16]))
}

// NormalizeUnique is the form in which a value is compared for uniqueness: case-insensitive,
// surrounding space ignored.
func NormalizeUnique(value string) string { return strings.ToLower(strings.TrimSpace(value)) }

// claim reserves value of kind in env for owner. It is idempotent for the same owner. When another
// owner holds it, the error is a *domain.FieldError of kind ErrConflict naming field.
func (d *Deps) claim(ctx context.Context, env, kind, field, value, owner string, holds holdsFunc) error {
	stream := reservationStream(kind, env, NormalizeUnique(value))
	for range maxAttempts {
		_, err := d.appendEvents(ctx, stream, eventstore.NoStream, env, nil,
			domain.ReservationClaimed{EnvironmentID: env, Kind: kind, Owner: owner})
		if err == nil || !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			return err
		}
		current, rev, at, found, err := d.readClaim(ctx, stream)
		switch {
		case err != nil:
			return err
		case !found:
			continue // released meanwhile: claim again
		case current == owner:
			return nil
		}
		if d.Now().Sub(at) < orphanGrace {
			return domain.FieldConflictf(field, "%q is already taken in this environment", value)
		}
		held, err := holds(ctx, current)
		if err != nil {
			return err
		}
		if held {
			return domain.FieldConflictf(field, "%q is already taken in this environment", value)
		}
		if _, err := d.Store.DeleteStream(ctx, stream, eventstore.Exact(rev)); err != nil &&
			!errors.Is(err, eventstore.ErrWrongExpectedRevision) && !errors.Is(err, eventstore.ErrStreamNotFound) {
			return storeError("take over orphaned reservation "+stream, err)
		}
	}
	return fmt.Errorf("claim %s %q: %w: too many concurrent claims", kind, value, domain.ErrConflict)
}

// release gives up owner's reservation of value; a reservation held by someone else, or none, is
// left alone.
func (d *Deps) release(ctx context.Context, env, kind, value, owner string) error {
	stream := reservationStream(kind, env, NormalizeUnique(value))
	current, rev, _, found, err := d.readClaim(ctx, stream)
	if err != nil || !found || current != owner {
		return err
	}
	if _, err := d.Store.DeleteStream(ctx, stream, eventstore.Exact(rev)); err != nil &&
		!errors.Is(err, eventstore.ErrWrongExpectedRevision) && !errors.Is(err, eventstore.ErrStreamNotFound) {
		return storeError("release reservation "+stream, err)
	}
	return nil
}

// releaseUnheld gives up owner's reservation of value unless holds, re-reading the owner, says
// it holds the value after all: a concurrent change of the same owner may have claimed the value
// (a claim is idempotent per owner) and committed it. Use it wherever the owner may still change
// (after a failed append, and for the values a committed change gave up). A concurrent change
// that commits the value between the check and the release can still lose its reservation.
func (d *Deps) releaseUnheld(ctx context.Context, env, kind, value, owner string, holds holdsFunc) error {
	held, err := holds(ctx, owner)
	if err != nil || held {
		return err
	}
	return d.release(ctx, env, kind, value, owner)
}

// readClaim returns the owner of the reservation stream's last claim.
func (d *Deps) readClaim(ctx context.Context, stream string) (owner string, rev uint64, at time.Time, found bool, err error) {
	opts := eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: 1}
	for ev, rerr := range d.Store.ReadStream(ctx, stream, opts) {
		if rerr != nil {
			if errors.Is(rerr, eventstore.ErrStreamNotFound) {
				return "", 0, time.Time{}, false, nil
			}
			return "", 0, time.Time{}, false, storeError("read "+stream, rerr)
		}
		payload, derr := d.Registry.Decode(ev)
		if derr != nil {
			return "", 0, time.Time{}, false, derr
		}
		c, ok := payload.(domain.ReservationClaimed)
		if !ok {
			return "", 0, time.Time{}, false, fmt.Errorf("%w: %s holds a %s event", eventstore.ErrCorrupt, stream, ev.Type)
		}
		return c.Owner, ev.Revision, ev.Metadata.OccurredAt, true, nil
	}
	return "", 0, time.Time{}, false, nil
}
