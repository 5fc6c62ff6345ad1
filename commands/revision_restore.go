package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// RestoreConfigRevision brings an environment's configuration back to a revision's.
type RestoreConfigRevision struct {
	EnvironmentID string
	RevisionID    string
	// Force removes schema attributes the revision lacks even when users hold values of them
	// (their values are dropped). Without it such a restore is refused before any change.
	Force bool
}

// RestoreConfigRevisionResult reports a restore. Changes is the number of steps that appended
// events (zero: the configuration already was the revision's, nothing was appended). FromHash
// and ToHash are the configuration's hashes before and after; ToHash equals the revision's
// ContentHash when the restore converged. Created maps the ID, in the revision, of each
// population and group that was re-created to its new ID.
type RestoreConfigRevisionResult struct {
	Position eventstore.Position
	FromHash string
	ToHash   string
	Changes  int
	Created  map[string]string
}

// RevisionPorts are what the restore needs beyond Deps: the configuration at a position and the
// usage counts of the schema and population commands it reuses.
type RevisionPorts struct {
	Configurations  ConfigurationAt
	AttributeUsage  AttributeUsage
	PopulationUsage PopulationUsage
}

// RestoreConfigRevisionHandler handles RestoreConfigRevision.
type RestoreConfigRevisionHandler struct {
	d     *Deps
	ports RevisionPorts
	steps restoreSteps
}

type restoreSteps struct {
	rename        *RenameEnvironmentHandler
	policy        *SetPasswordPolicyHandler
	defaultPop    *SetDefaultPopulationHandler
	createPop     *CreatePopulationHandler
	updatePop     *UpdatePopulationHandler
	deletePop     *DeletePopulationHandler
	createAttr    *CreateSchemaAttributeHandler
	updateAttr    *UpdateSchemaAttributeHandler
	deleteAttr    *DeleteSchemaAttributeHandler
	createGroup   *CreateGroupHandler
	updateGroup   *UpdateGroupHandler
	deleteGroup   *DeleteGroupHandler
	addMember     *AddGroupMemberHandler
	removeMember  *RemoveGroupMemberHandler
	assignRole    *AssignRoleHandler
	unassignRoles *UnassignRoleHandler
}

// NewRestoreConfigRevision returns the handler of RestoreConfigRevision.
func NewRestoreConfigRevision(d *Deps, ports RevisionPorts) *RestoreConfigRevisionHandler {
	return &RestoreConfigRevisionHandler{d: d, ports: ports, steps: restoreSteps{
		rename: NewRenameEnvironment(d), policy: NewSetPasswordPolicy(d), defaultPop: NewSetDefaultPopulation(d),
		createPop: NewCreatePopulation(d), updatePop: NewUpdatePopulation(d), deletePop: NewDeletePopulation(d, ports.PopulationUsage),
		createAttr: NewCreateSchemaAttribute(d), updateAttr: NewUpdateSchemaAttribute(d, ports.AttributeUsage),
		deleteAttr:  NewDeleteSchemaAttribute(d, ports.AttributeUsage),
		createGroup: NewCreateGroup(d), updateGroup: NewUpdateGroup(d), deleteGroup: NewDeleteGroup(d),
		addMember: NewAddGroupMember(d), removeMember: NewRemoveGroupMember(d),
		assignRole: NewAssignRole(d), unassignRoles: NewUnassignRole(d),
	}}
}

// Handle computes the revision's configuration (the target, by replay to its position) and the
// current one (at the log's head), and appends, through the directory's own commands and each
// with its own validation, the changes that turn the current into the target: environment
// name, password policy, populations (created, updated), default population, schema
// attributes (added, updated), groups (deleted, created, updated), nesting edges, group role
// assignments, then removals of schema attributes and populations the target lacks. Last it
// appends configuration.revision_restored (nothing at all when nothing differed).
//
// Identity: populations and groups are matched by ID, else by name (any case; a group also by
// kind). One the target holds and the environment no longer does is re-created with a NEW ID
// (Result.Created maps old to new); its users and direct members are not brought back (they are
// identity data, not configuration), nor are role scopes of other subjects.
//
// Refusals before any change: unknown revision (ErrNotFound on "revisionId"); a schema
// attribute to remove that users hold values of, unless Force (ErrConflict naming it); a
// population to delete that holds users (ErrConflict naming it).
//
// Atomicity: the steps append to several streams, one command each, so a restore is not
// atomic. A step that fails (a concurrent change, a name retired by a forced removal, a type
// change refused while users hold values) stops the restore with an error naming the step and
// how many steps committed; those stay committed and no revision_restored is appended. Running
// the restore again recomputes the difference from the log and converges.
func (h *RestoreConfigRevisionHandler) Handle(ctx context.Context, in RestoreConfigRevision) (RestoreConfigRevisionResult, error) {
	d := h.d
	if h.ports.Configurations == nil {
		return RestoreConfigRevisionResult{}, errNoConfigurations("restore configuration revision")
	}
	env, _, err := d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return RestoreConfigRevisionResult{}, fmt.Errorf("restore configuration revision: %w", err)
	}
	if err := validID("revisionId", in.RevisionID); err != nil {
		return RestoreConfigRevisionResult{}, fmt.Errorf("restore configuration revision: %w", err)
	}
	revs, _, err := d.loadConfigRevisions(ctx, env.ID)
	if err != nil {
		return RestoreConfigRevisionResult{}, fmt.Errorf("restore configuration revision: %w", err)
	}
	rev, ok := revs.Revision(in.RevisionID)
	if !ok {
		return RestoreConfigRevisionResult{}, fmt.Errorf("restore configuration revision: %w",
			&domain.FieldError{Field: "revisionId", Reason: "no revision " + in.RevisionID + " in this environment", Kind: domain.ErrNotFound})
	}
	at, err := eventstore.ParsePosition(rev.Position)
	if err != nil {
		return RestoreConfigRevisionResult{}, fmt.Errorf("restore configuration revision %s: %w", rev.RevisionID, err)
	}
	target, err := h.ports.Configurations.ConfigurationAt(ctx, env.ID, at)
	if err != nil {
		return RestoreConfigRevisionResult{}, fmt.Errorf("restore configuration revision %s: its configuration at %s: %w", rev.RevisionID, at, err)
	}
	head, err := d.head(ctx)
	if err != nil {
		return RestoreConfigRevisionResult{}, fmt.Errorf("restore configuration revision %s: %w", rev.RevisionID, err)
	}
	current, err := h.ports.Configurations.ConfigurationAt(ctx, env.ID, head)
	if err != nil {
		return RestoreConfigRevisionResult{}, fmt.Errorf("restore configuration revision %s: the current configuration: %w", rev.RevisionID, err)
	}
	r := &restoreRun{h: h, ctx: ctx, env: env.ID, force: in.Force, target: target.Normalize(), current: current.Normalize(),
		popID: map[string]string{}, groupID: map[string]string{}, created: map[string]string{}}
	out := RestoreConfigRevisionResult{FromHash: current.Hash(), Created: r.created}
	if err := r.run(); err != nil {
		return RestoreConfigRevisionResult{Position: r.last, FromHash: out.FromHash, Changes: r.changes, Created: r.created},
			fmt.Errorf("restore configuration revision %s: %d steps committed, then: %w", rev.RevisionID, r.changes, err)
	}
	out.Position, out.Changes, out.ToHash = r.last, r.changes, out.FromHash
	if r.changes == 0 {
		return out, nil
	}
	after, err := h.ports.Configurations.ConfigurationAt(ctx, env.ID, r.last)
	if err != nil {
		return out, fmt.Errorf("restore configuration revision %s: %d steps committed, then the configuration after: %w", rev.RevisionID, r.changes, err)
	}
	out.ToHash = after.Hash()
	err = retryOnConflict(ctx, func() error {
		revs, expected, err := d.loadConfigRevisions(ctx, env.ID)
		if err != nil {
			return err
		}
		pos, err := d.appendEvents(ctx, domain.StreamName(domain.CategoryConfigRevision, env.ID), expected, env.ID, revs,
			domain.ConfigRevisionRestored{RevisionID: rev.RevisionID, EnvironmentID: env.ID, FromHash: out.FromHash, ToHash: out.ToHash, Changes: r.changes})
		if err == nil {
			out.Position = pos
		}
		return err
	})
	if err != nil {
		return out, fmt.Errorf("restore configuration revision %s: %d steps committed, then recording the restore: %w", rev.RevisionID, r.changes, err)
	}
	return out, nil
}

// restoreRun is one restore in progress.
type restoreRun struct {
	h               *RestoreConfigRevisionHandler
	ctx             context.Context
	env             string
	force           bool
	target, current domain.Configuration
	// popID and groupID map a target resource's ID to the current one standing for it.
	popID, groupID map[string]string
	created        map[string]string
	changes        int
	last           eventstore.Position
}

// step records a committed step (a zero position appended nothing).
func (r *restoreRun) step(what string, pos eventstore.Position, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !pos.IsZero() {
		r.changes++
		if r.last.Less(pos) {
			r.last = pos
		}
	}
	return nil
}

func (r *restoreRun) run() error {
	s, t, c := r.h.steps, r.target, r.current
	r.match()
	if err := r.precheck(); err != nil {
		return err
	}
	if t.Name != c.Name {
		res, err := s.rename.Handle(r.ctx, RenameEnvironment{EnvironmentID: r.env, Name: t.Name})
		if err := r.step("rename the environment", res.Position, err); err != nil {
			return err
		}
	}
	if t.PasswordPolicy != c.PasswordPolicy {
		res, err := s.policy.Handle(r.ctx, SetPasswordPolicy{EnvironmentID: r.env, Policy: t.PasswordPolicy})
		if err := r.step("set the password policy", res.Position, err); err != nil {
			return err
		}
	}
	// Populations: create and update, then the default; deletions come last.
	for _, p := range t.Populations {
		if cur, ok := r.popID[p.ID]; ok {
			old, _ := c.Population(cur)
			if old.Name != p.Name || old.Description != p.Description {
				res, err := s.updatePop.Handle(r.ctx, UpdatePopulation{EnvironmentID: r.env, PopulationID: cur, Name: p.Name, Description: p.Description})
				if err := r.step("update population "+cur, res.Position, err); err != nil {
					return err
				}
			}
			continue
		}
		res, err := s.createPop.Handle(r.ctx, CreatePopulation{EnvironmentID: r.env, Name: p.Name, Description: p.Description})
		if err := r.step(fmt.Sprintf("re-create population %q", p.Name), res.Position, err); err != nil {
			return err
		}
		r.popID[p.ID], r.created[p.ID] = res.PopulationID, res.PopulationID
	}
	if def := r.mapPop(t.DefaultPopulationID); def != c.DefaultPopulationID && def != "" {
		res, err := s.defaultPop.Handle(r.ctx, SetDefaultPopulation{EnvironmentID: r.env, PopulationID: def})
		if err := r.step("set the default population", res.Position, err); err != nil {
			return err
		}
	}
	// Schema: additions and updates before groups (their filters may name them).
	for _, a := range t.Attributes {
		old, ok := findAttr(c.Attributes, a.Name)
		switch {
		case !ok:
			res, err := s.createAttr.Handle(r.ctx, CreateSchemaAttribute{EnvironmentID: r.env, Attribute: a})
			if err := r.step("add schema attribute "+a.Name, res.Position, err); err != nil {
				return err
			}
		case !sameAttr(old, a):
			res, err := s.updateAttr.Handle(r.ctx, UpdateSchemaAttribute{EnvironmentID: r.env, Attribute: a})
			if err := r.step("update schema attribute "+a.Name, res.Position, err); err != nil {
				return err
			}
		}
	}
	if err := r.groups(); err != nil {
		return err
	}
	// Removals the target lacks: schema attributes (after the groups whose filters named them),
	// then populations (after the default moved).
	for _, a := range c.Attributes {
		if _, ok := findAttr(t.Attributes, a.Name); !ok {
			res, err := s.deleteAttr.Handle(r.ctx, DeleteSchemaAttribute{EnvironmentID: r.env, Name: a.Name, Force: r.force})
			if err := r.step("remove schema attribute "+a.Name, res.Position, err); err != nil {
				return err
			}
		}
	}
	for _, p := range c.Populations {
		if !r.popKept(p.ID) {
			res, err := s.deletePop.Handle(r.ctx, DeletePopulation{EnvironmentID: r.env, PopulationID: p.ID})
			if err := r.step(fmt.Sprintf("delete population %q", p.Name), res.Position, err); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *restoreRun) groups() error {
	s, t, c := r.h.steps, r.target, r.current
	for _, g := range c.Groups {
		if !r.groupKept(g.ID) {
			res, err := s.deleteGroup.Handle(r.ctx, DeleteGroup{EnvironmentID: r.env, GroupID: g.ID})
			if err := r.step(fmt.Sprintf("delete group %q", g.Name), res.Position, err); err != nil {
				return err
			}
		}
	}
	for _, g := range t.Groups {
		if cur, ok := r.groupID[g.ID]; ok {
			old, _ := c.Group(cur)
			if old.Name != g.Name || old.Description != g.Description || old.Filter != g.Filter {
				res, err := s.updateGroup.Handle(r.ctx, UpdateGroup{EnvironmentID: r.env, GroupID: cur, Name: g.Name, Description: g.Description, Filter: g.Filter})
				if err := r.step("update group "+cur, res.Position, err); err != nil {
					return err
				}
			}
			continue
		}
		res, err := s.createGroup.Handle(r.ctx, CreateGroup{EnvironmentID: r.env, Name: g.Name, Description: g.Description, Kind: g.Kind, Filter: g.Filter})
		if err := r.step(fmt.Sprintf("re-create group %q", g.Name), res.Position, err); err != nil {
			return err
		}
		r.groupID[g.ID], r.created[g.ID] = res.GroupID, res.GroupID
	}
	// Nesting: the target's edges, mapped onto current IDs.
	want := map[[2]string]bool{}
	for _, g := range t.Groups {
		for _, ch := range g.Children {
			if cid, ok := r.groupID[ch]; ok {
				want[[2]string{r.groupID[g.ID], cid}] = true
			}
		}
	}
	have := map[[2]string]bool{}
	for _, g := range c.Groups {
		for _, ch := range g.Children {
			if r.groupKept(g.ID) && r.groupKept(ch) {
				have[[2]string{g.ID, ch}] = true
			}
		}
	}
	for _, e := range sortedEdges(have) {
		if !want[e] {
			res, err := s.removeMember.Handle(r.ctx, RemoveGroupMember{EnvironmentID: r.env, GroupID: e[0], MemberType: domain.MemberGroup, MemberID: e[1]})
			if err := r.step("unnest group "+e[1]+" from "+e[0], res.Position, err); err != nil {
				return err
			}
		}
	}
	for _, e := range sortedEdges(want) {
		if !have[e] {
			res, err := s.addMember.Handle(r.ctx, AddGroupMember{EnvironmentID: r.env, GroupID: e[0], MemberType: domain.MemberGroup, MemberID: e[1]})
			if err := r.step("nest group "+e[1]+" in "+e[0], res.Position, err); err != nil {
				return err
			}
		}
	}
	// Role assignments, as multisets of (role, population) per group.
	for _, g := range t.Groups {
		cur := r.groupID[g.ID]
		grp, _, err := r.h.d.loadGroup(r.ctx, "groupId", r.env, cur)
		if err != nil {
			return fmt.Errorf("roles of group %q: %w", g.Name, err)
		}
		wantRoles := map[domain.ConfigRole]int{}
		for _, role := range g.Roles {
			wantRoles[domain.ConfigRole{Role: role.Role, PopulationID: r.mapPop(role.PopulationID)}]++
		}
		for _, a := range grp.Roles {
			k := domain.ConfigRole{Role: a.Role, PopulationID: a.PopulationID}
			if wantRoles[k] > 0 {
				wantRoles[k]--
				continue
			}
			res, err := s.unassignRoles.Handle(r.ctx, UnassignRole{EnvironmentID: r.env, SubjectType: SubjectGroup, SubjectID: cur, AssignmentID: a.ID})
			if err := r.step(fmt.Sprintf("unassign role %s from group %q", a.Role, g.Name), res.Position, err); err != nil {
				return err
			}
		}
		for _, k := range sortedRoles(wantRoles) {
			for range wantRoles[k] {
				res, err := s.assignRole.Handle(r.ctx, AssignRole{EnvironmentID: r.env, SubjectType: SubjectGroup, SubjectID: cur, Role: k.Role, PopulationID: k.PopulationID})
				if err := r.step(fmt.Sprintf("assign role %s to group %q", k.Role, g.Name), res.Position, err); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// match maps each target population and group onto the current one standing for it: the same
// ID, else an unmatched one of the same name (any case; groups of the same kind too).
func (r *restoreRun) match() {
	used := map[string]bool{}
	for _, p := range r.target.Populations {
		if _, ok := r.current.Population(p.ID); ok {
			r.popID[p.ID], used[p.ID] = p.ID, true
		}
	}
	for _, p := range r.target.Populations {
		if _, ok := r.popID[p.ID]; ok {
			continue
		}
		for _, q := range r.current.Populations {
			if !used[q.ID] && !r.targetHasPop(q.ID) && NormalizeUnique(q.Name) == NormalizeUnique(p.Name) {
				r.popID[p.ID], used[q.ID] = q.ID, true
				break
			}
		}
	}
	for _, g := range r.target.Groups {
		if _, ok := r.current.Group(g.ID); ok {
			r.groupID[g.ID], used[g.ID] = g.ID, true
		}
	}
	for _, g := range r.target.Groups {
		if _, ok := r.groupID[g.ID]; ok {
			continue
		}
		for _, q := range r.current.Groups {
			if !used[q.ID] && q.Kind == g.Kind && NormalizeUnique(q.Name) == NormalizeUnique(g.Name) {
				if _, inTarget := r.target.Group(q.ID); !inTarget {
					r.groupID[g.ID], used[q.ID] = q.ID, true
					break
				}
			}
		}
	}
}

func (r *restoreRun) targetHasPop(id string) bool { _, ok := r.target.Population(id); return ok }

// mapPop returns the current ID standing for target population id (id itself when none).
func (r *restoreRun) mapPop(id string) string {
	if cur, ok := r.popID[id]; ok {
		return cur
	}
	return id
}

func (r *restoreRun) popKept(currentID string) bool {
	for _, v := range r.popID {
		if v == currentID {
			return true
		}
	}
	return false
}

func (r *restoreRun) groupKept(currentID string) bool {
	for _, v := range r.groupID {
		if v == currentID {
			return true
		}
	}
	return false
}

// precheck refuses, before any change, removals that would drop identity data.
func (r *restoreRun) precheck() error {
	var errs []error
	for _, a := range r.current.Attributes {
		if _, ok := findAttr(r.target.Attributes, a.Name); ok || r.force {
			continue
		}
		n, err := r.h.ports.AttributeUsage.UsersWithAttribute(r.ctx, r.env, a.Name)
		if err != nil {
			return fmt.Errorf("count the values of schema attribute %s: %w", a.Name, err)
		}
		if n > 0 {
			errs = append(errs, domain.Conflictf("schema attribute %q, which the revision lacks, holds values of %d users: restore with force to drop them", a.Name, n))
		}
	}
	for _, p := range r.current.Populations {
		if r.popKept(p.ID) {
			continue
		}
		n, err := r.h.ports.PopulationUsage.PopulationUserCount(r.ctx, r.env, p.ID)
		if err != nil {
			return fmt.Errorf("count the users of population %s: %w", p.ID, err)
		}
		if n > 0 {
			errs = append(errs, domain.Conflictf("population %q (%s), which the revision lacks, holds %d users: move or delete them first", p.Name, p.ID, n))
		}
	}
	return errors.Join(errs...)
}

func findAttr(defs []domain.AttributeDef, name string) (domain.AttributeDef, bool) {
	i := slices.IndexFunc(defs, func(d domain.AttributeDef) bool { return strings.EqualFold(d.Name, name) })
	if i < 0 {
		return domain.AttributeDef{}, false
	}
	return defs[i], true
}

func sameAttr(a, b domain.AttributeDef) bool {
	return a.DisplayName == b.DisplayName && a.Description == b.Description && a.Type == b.Type && a.Required == b.Required &&
		a.Unique == b.Unique && a.MultiValued == b.MultiValued && slices.Equal(a.Enum, b.Enum) && a.Regex == b.Regex && a.MaxLength == b.MaxLength
}

func sortedEdges(m map[[2]string]bool) [][2]string {
	out := make([][2]string, 0, len(m))
	for e := range m {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0]+"/"+a[1], b[0]+"/"+b[1]) })
	return out
}

func sortedRoles(m map[domain.ConfigRole]int) []domain.ConfigRole {
	out := make([]domain.ConfigRole, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b domain.ConfigRole) int {
		return strings.Compare(string(a.Role)+"/"+a.PopulationID, string(b.Role)+"/"+b.PopulationID)
	})
	return out
}
