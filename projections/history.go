package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// History answers single-resource time travel: the state of one user, group, population or
// environment as of a log position, its versions, and diffs between two positions. Each answer
// replays only the streams the resource depends on (its own stream, its environment's and
// schema's, and for a group its members' and nested groups'), up to the position, into a
// throw-away Directory, so its cost grows with the resource's own events, not with the log.
// A resource reads exactly as the live Directory showed it once it had applied the log up to
// that position, but for what is environment-wide: a population's UserCount and a dynamic
// group's members are not given.
//
// Positions are the store's; a position past the head reads the present. Errors of the store
// are returned wrapped; a payload that does not decode is an error naming its position.
//
// A History is safe for concurrent use; it keeps no state between calls.
type History struct {
	store eventstore.Store
	reg   *eventstore.Registry
}

// NewHistory returns a History reading store and decoding with reg (see NewRegistry).
func NewHistory(store eventstore.Store, reg *eventstore.Registry) *History {
	return &History{store: store, reg: reg}
}

// EnvironmentVersion is an environment as of a position, with its schema.
type EnvironmentVersion struct {
	Environment Environment
	Schema      []domain.AttributeDef
}

// GroupVersion is a group as of a position, with its direct members.
type GroupVersion struct {
	Group   Group
	Members GroupMembers
}

// ResourceVersion is one event that changed a resource (or what it depends on, see History).
type ResourceVersion struct {
	Position   eventstore.Position
	RecordedAt time.Time
	OccurredAt time.Time
	EventType  string
	Stream     string
	Actor      string
}

// event is a decoded event of a resource's streams.
type event struct {
	Change
	Stream     string
	RecordedAt time.Time
}

// readStream returns the decoded events of stream at or before pos (all when pos is zero), in
// order; a missing stream has none. Reservation events and types this build does not know are
// skipped, as the Runner skips them.
func (h *History) readStream(ctx context.Context, stream string, pos eventstore.Position) ([]event, error) {
	var out []event
	for e, err := range h.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("history: read %s: %w", stream, err)
		}
		if !pos.IsZero() && pos.Less(e.Position) {
			break
		}
		if strings.HasPrefix(e.Type, reservationPrefix) {
			continue
		}
		d, err := h.reg.DecodeEvent(e)
		if errors.Is(err, eventstore.ErrUnknownEventType) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("history: event at position %s (%s in %s): %w", e.Position, e.Type, e.Stream, err)
		}
		out = append(out, event{Change: Change{Position: e.Position, Type: e.Type, Metadata: e.Metadata, Payload: d.Payload, Erased: d.Erased},
			Stream: e.Stream, RecordedAt: e.RecordedAt})
	}
	return out, nil
}

// streamsEvents reads each stream up to pos and merges their events in position order.
func (h *History) streamsEvents(ctx context.Context, pos eventstore.Position, streams ...string) ([]event, error) {
	var all []event
	seen := map[string]bool{}
	for _, s := range streams {
		if seen[s] {
			continue
		}
		seen[s] = true
		evs, err := h.readStream(ctx, s, pos)
		if err != nil {
			return nil, err
		}
		all = append(all, evs...)
	}
	slices.SortFunc(all, func(a, b event) int {
		switch {
		case a.Position.Less(b.Position):
			return -1
		case b.Position.Less(a.Position):
			return 1
		}
		return 0
	})
	return all, nil
}

func fold(evs []event) *Directory {
	d := NewDirectory()
	changes := make([]Change, len(evs))
	for i := range evs {
		changes[i] = evs[i].Change
	}
	d.Apply(changes...)
	return d
}

func envStreams(env string) []string {
	return []string{domain.StreamName(domain.CategoryEnvironment, env), domain.StreamName(domain.CategorySchema, env)}
}

// userEvents returns the events a user's state depends on, up to pos.
func (h *History) userEvents(ctx context.Context, env, userID string, pos eventstore.Position) ([]event, error) {
	return h.streamsEvents(ctx, pos, append(envStreams(env), domain.StreamName(domain.CategoryUser, userID))...)
}

// groupEvents returns the events a group's state and direct members depend on, up to pos: its
// environment and schema, its stream, its environment's group tree, the streams of every user
// it ever held directly and of every group ever nested in it.
func (h *History) groupEvents(ctx context.Context, env, groupID string, pos eventstore.Position) ([]event, error) {
	own, err := h.streamsEvents(ctx, pos, domain.StreamName(domain.CategoryGroup, groupID), domain.StreamName(domain.CategoryGroupTree, env))
	if err != nil {
		return nil, err
	}
	streams := envStreams(env)
	for _, e := range own {
		switch p := e.Payload.(type) {
		case domain.GroupMemberAdded:
			streams = append(streams, domain.StreamName(domain.CategoryUser, p.UserID))
		case domain.GroupNested:
			if p.ParentID == groupID {
				streams = append(streams, domain.StreamName(domain.CategoryGroup, p.ChildID))
			}
		}
	}
	more, err := h.streamsEvents(ctx, pos, streams...)
	if err != nil {
		return nil, err
	}
	all := append(own, more...)
	slices.SortFunc(all, func(a, b event) int {
		if a.Position.Less(b.Position) {
			return -1
		}
		if b.Position.Less(a.Position) {
			return 1
		}
		return 0
	})
	return all, nil
}

func (h *History) populationEvents(ctx context.Context, env, popID string, pos eventstore.Position) ([]event, error) {
	return h.streamsEvents(ctx, pos, append(envStreams(env), domain.StreamName(domain.CategoryPopulation, popID))...)
}

// asOf rewords a not-found error of a replay at pos.
func asOf(err error, pos eventstore.Position) error {
	if errors.Is(err, domain.ErrNotFound) {
		return fmt.Errorf("%w as of position %s", err, pos)
	}
	return err
}

// checkPos rejects the zero position: time travel needs a place in the log.
func checkPos(pos eventstore.Position) error {
	if pos.IsZero() {
		return domain.Invalidf("position", "a position is required (the log's start holds nothing)")
	}
	return nil
}

// UserAt returns user userID of environment env as of pos. A user that did not exist at pos
// (not yet created, or deleted by then), or of another environment, or whose environment did
// not exist then, is domain.ErrNotFound ("… as of position P"). The zero pos is ErrInvalid.
func (h *History) UserAt(ctx context.Context, env, userID string, pos eventstore.Position) (*User, error) {
	if err := checkPos(pos); err != nil {
		return nil, err
	}
	evs, err := h.userEvents(ctx, env, userID, pos)
	if err != nil {
		return nil, err
	}
	u, err := fold(evs).User(env, userID)
	return u, asOf(err, pos)
}

// GroupAt returns group groupID of environment env as of pos, with its direct members (users
// and nested groups) then. A dynamic group's members are not given (their computation is an
// environment-wide question): its Members are empty. Errors as UserAt's.
func (h *History) GroupAt(ctx context.Context, env, groupID string, pos eventstore.Position) (GroupVersion, error) {
	if err := checkPos(pos); err != nil {
		return GroupVersion{}, err
	}
	evs, err := h.groupEvents(ctx, env, groupID, pos)
	if err != nil {
		return GroupVersion{}, err
	}
	d := fold(evs)
	g, err := d.Group(env, groupID)
	if err != nil {
		return GroupVersion{}, asOf(err, pos)
	}
	if g.Kind == domain.GroupDynamic {
		return GroupVersion{Group: g}, nil
	}
	m, err := d.GroupMembers(env, groupID, false)
	if err != nil {
		return GroupVersion{}, asOf(err, pos)
	}
	return GroupVersion{Group: g, Members: m}, nil
}

// PopulationAt returns population popID of environment env as of pos. Its UserCount is not
// counted (zero): that is an environment-wide question. Errors as UserAt's.
func (h *History) PopulationAt(ctx context.Context, env, popID string, pos eventstore.Position) (Population, error) {
	if err := checkPos(pos); err != nil {
		return Population{}, err
	}
	evs, err := h.populationEvents(ctx, env, popID, pos)
	if err != nil {
		return Population{}, err
	}
	p, err := fold(evs).Population(env, popID)
	return p, asOf(err, pos)
}

// EnvironmentAt returns environment env (its password policy included) and its schema as of pos.
// Errors as UserAt's.
func (h *History) EnvironmentAt(ctx context.Context, env string, pos eventstore.Position) (EnvironmentVersion, error) {
	if err := checkPos(pos); err != nil {
		return EnvironmentVersion{}, err
	}
	evs, err := h.streamsEvents(ctx, pos, envStreams(env)...)
	if err != nil {
		return EnvironmentVersion{}, err
	}
	d := fold(evs)
	e, err := d.Environment(env)
	if err != nil {
		return EnvironmentVersion{}, asOf(err, pos)
	}
	schema, err := d.Schema(env)
	return EnvironmentVersion{Environment: e, Schema: schema}, asOf(err, pos)
}

// Resource types, as ResourceDiff names them.
const (
	ResourceUser        = "user"
	ResourceGroup       = "group"
	ResourcePopulation  = "population"
	ResourceEnvironment = "environment"
)

// resourceType finds what resourceID names by the stream that exists: user-, group-,
// population- or environment-<id>. None is ErrNotFound.
func (h *History) resourceType(ctx context.Context, resourceID string) (string, error) {
	if resourceID == "" {
		return "", domain.Invalidf("resourceId", "is empty")
	}
	for _, cat := range []string{domain.CategoryUser, domain.CategoryGroup, domain.CategoryPopulation, domain.CategoryEnvironment} {
		for _, err := range h.store.ReadStream(ctx, domain.StreamName(cat, resourceID), eventstore.ReadStreamOptions{MaxCount: 1}) {
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				break
			}
			if err != nil {
				return "", fmt.Errorf("history: find resource %s: %w", resourceID, err)
			}
			return cat, nil
		}
	}
	return "", domain.NotFoundf("resource %s", resourceID)
}

// resourceEvents returns the events resource id of env depends on, up to pos (zero: all), and
// its type.
func (h *History) resourceEvents(ctx context.Context, env, id string, pos eventstore.Position) (string, []event, error) {
	typ, err := h.resourceType(ctx, id)
	if err != nil {
		return "", nil, err
	}
	var evs []event
	switch typ {
	case ResourceUser:
		evs, err = h.userEvents(ctx, env, id, pos)
	case ResourceGroup:
		evs, err = h.groupEvents(ctx, env, id, pos)
	case ResourcePopulation:
		evs, err = h.populationEvents(ctx, env, id, pos)
	case ResourceEnvironment:
		if id != env {
			return "", nil, domain.NotFoundf("environment %s in environment %s", id, env)
		}
		evs, err = h.streamsEvents(ctx, pos, envStreams(env)...)
	}
	return typ, evs, err
}

// ResourcePositionAt returns the position of the last event, in the streams resource
// resourceID of env depends on, recorded (by the store's clock, RecordedAt) at or before at:
// the position to replay the resource at as of that instant. Nothing recorded by then is
// ErrNotFound; an unknown resource too. It reads the resource's streams whole, not the log.
func (h *History) ResourcePositionAt(ctx context.Context, env, resourceID string, at time.Time) (eventstore.Position, error) {
	_, evs, err := h.resourceEvents(ctx, env, resourceID, eventstore.Position{})
	if err != nil {
		return eventstore.Position{}, err
	}
	var pos eventstore.Position
	for _, e := range evs { // not assuming commit times grow with positions across streams
		if !e.RecordedAt.After(at) && pos.Less(e.Position) {
			pos = e.Position
		}
	}
	if pos.IsZero() {
		return pos, domain.NotFoundf("resource %s as of %s: nothing recorded by then", resourceID, at.UTC().Format(time.RFC3339Nano))
	}
	return pos, nil
}

// Versions lists the events that changed resource resourceID of env, oldest first: those of
// its own stream, and for a user the schema events that changed its custom values (a forced
// attribute removal). An unknown resource, or one of another environment, is ErrNotFound.
func (h *History) Versions(ctx context.Context, env, resourceID string) ([]ResourceVersion, error) {
	typ, evs, err := h.resourceEvents(ctx, env, resourceID, eventstore.Position{})
	if err != nil {
		return nil, err
	}
	if !belongs(evs, env, typ, resourceID) {
		return nil, domain.NotFoundf("%s %s in environment %s", typ, resourceID, env)
	}
	var out []ResourceVersion
	w := newWalker(typ, env, resourceID)
	for i := range evs {
		e := &evs[i]
		if !w.step(e) {
			continue
		}
		out = append(out, ResourceVersion{Position: e.Position, RecordedAt: e.RecordedAt, OccurredAt: e.Metadata.OccurredAt,
			EventType: e.Type, Stream: e.Stream, Actor: e.Metadata.Actor})
	}
	return out, nil
}

// belongs reports whether the resource's own stream holds events of environment env.
func belongs(evs []event, env, typ, id string) bool {
	own := domain.StreamName(typ, id)
	for _, e := range evs {
		if e.Stream == own {
			return e.Metadata.EnvironmentID == env || (typ == ResourceEnvironment && id == env)
		}
	}
	return false
}
