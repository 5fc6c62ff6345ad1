package graph

import (
	"context"
	"encoding/json"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/graph/model"
	"github.com/idstream/idstream/projections"
)

// Revisions is what the API needs to read configuration revisions: their records and each one's
// configuration, replayed from the log at its position.
type Revisions interface {
	// ConfigRevisions returns env's revisions in creation order (none: empty).
	ConfigRevisions(ctx context.Context, env string) ([]projections.ConfigRevisionRecord, error)
	// RevisionConfiguration replays rev's configuration at its position.
	RevisionConfiguration(ctx context.Context, rev domain.ConfigRevision) (domain.Configuration, error)
}

// revision returns revision id of env, NOT_FOUND when env has none such.
func (r *Resolver) revision(ctx context.Context, env, id string) (projections.ConfigRevisionRecord, error) {
	if r.cfg.Revisions == nil {
		return projections.ConfigRevisionRecord{}, unavailablef("configuration revisions are not configured on this server")
	}
	recs, err := r.cfg.Revisions.ConfigRevisions(ctx, env)
	if err != nil {
		return projections.ConfigRevisionRecord{}, err
	}
	for _, rec := range recs {
		if rec.RevisionID == id {
			return rec, nil
		}
	}
	return projections.ConfigRevisionRecord{}, domain.NotFoundf("configuration revision %s in environment %s", id, env)
}

func toConfigRevision(rec projections.ConfigRevisionRecord) *model.ConfigRevision {
	return &model.ConfigRevision{ID: rec.RevisionID, EnvironmentID: rec.EnvironmentID, Name: rec.Name,
		Description: optString(rec.Description), Position: rec.Position, ContentHash: rec.ContentHash,
		PreviousRevisionID: optString(rec.PreviousRevisionID), CreatedAt: rec.CreatedAt, CreatedBy: optString(rec.CreatedBy)}
}

func toConfigChanges(cs []projections.ConfigChange) []*model.ConfigChange {
	out := make([]*model.ConfigChange, len(cs))
	for i, c := range cs {
		out[i] = &model.ConfigChange{Path: c.Path, Kind: string(c.Kind), Before: jsonOf(c.Before), After: jsonOf(c.After)}
	}
	return out
}

// jsonOf encodes v as JSON, nil for nil.
func jsonOf(v any) model.JSON {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return model.JSON(b)
}
