package graph

import (
	"context"
	"slices"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/graph/generated"
	"github.com/idstream/idstream/graph/model"
	"github.com/idstream/idstream/projections"
)

func (r *groupResolver) Members(ctx context.Context, obj *model.Group, transitive *bool) ([]*model.User, error) {
	us, err := loadersFrom(ctx).members.Load(ctx, memberKey{obj.EnvironmentID, obj.ID, transitive != nil && *transitive})
	if err != nil {
		return nil, err
	}
	scope, err := readScope(ctx, obj.EnvironmentID)
	if err != nil {
		return nil, err
	}
	out := make([]*model.User, 0, len(us))
	for _, u := range us {
		if scope == nil || slices.Contains(scope, u.PopulationID) {
			out = append(out, toUser(u))
		}
	}
	return out, nil
}

func (r *mutationResolver) CreateGroup(ctx context.Context, input model.CreateGroupInput) (*model.GroupPayload, error) {
	return nil, notWired("createGroup")
}

func (r *mutationResolver) UpdateGroup(ctx context.Context, input model.UpdateGroupInput) (*model.GroupPayload, error) {
	return nil, notWired("updateGroup")
}

func (r *mutationResolver) DeleteGroup(ctx context.Context, input model.GroupRefInput) (*model.DeletePayload, error) {
	return nil, notWired("deleteGroup")
}

func (r *mutationResolver) AddGroupMember(ctx context.Context, input model.GroupMemberInput) (*model.GroupPayload, error) {
	return nil, notWired("addGroupMember")
}

func (r *mutationResolver) RemoveGroupMember(ctx context.Context, input model.GroupMemberInput) (*model.GroupPayload, error) {
	return nil, notWired("removeGroupMember")
}

func (r *mutationResolver) AssignRole(ctx context.Context, input model.AssignRoleInput) (*model.RoleAssignmentPayload, error) {
	return nil, notWired("assignRole")
}

func (r *mutationResolver) UnassignRole(ctx context.Context, input model.UnassignRoleInput) (*model.DeletePayload, error) {
	return nil, notWired("unassignRole")
}

func (r *queryResolver) Group(ctx context.Context, environmentID string, id string, minPosition *string) (*model.Group, error) {
	if err := r.begin(ctx, domain.ActReadIdentities, environmentID, minPosition); err != nil {
		return nil, err
	}
	g, err := r.cfg.ReadModel.Group(environmentID, id)
	if err != nil {
		return nil, err
	}
	return toGroup(&g), nil
}

func (r *queryResolver) Groups(ctx context.Context, environmentID string, filter *string, first *int, after *string, minPosition *string) (*model.GroupConnection, error) {
	if err := r.begin(ctx, domain.ActReadIdentities, environmentID, minPosition); err != nil {
		return nil, err
	}
	q := projections.GroupQuery{Filter: deref(filter), After: deref(after)}
	if first != nil {
		if *first < 0 || *first > 1000 {
			return nil, domain.Invalidf("first", "must be between 0 and 1000")
		}
		q.First = *first
	}
	page, err := r.cfg.ReadModel.Groups(environmentID, q)
	if err != nil {
		return nil, err
	}
	out := &model.GroupConnection{TotalCount: page.TotalCount, Edges: make([]*model.GroupEdge, len(page.Groups)),
		PageInfo: &model.PageInfo{HasNextPage: page.HasNextPage, EndCursor: optString(page.EndCursor)}}
	for i := range page.Groups {
		out.Edges[i] = &model.GroupEdge{Cursor: cursorOf(page.Groups[i].ID), Node: toGroup(&page.Groups[i])}
	}
	return out, nil
}

func (r *Resolver) Group() generated.GroupResolver { return &groupResolver{r} }

type groupResolver struct{ *Resolver }
