package propagation

import (
	"encoding/json"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// Change is the payload of an identity change message: identity IdentityID of Kind in
// environment Env changed at log position Position by event EventID. KindRevision messages
// announce a published revision (IdentityID is the revision ID).
type Change struct {
	Env        string              `json:"env"`
	Kind       domain.IdentityKind `json:"kind"`
	IdentityID string              `json:"identityId"`
	Position   string              `json:"position"`
	EventID    string              `json:"eventId"`
	EventType  string              `json:"eventType,omitempty"`
	// CommittedAt is when the source event was committed (for the latency metric).
	CommittedAt time.Time `json:"committedAt,omitzero"`
}

// KindRevision is the Change kind of a published revision.
const KindRevision domain.IdentityKind = "REVISION"

// Metadata keys of propagation messages.
const (
	MetaEnv      = "env"
	MetaKind     = "kind"
	MetaIdentity = "identity"
	MetaPosition = "position"
	MetaEvent    = "event"
	// MetaCorrelation is Watermill's correlation ID key (middleware.CorrelationID).
	MetaCorrelation = "correlation_id"
)

// newMessage encodes c as a message whose UUID derives from the source event and the identity
// (the source event ID itself for the event's own identity), so a republished change is
// recognised by the bus (NATS de-duplication) and by the reconciler alike.
func newMessage(c Change, correlation string) (*message.Message, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	id := uuid.NewSHA1(namespace(), []byte("message|"+c.EventID+"|"+string(c.Kind)+"|"+c.IdentityID)).String()
	msg := message.NewMessage(id, b)
	msg.Metadata.Set(MetaEnv, c.Env)
	msg.Metadata.Set(MetaKind, string(c.Kind))
	msg.Metadata.Set(MetaIdentity, c.IdentityID)
	msg.Metadata.Set(MetaPosition, c.Position)
	msg.Metadata.Set(MetaEvent, c.EventID)
	if correlation != "" {
		msg.Metadata.Set(MetaCorrelation, correlation)
	}
	return msg, nil
}

// DecodeChange decodes and validates a message payload; a malformed one is an error of kind
// domain.ErrInvalid naming the field.
func DecodeChange(payload []byte) (Change, eventstore.Position, error) {
	var c Change
	if err := json.Unmarshal(payload, &c); err != nil {
		return Change{}, eventstore.Position{}, domain.Invalidf("message", "not a propagation change: %v", err)
	}
	switch {
	case c.Env == "":
		return c, eventstore.Position{}, domain.Invalidf("env", "missing")
	case c.IdentityID == "":
		return c, eventstore.Position{}, domain.Invalidf("identityId", "missing")
	case c.EventID == "":
		return c, eventstore.Position{}, domain.Invalidf("eventId", "missing")
	}
	switch c.Kind {
	case domain.IdentityUser, domain.IdentityGroup, KindRevision:
	default:
		return c, eventstore.Position{}, domain.Invalidf("kind", "unknown kind %q", c.Kind)
	}
	var pos eventstore.Position
	if c.Position != "" {
		p, err := eventstore.ParsePosition(c.Position)
		if err != nil {
			return c, eventstore.Position{}, domain.Invalidf("position", "%v", err)
		}
		pos = p
	}
	return c, pos, nil
}
