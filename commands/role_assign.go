package commands

import (
	"context"
	"fmt"
	"slices"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// SubjectType names what a role is assigned to.
type SubjectType string

const (
	SubjectUser      SubjectType = "USER"
	SubjectGroup     SubjectType = "GROUP"
	SubjectAPIClient SubjectType = "API_CLIENT"
)

// AssignRole grants Role in the environment, optionally narrowed to one population, to a user,
// a group (its members) or an API client.
type AssignRole struct {
	EnvironmentID string
	SubjectType   SubjectType
	SubjectID     string
	Role          domain.Role
	PopulationID  string
}

// AssignRoleResult names the assignment created.
type AssignRoleResult struct {
	AssignmentID string
	Position     eventstore.Position
}

// AssignRoleHandler handles AssignRole.
type AssignRoleHandler struct{ d *Deps }

// NewAssignRole returns the handler of AssignRole.
func NewAssignRole(d *Deps) *AssignRoleHandler { return &AssignRoleHandler{d: d} }

// Handle appends <subject>.role_assigned with a new assignment ID. The role must be built in and
// the population, when given, must exist in the environment (ErrInvalid / ErrNotFound naming the
// field); the subject must exist in the environment (ErrNotFound on "subjectId"). Assignments
// commute: a concurrent change of the subject is retried.
func (h *AssignRoleHandler) Handle(ctx context.Context, in AssignRole) (AssignRoleResult, error) {
	d := h.d
	a := domain.RoleAssignment{ID: d.NewID(), Role: in.Role, EnvironmentID: in.EnvironmentID, PopulationID: in.PopulationID}
	if err := domain.ValidateRoleAssignment("", a); err != nil {
		return AssignRoleResult{}, fmt.Errorf("assign role: %w", err)
	}
	var pos eventstore.Position
	err := retryOnConflict(ctx, func() error {
		env, _, err := d.loadEnvironment(ctx, in.EnvironmentID)
		if err != nil {
			return err
		}
		if in.PopulationID != "" {
			if _, _, err := d.loadPopulation(ctx, "populationId", env.ID, in.PopulationID); err != nil {
				return err
			}
		}
		pos, err = d.changeSubject(ctx, env.ID, in.SubjectType, in.SubjectID, subjectDecisions{
			user: func(u *domain.User) ([]any, error) { return u.AssignRole(a) }, group: func(g *domain.Group) ([]any, error) { return g.AssignRole(a) },
			client: func(c *domain.APIClient) ([]any, error) { return c.AssignRole(a) }})
		return err
	})
	if err != nil {
		return AssignRoleResult{}, fmt.Errorf("assign role: %w", err)
	}
	return AssignRoleResult{AssignmentID: a.ID, Position: pos}, nil
}

// UnassignRole withdraws a role assignment from its subject.
type UnassignRole struct {
	EnvironmentID string
	SubjectType   SubjectType
	SubjectID     string
	AssignmentID  string
}

// UnassignRoleHandler handles UnassignRole.
type UnassignRoleHandler struct{ d *Deps }

// NewUnassignRole returns the handler of UnassignRole.
func NewUnassignRole(d *Deps) *UnassignRoleHandler { return &UnassignRoleHandler{d: d} }

// Handle appends <subject>.role_unassigned; an unknown assignment, or one of another
// environment or of the organization (held by an organization-wide client), is ErrNotFound on
// "assignmentId". A concurrent change of the subject is retried.
func (h *UnassignRoleHandler) Handle(ctx context.Context, in UnassignRole) (Committed, error) {
	var out Committed
	err := retryOnConflict(ctx, func() error {
		env, _, err := h.d.loadEnvironment(ctx, in.EnvironmentID)
		if err != nil {
			return err
		}
		id := in.AssignmentID
		out.Position, err = h.d.changeSubject(ctx, env.ID, in.SubjectType, in.SubjectID, subjectDecisions{
			user: func(u *domain.User) ([]any, error) { return u.UnassignRole(id) }, group: func(g *domain.Group) ([]any, error) { return g.UnassignRole(id) },
			client: func(c *domain.APIClient) ([]any, error) {
				// An organization-wide client also holds assignments beyond this environment.
				if i := slices.IndexFunc(c.Roles, func(a domain.RoleAssignment) bool { return a.ID == id }); i >= 0 && c.Roles[i].EnvironmentID != env.ID {
					return nil, &domain.FieldError{Field: "assignmentId", Reason: "no such role assignment", Kind: domain.ErrNotFound}
				}
				return c.UnassignRole(id)
			}})
		return err
	})
	return out, wrapOp("unassign role", err)
}

// subjectDecisions decide for each kind of role subject.
type subjectDecisions struct {
	user   func(*domain.User) ([]any, error)
	group  func(*domain.Group) ([]any, error)
	client func(*domain.APIClient) ([]any, error)
}

// changeSubject loads the subject in environment env, decides and appends to its stream.
func (d *Deps) changeSubject(ctx context.Context, env string, typ SubjectType, id string, decide subjectDecisions) (eventstore.Position, error) {
	var (
		stream   string
		expected eventstore.ExpectedRevision
		agg      Aggregate
		events   []any
		err      error
	)
	switch typ {
	case SubjectUser:
		var u *domain.User
		if u, expected, err = d.loadUser(ctx, env, id); err == nil {
			stream, agg = domain.StreamName(domain.CategoryUser, u.ID), u
			events, err = decide.user(u)
		}
	case SubjectGroup:
		var g *domain.Group
		if g, expected, err = d.loadGroup(ctx, "subjectId", env, id); err == nil {
			stream, agg = domain.StreamName(domain.CategoryGroup, g.ID), g
			events, err = decide.group(g)
		}
	case SubjectAPIClient:
		var c *domain.APIClient
		if c, expected, err = d.loadAPIClient(ctx, "subjectId", env, id); err == nil {
			stream, agg = domain.StreamName(domain.CategoryAPIClient, c.ID), c
			events, err = decide.client(c)
		}
	default:
		return eventstore.Position{}, domain.Invalidf("subjectType", "must be USER, GROUP or API_CLIENT")
	}
	if err != nil {
		return eventstore.Position{}, err
	}
	return d.appendEvents(ctx, stream, expected, env, agg, events...)
}
