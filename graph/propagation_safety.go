package graph

import (
	"context"
	"math"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/graph/model"
	"github.com/idstream/idstream/projections"
)

// PropagationHeld is what the API reads of the stores' held changes (*projections.PropagationHeld).
type PropagationHeld interface {
	Held(env, storeID string) []projections.HeldChange
	StoreRevision(storeID string) (uint64, bool)
}

var _ PropagationHeld = (*projections.PropagationHeld)(nil)

func fromStoreSafety(in *model.StoreSafetyInput) *domain.StoreSafety {
	if in == nil {
		return nil
	}
	n := func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	}
	return &domain.StoreSafety{MaxRemovalsPerHour: n(in.MaxRemovalsPerHour), MaxRemovalsPerPublish: n(in.MaxRemovalsPerPublish),
		WritesPerMinute: n(in.WritesPerMinute)}
}

func toStoreSafety(s *domain.StoreSafety) *model.StoreSafety {
	if s == nil {
		return nil
	}
	return &model.StoreSafety{MaxRemovalsPerHour: s.MaxRemovalsPerHour, MaxRemovalsPerPublish: s.MaxRemovalsPerPublish,
		WritesPerMinute: s.WritesPerMinute}
}

func toHeldChange(h projections.HeldChange) *model.PropagationHeldChange {
	return &model.PropagationHeldChange{ID: h.HeldID, EnvironmentID: h.EnvironmentID, StoreID: h.StoreID, RuleID: h.RuleID,
		RevisionID: h.RevisionID, IdentityKind: string(h.Kind), IdentityID: h.IdentityID, TargetID: optString(h.TargetID),
		Operation: toOperation(h.Operation), Trigger: h.Trigger, Rail: h.Rail, Reason: h.Reason, HeldAt: h.HeldAt}
}

// heldChanges answers propagationHeldChanges.
func (r *Resolver) heldChanges(ctx context.Context, env string, storeID *string) (*model.PropagationHeldChanges, error) {
	if err := authorize(ctx, domain.ActManageEnvironment, env, ""); err != nil {
		return nil, err
	}
	if r.cfg.PropagationHeld == nil {
		return nil, unavailablef("propagation held changes are not configured on this server")
	}
	store := deref(storeID)
	out := &model.PropagationHeldChanges{Changes: []*model.PropagationHeldChange{}}
	for _, h := range r.cfg.PropagationHeld.Held(env, store) {
		out.Changes = append(out.Changes, toHeldChange(h))
	}
	if store != "" {
		if rev, ok := r.cfg.PropagationHeld.StoreRevision(store); ok && rev <= math.MaxInt32 {
			v := int(rev)
			out.StoreRevision = &v
		}
	}
	return out, nil
}

// decideHeld runs an approval (approve) or a discard of held changes.
func (r *Resolver) decideHeld(ctx context.Context, input model.DecidePropagationHeldChangesInput, approve bool) (*model.DecidePropagationHeldChangesPayload, error) {
	if err := r.authorizePropagationChange(ctx, input.EnvironmentID); err != nil {
		return nil, err
	}
	handle := r.cfg.Propagation.DiscardHeld.Handle
	if approve {
		handle = r.cfg.Propagation.ApproveHeld.Handle
	}
	in := commands.DecidePropagationHeldChanges{EnvironmentID: input.EnvironmentID, StoreID: input.StoreID, HeldIDs: input.HeldIds,
		All: input.All != nil && *input.All}
	if input.ExpectedRevision != nil {
		if *input.ExpectedRevision < 0 {
			return nil, domain.Invalidf("expectedRevision", "must not be negative, got %d", *input.ExpectedRevision)
		}
		v := uint64(*input.ExpectedRevision)
		in.ExpectedRevision = &v
	}
	res, err := handle(ctx, in)
	if err != nil {
		return nil, err
	}
	return &model.DecidePropagationHeldChangesPayload{HeldIds: res.HeldIDs, Position: res.Position.String()}, nil
}
