package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Position is a place in the global log. Events are totally ordered by (Commit, Prepare).
// The zero Position is before every event. For the embedded backend Commit == Prepare == the
// event's sequence number, starting at 1.
type Position struct {
	Commit  uint64
	Prepare uint64
}

// Less reports whether p comes strictly before q.
func (p Position) Less(q Position) bool {
	if p.Commit != q.Commit {
		return p.Commit < q.Commit
	}
	return p.Prepare < q.Prepare
}

// IsZero reports whether p is the start of the log.
func (p Position) IsZero() bool { return p == Position{} }

// String formats p as "C" when Commit == Prepare, else "C/P". ParsePosition reads both forms.
func (p Position) String() string {
	if p.Commit == p.Prepare {
		return fmt.Sprintf("%d", p.Commit)
	}
	return fmt.Sprintf("%d/%d", p.Commit, p.Prepare)
}

// ParsePosition parses the output of Position.String.
func ParsePosition(s string) (Position, error) {
	var p Position
	c, r, two := strings.Cut(s, "/")
	if _, err := fmt.Sscanf(c, "%d", &p.Commit); err != nil || fmt.Sprint(p.Commit) != c {
		return Position{}, fmt.Errorf("%w: position %q: want C or C/P with C and P unsigned integers", ErrInvalidArgument, s)
	}
	p.Prepare = p.Commit
	if two {
		if _, err := fmt.Sscanf(r, "%d", &p.Prepare); err != nil || fmt.Sprint(p.Prepare) != r {
			return Position{}, fmt.Errorf("%w: position %q: want C or C/P with C and P unsigned integers", ErrInvalidArgument, s)
		}
	}
	return p, nil
}

// Metadata is carried by every event: it is what makes the log an audit trail.
type Metadata struct {
	EnvironmentID string    `json:"env,omitempty"`
	Actor         string    `json:"actor,omitempty"`
	CorrelationID string    `json:"corr,omitempty"`
	CausationID   string    `json:"cause,omitempty"`
	OccurredAt    time.Time `json:"at"`
	// Extra holds further audit context (client address, user agent, token ID...). Keys are
	// short stable names; values never hold secrets.
	Extra map[string]string `json:"x,omitempty"`
}

// EventData is an event to append.
type EventData struct {
	// ID identifies the event globally (UUIDv7). Appends are idempotent by ID.
	ID uuid.UUID
	// Type is the stable event type name, e.g. "user.created". Required; must not begin with "$".
	Type string
	// PayloadVersion is the version of Data's shape, from 1.
	PayloadVersion uint32
	// Data is the JSON payload.
	Data     json.RawMessage
	Metadata Metadata
}

// RecordedEvent is an event as committed.
type RecordedEvent struct {
	ID             uuid.UUID
	Stream         string
	Revision       uint64
	Position       Position
	Type           string
	PayloadVersion uint32
	Data           json.RawMessage
	Metadata       Metadata
	// RecordedAt is when the store committed the event (UTC).
	RecordedAt time.Time
}

// ExpectedRevision states what the writer believes about a stream before it writes.
type ExpectedRevision struct {
	kind expectKind
	rev  uint64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectStreamExists
	expectExact
)

var (
	// Any accepts the stream in any state (but a tombstoned stream is still refused).
	Any = ExpectedRevision{kind: expectAny}
	// NoStream requires that the stream does not exist (never written, or soft-deleted).
	NoStream = ExpectedRevision{kind: expectNoStream}
	// StreamExists requires that the stream exists and is not deleted.
	StreamExists = ExpectedRevision{kind: expectStreamExists}
)

// Exact requires the stream's last event to be at revision rev.
func Exact(rev uint64) ExpectedRevision { return ExpectedRevision{kind: expectExact, rev: rev} }

// IsAny, IsNoStream, IsStreamExists report the rule; Exact reports the revision of an exact rule.
func (e ExpectedRevision) IsAny() bool          { return e.kind == expectAny }
func (e ExpectedRevision) IsNoStream() bool     { return e.kind == expectNoStream }
func (e ExpectedRevision) IsStreamExists() bool { return e.kind == expectStreamExists }

// Revision returns the revision of an Exact rule and whether e is one.
func (e ExpectedRevision) Revision() (uint64, bool) { return e.rev, e.kind == expectExact }

// Check reports whether the rule holds for a stream in the given state.
func (e ExpectedRevision) Check(exists bool, last uint64) bool {
	switch e.kind {
	case expectNoStream:
		return !exists
	case expectStreamExists:
		return exists
	case expectExact:
		return exists && last == e.rev
	}
	return true
}

func (e ExpectedRevision) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectStreamExists:
		return "stream exists"
	case expectExact:
		return fmt.Sprintf("revision %d", e.rev)
	}
	return "any"
}

// AppendResult reports a committed append: the revision and position of its last event.
type AppendResult struct {
	NextExpectedRevision uint64
	Position             Position
}

// DeleteResult reports the position of the deletion marker written, where the backend has one.
type DeleteResult struct {
	Position Position
}

// Direction of a read.
type Direction uint8

const (
	Forwards Direction = iota
	Backwards
)

// ReadStreamOptions selects a slice of one stream.
type ReadStreamOptions struct {
	Direction Direction
	// From is the first revision read (inclusive). FromEnd starts at the last event instead
	// (useful backwards); it overrides From.
	From    uint64
	FromEnd bool
	// MaxCount bounds the number of events returned; 0 means no bound.
	MaxCount uint64
}

// Filter restricts $all reads and subscriptions to streams or event types with given prefixes.
// Exactly one of the two lists may be set. A nil *Filter matches every non-system event.
type Filter struct {
	StreamPrefixes    []string
	EventTypePrefixes []string
}

// Validate reports a malformed filter.
func (f *Filter) Validate() error {
	if f == nil {
		return nil
	}
	if len(f.StreamPrefixes) > 0 && len(f.EventTypePrefixes) > 0 {
		return fmt.Errorf("%w: filter: set stream prefixes or event type prefixes, not both", ErrInvalidArgument)
	}
	if len(f.StreamPrefixes) == 0 && len(f.EventTypePrefixes) == 0 {
		return fmt.Errorf("%w: filter: no prefixes given", ErrInvalidArgument)
	}
	return nil
}

// Match reports whether an event of the given stream and type passes f.
func (f *Filter) Match(stream, eventType string) bool {
	if f == nil {
		return true
	}
	ps, s := f.StreamPrefixes, stream
	if len(ps) == 0 {
		ps, s = f.EventTypePrefixes, eventType
	}
	for _, p := range ps {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// ReadAllOptions selects a slice of the global log. System events ("$"-prefixed streams or
// types, such as stream metadata) are never returned.
type ReadAllOptions struct {
	Direction Direction
	// From is the first position read (inclusive); the zero Position is the start of the log.
	// FromEnd starts at the end instead (useful backwards); it overrides From.
	From     Position
	FromEnd  bool
	Filter   *Filter
	MaxCount uint64
}

// SubscribeAllOptions starts a subscription to the global log.
type SubscribeAllOptions struct {
	// After: deliver events strictly after this position. The zero Position means from the start.
	After Position
	// FromEnd: deliver only events committed after the subscription starts; overrides After.
	FromEnd bool
	Filter  *Filter
	// CheckpointInterval: when a filter is set, a Checkpoint is delivered at the latest after
	// this many consecutive events were filtered out, and whenever the subscription catches up
	// with the head while events were filtered out since the last delivery. 0 means 32.
	CheckpointInterval uint32
}

// MessageKind tells what a subscription Message carries.
type MessageKind uint8

const (
	// MessageEvent: Event is the next matching event.
	MessageEvent MessageKind = iota + 1
	// MessageCheckpoint: every event at or before Position has been delivered or filtered out.
	// A consumer may store Position and resume from it with SubscribeAllOptions.After.
	MessageCheckpoint
	// MessageCaughtUp: the subscription has delivered everything committed when it started and
	// is now live. Sent once per subscription, by backends whose Features say so.
	MessageCaughtUp
)

// Message is one item of a subscription.
type Message struct {
	Kind     MessageKind
	Event    RecordedEvent // when Kind == MessageEvent
	Position Position      // of the event, or of the checkpoint
}

// Subscription delivers events in commit order with no gap and no duplicate.
//
// Next blocks until a message is available, ctx is done, or the subscription fails. After an
// error the subscription is finished; the consumer resubscribes from its last position.
// Close is safe to call concurrently with Next and more than once. A slow consumer never blocks
// writers and loses nothing: backends read what it has not consumed yet from the log.
type Subscription interface {
	Next(ctx context.Context) (Message, error)
	Close() error
}

// StreamMetadata drives data lifecycle: what of a stream stays readable.
type StreamMetadata struct {
	// MaxAge: events older than this (by RecordedAt) are no longer readable from the stream.
	MaxAge time.Duration
	// MaxCount: only the last MaxCount events stay readable.
	MaxCount uint64
	// TruncateBefore: events with a lower revision are no longer readable.
	TruncateBefore *uint64
}
