package projections

import (
	"context"
	"encoding/base64"
	"sort"
	"strings"
	"time"

	"github.com/idstream/idstream/domain"
)

// Page sizes of Users and Groups: First 0 means defaultPageSize; more than maxPageSize is clamped.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

func pageSize(first int) int {
	switch {
	case first <= 0:
		return defaultPageSize
	case first > maxPageSize:
		return maxPageSize
	}
	return first
}

// encodeCursor and decodeCursor make opaque Relay cursors from IDs.
func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 {
		return "", domain.Invalidf("after", "not a cursor of this list")
	}
	return string(b), nil
}

// envRLocked returns environment id or ErrNotFound; the caller holds the read lock.
func (d *Directory) envRLocked(id string) (*envState, error) {
	if s := d.envs[id]; s != nil {
		return s, nil
	}
	return nil, domain.NotFoundf("environment %s", id)
}

// Environment returns an environment.
func (d *Directory) Environment(id string) (Environment, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, err := d.envRLocked(id)
	if err != nil {
		return Environment{}, err
	}
	return s.env, nil
}

// Environments returns every environment, sorted by ID.
func (d *Directory) Environments() []Environment {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]Environment, 0, len(d.envs))
	for _, s := range d.envs {
		out = append(out, s.env)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PasswordPolicy returns an environment's password policy.
func (d *Directory) PasswordPolicy(env string) (domain.PasswordPolicy, error) {
	e, err := d.Environment(env)
	return e.PasswordPolicy, err
}

// Schema returns an environment's custom attribute definitions in the order they were added.
func (d *Directory) Schema(env string) ([]domain.AttributeDef, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, err := d.envRLocked(env)
	if err != nil {
		return nil, err
	}
	return s.schema, nil // replaced, never mutated, on change
}

// Population returns a population of env.
func (d *Directory) Population(env, id string) (Population, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, err := d.envRLocked(env)
	if err != nil {
		return Population{}, err
	}
	p := s.pops[id]
	if p == nil {
		return Population{}, domain.NotFoundf("population %s", id)
	}
	return p.snapshot(), nil
}

func (p *popState) snapshot() Population {
	out := p.p
	out.UserCount = p.users.len()
	return out
}

// Populations returns env's populations sorted by ID.
func (d *Directory) Populations(env string) ([]Population, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, err := d.envRLocked(env)
	if err != nil {
		return nil, err
	}
	out := make([]Population, 0, len(s.pops))
	for _, p := range s.pops {
		out = append(out, p.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// PopulationUserCount returns how many users population pop of env holds (the write side asks
// before deleting a population).
func (d *Directory) PopulationUserCount(ctx context.Context, env, pop string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p, err := d.Population(env, pop)
	return p.UserCount, err
}

// UsersWithAttribute returns how many users of env hold a value of the custom attribute name
// (case-insensitive; the write side asks before removing an attribute).
func (d *Directory) UsersWithAttribute(ctx context.Context, env, name string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, err := d.envRLocked(env)
	if err != nil {
		return 0, err
	}
	return s.attrUse[strings.ToLower(name)], nil
}

// User returns a user of env.
func (d *Directory) User(env, id string) (*User, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, err := d.envRLocked(env)
	if err != nil {
		return nil, err
	}
	if slot := s.users[id]; slot != nil {
		return slot.u, nil
	}
	if u := s.erased[id]; u != nil {
		return u, nil
	}
	return nil, domain.NotFoundf("user %s", id)
}

// UsersByIDs returns the users of env with the given IDs, in the same order, nil where a user
// does not exist (for dataloaders). An unknown environment is ErrNotFound.
func (d *Directory) UsersByIDs(env string, ids []string) ([]*User, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, err := d.envRLocked(env)
	if err != nil {
		return nil, err
	}
	out := make([]*User, len(ids))
	for i, id := range ids {
		if slot := s.users[id]; slot != nil {
			out[i] = slot.u
		}
	}
	return out, nil
}

// Users returns a page of env's users matching q, in ID order. A bad filter is a
// *domain.FieldError on "filter", a bad cursor one on "after".
func (d *Directory) Users(env string, q UserQuery) (UserPage, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, err := d.envRLocked(env)
	if err != nil {
		return UserPage{}, err
	}
	f, err := compileUserFilter(q.Filter, s.schema)
	if err != nil {
		return UserPage{}, err
	}
	after, err := decodeCursor(q.After)
	if err != nil {
		return UserPage{}, err
	}
	first := pageSize(q.First)

	var scope map[string]bool
	if q.PopulationIDs != nil {
		scope = make(map[string]bool, len(q.PopulationIDs))
		for _, p := range q.PopulationIDs {
			scope[p] = true
		}
	}
	match := f.match
	var source *userList // nil: the candidates are in cands
	var cands []*userSlot
	switch f.index {
	case "":
		source = &s.all
		if len(scope) == 1 {
			for p := range scope {
				if ps := s.pops[p]; ps != nil {
					source = &ps.users
				} else {
					source = &userList{}
				}
			}
			scope = nil // the source is exactly the scope
		}
	case "populationId":
		source, match = &userList{}, f.rest
		if ps := s.pops[f.value]; ps != nil {
			source = &ps.users
		}
	default:
		if s.clashes > 0 {
			source = &s.all
			break
		}
		m := map[string]map[string]*userSlot{"username": s.byName, "email": s.byEmail, "externalId": s.byExtID}[f.index]
		if slot := m[lowerKey(f.value)]; slot != nil {
			cands = []*userSlot{slot}
		}
	}
	keep := func(u *User) bool {
		return (scope == nil || scope[u.PopulationID]) && (match == nil || match(u))
	}
	var page UserPage
	visit := func(slot *userSlot) bool {
		if !keep(slot.u) {
			return true
		}
		page.TotalCount++
		if slot.id <= after {
			return true
		}
		if len(page.Users) == first {
			page.HasNextPage = true
			return true
		}
		page.Users = append(page.Users, slot.u)
		return true
	}
	switch {
	case source != nil && match == nil && scope == nil:
		// Every user of source matches: count without visiting.
		page.TotalCount = source.len()
		source.each(after, func(slot *userSlot) bool {
			if len(page.Users) == first {
				page.HasNextPage = true
				return false
			}
			page.Users = append(page.Users, slot.u)
			return true
		})
	case source != nil:
		source.each("", visit)
	default:
		for _, slot := range cands {
			visit(slot)
		}
	}
	if n := len(page.Users); n > 0 {
		page.EndCursor = encodeCursor(page.Users[n-1].ID)
	}
	return page, nil
}

// Group returns a group of env.
func (d *Directory) Group(env, id string) (Group, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, err := d.envRLocked(env)
	if err != nil {
		return Group{}, err
	}
	if g := s.groups[id]; g != nil {
		return *g.g, nil
	}
	return Group{}, domain.NotFoundf("group %s", id)
}

// Groups returns a page of env's groups matching q, in ID order.
func (d *Directory) Groups(env string, q GroupQuery) (GroupPage, error) {
	match, err := compileGroupFilter(q.Filter)
	if err != nil {
		return GroupPage{}, err
	}
	after, err := decodeCursor(q.After)
	if err != nil {
		return GroupPage{}, err
	}
	d.mu.RLock()
	s, err := d.envRLocked(env)
	if err != nil {
		d.mu.RUnlock()
		return GroupPage{}, err
	}
	all := make([]Group, 0, len(s.groups))
	for _, g := range s.groups {
		if match == nil || match(g.g) {
			all = append(all, *g.g)
		}
	}
	d.mu.RUnlock()
	sortGroups(all)
	page := GroupPage{TotalCount: len(all)}
	i := sort.Search(len(all), func(i int) bool { return all[i].ID > after })
	first := pageSize(q.First)
	page.Groups = all[i:min(i+first, len(all))]
	page.HasNextPage = i+first < len(all)
	if n := len(page.Groups); n > 0 {
		page.EndCursor = encodeCursor(page.Groups[n-1].ID)
	}
	return page, nil
}

// GroupMembers returns a group's members. Direct members are the users added to it, the users
// its dynamic filter matches, and the groups nested in it; transitive adds the members of every
// group nested below it, however deep (cycles in the data are walked once).
func (d *Directory) GroupMembers(env, groupID string, transitive bool) (GroupMembers, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, err := d.envRLocked(env)
	if err != nil {
		return GroupMembers{}, err
	}
	root := s.groups[groupID]
	if root == nil {
		return GroupMembers{}, domain.NotFoundf("group %s", groupID)
	}
	users := map[string]struct{}{}
	groups := map[string]struct{}{}
	queue := []*groupState{root}
	seen := map[*groupState]bool{root: true}
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		for id := range g.direct {
			users[id] = struct{}{}
		}
		for id := range g.dynamic {
			users[id] = struct{}{}
		}
		for id := range g.children {
			c := s.groups[id]
			if c == nil {
				continue
			}
			groups[id] = struct{}{}
			if transitive && !seen[c] {
				seen[c] = true
				queue = append(queue, c)
			}
		}
	}
	var out GroupMembers
	for id := range users {
		if slot := s.users[id]; slot != nil {
			out.Users = append(out.Users, slot.u)
		}
	}
	sort.Slice(out.Users, func(i, j int) bool { return out.Users[i].ID < out.Users[j].ID })
	for id := range groups {
		if id != groupID || !transitive {
			out.Groups = append(out.Groups, *s.groups[id].g)
		}
	}
	sortGroups(out.Groups)
	return out, nil
}

// UserGroups returns the groups a user belongs to, sorted by ID: directly or by a dynamic
// group's filter, and when transitive also every group those are nested in, however deep.
func (d *Directory) UserGroups(env, userID string, transitive bool) ([]Group, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, err := d.envRLocked(env)
	if err != nil {
		return nil, err
	}
	if s.users[userID] == nil {
		return nil, domain.NotFoundf("user %s", userID)
	}
	seen := map[string]bool{}
	var queue []string
	add := func(id string) {
		if !seen[id] && s.groups[id] != nil {
			seen[id] = true
			queue = append(queue, id)
		}
	}
	for _, id := range s.inGroups[userID] {
		add(id)
	}
	for _, g := range s.dynamic {
		if _, ok := g.dynamic[userID]; ok {
			add(g.g.ID)
		}
	}
	for i := 0; transitive && i < len(queue); i++ {
		for p := range s.groups[queue[i]].parents {
			add(p)
		}
	}
	out := make([]Group, 0, len(queue))
	for _, id := range queue {
		out = append(out, *s.groups[id].g)
	}
	sortGroups(out)
	return out, nil
}

// APIClient returns an API client by ID (organization-wide or of any environment).
func (d *Directory) APIClient(id string) (APIClient, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if c := d.clients[id]; c != nil {
		return *c, nil
	}
	return APIClient{}, domain.NotFoundf("API client %s", id)
}

// APIClients returns env's API clients sorted by ID; env "" lists the organization-wide ones.
func (d *Directory) APIClients(env string) ([]APIClient, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if env != "" {
		if _, err := d.envRLocked(env); err != nil {
			return nil, err
		}
	}
	var out []APIClient
	for _, c := range d.clients {
		if c.EnvironmentID == env {
			out = append(out, *c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// APIClientByTokenHash finds the client of a bearer token by the token's hex SHA-256 (either
// case). found is false for an unknown, revoked or expired (at now, the caller's clock) token,
// and for a deleted client.
func (d *Directory) APIClientByTokenHash(sha256hex string, now time.Time) (client APIClient, token APIToken, found bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	ref, ok := d.tokens[strings.ToLower(sha256hex)]
	if !ok {
		return APIClient{}, APIToken{}, false
	}
	c := d.clients[ref.client]
	if c == nil {
		return APIClient{}, APIToken{}, false
	}
	for _, t := range c.Tokens {
		if t.ID == ref.token && t.ValidAt(now) {
			return *c, t, true
		}
	}
	return APIClient{}, APIToken{}, false
}
