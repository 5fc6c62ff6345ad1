package graph

import (
	"context"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/graph/model"
)

// Projections is what the API needs of projection tooling: status, rebuild beside the live
// model, and verification against a rebuild.
type Projections interface {
	Status(ctx context.Context) []ProjectionStatus
	// Rebuild starts rebuilding projection name beside the live one and returns at once:
	// INVALID for an unknown name, CONFLICT while another rebuild runs.
	Rebuild(ctx context.Context, name string) error
	// Verify rebuilds the named projections (every one when name is "") into memory up to the
	// live model's position and compares checksums.
	Verify(ctx context.Context, name string) ([]VerifyResult, error)
}

// ProjectionStatus is one projection's state.
type ProjectionStatus struct {
	Name          string
	Version       int
	State         string // CATCHING_UP, LIVE, REBUILDING, FAILED
	Checkpoint    eventstore.Position
	LagEvents     uint64
	LagSeconds    float64
	EventsApplied uint64
	Error         string
	Rebuild       *RebuildStatus
}

// RebuildStatus is a rebuild's progress, or the last one's outcome once Done.
type RebuildStatus struct {
	Target, Applied eventstore.Position
	Events          uint64
	Rate            float64
	StartedAt       time.Time
	Done            bool
	Error           string
}

// VerifyResult is one projection's verification.
type VerifyResult struct {
	Name                          string
	Position                      eventstore.Position
	Events                        uint64
	LiveChecksum, RebuiltChecksum string
	Equal                         bool
	Duration                      time.Duration
	Rate                          float64
}

func toProjectionStatus(s ProjectionStatus) *model.ProjectionStatus {
	out := &model.ProjectionStatus{Name: s.Name, Version: s.Version, State: model.ProjectionState(s.State),
		Checkpoint: s.Checkpoint.String(), LagEvents: int(s.LagEvents), LagSeconds: s.LagSeconds,
		EventsApplied: int(s.EventsApplied), Error: optString(s.Error)}
	if r := s.Rebuild; r != nil {
		p := &model.RebuildProgress{TargetPosition: r.Target.String(), AppliedPosition: r.Applied.String(),
			EventsApplied: int(r.Events), EventsPerSecond: r.Rate, StartedAt: r.StartedAt, Error: optString(r.Error)}
		if !r.Done && r.Rate > 0 && r.Applied.Less(r.Target) {
			eta := float64(r.Target.Commit-r.Applied.Commit) / r.Rate
			p.EtaSeconds = &eta
		}
		out.Rebuild = p
	}
	return out
}

// projections checks that the caller is an organization-wide ENVIRONMENT_ADMIN (projections
// span every environment) and returns the tooling.
func (r *Resolver) projections(ctx context.Context) (Projections, error) {
	if err := authorize(ctx, domain.ActCreateEnvironment, "", ""); err != nil {
		return nil, err
	}
	if r.cfg.Projections == nil {
		return nil, unavailablef("projection tooling is not configured on this server")
	}
	return r.cfg.Projections, nil
}
