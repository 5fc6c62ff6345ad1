package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
)

// UpdateGroup replaces a group's name, description and (dynamic groups) filter.
type UpdateGroup struct {
	EnvironmentID string
	GroupID       string
	Name          string
	Description   string
	Filter        string
}

// UpdateGroupHandler handles UpdateGroup.
type UpdateGroupHandler struct{ d *Deps }

// NewUpdateGroup returns the handler of UpdateGroup.
func NewUpdateGroup(d *Deps) *UpdateGroupHandler { return &UpdateGroupHandler{d: d} }

// Handle claims a new name, appends group.updated and releases the old name. No change appends
// nothing (zero Position); a concurrent change of the group is ErrConflict.
func (h *UpdateGroupHandler) Handle(ctx context.Context, in UpdateGroup) (Committed, error) {
	d := h.d
	env, _, err := d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return Committed{}, fmt.Errorf("update group: %w", err)
	}
	schema, _, err := d.loadSchema(ctx, env.ID)
	if err != nil {
		return Committed{}, fmt.Errorf("update group: %w", err)
	}
	g, expected, err := d.loadGroup(ctx, "groupId", env.ID, in.GroupID)
	if err != nil {
		return Committed{}, fmt.Errorf("update group: %w", err)
	}
	events, err := g.Update(in.Name, in.Description, in.Filter)
	if err == nil && len(events) > 0 && in.Filter != g.Filter {
		err = validateGroupFilter(in.Filter, schema)
	}
	if err != nil || len(events) == 0 {
		return Committed{}, wrapOp("update group "+g.ID, err)
	}
	oldName, newName := g.Name, events[0].(domain.GroupUpdated).Name
	stream := domain.StreamName(domain.CategoryGroup, g.ID)
	renamed := NormalizeUnique(oldName) != NormalizeUnique(newName)
	if renamed {
		if err := d.claim(ctx, env.ID, domain.UniqueGroup, "name", newName, stream, d.groupHoldsName(newName)); err != nil {
			return Committed{}, fmt.Errorf("update group %s: %w", g.ID, err)
		}
	}
	pos, err := d.appendEvents(ctx, stream, expected, env.ID, g, events...)
	if err != nil {
		if renamed {
			_ = d.releaseUnheld(context.WithoutCancel(ctx), env.ID, domain.UniqueGroup, newName, stream, d.groupHoldsName(newName))
		}
		return Committed{}, fmt.Errorf("update group %s: %w", g.ID, err)
	}
	if renamed {
		if err := d.releaseUnheld(ctx, env.ID, domain.UniqueGroup, oldName, stream, d.groupHoldsName(oldName)); err != nil {
			return Committed{Position: pos}, fmt.Errorf("update group %s: committed, but releasing the old name: %w", g.ID, err)
		}
	}
	return Committed{Position: pos}, nil
}

// DeleteGroup deletes a group and its nesting edges.
type DeleteGroup struct {
	EnvironmentID string
	GroupID       string
}

// DeleteGroupHandler handles DeleteGroup.
type DeleteGroupHandler struct{ d *Deps }

// NewDeleteGroup returns the handler of DeleteGroup.
func NewDeleteGroup(d *Deps) *DeleteGroupHandler { return &DeleteGroupHandler{d: d} }

// Handle appends group.deleted, then grouptree.unnested for every edge of the group (retried on
// a concurrent change of the tree), then releases the name. Position is the last commit's.
func (h *DeleteGroupHandler) Handle(ctx context.Context, in DeleteGroup) (Committed, error) {
	d := h.d
	env, _, err := d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return Committed{}, fmt.Errorf("delete group: %w", err)
	}
	g, expected, err := d.loadGroup(ctx, "groupId", env.ID, in.GroupID)
	if err != nil {
		return Committed{}, fmt.Errorf("delete group: %w", err)
	}
	events, err := g.Delete()
	if err != nil {
		return Committed{}, fmt.Errorf("delete group %s: %w", g.ID, err)
	}
	stream := domain.StreamName(domain.CategoryGroup, g.ID)
	pos, err := d.appendEvents(ctx, stream, expected, env.ID, g, events...)
	if err != nil {
		return Committed{}, fmt.Errorf("delete group %s: %w", g.ID, err)
	}
	err = retryOnConflict(ctx, func() error {
		tree, texpected, err := d.loadGroupTree(ctx, env.ID)
		if err != nil {
			return err
		}
		p, err := d.appendEvents(ctx, domain.StreamName(domain.CategoryGroupTree, env.ID), texpected, env.ID, nil, tree.Detach(env.ID, g.ID)...)
		if err == nil && !p.IsZero() {
			pos = p
		}
		return err
	})
	if err == nil {
		err = d.release(ctx, env.ID, domain.UniqueGroup, g.Name, stream)
	}
	if err != nil {
		return Committed{Position: pos}, fmt.Errorf("delete group %s: committed, but detaching it: %w", g.ID, err)
	}
	return Committed{Position: pos}, nil
}
