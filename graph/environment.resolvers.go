package graph

import (
	"context"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/graph/generated"
	"github.com/idstream/idstream/graph/model"
)

func (r *environmentResolver) Populations(ctx context.Context, obj *model.Environment) ([]*model.Population, error) {
	pops, err := r.cfg.ReadModel.Populations(obj.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*model.Population, len(pops))
	for i := range pops {
		out[i] = toPopulation(&pops[i])
	}
	return out, nil
}

func (r *mutationResolver) CreateEnvironment(ctx context.Context, input model.CreateEnvironmentInput) (*model.EnvironmentPayload, error) {
	if err := authorize(ctx, domain.ActCreateEnvironment, "", ""); err != nil {
		return nil, err
	}
	res, err := r.cfg.Commands.CreateEnvironment.Handle(ctx, commands.CreateEnvironment{Name: input.Name})
	if err != nil {
		return nil, err
	}
	return r.environmentPayload(ctx, res.EnvironmentID, res.Position)
}

func (r *mutationResolver) RenameEnvironment(ctx context.Context, input model.RenameEnvironmentInput) (*model.EnvironmentPayload, error) {
	if err := authorize(ctx, domain.ActManageEnvironment, input.ID, ""); err != nil {
		return nil, err
	}
	res, err := r.cfg.Commands.RenameEnvironment.Handle(ctx, commands.RenameEnvironment{EnvironmentID: input.ID, Name: input.Name})
	if err != nil {
		return nil, err
	}
	return r.environmentPayload(ctx, input.ID, res.Position)
}

func (r *mutationResolver) DeleteEnvironment(ctx context.Context, input model.DeleteEnvironmentInput) (*model.DeletePayload, error) {
	if err := authorize(ctx, domain.ActManageEnvironment, input.ID, ""); err != nil {
		return nil, err
	}
	res, err := r.cfg.Commands.DeleteEnvironment.Handle(ctx, commands.DeleteEnvironment{EnvironmentID: input.ID})
	if err != nil {
		return nil, err
	}
	return &model.DeletePayload{ID: input.ID, Position: res.Position.String()}, nil
}

func (r *mutationResolver) SetPasswordPolicy(ctx context.Context, input model.SetPasswordPolicyInput) (*model.PasswordPolicyPayload, error) {
	if err := authorize(ctx, domain.ActManageEnvironment, input.EnvironmentID, ""); err != nil {
		return nil, err
	}
	return nil, notWired("setPasswordPolicy")
}

func (r *mutationResolver) CreatePopulation(ctx context.Context, input model.CreatePopulationInput) (*model.PopulationPayload, error) {
	if err := authorize(ctx, domain.ActWriteIdentities, input.EnvironmentID, ""); err != nil {
		return nil, err
	}
	return nil, notWired("createPopulation")
}

func (r *mutationResolver) UpdatePopulation(ctx context.Context, input model.UpdatePopulationInput) (*model.PopulationPayload, error) {
	if err := authorize(ctx, domain.ActWriteIdentities, input.EnvironmentID, ""); err != nil {
		return nil, err
	}
	return nil, notWired("updatePopulation")
}

func (r *mutationResolver) DeletePopulation(ctx context.Context, input model.DeletePopulationInput) (*model.DeletePayload, error) {
	if err := authorize(ctx, domain.ActWriteIdentities, input.EnvironmentID, ""); err != nil {
		return nil, err
	}
	return nil, notWired("deletePopulation")
}

func (r *mutationResolver) CreateSchemaAttribute(ctx context.Context, input model.CreateSchemaAttributeInput) (*model.SchemaAttributePayload, error) {
	if err := authorize(ctx, domain.ActManageEnvironment, input.EnvironmentID, ""); err != nil {
		return nil, err
	}
	return nil, notWired("createSchemaAttribute")
}

func (r *mutationResolver) UpdateSchemaAttribute(ctx context.Context, input model.UpdateSchemaAttributeInput) (*model.SchemaAttributePayload, error) {
	if err := authorize(ctx, domain.ActManageEnvironment, input.EnvironmentID, ""); err != nil {
		return nil, err
	}
	return nil, notWired("updateSchemaAttribute")
}

func (r *mutationResolver) DeleteSchemaAttribute(ctx context.Context, input model.DeleteSchemaAttributeInput) (*model.DeleteSchemaAttributePayload, error) {
	if err := authorize(ctx, domain.ActManageEnvironment, input.EnvironmentID, ""); err != nil {
		return nil, err
	}
	return nil, notWired("deleteSchemaAttribute")
}

func (r *queryResolver) Environment(ctx context.Context, id string, minPosition *string) (*model.Environment, error) {
	if err := r.begin(ctx, domain.ActReadEnvironment, id, minPosition); err != nil {
		return nil, err
	}
	e, err := r.cfg.ReadModel.Environment(id)
	if err != nil {
		return nil, err
	}
	return toEnvironment(&e), nil
}

func (r *queryResolver) Environments(ctx context.Context, minPosition *string) ([]*model.Environment, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.awaitMin(ctx, minPosition); err != nil {
		return nil, err
	}
	var out []*model.Environment
	for _, e := range r.cfg.ReadModel.Environments() {
		if domain.Sees(p.Roles, e.ID) && domain.Allowed(p.Roles, domain.ActReadEnvironment, e.ID, "") {
			out = append(out, toEnvironment(&e))
		}
	}
	return out, nil
}

func (r *queryResolver) Populations(ctx context.Context, environmentID string, minPosition *string) ([]*model.Population, error) {
	if err := r.begin(ctx, domain.ActReadEnvironment, environmentID, minPosition); err != nil {
		return nil, err
	}
	return r.Resolver.Environment().Populations(ctx, &model.Environment{ID: environmentID})
}

func (r *queryResolver) Population(ctx context.Context, environmentID string, id string, minPosition *string) (*model.Population, error) {
	if err := r.begin(ctx, domain.ActReadEnvironment, environmentID, minPosition); err != nil {
		return nil, err
	}
	p, err := r.cfg.ReadModel.Population(environmentID, id)
	if err != nil {
		return nil, err
	}
	return toPopulation(&p), nil
}

func (r *queryResolver) Schema(ctx context.Context, environmentID string, minPosition *string) (*model.Schema, error) {
	if err := r.begin(ctx, domain.ActReadEnvironment, environmentID, minPosition); err != nil {
		return nil, err
	}
	attrs, err := r.cfg.ReadModel.Schema(environmentID)
	if err != nil {
		return nil, err
	}
	out := &model.Schema{EnvironmentID: environmentID, Attributes: make([]*model.SchemaAttribute, len(attrs))}
	for i, a := range attrs {
		out.Attributes[i] = toAttribute(a)
	}
	return out, nil
}

func (r *queryResolver) PasswordPolicy(ctx context.Context, environmentID string, minPosition *string) (*domain.PasswordPolicy, error) {
	if err := r.begin(ctx, domain.ActReadEnvironment, environmentID, minPosition); err != nil {
		return nil, err
	}
	p, err := r.cfg.ReadModel.PasswordPolicy(environmentID)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// Environment returns generated.EnvironmentResolver implementation.
func (r *Resolver) Environment() generated.EnvironmentResolver { return &environmentResolver{r} }

// Mutation returns generated.MutationResolver implementation.
func (r *Resolver) Mutation() generated.MutationResolver { return &mutationResolver{r} }

type environmentResolver struct{ *Resolver }
type mutationResolver struct{ *Resolver }
