package graph

import (
	"context"

	"github.com/idstream/idstream/graph/generated"
	"github.com/idstream/idstream/graph/model"
)

func (r *queryResolver) Me(ctx context.Context, minPosition *string) (*model.APIClient, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.awaitMin(ctx, minPosition); err != nil {
		return nil, err
	}
	c, err := r.cfg.ReadModel.APIClient(p.ClientID)
	if err != nil {
		return nil, err
	}
	return toAPIClient(&c), nil
}

// Query returns generated.QueryResolver implementation.
func (r *Resolver) Query() generated.QueryResolver { return &queryResolver{r} }

type queryResolver struct{ *Resolver }
