package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"unicode/utf8"
)

// Store is the event log. Every method is safe for concurrent use.
//
// Errors are wrapped sentinels of this package: ErrWrongExpectedRevision (as
// *WrongExpectedRevisionError), ErrStreamNotFound, ErrStreamDeleted, ErrInvalidArgument,
// ErrUnavailable, ErrClosed, ErrCorrupt. A context that is done makes a call return its error;
// an append interrupted that way may or may not have committed (retry it with the same IDs).
type Store interface {
	// Append writes events atomically at the end of stream if expected holds, and returns once
	// they are durable.
	//
	// Appends are idempotent by event ID, as in EventStoreDB: a retry of a committed batch (same
	// event IDs, same stream) writes nothing and returns the original result. A retry is always
	// recognised when it repeats the original Exact or NoStream expectation, however much later;
	// with Any or StreamExists it is recognised while the original is among the backend's recent
	// writes (the embedded backend remembers the last 65,536 events). See the package
	// documentation for what each backend does with IDs reused otherwise.
	// A tombstoned stream gives ErrStreamDeleted. Appending to a soft-deleted stream revives it:
	// revisions continue after the last one ever written.
	Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error)

	// ReadStream yields the stream's readable events (see StreamMetadata) in the asked order.
	// A stream with no readable events yields ErrStreamNotFound; a tombstoned one ErrStreamDeleted.
	ReadStream(ctx context.Context, stream string, opts ReadStreamOptions) iter.Seq2[RecordedEvent, error]

	// ReadAll yields events of the global log in position order. It yields events of soft-deleted
	// or truncated streams until the backend physically removes them (scavenging).
	ReadAll(ctx context.Context, opts ReadAllOptions) iter.Seq2[RecordedEvent, error]

	// SubscribeAll catches up from the asked position, then goes live.
	SubscribeAll(ctx context.Context, opts SubscribeAllOptions) (Subscription, error)

	// DeleteStream soft-deletes: the stream reads as not found, and may be written again.
	DeleteStream(ctx context.Context, stream string, expected ExpectedRevision) (DeleteResult, error)

	// TombstoneStream deletes for ever: every later read or write of the stream fails with
	// ErrStreamDeleted.
	TombstoneStream(ctx context.Context, stream string, expected ExpectedRevision) (DeleteResult, error)

	// SetStreamMetadata replaces the metadata the caller set on stream. expected applies to the
	// caller's metadata revisions, counting only these calls (NoStream for the first);
	// DeleteStream, revival and TombstoneStream take no metadata revision. Metadata never brings
	// back events that a soft delete hid, whatever its TruncateBefore, and writing it does not
	// revive a soft-deleted stream.
	SetStreamMetadata(ctx context.Context, stream string, expected ExpectedRevision, meta StreamMetadata) (AppendResult, error)

	// GetStreamMetadata returns the metadata the caller last set and its revision. found is
	// false when the caller never set any, including after DeleteStream; metadata set before a
	// soft delete is still returned after it and after a revival.
	GetStreamMetadata(ctx context.Context, stream string) (meta StreamMetadata, revision uint64, found bool, err error)

	// Close releases the store. Subscriptions end with ErrClosed.
	Close() error
}

// ValidateStreamName rejects names a client may not write: empty, over 1,024 bytes, reserved
// ("$"-prefixed), or not UTF-8.
func ValidateStreamName(stream string) error {
	switch {
	case stream == "":
		return errorf(ErrInvalidArgument, "stream name is empty")
	case len(stream) > 1024:
		return errorf(ErrInvalidArgument, "stream name is %d bytes long, over 1024", len(stream))
	case stream[0] == '$':
		return errorf(ErrInvalidArgument, "stream %q: names beginning with $ are reserved", stream)
	case !utf8.ValidString(stream):
		return errorf(ErrInvalidArgument, "stream %q: name is not valid UTF-8", stream)
	}
	return nil
}

// ValidateEvents rejects a batch a backend must not write: none, a zero or duplicate ID, an
// empty or reserved type, payload version 0, an occurred-at outside years 1 to 9999 (UTC), text
// that is not UTF-8, data that is not JSON.
func ValidateEvents(stream string, events []EventData) error {
	if len(events) == 0 {
		return errorf(ErrInvalidArgument, "append to %q: no events", stream)
	}
	seen := make(map[[16]byte]struct{}, len(events))
	for i, e := range events {
		switch {
		case e.ID == [16]byte{}:
			return errorf(ErrInvalidArgument, "append to %q: event %d: ID is zero", stream, i)
		case e.Type == "":
			return errorf(ErrInvalidArgument, "append to %q: event %d: type is empty", stream, i)
		case e.Type[0] == '$':
			return errorf(ErrInvalidArgument, "append to %q: event %d: type %q: types beginning with $ are reserved", stream, i, e.Type)
		case e.PayloadVersion == 0:
			return errorf(ErrInvalidArgument, "append to %q: event %d (%s): payload version must be at least 1", stream, i, e.Type)
		case !e.Metadata.OccurredAt.IsZero() && (e.Metadata.OccurredAt.UTC().Year() < 1 || e.Metadata.OccurredAt.UTC().Year() > 9999):
			return errorf(ErrInvalidArgument, "append to %q: event %d (%s): occurred-at year %d (UTC) is outside 1 to 9999", stream, i, e.Type, e.Metadata.OccurredAt.UTC().Year())
		case !utf8.ValidString(e.Type):
			return errorf(ErrInvalidArgument, "append to %q: event %d: type is not valid UTF-8", stream, i)
		case len(e.Data) > 0 && !json.Valid(e.Data):
			return errorf(ErrInvalidArgument, "append to %q: event %d (%s): data is not valid JSON", stream, i, e.Type)
		}
		// Metadata travels as JSON and types as protobuf strings: text only.
		if field := invalidUTF8(e); field != "" {
			return errorf(ErrInvalidArgument, "append to %q: event %d (%s): %s is not valid UTF-8", stream, i, e.Type, field)
		}
		if _, dup := seen[e.ID]; dup {
			return errorf(ErrInvalidArgument, "append to %q: event %d: ID %s appears twice in the batch", stream, i, e.ID)
		}
		seen[e.ID] = struct{}{}
	}
	return nil
}

// invalidUTF8 names the first text field of e that is not valid UTF-8, or returns "".
func invalidUTF8(e EventData) string {
	m := e.Metadata
	for _, f := range [...]struct{ name, v string }{{"type", e.Type}, {"environment ID", m.EnvironmentID}, {"actor", m.Actor},
		{"correlation ID", m.CorrelationID}, {"causation ID", m.CausationID}} {
		if !utf8.ValidString(f.v) {
			return f.name
		}
	}
	for k, v := range m.Extra {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Sprintf("extra metadata %q", k)
		}
	}
	return ""
}

func errorf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{kind}, args...)...)
}

// AppendSize is how every backend measures an append against its size limit: the sum over its
// events of len(Data) plus the length of Metadata's JSON encoding (EventStoreDB's wire format
// carries metadata as JSON, so this is the measure its limit applies to).
func AppendSize(events []EventData) int {
	n := 0
	for _, e := range events {
		m, _ := json.Marshal(e.Metadata) // marshals once ValidateEvents has passed: strings, a time in range, a map
		n += len(e.Data) + len(m)
	}
	return n
}

// appendSizeBounds returns cheap lower and upper bounds of AppendSize.
func appendSizeBounds(events []EventData) (lo, hi int) {
	for _, e := range events {
		m := &e.Metadata
		strs := len(m.EnvironmentID) + len(m.Actor) + len(m.CorrelationID) + len(m.CausationID)
		for k, v := range m.Extra {
			strs += len(k) + len(v) + 6
		}
		lo += len(e.Data)
		// Keys, quotes and the time take under 128 bytes; escaping grows a byte to at most 6.
		hi += len(e.Data) + 128 + 6*strs
	}
	return lo, hi
}

// CheckAppendSize returns ErrInvalidArgument when events exceed limit bytes by AppendSize,
// computing AppendSize only when cheap bounds cannot decide. Call it after ValidateEvents.
func CheckAppendSize(stream string, events []EventData, limit int) error {
	lo, hi := appendSizeBounds(events)
	if hi <= limit {
		return nil
	}
	size := lo
	if lo <= limit {
		size = AppendSize(events)
	}
	if size > limit {
		return errorf(ErrInvalidArgument, "append to %q: %d bytes of data and metadata, over the limit of %d", stream, size, limit)
	}
	return nil
}

// Collect drains a read into a slice, stopping at its first error (returned with the events
// before it). For reads known to be small, such as one aggregate's stream.
func Collect(seq iter.Seq2[RecordedEvent, error]) ([]RecordedEvent, error) {
	var out []RecordedEvent
	for e, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}
