package eventstore

import (
	"errors"
	"fmt"
)

// Sentinel errors. Backends wrap them with the operation and the stream; callers test them with
// errors.Is. The set is deliberately small: commands map each to a domain error kind.
var (
	// ErrWrongExpectedRevision is the kind of every *WrongExpectedRevisionError.
	ErrWrongExpectedRevision = errors.New("wrong expected revision")
	// ErrStreamNotFound: the stream has no readable events (never written, or soft-deleted).
	ErrStreamNotFound = errors.New("stream not found")
	// ErrStreamDeleted: the stream was tombstoned; it can never be read or written again.
	ErrStreamDeleted = errors.New("stream deleted")
	// ErrInvalidArgument: the request is malformed (bad stream name, missing event type, event
	// too large, an event ID reused in a different batch...). Nothing was written.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnavailable: the backend could not be reached or answered with a transient failure.
	// The operation may or may not have taken effect; retrying with the same event IDs is safe.
	ErrUnavailable = errors.New("event store unavailable")
	// ErrClosed: the Store or Subscription was closed.
	ErrClosed = errors.New("event store closed")
	// ErrCorrupt: stored data failed an integrity check. The error names the file or record.
	ErrCorrupt = errors.New("event store data corrupt")
	// ErrUnknownEventType: the codec has no registration for a recorded event's type.
	ErrUnknownEventType = errors.New("unknown event type")
)

// WrongExpectedRevisionError reports an append, delete or metadata write whose expected revision
// did not hold. It carries the stream's actual state at the moment of the check.
type WrongExpectedRevisionError struct {
	Stream   string
	Expected ExpectedRevision
	// ActualExists is false when the stream did not exist (never written or soft-deleted);
	// ActualRevision is then meaningless.
	ActualExists   bool
	ActualRevision uint64
}

func (e *WrongExpectedRevisionError) Error() string {
	actual := "no stream"
	if e.ActualExists {
		actual = fmt.Sprintf("revision %d", e.ActualRevision)
	}
	return fmt.Sprintf("stream %q: expected %s, actual %s", e.Stream, e.Expected, actual)
}

// Is makes errors.Is(err, ErrWrongExpectedRevision) true.
func (e *WrongExpectedRevisionError) Is(target error) bool { return target == ErrWrongExpectedRevision }
