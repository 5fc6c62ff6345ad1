package commands

import (
	"context"
	"errors"

	"github.com/idstream/idstream/domain"
)

// AddGroupMember adds a user (MemberType USER) or a group (GROUP, nesting) to a group.
type AddGroupMember struct {
	EnvironmentID string
	GroupID       string
	MemberType    domain.MemberType
	MemberID      string
}

// AddGroupMemberHandler handles AddGroupMember.
type AddGroupMemberHandler struct{ d *Deps }

// NewAddGroupMember returns the handler of AddGroupMember.
func NewAddGroupMember(d *Deps) *AddGroupMemberHandler { return &AddGroupMemberHandler{d: d} }

// Handle adds the member; one already there appends nothing (zero Position).
//
// A user must exist in the environment (ErrNotFound on "memberId") and dynamic groups refuse
// direct user members (ErrConflict); group.member_added goes on the group's stream, retried on
// a concurrent change of the group. A group member is an edge of the environment's group tree:
// a nesting that would close a cycle, self included, is ErrConflict naming the path; the append
// names the tree's revision, and a concurrent change of the tree is re-checked and retried.
func (h *AddGroupMemberHandler) Handle(ctx context.Context, in AddGroupMember) (Committed, error) {
	d := h.d
	var out Committed
	err := retryOnConflict(ctx, func() error {
		env, _, err := d.loadEnvironment(ctx, in.EnvironmentID)
		if err != nil {
			return err
		}
		g, expected, err := d.loadGroup(ctx, "groupId", env.ID, in.GroupID)
		if err != nil {
			return err
		}
		switch in.MemberType {
		case domain.MemberUser:
			u, _, err := d.loadUser(ctx, env.ID, in.MemberID)
			if errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrInvalid) {
				return &domain.FieldError{Field: "memberId", Reason: "no user " + in.MemberID + " in this environment", Kind: domain.ErrNotFound}
			} else if err != nil {
				return err
			}
			events, err := g.AddMember(u)
			if err != nil {
				return err
			}
			out.Position, err = d.appendEvents(ctx, domain.StreamName(domain.CategoryGroup, g.ID), expected, env.ID, g, events...)
			return err
		case domain.MemberGroup:
			if _, _, err := d.loadGroup(ctx, "memberId", env.ID, in.MemberID); err != nil {
				return err
			}
			tree, texpected, err := d.loadGroupTree(ctx, env.ID)
			if err != nil {
				return err
			}
			events, err := tree.Nest(env.ID, g.ID, in.MemberID)
			if err != nil {
				return err
			}
			out.Position, err = d.appendEvents(ctx, domain.StreamName(domain.CategoryGroupTree, env.ID), texpected, env.ID, tree, events...)
			return err
		}
		return domain.Invalidf("memberType", "must be USER or GROUP")
	})
	return out, wrapOp("add group member", err)
}

// RemoveGroupMember removes a user or a nested group from a group.
type RemoveGroupMember struct {
	EnvironmentID string
	GroupID       string
	MemberType    domain.MemberType
	MemberID      string
}

// RemoveGroupMemberHandler handles RemoveGroupMember.
type RemoveGroupMemberHandler struct{ d *Deps }

// NewRemoveGroupMember returns the handler of RemoveGroupMember.
func NewRemoveGroupMember(d *Deps) *RemoveGroupMemberHandler { return &RemoveGroupMemberHandler{d: d} }

// Handle appends group.member_removed (USER) or grouptree.unnested (GROUP); a member that is not
// there is ErrNotFound on "memberId". Removal commutes: a concurrent change is retried.
func (h *RemoveGroupMemberHandler) Handle(ctx context.Context, in RemoveGroupMember) (Committed, error) {
	d := h.d
	var out Committed
	err := retryOnConflict(ctx, func() error {
		env, _, err := d.loadEnvironment(ctx, in.EnvironmentID)
		if err != nil {
			return err
		}
		g, expected, err := d.loadGroup(ctx, "groupId", env.ID, in.GroupID)
		if err != nil {
			return err
		}
		switch in.MemberType {
		case domain.MemberUser:
			events, err := g.RemoveMember(in.MemberID)
			if err != nil {
				return err
			}
			out.Position, err = d.appendEvents(ctx, domain.StreamName(domain.CategoryGroup, g.ID), expected, env.ID, g, events...)
			return err
		case domain.MemberGroup:
			tree, texpected, err := d.loadGroupTree(ctx, env.ID)
			if err != nil {
				return err
			}
			events, err := tree.Unnest(env.ID, g.ID, in.MemberID)
			if err != nil {
				return err
			}
			out.Position, err = d.appendEvents(ctx, domain.StreamName(domain.CategoryGroupTree, env.ID), texpected, env.ID, tree, events...)
			return err
		}
		return domain.Invalidf("memberType", "must be USER or GROUP")
	})
	return out, wrapOp("remove group member", err)
}
