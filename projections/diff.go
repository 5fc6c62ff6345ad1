package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// ResourceDiff is what changed in one resource between two positions.
type ResourceDiff struct {
	ResourceType string // ResourceUser, ResourceGroup, ResourcePopulation or ResourceEnvironment
	ResourceID   string
	From, To     eventstore.Position
	// Status is DiffCreated (absent at From, present at To), DiffDeleted (the reverse),
	// DiffChanged or DiffUnchanged.
	Status  string
	Changes []AttributeChange // sorted by Path
}

// Diff statuses. A change's operation is a ChangeKind, as in configuration diffs.
const (
	DiffCreated   = "CREATED"
	DiffDeleted   = "DELETED"
	DiffChanged   = "CHANGED"
	DiffUnchanged = "UNCHANGED"
)

// AttributeChange is one attribute whose value at From differs from its value at To. Values are
// text: profile fields as they are, custom values and structured values as JSON, booleans and
// numbers in Go's formatting. Secrets never appear: a password reads "set at <time>".
//
// Paths: a user's core attributes by their API path (username, name.given, address.locality…,
// see domain.CoreAttributePaths), custom attributes as customAttributes.<name>, and populationId, enabled, locked,
// lockReason, lockedUntil, password, mustChangePassword, passwordFailures,
// mfaDevices.<id>, consents.<id>, linkedAccounts.<id>, roles.<assignment id>; a group's name,
// description, kind, filter, filterError, roles.<id>, members.<user id>, groups.<group id>
// (direct members of a direct group); a
// population's name and description; an environment's name, defaultPopulationId,
// passwordPolicy and schema.<attribute name>.
type AttributeChange struct {
	Path   string
	Op     ChangeKind // ChangeAdded, ChangeRemoved or ChangeChanged
	Before string     // "" when added
	After  string     // "" when removed
	// The last event within (From, To] that changed the attribute.
	Position   eventstore.Position
	RecordedAt time.Time
	EventType  string
	Actor      string
}

// Diff returns the attribute-level changes of resource resourceID of env between from and to
// (from before to; from may be zero, the start of the log). Its type is found by the stream
// that exists (user-, group-, population-, environment-<id>). A resource created within
// (from, to] shows every attribute as added, one deleted within it every attribute as removed.
// A resource unknown, of another environment, or absent at both positions is ErrNotFound;
// to zero or not after from is ErrInvalid.
func (h *History) Diff(ctx context.Context, env, resourceID string, from, to eventstore.Position) (ResourceDiff, error) {
	if to.IsZero() {
		return ResourceDiff{}, domain.Invalidf("to", "a position is required")
	}
	if !from.Less(to) {
		return ResourceDiff{}, domain.Invalidf("from", "position %s is not before %s", from, to)
	}
	typ, evs, err := h.resourceEvents(ctx, env, resourceID, to)
	if err != nil {
		return ResourceDiff{}, err
	}
	if !belongs(evs, env, typ, resourceID) {
		return ResourceDiff{}, domain.NotFoundf("%s %s in environment %s", typ, resourceID, env)
	}
	w := newWalker(typ, env, resourceID)
	i := 0
	for ; i < len(evs) && !from.Less(evs[i].Position); i++ {
		w.step(&evs[i])
	}
	before, existed := w.cur, w.exists
	last := map[string]*event{}
	for ; i < len(evs); i++ {
		prev := w.cur
		e := &evs[i]
		if !w.step(e) {
			continue
		}
		for p := range changedPaths(prev, w.cur) {
			last[p] = e
		}
	}
	after, exists := w.cur, w.exists
	if !existed && !exists {
		return ResourceDiff{}, domain.NotFoundf("%s %s as of positions %s and %s", typ, resourceID, from, to)
	}
	d := ResourceDiff{ResourceType: typ, ResourceID: resourceID, From: from, To: to, Status: DiffChanged}
	switch {
	case !existed:
		d.Status = DiffCreated
	case !exists:
		d.Status = DiffDeleted
	}
	for p := range changedPaths(before, after) {
		c := AttributeChange{Path: p, Before: before[p], After: after[p], Op: ChangeChanged}
		if _, ok := before[p]; !ok {
			c.Op = ChangeAdded
		} else if _, ok := after[p]; !ok {
			c.Op = ChangeRemoved
		}
		if e := last[p]; e != nil {
			c.Position, c.RecordedAt, c.EventType, c.Actor = e.Position, e.RecordedAt, e.Type, e.Metadata.Actor
		}
		d.Changes = append(d.Changes, c)
	}
	sort.Slice(d.Changes, func(i, j int) bool { return d.Changes[i].Path < d.Changes[j].Path })
	if len(d.Changes) == 0 && d.Status == DiffChanged {
		d.Status = DiffUnchanged
	}
	return d, nil
}

// changedPaths returns the paths whose values differ between a and b (absent counts).
func changedPaths(a, b map[string]string) map[string]struct{} {
	out := map[string]struct{}{}
	for p, v := range a {
		if w, ok := b[p]; !ok || w != v {
			out[p] = struct{}{}
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out[p] = struct{}{}
		}
	}
	return out
}

// walker folds a resource's events one at a time into a throw-away Directory and keeps the
// resource's flattened attributes.
type walker struct {
	typ, env, id string
	d            *Directory
	cur          map[string]string
	exists       bool
	passwordAt   time.Time // when the user's password was last set
}

func newWalker(typ, env, id string) *walker {
	return &walker{typ: typ, env: env, id: id, d: NewDirectory()}
}

// step folds e and reports whether it is the resource's own event or changed its attributes.
func (w *walker) step(e *event) bool {
	w.d.Apply(e.Change)
	if p, ok := e.Payload.(domain.UserPasswordSet); ok && p.UserID == w.id {
		w.passwordAt = e.Metadata.OccurredAt
	}
	prev := w.cur
	w.cur, w.exists = w.flatten()
	return e.Stream == domain.StreamName(w.typ, w.id) || len(changedPaths(prev, w.cur)) > 0
}

func (w *walker) flatten() (map[string]string, bool) {
	m := map[string]string{}
	switch w.typ {
	case ResourceUser:
		u, err := w.d.User(w.env, w.id)
		if err != nil {
			return nil, false
		}
		flattenUser(m, u, w.passwordAt)
	case ResourceGroup:
		g, err := w.d.Group(w.env, w.id)
		if err != nil {
			return nil, false
		}
		var members GroupMembers
		if g.Kind != domain.GroupDynamic { // a dynamic group's members: see GroupAt
			members, _ = w.d.GroupMembers(w.env, w.id, false)
		}
		flattenGroup(m, g, members)
	case ResourcePopulation:
		p, err := w.d.Population(w.env, w.id)
		if err != nil {
			return nil, false
		}
		put(m, "name", p.Name)
		put(m, "description", p.Description)
	case ResourceEnvironment:
		e, err := w.d.Environment(w.env)
		if err != nil {
			return nil, false
		}
		put(m, "name", e.Name)
		put(m, "defaultPopulationId", e.DefaultPopulationID)
		put(m, "passwordPolicy", jsonText(e.PasswordPolicy))
		schema, _ := w.d.Schema(w.env)
		for _, a := range schema {
			m["schema."+a.Name] = jsonText(a)
		}
	}
	return m, true
}

func put(m map[string]string, path, v string) {
	if v != "" {
		m[path] = v
	}
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func flattenUser(m map[string]string, u *User, passwordAt time.Time) {
	for _, p := range domain.CoreAttributePaths() {
		put(m, p, u.Profile.CoreValue(p))
	}
	for _, c := range u.Custom {
		m["customAttributes."+c.Name] = string(c.Value)
	}
	put(m, "populationId", u.PopulationID)
	m["enabled"] = strconv.FormatBool(u.Enabled)
	m["locked"] = strconv.FormatBool(u.Locked)
	put(m, "lockReason", string(u.LockReason))
	if !u.LockedUntil.IsZero() {
		m["lockedUntil"] = u.LockedUntil.UTC().Format(time.RFC3339Nano)
	}
	if u.HasPassword {
		v := "set"
		if !passwordAt.IsZero() {
			v = "set at " + passwordAt.UTC().Format(time.RFC3339Nano)
		}
		m["password"] = v
	}
	m["mustChangePassword"] = strconv.FormatBool(u.MustChangePassword)
	m["passwordFailures"] = strconv.Itoa(u.PasswordFailures)
	for _, d := range u.MFADevices {
		m["mfaDevices."+d.ID] = jsonText(d)
	}
	for _, c := range u.Consents {
		m["consents."+c.ID] = jsonText(c)
	}
	for _, l := range u.LinkedAccounts {
		m["linkedAccounts."+l.ID] = jsonText(l)
	}
	for _, r := range u.Roles {
		m["roles."+r.ID] = jsonText(r)
	}
}

func flattenGroup(m map[string]string, g Group, members GroupMembers) {
	put(m, "name", g.Name)
	put(m, "description", g.Description)
	put(m, "kind", string(g.Kind))
	put(m, "filter", g.Filter)
	put(m, "filterError", g.FilterError)
	for _, r := range g.Roles {
		m["roles."+r.ID] = jsonText(r)
	}
	for _, u := range members.Users {
		m["members."+u.ID] = "user"
	}
	for _, c := range members.Groups {
		m["groups."+c.ID] = "group"
	}
}
