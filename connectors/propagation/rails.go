package propagation

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// TriggerApproved is the trigger of an order rerun after an administrator approved its held
// removal.
const TriggerApproved = "approved"

// Names of the safety rails (PropagationChangeHeld.Rail).
const (
	RailPerHour    = "maxRemovalsPerHour"
	RailPerPublish = "maxRemovalsPerPublish"
)

// heldReason starts the reason of a held order's skip.
const heldReason = "held for approval: "

// HeldID derives a held change's ID from its change order's: a redelivered order holds the
// same change, not a second one.
func HeldID(orderID string) string {
	return uuid.NewSHA1(namespace(), []byte("held|"+orderID)).String()
}

// rails admits the removals (disables and deletes) the runtime is about to write against each
// store's safety rails, and keeps the stores' held changes.
//
// The counts are seeded from the log, so they survive a restart: the account index folds every
// outcome and reports each applied DISABLE or DELETE (observe) with its time and revision. A
// removal admitted here is counted at once, under its change order's ID, and its outcome
// (folded later) under the same ID: it counts once. An admitted removal whose write then fails
// stays counted for its hour: the rails err on the side of holding.
//
// The counts are this process's: several processes sharing a log each see the others' removals
// only as their outcomes are folded, so a burst across processes may pass a bound by what is
// in flight at once.
type rails struct {
	now func() time.Time

	mu sync.Mutex
	// hour: per store, the change orders removed (or admitted) and when.
	hour map[string]map[string]time.Time
	// publish: per store and revision, the change orders a publication's resync removed.
	publish map[string]map[string]bool
	// held: per store, the fold of its held changes.
	held map[string]*domain.HeldChanges
	// ready is closed once the account index has folded the log up to its head at the start.
	ready    chan struct{}
	readyErr error

	// approved queues the held changes approved, to rerun.
	approved []domain.PropagationChangeHeld
	signal   chan struct{}
	follower *projections.Follower
	// handled counts the approved held changes handled (run or found already run).
	handled atomic.Int64
}

func newRails(store eventstore.Store, reg *eventstore.Registry, now func() time.Time) *rails {
	rl := &rails{now: now, hour: map[string]map[string]time.Time{}, publish: map[string]map[string]bool{},
		held: map[string]*domain.HeldChanges{}, ready: make(chan struct{}), signal: make(chan struct{}, 1)}
	rl.follower = projections.NewFollower("propagation held changes", store, reg,
		&eventstore.Filter{StreamPrefixes: []string{domain.CategoryPropagationStoreState + "-"}}, rl.foldHeld)
	return rl
}

func publishKey(store, revisionID string) string { return store + "|" + revisionID }

// observe counts an applied removal folded from the log.
func (rl *rails) observe(e *eventstore.RecordedEvent, p any) {
	a, ok := p.(domain.PropagationChangeApplied)
	if !ok {
		return
	}
	o := a.ChangeOutcome
	at := e.Metadata.OccurredAt
	if at.IsZero() {
		at = e.RecordedAt
	}
	if o.Operation != domain.OpDisable && o.Operation != domain.OpDelete || o.StoreID == "" {
		return
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.count(o.StoreID, o.ChangeOrderID, o.RevisionID, o.Trigger, at)
}

func (rl *rails) count(store, orderID, revisionID, trigger string, at time.Time) {
	h := rl.hour[store]
	if h == nil {
		h = map[string]time.Time{}
		rl.hour[store] = h
	}
	if _, ok := h[orderID]; !ok {
		h[orderID] = at
	}
	if trigger == TriggerPublish {
		k := publishKey(store, revisionID)
		if rl.publish[k] == nil {
			rl.publish[k] = map[string]bool{}
		}
		rl.publish[k][orderID] = true
	}
}

// admit admits (and counts) the removal of change order orderID in store, or returns the rail
// it would pass and why ("" when admitted).
func (rl *rails) admit(store string, s domain.StoreSafety, orderID, revisionID, trigger string) (rail, reason string) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	now := rl.now()
	h := rl.hour[store]
	if _, counted := h[orderID]; counted {
		return "", "" // a rerun of an order already admitted
	}
	if s.MaxRemovalsPerHour > 0 {
		cutoff := now.Add(-time.Hour)
		n := 0
		for id, at := range h {
			if at.Before(cutoff) {
				delete(h, id)
				continue
			}
			n++
		}
		if n >= s.MaxRemovalsPerHour {
			return RailPerHour, fmt.Sprintf("the store's bound of %d removals per hour is reached", s.MaxRemovalsPerHour)
		}
	}
	if s.MaxRemovalsPerPublish > 0 && trigger == TriggerPublish {
		if n := len(rl.publish[publishKey(store, revisionID)]); n >= s.MaxRemovalsPerPublish {
			return RailPerPublish, fmt.Sprintf("the store's bound of %d removals per publication is reached", s.MaxRemovalsPerPublish)
		}
	}
	rl.count(store, orderID, revisionID, trigger, now)
	return "", ""
}

// waitReady waits until the removals of the log are counted.
func (rl *rails) waitReady(ctx context.Context) error {
	select {
	case <-rl.ready:
		return rl.readyErr
	case <-ctx.Done():
		return fmt.Errorf("safety rails: %w: %w", domain.ErrUnavailable, ctx.Err())
	}
}

// foldHeld folds the stores' held changes, queueing the approved ones to rerun.
func (rl *rails) foldHeld(e *eventstore.RecordedEvent, d eventstore.Decoded) {
	store := strings.TrimPrefix(e.Stream, domain.CategoryPropagationStoreState+"-")
	rl.mu.Lock()
	h := rl.held[store]
	if h == nil {
		h = &domain.HeldChanges{StoreID: store}
		rl.held[store] = h
	}
	var run []domain.PropagationChangeHeld
	if a, ok := d.Payload.(domain.PropagationHeldApproved); ok {
		for _, id := range a.HeldIDs {
			for _, p := range h.Pending {
				if p.HeldID == id {
					run = append(run, p)
				}
			}
		}
	}
	h.Apply(d.Payload)
	rl.approved = append(rl.approved, run...)
	rl.mu.Unlock()
	if len(run) > 0 {
		select {
		case rl.signal <- struct{}{}:
		default:
		}
	}
}

// pendingFor returns the pending held change of (rule, identity) in store, if any.
func (rl *rails) pendingFor(store, ruleID, identityID string) (domain.PropagationChangeHeld, bool) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if h := rl.held[store]; h != nil {
		return h.PendingFor(ruleID, identityID)
	}
	return domain.PropagationChangeHeld{}, false
}

// addHeld folds a held change this process just appended (the follower folds it again later:
// a no-op), so that the next order of the same account finds it pending.
func (rl *rails) addHeld(p domain.PropagationChangeHeld) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	h := rl.held[p.StoreID]
	if h == nil {
		h = &domain.HeldChanges{StoreID: p.StoreID}
		rl.held[p.StoreID] = h
	}
	h.Apply(p)
}

// takeApproved returns and clears the queue of approved held changes.
func (rl *rails) takeApproved() []domain.PropagationChangeHeld {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	out := rl.approved
	rl.approved = nil
	return out
}

// startRails starts following the held changes and counting the removals of the log, and the
// loop that reruns approved held changes.
func (rt *Runtime) startRails(ctx context.Context) error {
	rl := rt.rec.rails
	if err := rl.follower.Start(ctx); err != nil {
		return err
	}
	rt.wg.Add(2)
	go func() {
		defer rt.wg.Done()
		rl.readyErr = rt.index.catchUp(ctx)
		close(rl.ready)
	}()
	go func() {
		defer rt.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-rl.signal:
			}
			for _, h := range rl.takeApproved() {
				rt.runApproved(ctx, h)
				rl.handled.Add(1)
			}
		}
	}()
	return nil
}

// runApproved reruns an approved held change's order with a fresh cause, past the rails. The
// order is level-triggered: an identity back in scope since is not removed. Approvals are
// replayed at every start; an approval runs only while the account's last outcome is still its
// hold and no newer hold of the account is pending: once anything ran since (the rerun itself,
// or a later change), an old approval never lets a new removal past the rails.
func (rt *Runtime) runApproved(ctx context.Context, h domain.PropagationChangeHeld) {
	if p, ok := rt.rec.rails.pendingFor(h.StoreID, h.RuleID, h.IdentityID); ok && p.HeldID != h.HeldID {
		return
	}
	acct, err := loadAccount(ctx, rt.cfg.Store, rt.cfg.Registry, h.RuleID, h.IdentityID)
	if err != nil {
		rt.log.Warn("propagation: approved held change", "held", h.HeldID, "err", err)
		return
	}
	if !strings.HasPrefix(acct.LastSkip, heldReason) {
		return
	}
	o := Order{Env: h.EnvironmentID, RuleID: h.RuleID, Kind: h.Kind, IdentityID: h.IdentityID, Trigger: TriggerApproved,
		Cause: "approved|" + h.HeldID, CorrelationID: h.HeldID, Attempt: 1, bypassRails: true}
	if o.Kind == "" {
		o.Kind = domain.IdentityUser
	}
	if _, err := rt.reconcileRetrying(ctx, o); err != nil && ctx.Err() == nil {
		rt.log.Warn("propagation: approved held change failed", "store", h.StoreID, "held", h.HeldID, "rule", h.RuleID,
			"identity", h.IdentityID, "err", err)
	}
}

// holdRemoval admits the removal about to be written (op) against the target store's rails.
// Over a bound it appends change_held to propstore-<store> (once per pending rule × identity),
// records the order as skipped and reports held: nothing is written.
func (x *run) holdRemoval(ctx context.Context, op domain.ChangeOperation) (held bool, err error) {
	rl := x.r.rails
	s := x.cr.target.Safety
	if rl == nil || x.o.bypassRails || x.o.ForceRemove || s == nil || (s.MaxRemovalsPerHour == 0 && s.MaxRemovalsPerPublish == 0) {
		return false, nil
	}
	if err := rl.waitReady(ctx); err != nil {
		return false, err
	}
	store := x.cr.target.ID
	rail, reason := rl.admit(store, *s, x.orderID, x.rev.rev.RevisionID, x.o.Trigger)
	if rail == "" {
		return false, nil
	}
	if p, ok := rl.pendingFor(store, x.o.RuleID, x.o.IdentityID); ok {
		x.step("safety", "%s %s: %s; already held as %s", op, x.acct.TargetID, reason, p.HeldID)
	} else {
		h := domain.PropagationChangeHeld{EnvironmentID: x.o.Env, StoreID: store, HeldID: HeldID(x.orderID), RuleID: x.o.RuleID,
			RevisionID: x.rev.rev.RevisionID, Kind: x.o.Kind, IdentityID: x.o.IdentityID, TargetID: x.acct.TargetID, Operation: op,
			Trigger: x.o.Trigger, Cause: x.o.Cause, Rail: rail, Reason: reason}
		if h.Kind == "" {
			h.Kind = domain.IdentityUser
		}
		if err := x.appendHeld(ctx, h); err != nil {
			return false, err
		}
		rl.addHeld(h)
		x.step("safety", "%s %s: %s; held as %s", op, x.acct.TargetID, reason, h.HeldID)
	}
	x.trace.Operation = op
	return true, x.skipped(ctx, heldReason+reason)
}

// appendHeld appends change_held with an event ID derived from the held ID: a retry after an
// interrupted append, or a redelivered order, appends nothing more (appends are idempotent by
// event ID).
func (x *run) appendHeld(ctx context.Context, h domain.PropagationChangeHeld) error {
	stream := domain.StreamName(domain.CategoryPropagationStoreState, h.StoreID)
	id := uuid.NewSHA1(namespace(), []byte("change_held|"+h.HeldID))
	meta := eventstore.Metadata{EnvironmentID: x.o.Env, Actor: Actor, CorrelationID: x.o.CorrelationID, CausationID: x.o.Cause,
		OccurredAt: x.r.now().UTC()}
	ev, err := x.r.reg.EncodeContext(ctx, id, h, meta)
	if err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	if _, err := x.r.store.Append(ctx, stream, eventstore.Any, ev); err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	return nil
}
