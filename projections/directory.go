package projections

import (
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// Change is one decoded event, ready to fold into a Directory.
type Change struct {
	Position eventstore.Position
	Type     string
	Metadata eventstore.Metadata
	// Payload is the decoded payload (a domain event value, or the Runner's own decoding of
	// one); other values are ignored.
	Payload any
	// Erased: the payload's personal data belonged to a forgotten subject and decoded as zero
	// values (eventstore.Decoded.Erased).
	Erased bool
}

// Directory is the in-memory read model of the directory: environments, populations, schema,
// users, groups (direct, dynamic, nested) and API clients, folded from the log.
//
// It is safe for concurrent use: Apply takes the write lock once per batch, queries take the
// read lock, and every value a query returns is an immutable snapshot the caller may keep.
// Every query scoped to an environment answers domain.ErrNotFound for an environment that does
// not exist (or was deleted) and for resources of another environment.
type Directory struct {
	mu          sync.RWMutex
	pos         eventstore.Position
	envs        map[string]*envState
	deletedEnvs map[string]struct{}
	// pendingPops holds, by environment, the populations created before their environment:
	// the write side appends an environment's default population first (so the environment
	// never names a missing population), and they join it at environment.created. Entries of
	// an environment deleted are dropped; those of an environment never created (a crash
	// between the two appends) stay invisible.
	pendingPops map[string]map[string]*popState
	clients     map[string]*APIClient
	tokens      map[string]tokenRef // by hex SHA-256 of the token
	// lastErasure is the position of the last user.forgotten applied (zero: none since this
	// Directory was made): snapshots older than it may hold the forgotten data.
	lastErasure eventstore.Position
}

// LastErasure returns the position of the last user.forgotten this Directory applied since it
// was made or loaded (zero when none). Snapshots taken before it may hold personal data since
// erased: the Snapshotter removes them.
func (d *Directory) LastErasure() eventstore.Position {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.lastErasure
}

type tokenRef struct{ client, token string }

// envState is one environment and everything in it.
type envState struct {
	env      Environment
	pops     map[string]*popState
	schema   []domain.AttributeDef
	users    map[string]*userSlot
	all      userList
	byName   map[string]*userSlot // lower-cased username
	byEmail  map[string]*userSlot
	byExtID  map[string]*userSlot
	clashes  int            // index keys two live users shared (never, when the write side's reservations hold)
	attrUse  map[string]int // lower-cased custom attribute name → users with a value
	groups   map[string]*groupState
	dynamic  []*groupState       // dynamic groups, kept in step with every user change
	inGroups map[string][]string // user ID → groups holding it directly
	// erased holds, by ID, the forgotten users: what User answers of them (nothing personal).
	erased map[string]*User
}

type popState struct {
	p     Population
	users userList
}

type groupState struct {
	g        *Group // immutable; replaced on change
	match    predicate[*User]
	direct   map[string]struct{}
	dynamic  map[string]struct{}
	children map[string]struct{}
	parents  map[string]struct{}
}

// NewDirectory returns an empty Directory at the start of the log.
func NewDirectory() *Directory {
	return &Directory{envs: map[string]*envState{}, deletedEnvs: map[string]struct{}{}, pendingPops: map[string]map[string]*popState{},
		clients: map[string]*APIClient{}, tokens: map[string]tokenRef{}}
}

// Position returns the position of the last change applied (the read model's checkpoint).
func (d *Directory) Position() eventstore.Position {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.pos
}

// Apply folds changes, in order, under one write lock, and advances the checkpoint to the last
// change's position. Payloads the Directory does not know are ignored. Applying never fails:
// events the write side could not have produced (a user of an unknown environment, say) are
// skipped.
func (d *Directory) Apply(changes ...Change) {
	if len(changes) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range changes {
		d.apply(&changes[i])
	}
	if last := changes[len(changes)-1].Position; d.pos.Less(last) {
		d.pos = last
	}
}

func (d *Directory) env(id string) *envState { return d.envs[id] }

func (d *Directory) apply(c *Change) {
	at := c.Metadata.OccurredAt
	switch e := c.Payload.(type) {
	case domain.EnvironmentCreated:
		if _, gone := d.deletedEnvs[e.EnvironmentID]; gone || d.envs[e.EnvironmentID] != nil {
			return
		}
		d.envs[e.EnvironmentID] = &envState{
			env: Environment{ID: e.EnvironmentID, Name: e.Name, DefaultPopulationID: e.DefaultPopulationID,
				PasswordPolicy: e.PasswordPolicy, CreatedAt: at, UpdatedAt: at},
			pops: map[string]*popState{}, users: map[string]*userSlot{}, byName: map[string]*userSlot{},
			byEmail: map[string]*userSlot{}, byExtID: map[string]*userSlot{}, attrUse: map[string]int{},
			groups: map[string]*groupState{}, inGroups: map[string][]string{}, erased: map[string]*User{},
		}
		if pending := d.pendingPops[e.EnvironmentID]; pending != nil {
			maps.Copy(d.envs[e.EnvironmentID].pops, pending)
			delete(d.pendingPops, e.EnvironmentID)
		}
	case domain.EnvironmentRenamed:
		if s := d.env(e.EnvironmentID); s != nil {
			s.env.Name, s.env.UpdatedAt = e.Name, at
		}
	case domain.PasswordPolicySet:
		if s := d.env(e.EnvironmentID); s != nil {
			s.env.PasswordPolicy, s.env.UpdatedAt = e.Policy, at
		}
	case domain.DefaultPopulationChanged:
		if s := d.env(e.EnvironmentID); s != nil {
			s.env.DefaultPopulationID, s.env.UpdatedAt = e.PopulationID, at
		}
	case domain.EnvironmentDeleted:
		delete(d.pendingPops, e.EnvironmentID)
		if d.envs[e.EnvironmentID] == nil {
			return
		}
		delete(d.envs, e.EnvironmentID)
		d.deletedEnvs[e.EnvironmentID] = struct{}{}
		for id, c := range d.clients {
			if c.EnvironmentID == e.EnvironmentID {
				d.dropClient(id)
			}
		}

	case domain.PopulationCreated:
		pops := d.popsOf(e.EnvironmentID, true)
		if pops != nil && pops[e.PopulationID] == nil {
			pops[e.PopulationID] = &popState{p: Population{ID: e.PopulationID, EnvironmentID: e.EnvironmentID,
				Name: e.Name, Description: e.Description, CreatedAt: at, UpdatedAt: at}}
		}
	case domain.PopulationUpdated:
		if p := d.popsOf(e.EnvironmentID, false)[e.PopulationID]; p != nil {
			p.p.Name, p.p.Description, p.p.UpdatedAt = e.Name, e.Description, at
		}
	case domain.PopulationDeleted:
		if pops := d.popsOf(e.EnvironmentID, false); pops != nil {
			delete(pops, e.PopulationID)
			if s := d.env(e.EnvironmentID); s == nil && len(pops) == 0 {
				delete(d.pendingPops, e.EnvironmentID)
			}
		}

	case domain.SchemaAttributeAdded:
		if s := d.env(e.EnvironmentID); s != nil {
			s.setAttribute(e.Attribute)
		}
	case domain.SchemaAttributeUpdated:
		if s := d.env(e.EnvironmentID); s != nil {
			s.setAttribute(e.Attribute)
		}
	case domain.SchemaAttributeRemoved:
		if s := d.env(e.EnvironmentID); s != nil {
			s.removeAttribute(e.Name, at)
		}

	case domain.GroupCreated, domain.GroupUpdated, domain.GroupDeleted, domain.GroupMemberAdded,
		domain.GroupMemberRemoved, domain.GroupRoleAssigned, domain.GroupRoleUnassigned,
		domain.GroupNested, domain.GroupUnnested:
		d.applyGroup(c.Payload, at)

	case domain.APIClientCreated, domain.APIClientDeleted, domain.APIClientTokenIssued,
		domain.APIClientTokenRevoked, domain.APIClientRoleAssigned, domain.APIClientRoleUnassigned:
		d.applyClient(c.Payload, at)

	default:
		d.applyUser(c.Payload, at, c.Erased)
		if _, ok := c.Payload.(domain.UserForgotten); ok {
			d.lastErasure = c.Position
		}
	}
}

// popsOf returns the populations of environment envID: its own when it exists, else (never for
// a deleted one) those pending its creation, created empty when create is set. Nil otherwise.
func (d *Directory) popsOf(envID string, create bool) map[string]*popState {
	if s := d.env(envID); s != nil {
		return s.pops
	}
	if _, gone := d.deletedEnvs[envID]; gone || envID == "" {
		return nil
	}
	pops := d.pendingPops[envID]
	if pops == nil && create {
		pops = map[string]*popState{}
		d.pendingPops[envID] = pops
	}
	return pops
}

// setAttribute adds or replaces a custom attribute definition; dynamic groups recompile.
func (s *envState) setAttribute(def domain.AttributeDef) {
	schema := make([]domain.AttributeDef, 0, len(s.schema)+1)
	replaced := false
	for _, a := range s.schema {
		if strings.EqualFold(a.Name, def.Name) {
			a, replaced = def, true
		}
		schema = append(schema, a)
	}
	if !replaced {
		schema = append(schema, def)
	}
	s.schema = schema
	s.recompileDynamic()
}

// removeAttribute drops a custom attribute and every user's value of it.
func (s *envState) removeAttribute(name string, at time.Time) {
	schema := make([]domain.AttributeDef, 0, len(s.schema))
	for _, a := range s.schema {
		if !strings.EqualFold(a.Name, name) {
			schema = append(schema, a)
		}
	}
	s.schema = schema
	if s.attrUse[strings.ToLower(name)] > 0 {
		s.all.each("", func(slot *userSlot) bool {
			if _, ok := slot.u.CustomValue(name); !ok {
				return true
			}
			nu := *slot.u
			nu.Custom = make([]CustomValue, 0, len(slot.u.Custom)-1)
			for _, c := range slot.u.Custom {
				if !strings.EqualFold(c.Name, name) {
					nu.Custom = append(nu.Custom, c)
				}
			}
			if len(nu.Custom) == 0 {
				nu.Custom = nil
			}
			nu.UpdatedAt = at
			s.replace(slot, &nu)
			return true
		})
	}
	delete(s.attrUse, strings.ToLower(name))
	s.recompileDynamic()
}

// recompileDynamic compiles every dynamic group's filter against the current schema and
// recomputes its members.
func (s *envState) recompileDynamic() {
	for _, g := range s.dynamic {
		s.compileDynamic(g)
	}
}

// compileDynamic (re)compiles g's filter and recomputes its members over every user.
func (s *envState) compileDynamic(g *groupState) {
	f, err := compileUserFilter(g.g.Filter, s.schema)
	ng := *g.g
	ng.FilterError = ""
	g.match = nil
	if err != nil {
		ng.FilterError = err.Error()
	} else if f.match != nil {
		g.match = f.match
	} else {
		g.match = func(*User) bool { return true }
	}
	g.g = &ng
	g.dynamic = map[string]struct{}{}
	if g.match == nil {
		return
	}
	s.all.each("", func(slot *userSlot) bool {
		if g.match(slot.u) {
			g.dynamic[slot.id] = struct{}{}
		}
		return true
	})
}

func (d *Directory) applyGroup(payload any, at time.Time) {
	var envID, groupID string
	switch e := payload.(type) {
	case domain.GroupCreated:
		s := d.env(e.EnvironmentID)
		if s == nil || s.groups[e.GroupID] != nil {
			return
		}
		g := &groupState{g: &Group{ID: e.GroupID, EnvironmentID: e.EnvironmentID, Name: e.Name, Description: e.Description,
			Kind: e.Kind, Filter: e.Filter, CreatedAt: at, UpdatedAt: at},
			direct: map[string]struct{}{}, children: map[string]struct{}{}, parents: map[string]struct{}{}}
		s.groups[e.GroupID] = g
		if e.Kind == domain.GroupDynamic {
			s.dynamic = append(s.dynamic, g)
			s.compileDynamic(g)
		}
		return
	case domain.GroupUpdated:
		envID, groupID = e.EnvironmentID, e.GroupID
	case domain.GroupDeleted:
		envID, groupID = e.EnvironmentID, e.GroupID
	case domain.GroupMemberAdded:
		envID, groupID = e.EnvironmentID, e.GroupID
	case domain.GroupMemberRemoved:
		envID, groupID = e.EnvironmentID, e.GroupID
	case domain.GroupRoleAssigned:
		envID, groupID = e.EnvironmentID, e.GroupID
	case domain.GroupRoleUnassigned:
		envID, groupID = e.EnvironmentID, e.GroupID
	case domain.GroupNested:
		envID, groupID = e.EnvironmentID, e.ParentID
	case domain.GroupUnnested:
		envID, groupID = e.EnvironmentID, e.ParentID
	}
	s := d.env(envID)
	if s == nil {
		return
	}
	g := s.groups[groupID]
	if g == nil {
		return
	}
	switch e := payload.(type) {
	case domain.GroupUpdated:
		ng := *g.g
		ng.Name, ng.Description, ng.UpdatedAt = e.Name, e.Description, at
		filterChanged := ng.Filter != e.Filter
		ng.Filter = e.Filter
		g.g = &ng
		if ng.Kind == domain.GroupDynamic && filterChanged {
			s.compileDynamic(g)
		}
	case domain.GroupDeleted:
		for uid := range g.direct {
			s.inGroups[uid] = removeString(s.inGroups[uid], groupID)
			if len(s.inGroups[uid]) == 0 {
				delete(s.inGroups, uid)
			}
		}
		for c := range g.children {
			if cg := s.groups[c]; cg != nil {
				delete(cg.parents, groupID)
			}
		}
		for p := range g.parents {
			if pg := s.groups[p]; pg != nil {
				delete(pg.children, groupID)
			}
		}
		delete(s.groups, groupID)
		for i, dg := range s.dynamic {
			if dg == g {
				s.dynamic = append(s.dynamic[:i:i], s.dynamic[i+1:]...)
				break
			}
		}
	case domain.GroupMemberAdded:
		if s.users[e.UserID] == nil {
			return
		}
		if _, ok := g.direct[e.UserID]; !ok {
			g.direct[e.UserID] = struct{}{}
			s.inGroups[e.UserID] = append(s.inGroups[e.UserID], groupID)
		}
	case domain.GroupMemberRemoved:
		if _, ok := g.direct[e.UserID]; ok {
			delete(g.direct, e.UserID)
			s.inGroups[e.UserID] = removeString(s.inGroups[e.UserID], groupID)
			if len(s.inGroups[e.UserID]) == 0 {
				delete(s.inGroups, e.UserID)
			}
		}
	case domain.GroupRoleAssigned:
		ng := *g.g
		ng.Roles = append(append([]domain.RoleAssignment(nil), ng.Roles...), e.Assignment)
		ng.UpdatedAt = at
		g.g = &ng
	case domain.GroupRoleUnassigned:
		ng := *g.g
		ng.Roles = withoutRole(ng.Roles, e.AssignmentID)
		ng.UpdatedAt = at
		g.g = &ng
	case domain.GroupNested:
		child := s.groups[e.ChildID]
		if child == nil || e.ChildID == e.ParentID {
			return
		}
		g.children[e.ChildID] = struct{}{}
		child.parents[groupID] = struct{}{}
	case domain.GroupUnnested:
		delete(g.children, e.ChildID)
		if child := s.groups[e.ChildID]; child != nil {
			delete(child.parents, groupID)
		}
	}
}

func (d *Directory) applyClient(payload any, at time.Time) {
	if e, ok := payload.(domain.APIClientCreated); ok {
		if d.clients[e.ClientID] != nil {
			return
		}
		if e.EnvironmentID != "" && d.env(e.EnvironmentID) == nil {
			return
		}
		d.clients[e.ClientID] = &APIClient{ID: e.ClientID, EnvironmentID: e.EnvironmentID, Name: e.Name,
			Roles: append([]domain.RoleAssignment(nil), e.Roles...), CreatedAt: at, UpdatedAt: at}
		return
	}
	var id string
	switch e := payload.(type) {
	case domain.APIClientDeleted:
		d.dropClient(e.ClientID)
		return
	case domain.APIClientTokenIssued:
		id = e.ClientID
	case domain.APIClientTokenRevoked:
		id = e.ClientID
	case domain.APIClientRoleAssigned:
		id = e.ClientID
	case domain.APIClientRoleUnassigned:
		id = e.ClientID
	}
	old := d.clients[id]
	if old == nil {
		return
	}
	c := *old
	c.UpdatedAt = at
	switch e := payload.(type) {
	case domain.APIClientTokenIssued:
		c.Tokens = append(append([]APIToken(nil), c.Tokens...), APIToken{ID: e.TokenID, IssuedAt: at, ExpiresAt: e.ExpiresAt})
		d.tokens[strings.ToLower(e.SHA256)] = tokenRef{client: id, token: e.TokenID}
	case domain.APIClientTokenRevoked:
		c.Tokens = append([]APIToken(nil), c.Tokens...)
		for i := range c.Tokens {
			if c.Tokens[i].ID == e.TokenID {
				c.Tokens[i].Revoked = true
			}
		}
	case domain.APIClientRoleAssigned:
		c.Roles = append(append([]domain.RoleAssignment(nil), c.Roles...), e.Assignment)
	case domain.APIClientRoleUnassigned:
		c.Roles = withoutRole(c.Roles, e.AssignmentID)
	}
	d.clients[id] = &c
}

func (d *Directory) dropClient(id string) {
	if d.clients[id] == nil {
		return
	}
	delete(d.clients, id)
	for h, ref := range d.tokens {
		if ref.client == id {
			delete(d.tokens, h)
		}
	}
}

func withoutRole(roles []domain.RoleAssignment, id string) []domain.RoleAssignment {
	out := make([]domain.RoleAssignment, 0, len(roles))
	for _, r := range roles {
		if r.ID != id {
			out = append(out, r)
		}
	}
	return out
}

func removeString(s []string, v string) []string {
	for i, x := range s {
		if x == v {
			return append(s[:i:i], s[i+1:]...)
		}
	}
	return s
}

// applyUpTo folds changes and advances the checkpoint to pos (at least), under one write lock.
func (d *Directory) applyUpTo(changes []Change, pos eventstore.Position) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range changes {
		d.apply(&changes[i])
	}
	if n := len(changes); n > 0 && d.pos.Less(changes[n-1].Position) {
		d.pos = changes[n-1].Position
	}
	if d.pos.Less(pos) {
		d.pos = pos
	}
}
