package projections

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// AuditRecord is one event of the log as the audit trail shows it: who (actor, token, client
// address, user agent), why (correlation and causation), when, what resource, and the payload
// with sensitive values redacted.
type AuditRecord struct {
	Position      eventstore.Position
	EventID       string
	Stream        string
	Revision      uint64
	Type          string
	EnvironmentID string
	Actor         string
	CorrelationID string
	CausationID   string
	OccurredAt    time.Time
	RecordedAt    time.Time
	ClientAddress string
	UserAgent     string
	TokenID       string
	// ResourceType and ResourceID come from the stream name <category>-<id>; the streams of an
	// environment's schema and group tree (schema-<env>, grouptree-<env>) name the environment,
	// and a propagation outcome's (propaccount-<rule>_<identity>) names the identity, as resource
	// type user or group.
	ResourceType string
	ResourceID   string
	// Data is the payload as JSON, every field tagged `audit:"redact"` replaced by "[redacted]",
	// and, when PersonalDataErased, every personal field by "[erased]".
	Data json.RawMessage
	// PersonalDataErased: the event's personal data belonged to a forgotten subject.
	PersonalDataErased bool
}

// Erased is what the audit trail shows in place of a forgotten subject's personal data.
const Erased = "[erased]"

// Redacted is what the audit trail shows in place of a sensitive value.
const Redacted = "[redacted]"

// AuditQuery selects audit records of one environment.
type AuditQuery struct {
	EnvironmentID string // required
	ActorID       string
	ResourceType  string
	ResourceID    string
	// EventType is a type, or a prefix ending in "." (user.).
	EventType string
	// From and To bound the occurred-at time (inclusive); zero: unbounded.
	From, To time.Time
	// First is the page size: 0 means 50; at most 1,000.
	First int
	// After is the EndCursor of the previous page.
	After string
}

// AuditPage is a page of records, newest first.
type AuditPage struct {
	Records     []AuditRecord
	EndCursor   string
	HasNextPage bool
}

// auditEntry is what the index keeps of one event: enough to filter without reading the log.
type auditEntry struct {
	pos        eventstore.Position
	typ, actor string // interned
	resType    string // interned
	resID      string
	occurredAt int64 // Unix nanoseconds
}

// AuditLog is the audit trail: an index of the log's events by environment, kept current by its
// own subscription to $all, answering filtered pages newest first (filters run on the index;
// only the page's events are read back from the log), single records, a resource's history from
// its own stream, and live feeds. Reservation streams are bookkeeping, not audit records.
// Methods are safe for concurrent use.
type AuditLog struct {
	store eventstore.Store
	reg   *eventstore.Registry

	mu       sync.RWMutex
	byEnv    map[string][]auditEntry
	intern   map[string]string
	progress *Progress
}

// NewAuditLog returns an audit log over store, decoding payloads with reg. Start it.
func NewAuditLog(store eventstore.Store, reg *eventstore.Registry) *AuditLog {
	return &AuditLog{store: store, reg: reg, byEnv: map[string][]auditEntry{}, intern: map[string]string{},
		progress: NewProgress("audit")}
}

// Start subscribes to the log from its start and indexes in the background until ctx ends.
func (l *AuditLog) Start(ctx context.Context) error {
	sub, err := l.store.SubscribeAll(ctx, eventstore.SubscribeAllOptions{Filter: auditFilter(), CheckpointInterval: catchUpBatch})
	if err != nil {
		return fmt.Errorf("audit: subscribe to $all: %w", err)
	}
	go func() {
		defer sub.Close()
		for {
			msg, err := sub.Next(ctx)
			if err != nil {
				if ctx.Err() != nil {
					err = fmt.Errorf("%w: %w", ErrStopped, ctx.Err())
				}
				l.progress.Stop(fmt.Errorf("audit: subscription: %w", err))
				return
			}
			l.mu.Lock()
			if msg.Kind == eventstore.MessageEvent && !strings.HasPrefix(msg.Event.Type, reservationPrefix) {
				e := &msg.Event
				resType, resID := resourceOfEvent(e)
				l.byEnv[e.Metadata.EnvironmentID] = append(l.byEnv[e.Metadata.EnvironmentID], auditEntry{pos: e.Position,
					typ: l.internLocked(e.Type), actor: l.internLocked(e.Metadata.Actor), resType: l.internLocked(resType),
					resID: resID, occurredAt: e.Metadata.OccurredAt.UnixNano()})
			}
			l.mu.Unlock()
			l.progress.Advance(msg.Position)
		}
	}()
	return nil
}

func (l *AuditLog) internLocked(s string) string {
	if v, ok := l.intern[s]; ok {
		return v
	}
	l.intern[s] = s
	return s
}

// WaitFor returns once the index has passed pos, or with its error, or ctx's (of kind
// domain.ErrUnavailable).
func (l *AuditLog) WaitFor(ctx context.Context, pos eventstore.Position) error {
	return l.progress.WaitFor(ctx, pos)
}

// CatchUp waits until the index has passed the log's head as of the call.
func (l *AuditLog) CatchUp(ctx context.Context) error {
	head, _, err := LastEvent(ctx, l.store)
	if err != nil {
		return err
	}
	return l.WaitFor(ctx, head)
}

// resourceOf names the resource of a stream.
func resourceOf(stream string) (typ, id string) {
	cat, id, ok := strings.Cut(stream, "-")
	if !ok {
		return "", ""
	}
	return cat, id
}

// resourceOfEvent names the resource of an event: its stream's, but for a propagation outcome
// (stream propaccount-<rule>_<identity>), whose resource is the identity it is about, a user or
// a group, read from the payload's plain part (kind, identityId).
func resourceOfEvent(e *eventstore.RecordedEvent) (typ, id string) {
	typ, id = resourceOf(e.Stream)
	if typ != domain.CategoryPropagationAccount {
		return typ, id
	}
	var o struct {
		Kind       domain.IdentityKind `json:"kind"`
		IdentityID string              `json:"identityId"`
	}
	if json.Unmarshal(e.Data, &o) != nil || o.IdentityID == "" {
		return typ, id
	}
	switch o.Kind {
	case domain.IdentityUser:
		return domain.CategoryUser, o.IdentityID
	case domain.IdentityGroup:
		return domain.CategoryGroup, o.IdentityID
	}
	return typ, id
}

// isOutcome reports whether an event type is a change order's outcome, or drift found on the
// identity's account (both are about the identity, on its account stream).
func isOutcome(typ string) bool {
	return strings.HasPrefix(typ, "propagation.change_") || typ == domain.EvPropDriftDetected || typ == domain.EvPropDriftResolved
}

// validate checks q and returns its page size and the position its cursor resumes before.
func (q AuditQuery) validate() (int, eventstore.Position, bool, error) {
	var errs []error
	if q.EnvironmentID == "" {
		errs = append(errs, domain.Invalidf("environmentId", "is required"))
	}
	first := q.First
	if first == 0 {
		first = 50
	}
	if first < 0 || first > 1000 {
		errs = append(errs, domain.Invalidf("first", "must be between 0 and 1000"))
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.From.After(q.To) {
		errs = append(errs, domain.Invalidf("filter.from", "%s is after filter.to (%s)", q.From.Format(time.RFC3339Nano), q.To.Format(time.RFC3339Nano)))
	}
	var before eventstore.Position
	hasCursor := q.After != ""
	if hasCursor {
		raw, err := base64.RawURLEncoding.DecodeString(q.After)
		p, perr := eventstore.ParsePosition(strings.TrimPrefix(string(raw), "audit:"))
		if err != nil || perr != nil || !strings.HasPrefix(string(raw), "audit:") {
			errs = append(errs, domain.Invalidf("after", "%q is not a cursor of this list", q.After))
		}
		before = p
	}
	return first, before, hasCursor, errors.Join(errs...)
}

// AuditCursor is the cursor of the record at pos: a page resumes after it (older records).
func AuditCursor(pos eventstore.Position) string {
	return base64.RawURLEncoding.EncodeToString([]byte("audit:" + pos.String()))
}

// matches reports whether the indexed entry passes q's filters.
func (q AuditQuery) matches(e *auditEntry) bool {
	switch {
	case q.ActorID != "" && e.actor != q.ActorID,
		q.ResourceType != "" && e.resType != q.ResourceType,
		q.ResourceID != "" && e.resID != q.ResourceID,
		!q.From.IsZero() && e.occurredAt < q.From.UnixNano(),
		!q.To.IsZero() && e.occurredAt > q.To.UnixNano():
		return false
	case q.EventType == "":
		return true
	case strings.HasSuffix(q.EventType, "."):
		return strings.HasPrefix(e.typ, q.EventType)
	}
	return e.typ == q.EventType
}

// Events returns a page of q's records, newest first. Its filters run on the index; the page's
// events are then read from the log. Invalid queries are domain.ErrInvalid naming the field.
func (l *AuditLog) Events(ctx context.Context, q AuditQuery) (AuditPage, error) {
	first, before, hasCursor, err := q.validate()
	if err != nil {
		return AuditPage{}, err
	}
	l.mu.RLock()
	entries := l.byEnv[q.EnvironmentID]
	var picked []eventstore.Position
	more := false
	for i := len(entries) - 1; i >= 0; i-- {
		e := &entries[i]
		if hasCursor && !e.pos.Less(before) {
			continue
		}
		if !q.matches(e) {
			continue
		}
		if len(picked) == first {
			more = true
			break
		}
		picked = append(picked, e.pos)
	}
	l.mu.RUnlock()
	page := AuditPage{Records: make([]AuditRecord, 0, len(picked)), HasNextPage: more}
	for _, pos := range picked {
		rec, err := l.read(ctx, pos)
		if err != nil {
			return AuditPage{}, err
		}
		page.Records = append(page.Records, rec)
	}
	if n := len(picked); n > 0 {
		page.EndCursor = AuditCursor(picked[n-1])
	}
	return page, nil
}

// Event returns the record at pos; domain.ErrNotFound unless an event of env is there.
func (l *AuditLog) Event(ctx context.Context, env string, pos eventstore.Position) (AuditRecord, error) {
	rec, err := l.read(ctx, pos)
	if errors.Is(err, domain.ErrNotFound) || err == nil && rec.EnvironmentID != env {
		return AuditRecord{}, domain.NotFoundf("audit record at position %s in environment %s", pos, env)
	}
	return rec, err
}

// read returns the record of the event at pos.
func (l *AuditLog) read(ctx context.Context, pos eventstore.Position) (AuditRecord, error) {
	for e, err := range l.store.ReadAll(ctx, eventstore.ReadAllOptions{From: pos, MaxCount: 1}) {
		if err != nil {
			return AuditRecord{}, fmt.Errorf("audit: read position %s: %w: %w", pos, domain.ErrUnavailable, err)
		}
		if e.Position != pos || strings.HasPrefix(e.Type, reservationPrefix) {
			break
		}
		return l.record(e)
	}
	return AuditRecord{}, domain.NotFoundf("audit record at position %s", pos)
}

// ResourceHistory returns every record of resource id of env, oldest first, read from the
// resource's own stream (user-, group-, population-, environment-, apiclient-<id>; for an
// environment also its schema and group tree) and, for an identity, the propagation outcomes
// about it (found by the index: those it has indexed). domain.ErrNotFound when there is none in
// env.
func (l *AuditLog) ResourceHistory(ctx context.Context, env, id string) ([]AuditRecord, error) {
	streams := []string{domain.CategoryUser, domain.CategoryGroup, domain.CategoryPopulation, domain.CategoryAPIClient}
	if id == env {
		streams = []string{domain.CategoryEnvironment, domain.CategorySchema, domain.CategoryGroupTree, domain.CategoryConfigRevision}
	}
	var out []AuditRecord
	for _, cat := range streams {
		for e, err := range l.store.ReadStream(ctx, domain.StreamName(cat, id), eventstore.ReadStreamOptions{}) {
			if errors.Is(err, eventstore.ErrStreamNotFound) || errors.Is(err, eventstore.ErrStreamDeleted) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("audit: history of %s: %w: %w", id, domain.ErrUnavailable, err)
			}
			if e.Metadata.EnvironmentID != env {
				return nil, domain.NotFoundf("resource %s in environment %s", id, env)
			}
			rec, err := l.record(e)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
		if len(out) > 0 && id != env {
			break // a resource's own stream found
		}
	}
	if id != env {
		outcomes, err := l.outcomesOf(ctx, env, id)
		if err != nil {
			return nil, err
		}
		out = append(out, outcomes...)
	}
	if len(out) == 0 {
		return nil, domain.NotFoundf("resource %s in environment %s", id, env)
	}
	slices.SortFunc(out, func(a, b AuditRecord) int { // several streams merged
		if a.Position.Less(b.Position) {
			return -1
		}
		return 1
	})
	return out, nil
}

// outcomesOf returns the records of the propagation outcomes about identity id of env, found in
// the index (they are in one stream per rule).
func (l *AuditLog) outcomesOf(ctx context.Context, env, id string) ([]AuditRecord, error) {
	var picked []eventstore.Position
	l.mu.RLock()
	for i := range l.byEnv[env] {
		if e := &l.byEnv[env][i]; e.resID == id && isOutcome(e.typ) {
			picked = append(picked, e.pos)
		}
	}
	l.mu.RUnlock()
	out := make([]AuditRecord, 0, len(picked))
	for _, pos := range picked {
		rec, err := l.read(ctx, pos)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// Subscribe delivers the records matching q's filters (not its page) committed after after (the
// zero Position: from now), in log order, until ctx ends or the subscription fails (then the
// error channel gets the error and both channels close). Each subscriber reads the log through
// its own subscription: a slow one delays nobody else.
func (l *AuditLog) Subscribe(ctx context.Context, q AuditQuery, after eventstore.Position) (<-chan AuditRecord, <-chan error, error) {
	q.First, q.After = 0, ""
	if _, _, _, err := q.validate(); err != nil {
		return nil, nil, err
	}
	sub, err := l.store.SubscribeAll(ctx, eventstore.SubscribeAllOptions{After: after, FromEnd: after.IsZero(), Filter: auditFilter()})
	if err != nil {
		return nil, nil, fmt.Errorf("audit: subscribe: %w: %w", domain.ErrUnavailable, err)
	}
	out, errc := make(chan AuditRecord), make(chan error, 1)
	go func() {
		defer close(out)
		defer close(errc)
		defer sub.Close()
		for {
			msg, err := sub.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					errc <- fmt.Errorf("audit: subscription: %w: %w", domain.ErrUnavailable, err)
				}
				return
			}
			e := &msg.Event
			if msg.Kind != eventstore.MessageEvent || strings.HasPrefix(e.Type, reservationPrefix) || e.Metadata.EnvironmentID != q.EnvironmentID {
				continue
			}
			resType, resID := resourceOfEvent(e)
			entry := auditEntry{pos: e.Position, typ: e.Type, actor: e.Metadata.Actor, resType: resType, resID: resID,
				occurredAt: e.Metadata.OccurredAt.UnixNano()}
			if !q.matches(&entry) {
				continue
			}
			rec, err := l.record(*e)
			if err != nil {
				errc <- err
				return
			}
			select {
			case out <- rec:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, errc, nil
}

// record renders e: metadata as is, the payload decoded and redacted.
func (l *AuditLog) record(e eventstore.RecordedEvent) (AuditRecord, error) {
	m := e.Metadata
	resType, resID := resourceOfEvent(&e)
	if resType == domain.CategorySchema || resType == domain.CategoryGroupTree || resType == domain.CategoryConfigRevision {
		resID = m.EnvironmentID
	}
	rec := AuditRecord{Position: e.Position, EventID: e.ID.String(), Stream: e.Stream, Revision: e.Revision, Type: e.Type,
		EnvironmentID: m.EnvironmentID, Actor: m.Actor, CorrelationID: m.CorrelationID, CausationID: m.CausationID,
		OccurredAt: m.OccurredAt, RecordedAt: e.RecordedAt, ClientAddress: m.Extra["addr"], UserAgent: m.Extra["ua"],
		TokenID: m.Extra["token"], ResourceType: resType, ResourceID: resID}
	d, err := l.reg.DecodeEvent(e)
	switch {
	case errors.Is(err, eventstore.ErrUnknownEventType):
		rec.Data = json.RawMessage(`{}`) // a newer idstream's event: nothing of it is shown
	case err != nil:
		return AuditRecord{}, fmt.Errorf("audit: event at %s (%s): %w", e.Position, e.Type, err)
	default:
		if rec.Data, err = RenderAuditPayload(d.Payload); err == nil && d.Erased {
			rec.PersonalDataErased = true
			rec.Data, err = markErased(d.Payload, rec.Data)
		}
		if err != nil {
			return AuditRecord{}, fmt.Errorf("audit: render %s at %s: %w", e.Type, e.Position, err)
		}
	}
	return rec, nil
}

// markErased replaces, in data (the rendering of payload), the members of payload's personal
// fields (tagged personal:"data") by Erased.
func markErased(payload any, data json.RawMessage) (json.RawMessage, error) {
	t := reflect.TypeOf(payload)
	if t.Kind() != reflect.Struct {
		return data, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	erased, _ := json.Marshal(Erased)
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("personal") != "data" {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		obj[name] = erased
	}
	return json.Marshal(obj)
}

// RenderAuditPayload encodes a decoded payload as JSON with every field tagged
// `audit:"redact"` (at any depth of structs) shown as Redacted.
func RenderAuditPayload(payload any) (json.RawMessage, error) {
	v := reflect.ValueOf(payload)
	if !hasRedacted(v.Type(), 0) {
		return json.Marshal(payload)
	}
	return json.Marshal(redactValue(v))
}

func hasRedacted(t reflect.Type, depth int) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || depth > 8 {
		return false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("audit") == "redact" || hasRedacted(f.Type, depth+1) {
			return true
		}
	}
	return false
}

// embeddedFields adds the JSON members of embedded struct v to into, redacted; false when v is
// not a struct (it is then a member of its own).
func embeddedFields(v reflect.Value, into map[string]any) bool {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return true
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return false
	}
	b, err := json.Marshal(redactValue(v))
	if err != nil {
		return false
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	for k, x := range m {
		into[k] = x
	}
	return true
}

// redactValue turns a struct into a map of its JSON fields with tagged ones redacted.
func redactValue(v reflect.Value) any {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = redactValue(v.Index(i))
		}
		return out
	case reflect.Struct:
		if !hasRedacted(v.Type(), 0) {
			return v.Interface()
		}
		out, promoted := map[string]any{}, map[string]any{}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() && !f.Anonymous {
				continue
			}
			if f.Anonymous && name == "" && embeddedFields(v.Field(i), promoted) {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fv := v.Field(i)
			if strings.Contains(opts, "omit") && fv.IsZero() {
				continue
			}
			if f.Tag.Get("audit") == "redact" {
				out[name] = Redacted
				continue
			}
			out[name] = redactValue(fv)
		}
		for k, x := range promoted { // fields of embedded structs, unless shadowed (as encoding/json)
			if _, ok := out[k]; !ok {
				out[k] = x
			}
		}
		return out
	}
	return v.Interface()
}
