package graph

import (
	"context"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/graph/model"
	"github.com/idstream/idstream/projections"
)

// Audit is what the API needs of the audit trail (*projections.AuditLog).
type Audit interface {
	// Events answers a page of env's audit records, newest first.
	Events(ctx context.Context, q projections.AuditQuery) (projections.AuditPage, error)
	// Event returns the record at pos, NOT_FOUND unless it is of env.
	Event(ctx context.Context, env string, pos eventstore.Position) (projections.AuditRecord, error)
	// ResourceHistory returns every record of one resource, oldest first.
	ResourceHistory(ctx context.Context, env, id string) ([]projections.AuditRecord, error)
	// Subscribe delivers the records matching q committed after after (zero: from now).
	Subscribe(ctx context.Context, q projections.AuditQuery, after eventstore.Position) (<-chan projections.AuditRecord, <-chan error, error)
	// WaitFor returns once the audit index has applied every event up to pos.
	WaitFor(ctx context.Context, pos eventstore.Position) error
}

func (r *Resolver) audit() (Audit, error) {
	if r.cfg.Audit == nil {
		return nil, unavailablef("the audit trail is not configured on this server")
	}
	return r.cfg.Audit, nil
}

// auditQuery builds the query of env with filter (nil: none).
func auditQuery(env string, f *model.AuditFilter) projections.AuditQuery {
	q := projections.AuditQuery{EnvironmentID: env}
	if f != nil {
		q.ActorID, q.ResourceType, q.ResourceID, q.EventType = deref(f.ActorID), deref(f.ResourceType), deref(f.ResourceID), deref(f.EventType)
		if f.From != nil {
			q.From = *f.From
		}
		if f.To != nil {
			q.To = *f.To
		}
	}
	return q
}

func toAuditEvent(a projections.AuditRecord) *model.AuditEvent {
	return &model.AuditEvent{Position: a.Position.String(), ID: a.EventID, Type: a.Type, Stream: a.Stream, Revision: int(a.Revision),
		EnvironmentID: optString(a.EnvironmentID), Actor: optString(a.Actor), CorrelationID: optString(a.CorrelationID),
		CausationID: optString(a.CausationID), OccurredAt: a.OccurredAt, RecordedAt: a.RecordedAt,
		ClientAddress: optString(a.ClientAddress), UserAgent: optString(a.UserAgent), TokenID: optString(a.TokenID),
		ResourceType: optString(a.ResourceType), ResourceID: optString(a.ResourceID), Data: model.JSON(a.Data),
		PersonalDataErased: a.PersonalDataErased}
}

// awaitAudit waits (bounded) for the audit index to pass minPosition, as queries do for the read
// model.
func (r *Resolver) awaitAudit(ctx context.Context, minPosition *string, a Audit) error {
	if minPosition == nil || *minPosition == "" {
		return nil
	}
	pos, err := eventstore.ParsePosition(*minPosition)
	if err != nil {
		return domain.Invalidf("minPosition", "%q is not a position (want a mutation's position)", *minPosition)
	}
	wctx, cancel := context.WithTimeout(ctx, minPositionTimeout)
	defer cancel()
	return a.WaitFor(wctx, pos)
}
