package graph

import (
	"context"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/graph/generated"
	"github.com/idstream/idstream/graph/model"
	"github.com/idstream/idstream/projections"
)

func (r *mutationResolver) CreateUser(ctx context.Context, input model.CreateUserInput) (*model.UserPayload, error) {
	return nil, notWired("createUser")
}

func (r *mutationResolver) UpdateUser(ctx context.Context, input model.UpdateUserInput) (*model.UserPayload, error) {
	return nil, notWired("updateUser")
}

func (r *mutationResolver) PatchUser(ctx context.Context, input map[string]any) (*model.UserPayload, error) {
	return nil, notWired("patchUser")
}

func (r *mutationResolver) DeleteUser(ctx context.Context, input model.UserRefInput) (*model.DeletePayload, error) {
	return nil, notWired("deleteUser")
}

func (r *mutationResolver) EnableUser(ctx context.Context, input model.UserRefInput) (*model.UserPayload, error) {
	return nil, notWired("enableUser")
}

func (r *mutationResolver) DisableUser(ctx context.Context, input model.UserRefInput) (*model.UserPayload, error) {
	return nil, notWired("disableUser")
}

func (r *mutationResolver) LockUser(ctx context.Context, input model.LockUserInput) (*model.UserPayload, error) {
	return nil, notWired("lockUser")
}

func (r *mutationResolver) UnlockUser(ctx context.Context, input model.UserRefInput) (*model.UserPayload, error) {
	return nil, notWired("unlockUser")
}

func (r *mutationResolver) MoveUser(ctx context.Context, input model.MoveUserInput) (*model.UserPayload, error) {
	return nil, notWired("moveUser")
}

func (r *queryResolver) User(ctx context.Context, environmentID string, id string, minPosition *string) (*model.User, error) {
	if err := r.begin(ctx, domain.ActReadEnvironment, environmentID, minPosition); err != nil {
		return nil, err
	}
	u, err := r.cfg.ReadModel.User(environmentID, id)
	if err != nil {
		return nil, err
	}
	if err := authorizeUser(ctx, domain.ActReadIdentities, environmentID, u.PopulationID, id); err != nil {
		return nil, err
	}
	return toUser(u), nil
}

func (r *queryResolver) Users(ctx context.Context, environmentID string, filter *string, first *int, after *string, minPosition *string) (*model.UserConnection, error) {
	if err := r.begin(ctx, domain.ActReadEnvironment, environmentID, minPosition); err != nil {
		return nil, err
	}
	scope, err := readScope(ctx, environmentID)
	if err != nil {
		return nil, err
	}
	q := projections.UserQuery{Filter: deref(filter), PopulationIDs: scope, After: deref(after)}
	if first != nil {
		if *first < 0 || *first > 1000 {
			return nil, domain.Invalidf("first", "must be between 0 and 1000")
		}
		q.First = *first
	}
	page, err := r.cfg.ReadModel.Users(environmentID, q)
	if err != nil {
		return nil, err
	}
	out := &model.UserConnection{TotalCount: page.TotalCount, Edges: make([]*model.UserEdge, len(page.Users)),
		PageInfo: &model.PageInfo{HasNextPage: page.HasNextPage, EndCursor: optString(page.EndCursor)}}
	for i, u := range page.Users {
		out.Edges[i] = &model.UserEdge{Cursor: cursorOf(u.ID), Node: toUser(u)}
	}
	return out, nil
}

func (r *userResolver) Population(ctx context.Context, obj *model.User) (*model.Population, error) {
	return loadersFrom(ctx).population(ctx, obj.EnvironmentID, obj.PopulationID)
}

func (r *userResolver) Groups(ctx context.Context, obj *model.User, transitive *bool) ([]*model.Group, error) {
	gs, err := loadersFrom(ctx).userGroups.Load(ctx, memberKey{obj.EnvironmentID, obj.ID, transitive != nil && *transitive})
	if err != nil {
		return nil, err
	}
	out := make([]*model.Group, len(gs))
	for i := range gs {
		out[i] = toGroup(&gs[i])
	}
	return out, nil
}

func (r *Resolver) User() generated.UserResolver { return &userResolver{r} }

type userResolver struct{ *Resolver }
