package graph

import (
	"context"

	"github.com/idstream/idstream/graph/model"
)

func (r *mutationResolver) CreateAPIClient(ctx context.Context, input model.CreateAPIClientInput) (*model.CreateAPIClientPayload, error) {
	return nil, notWired("createApiClient")
}

func (r *mutationResolver) RevokeAPIToken(ctx context.Context, input model.RevokeAPITokenInput) (*model.DeletePayload, error) {
	return nil, notWired("revokeApiToken")
}

func (r *queryResolver) APIClients(ctx context.Context, environmentID string, minPosition *string) ([]*model.APIClient, error) {
	return nil, notWired("apiClients")
}
