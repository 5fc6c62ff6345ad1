package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// CreateGroup creates a group; its name is unique in the environment (any case). A DYNAMIC
// group's members are the users matching Filter, a SCIM filter on user attributes.
type CreateGroup struct {
	EnvironmentID string
	Name          string
	Description   string
	Kind          domain.GroupKind
	Filter        string
}

// CreateGroupResult names the group created.
type CreateGroupResult struct {
	GroupID  string
	Position eventstore.Position
}

// CreateGroupHandler handles CreateGroup.
type CreateGroupHandler struct{ d *Deps }

// NewCreateGroup returns the handler of CreateGroup.
func NewCreateGroup(d *Deps) *CreateGroupHandler { return &CreateGroupHandler{d: d} }

// Handle validates (a dynamic group's filter must parse and name known attributes: ErrInvalid on
// "filter"), reserves the name (ErrConflict on "name") and appends group.created; the
// reservation is released when the append fails.
func (h *CreateGroupHandler) Handle(ctx context.Context, in CreateGroup) (CreateGroupResult, error) {
	d := h.d
	env, _, err := d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return CreateGroupResult{}, fmt.Errorf("create group: %w", err)
	}
	schema, _, err := d.loadSchema(ctx, env.ID)
	if err != nil {
		return CreateGroupResult{}, fmt.Errorf("create group: %w", err)
	}
	id := d.NewID()
	created, err := domain.NewGroup(env.ID, id, in.Name, in.Description, in.Kind, in.Filter)
	if err == nil {
		err = validateGroupFilter(created.Filter, schema)
	}
	if err != nil {
		return CreateGroupResult{}, fmt.Errorf("create group: %w", err)
	}
	stream := domain.StreamName(domain.CategoryGroup, id)
	if err := d.claim(ctx, env.ID, domain.UniqueGroup, "name", created.Name, stream, d.groupHoldsName(created.Name)); err != nil {
		return CreateGroupResult{}, fmt.Errorf("create group: %w", err)
	}
	pos, err := d.appendEvents(ctx, stream, eventstore.NoStream, env.ID, nil, created)
	if err != nil {
		_ = d.release(context.WithoutCancel(ctx), env.ID, domain.UniqueGroup, created.Name, stream)
		return CreateGroupResult{}, fmt.Errorf("create group: %w", err)
	}
	return CreateGroupResult{GroupID: id, Position: pos}, nil
}
