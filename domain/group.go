package domain

import (
	"fmt"
	"strings"
)

// Group is the group aggregate, folded from group-<id>. User members are recorded on the
// group's stream; nested groups are edges of the environment's GroupTree.
type Group struct {
	ID            string
	EnvironmentID string
	Name          string
	Description   string
	Kind          GroupKind
	Filter        string          // SCIM filter of a dynamic group
	Members       map[string]bool // user IDs of a direct group
	Roles         []RoleAssignment
	Exists        bool // created and not deleted
	Deleted       bool
}

// Apply folds one event payload into the state.
func (g *Group) Apply(event any) {
	switch ev := event.(type) {
	case GroupCreated:
		g.ID, g.EnvironmentID, g.Name, g.Description = ev.GroupID, ev.EnvironmentID, ev.Name, ev.Description
		g.Kind, g.Filter, g.Exists, g.Members = ev.Kind, ev.Filter, true, map[string]bool{}
	case GroupUpdated:
		g.Name, g.Description, g.Filter = ev.Name, ev.Description, ev.Filter
	case GroupDeleted:
		g.Exists, g.Deleted = false, true
	case GroupMemberAdded:
		g.Members[ev.UserID] = true
	case GroupMemberRemoved:
		delete(g.Members, ev.UserID)
	case GroupRoleAssigned:
		g.Roles = append(g.Roles, ev.Assignment)
	case GroupRoleUnassigned:
		g.Roles = removeWhere(g.Roles, func(r RoleAssignment) bool { return r.ID == ev.AssignmentID })
	}
}

// maxFilter bounds a dynamic group's filter, in bytes.
const maxFilter = 4096

func validateGroupFields(name, description string, kind GroupKind, filter string) (string, error) {
	name, err := ValidateName("name", name)
	errs := []error{err, validateDescription("description", description)}
	switch kind {
	case GroupDirect:
		if strings.TrimSpace(filter) != "" {
			errs = append(errs, Invalidf("filter", "only dynamic groups take a filter"))
		}
	case GroupDynamic:
		switch {
		case strings.TrimSpace(filter) == "":
			errs = append(errs, Invalidf("filter", "a dynamic group needs a filter"))
		case len(filter) > maxFilter:
			errs = append(errs, Invalidf("filter", "must be at most %d bytes", maxFilter))
		}
	default:
		errs = append(errs, Invalidf("kind", "must be DIRECT or DYNAMIC"))
	}
	return name, FieldErrors(errs...)
}

// NewGroup decides the creation of group id. The filter's syntax and attributes are checked by
// the caller (SCIM filters are parsed outside domain); here only its presence per kind. Name
// uniqueness is the caller's (a reservation).
func NewGroup(env, id, name, description string, kind GroupKind, filter string) (GroupCreated, error) {
	name, err := validateGroupFields(name, description, kind, filter)
	if err != nil {
		return GroupCreated{}, err
	}
	return GroupCreated{EnvironmentID: env, GroupID: id, Name: name, Description: description, Kind: kind, Filter: filter}, nil
}

// Update decides a new name, description and (dynamic groups) filter; the kind never changes.
// No change records nothing.
func (g *Group) Update(name, description, filter string) ([]any, error) {
	if !g.Exists {
		return nil, NotFoundf("group %s", g.ID)
	}
	name, err := validateGroupFields(name, description, g.Kind, filter)
	if err != nil {
		return nil, err
	}
	if name == g.Name && description == g.Description && filter == g.Filter {
		return nil, nil
	}
	return []any{GroupUpdated{EnvironmentID: g.EnvironmentID, GroupID: g.ID, Name: name, Description: description, Filter: filter}}, nil
}

// Delete decides the deletion of the group (its nesting edges are unnested by the caller on the
// GroupTree).
func (g *Group) Delete() ([]any, error) {
	if !g.Exists {
		return nil, NotFoundf("group %s", g.ID)
	}
	return []any{GroupDeleted{EnvironmentID: g.EnvironmentID, GroupID: g.ID}}, nil
}

// AddMember decides adding user u (which must exist in the group's environment) as a direct
// member. Dynamic groups refuse direct members (ErrConflict); a member already in records
// nothing.
func (g *Group) AddMember(u *User) ([]any, error) {
	if !g.Exists {
		return nil, NotFoundf("group %s", g.ID)
	}
	if u == nil || !u.Exists || u.EnvironmentID != g.EnvironmentID {
		return nil, &FieldError{Field: "memberId", Reason: "no such user in this environment", Kind: ErrNotFound}
	}
	if g.Kind == GroupDynamic {
		return nil, Conflictf("group %q is dynamic: its members are the users matching its filter", g.Name)
	}
	if g.Members[u.ID] {
		return nil, nil
	}
	return []any{GroupMemberAdded{EnvironmentID: g.EnvironmentID, GroupID: g.ID, UserID: u.ID}}, nil
}

// RemoveMember decides removing user userID; a user who is not a member is ErrNotFound on
// "memberId".
func (g *Group) RemoveMember(userID string) ([]any, error) {
	if !g.Exists {
		return nil, NotFoundf("group %s", g.ID)
	}
	if !g.Members[userID] {
		return nil, &FieldError{Field: "memberId", Reason: fmt.Sprintf("user %s is not a member of group %q", userID, g.Name), Kind: ErrNotFound}
	}
	return []any{GroupMemberRemoved{EnvironmentID: g.EnvironmentID, GroupID: g.ID, UserID: userID}}, nil
}

// AssignRole decides granting a (validated) role assignment to the group's members.
func (g *Group) AssignRole(a RoleAssignment) ([]any, error) {
	if !g.Exists {
		return nil, NotFoundf("group %s", g.ID)
	}
	return []any{GroupRoleAssigned{EnvironmentID: g.EnvironmentID, GroupID: g.ID, Assignment: a}}, nil
}

// UnassignRole decides withdrawing assignment id (ErrNotFound on "assignmentId" when unknown).
func (g *Group) UnassignRole(id string) ([]any, error) {
	if !g.Exists {
		return nil, NotFoundf("group %s", g.ID)
	}
	if !hasAssignment(g.Roles, id) {
		return nil, &FieldError{Field: "assignmentId", Reason: "no such role assignment", Kind: ErrNotFound}
	}
	return []any{GroupRoleUnassigned{EnvironmentID: g.EnvironmentID, GroupID: g.ID, AssignmentID: id}}, nil
}
