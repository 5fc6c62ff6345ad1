package graph

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/graph/model"
	"github.com/idstream/idstream/projections"
)

// History is what the API needs of one resource's past (*projections.History).
type History interface {
	// ResourcePositionAt returns the position of the last event recorded at or before at in the
	// streams resource id depends on; domain.ErrNotFound when there is none yet.
	ResourcePositionAt(ctx context.Context, env, id string, at time.Time) (eventstore.Position, error)
	// Diff returns the attribute-level changes of resource id between from and to (from < to).
	Diff(ctx context.Context, env, id string, from, to eventstore.Position) (projections.ResourceDiff, error)
}

// diffBound resolves one end of a diff: a position, an instant, or (neither) the head of the
// log. An instant before the resource's first event is the start of the log.
func (r *Resolver) diffBound(ctx context.Context, env, id string, at *time.Time, pos *string, field string) (eventstore.Position, error) {
	switch {
	case at != nil && pos != nil && *pos != "":
		return eventstore.Position{}, domain.Invalidf(field, "give %s or %sPosition, not both", field, field)
	case pos != nil && *pos != "":
		p, err := eventstore.ParsePosition(*pos)
		if err != nil {
			return eventstore.Position{}, domain.Invalidf(field+"Position", "%q is not a position (want C or C/P)", *pos)
		}
		return p, nil
	}
	t := time.Now()
	if at != nil {
		t = *at
	}
	p, err := r.cfg.History.ResourcePositionAt(ctx, env, id, t)
	if errors.Is(err, domain.ErrNotFound) {
		return eventstore.Position{}, nil
	}
	return p, err
}

func toResourceDiff(d projections.ResourceDiff) *model.ResourceDiff {
	out := &model.ResourceDiff{ResourceID: d.ResourceID, ResourceType: d.ResourceType, FromPosition: d.From.String(),
		ToPosition: d.To.String(), Created: d.Status == projections.DiffCreated, Deleted: d.Status == projections.DiffDeleted,
		Changes: make([]*model.AttributeChange, len(d.Changes))}
	for i, c := range d.Changes {
		ac := &model.AttributeChange{Path: c.Path, Kind: string(c.Op), Before: diffValue(c.Path, c.Before, c.Op == projections.ChangeAdded),
			After: diffValue(c.Path, c.After, c.Op == projections.ChangeRemoved), Actor: optString(c.Actor)}
		if !c.Position.IsZero() {
			ac.Position = optString(c.Position.String())
		}
		if !c.RecordedAt.IsZero() {
			at := c.RecordedAt
			ac.ChangedAt = &at
		}
		out.Changes[i] = ac
	}
	return out
}

// diffValue turns a diff's text value into JSON: custom attribute values, schema attributes and
// the password policy are JSON already, the flags are booleans, the rest are strings. absent
// (the attribute's side of an addition or removal) is null.
func diffValue(path, v string, absent bool) model.JSON {
	if absent {
		return nil
	}
	if strings.HasPrefix(path, "customAttributes.") || strings.HasPrefix(path, "schema.") || path == "passwordPolicy" {
		if json.Valid([]byte(v)) {
			return model.JSON(v)
		}
	}
	switch path {
	case "enabled", "locked", "mustChangePassword":
		if v == "true" || v == "false" {
			return model.JSON(v)
		}
	}
	b, _ := json.Marshal(v)
	return model.JSON(b)
}
