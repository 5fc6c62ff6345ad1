package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// DecidePropagationHeldChanges names held changes of one store to approve or discard: HeldIDs,
// or every pending one with All. ExpectedRevision, when set, is the revision of the store's
// stream (propstore-<store id>) the caller decided on: a held change appended or decided since
// makes the command a CONFLICT instead of deciding on what the caller has not seen.
type DecidePropagationHeldChanges struct {
	EnvironmentID    string
	StoreID          string
	HeldIDs          []string
	All              bool
	ExpectedRevision *uint64
}

// HeldDecisionResult is the held changes decided and the commit position.
type HeldDecisionResult struct {
	HeldIDs  []string
	Position eventstore.Position
}

// loadHeldChanges folds store storeID's held changes.
func (d *Deps) loadHeldChanges(ctx context.Context, storeID string) (*domain.HeldChanges, eventstore.ExpectedRevision, error) {
	h := &domain.HeldChanges{StoreID: storeID}
	expected, err := d.load(ctx, domain.StreamName(domain.CategoryPropagationStoreState, storeID), h)
	return h, expected, err
}

// decideHeld checks in, selects the held changes it names and appends the event build makes of
// their IDs, at the stream revision they were selected from.
func (d *Deps) decideHeld(ctx context.Context, op string, in DecidePropagationHeldChanges, build func(ids []string) any) (HeldDecisionResult, error) {
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err == nil {
		err = validID("storeId", in.StoreID)
	}
	if err != nil {
		return HeldDecisionResult{}, fmt.Errorf("%s: %w", op, err)
	}
	var res HeldDecisionResult
	attempt := func() error {
		h, expected, err := d.loadHeldChanges(ctx, in.StoreID)
		if err != nil {
			return err
		}
		if in.ExpectedRevision != nil {
			if rev, ok := expected.Revision(); !ok || rev != *in.ExpectedRevision {
				return fmt.Errorf("%w: the held changes of store %s changed since revision %d", domain.ErrConflict, in.StoreID, *in.ExpectedRevision)
			}
		}
		for _, p := range h.Pending {
			if p.EnvironmentID != env {
				return &domain.FieldError{Field: "storeId", Reason: fmt.Sprintf("no store %s in environment %s", in.StoreID, env), Kind: domain.ErrNotFound}
			}
		}
		sel, err := h.Select(in.HeldIDs, in.All)
		if err != nil {
			return err
		}
		ids := make([]string, len(sel))
		for i, p := range sel {
			ids[i] = p.HeldID
		}
		pos, err := d.appendEvents(ctx, domain.StreamName(domain.CategoryPropagationStoreState, in.StoreID), expected, env, nil, build(ids))
		if err != nil {
			return err
		}
		res = HeldDecisionResult{HeldIDs: ids, Position: pos}
		return nil
	}
	if in.ExpectedRevision != nil {
		err = attempt()
	} else {
		err = retryOnConflict(ctx, attempt)
	}
	if err != nil {
		return HeldDecisionResult{}, fmt.Errorf("%s of store %s: %w", op, in.StoreID, err)
	}
	return res, nil
}
