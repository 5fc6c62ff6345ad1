package propagation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/mapping"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// Drift detection: a target account whose attributes differ from what idstream last wrote
// there (modified), a linked account gone from the target (deleted), an account in the
// target no identity owns (created).
//
// Modified drift is found where the reconciler reads the account anyway (run.update after
// Get): a path is drifted when idstream's record holds a digest of the value it last wrote
// and the value the target returns, read through the same path Get the diff uses, digests
// otherwise. The event fast path (updateFromRecord) never reads the target and sees none.
//
// The rule's policy decides (domain.DriftPolicy):
//   - REPORT (the default): drift_detected names the drifted paths, and those whose source
//     value did not change since the last write are left as the target has them: REPORT must
//     not fight an administrator who changed the target on purpose. A drifted path whose
//     source changed is written as any source change is. A linked account deleted in the
//     target is reported and not recreated (the account stays linked, and orders skip it),
//     until provisionUserNow or an OVERWRITE policy recreates it.
//   - OVERWRITE: drift_detected with Repaired, and the source's values written back (a deleted
//     account recreated). drift_detected is appended in the batch of the outcome it repairs,
//     so that a failed write records no repair.
//
// provisionUserNow (trigger on-demand) is an administrator asking for the account as the
// source has it: it repairs, whatever the policy.
//
// A drift already reported and unchanged (the same set of paths, the account still deleted)
// is not reported again; the account fold keeps the open drift (account.Drift,
// account.DeletedInTarget).

// TriggerReconcile is the trigger of a periodic (or requested) reconciliation: a resync that
// also lists the target for accounts no identity owns.
const TriggerReconcile = "reconcile"

// DriftSummary is what one reconciliation found.
type DriftSummary struct {
	domain.PropagationResyncFinished
	// Modified and Deleted count the accounts with drift newly reported (or repaired);
	// Created the target accounts newly found that no identity of the rule owns.
	Modified, Deleted, Created int
	// Repaired counts the accounts repaired (OVERWRITE).
	Repaired int
}

// driftTally counts the drift found by the orders of one resync (shared by its workers).
type driftTally struct {
	mu                                   sync.Mutex
	modified, deleted, created, repaired int
}

func (t *driftTally) add(e domain.PropagationDriftDetected) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e.Drift {
	case domain.DriftModified:
		t.modified++
	case domain.DriftDeleted:
		t.deleted++
	case domain.DriftCreated:
		t.created++
	}
	if e.Repaired {
		t.repaired++
	}
}

// repairs reports whether drift found by this order is repaired: the rule's policy is
// OVERWRITE, or an administrator asked for this account now.
func (x *run) repairs() bool {
	return x.cr.rule.DriftPolicy == domain.DriftOverwrite || x.o.Trigger == TriggerOnDemand
}

func (x *run) policy() domain.DriftPolicy {
	if x.cr.rule.DriftPolicy == "" {
		return domain.DriftReport
	}
	return x.cr.rule.DriftPolicy
}

// driftedPaths returns the paths of desired (canonical, as Evaluate gives them) whose value in
// cur differs from the value idstream last wrote there.
func (x *run) driftedPaths(desired []connectors.Change, cur map[string]any) []string {
	var out []string
	for _, c := range desired {
		last, ok := x.acct.Digests[pathKey(c.Path)]
		if !ok {
			continue
		}
		p, err := x.cr.path(c.Path)
		if err != nil {
			continue
		}
		v, present := p.Get(cur)
		if !present || v == "" {
			v = nil // the diff's rule: absent, null and "" are one value
		}
		if mapping.Digest(v) == last {
			continue
		}
		if v == nil && last == mapping.Digest("") {
			continue
		}
		out = append(out, c.Path)
	}
	sort.Strings(out)
	return out
}

// modifiedDrift is the update path's hook: it finds the drifted paths of the linked account
// cur, records or stages drift_detected, and returns the desired changes to converge with (under
// REPORT, without the drifted paths whose source did not change).
func (x *run) modifiedDrift(ctx context.Context, desired []connectors.Change, cur connectors.Resource) ([]connectors.Change, error) {
	drifted := x.driftedPaths(desired, cur.Attributes)
	if len(drifted) == 0 {
		return desired, x.resolveDrift(ctx, cur.ID, x.acct.Drift)
	}
	x.step("drift", "%d attributes changed in the target since idstream wrote them: %v (policy %s)", len(drifted), drifted, x.policy())
	e := x.driftEvent(domain.DriftModified, cur.ID, drifted)
	if x.repairs() {
		e.Repaired = true
		x.pending = append(x.pending, e) // recorded with the repair's outcome
		return desired, nil
	}
	// REPORT: keep the target's value of every drifted path whose source value is the one last
	// written (the source did not change: only the target did).
	keep := map[string]bool{}
	for _, p := range drifted {
		keep[pathKey(p)] = true
	}
	var out []connectors.Change
	var kept []string
	for _, c := range desired {
		k := pathKey(c.Path)
		if keep[k] && x.acct.Digests[k] == mapping.Digest(c.Value) {
			kept = append(kept, c.Path)
			continue
		}
		out = append(out, c)
	}
	if len(kept) > 0 {
		x.step("drift", "left as the target has them: %v", kept)
	}
	if len(kept) == 0 {
		// Every drifted path is written by a source change: reported with that write.
		x.pending = append(x.pending, e)
		return out, nil
	}
	if subset(kept, x.acct.Drift) {
		// Reported already; what is no longer drifted was reverted in the target.
		var gone []string
		for _, p := range x.acct.Drift {
			if !slices.ContainsFunc(kept, func(k string) bool { return pathKey(k) == pathKey(p) }) {
				gone = append(gone, p)
			}
		}
		return out, x.resolveDrift(ctx, cur.ID, gone)
	}
	if err := x.appendDrift(ctx, e); err != nil {
		return nil, err
	}
	return out, nil
}

// resolveDrift records drift_resolved for the reported drift of the account (paths, and its
// deletion in the target when reported) that the target no longer shows: an administrator
// reverted it. Nothing when there is none.
func (x *run) resolveDrift(ctx context.Context, targetID string, paths []string) error {
	if len(paths) == 0 && !x.acct.DeletedInTarget {
		return nil
	}
	k := x.o.Kind
	if k == "" {
		k = domain.IdentityUser
	}
	x.step("drift", "reported drift is gone from the target: %v (deleted: %t)", paths, x.acct.DeletedInTarget)
	return x.appendDrift(ctx, domain.PropagationDriftResolved{EnvironmentID: x.o.Env, RuleID: x.o.RuleID, StoreID: x.cr.target.ID, Kind: k,
		IdentityID: x.o.IdentityID, TargetID: targetID, Attributes: slices.Clone(paths), Deleted: x.acct.DeletedInTarget, Trigger: x.o.Trigger})
}

// deletedDrift is the hook of a linked account gone from the target: it reports whether the
// account is recreated (repair), recording drift_detected DELETED (staged with the create when
// repairing).
func (x *run) deletedDrift(ctx context.Context) (recreate bool, err error) {
	e := x.driftEvent(domain.DriftDeleted, x.acct.TargetID, nil)
	if x.repairs() {
		e.Repaired = true
		x.pending = append(x.pending, e)
		return true, nil
	}
	x.step("drift", "account %s was deleted in the target: policy %s does not recreate it", x.acct.TargetID, x.policy())
	x.trace.Result = "skipped"
	if x.acct.DeletedInTarget || x.o.DryRun {
		return false, nil
	}
	return false, x.appendDrift(ctx, e)
}

func (x *run) driftEvent(kind domain.DriftKind, targetID string, attrs []string) domain.PropagationDriftDetected {
	k := x.o.Kind
	if k == "" {
		k = domain.IdentityUser
	}
	return domain.PropagationDriftDetected{EnvironmentID: x.o.Env, RuleID: x.o.RuleID, StoreID: x.cr.target.ID, Kind: k,
		IdentityID: x.o.IdentityID, TargetID: targetID, Drift: kind, Attributes: attrs, Policy: x.policy(), Trigger: x.o.Trigger}
}

// driftEventData encodes drift_detected or drift_resolved e of order orderID (its ID derived
// from the order and the drift, so that a rerun of the order records it once).
func driftEventData(ctx context.Context, reg *eventstore.Registry, orderID string, e any,
	meta eventstore.Metadata) (eventstore.EventData, error) {
	var key string
	switch d := e.(type) {
	case domain.PropagationDriftDetected:
		key = fmt.Sprintf("drift|%s|%s|%s|%v|%t", orderID, d.Drift, d.TargetID, d.Attributes, d.Repaired)
	case domain.PropagationDriftResolved:
		key = fmt.Sprintf("drift-resolved|%s|%s|%v|%t", orderID, d.TargetID, d.Attributes, d.Deleted)
	}
	return reg.EncodeContext(ctx, uuid.NewSHA1(namespace(), []byte(key)), e, meta)
}

// appendDrift appends drift_detected or drift_resolved e alone to the account stream (nothing
// else is written).
func (x *run) appendDrift(ctx context.Context, e any) error {
	if x.o.DryRun || x.o.Preview {
		return nil
	}
	stream := AccountStream(x.o.RuleID, x.o.IdentityID)
	ev, err := driftEventData(ctx, x.r.reg, x.orderID, e, x.meta())
	if err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	res, err := x.r.store.Append(ctx, stream, x.acct.expected, ev)
	if err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	x.acct.apply(e)
	x.acct.expected = eventstore.Exact(res.NextExpectedRevision)
	if d, ok := e.(domain.PropagationDriftDetected); ok {
		x.o.drift.add(d)
	}
	return nil
}

// pendingEvents encodes the drift staged for the outcome being appended, and clears it.
func (x *run) pendingEvents(ctx context.Context) ([]eventstore.EventData, error) {
	if len(x.pending) == 0 {
		return nil, nil
	}
	out := make([]eventstore.EventData, 0, len(x.pending))
	for _, e := range x.pending {
		ev, err := driftEventData(ctx, x.r.reg, x.orderID, e, x.meta())
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// committedPending folds the staged drift once its batch is appended.
func (x *run) committedPending() {
	for _, e := range x.pending {
		x.acct.apply(e)
		x.o.drift.add(e)
	}
	x.pending = nil
}

func (x *run) meta() eventstore.Metadata {
	return eventstore.Metadata{EnvironmentID: x.o.Env, Actor: Actor, CorrelationID: x.o.CorrelationID, CausationID: x.o.Cause,
		OccurredAt: x.r.now().UTC()}
}

// subset reports whether every path of a is in b.
func subset(a, b []string) bool {
	m := make(map[string]bool, len(b))
	for _, s := range b {
		m[pathKey(s)] = true
	}
	for _, s := range a {
		if !m[pathKey(s)] {
			return false
		}
	}
	return true
}

// ReconcileRule runs one reconciliation of rule ruleID of env now and returns what it found:
// a resync with trigger reconcile (modified and deleted drift) and a listing of the target's
// users for accounts no identity owns (created drift).
func (rt *Runtime) ReconcileRule(ctx context.Context, env, ruleID string) (DriftSummary, error) {
	rev, ok := rt.revisions().Published(env)
	if !ok {
		return DriftSummary{}, fmt.Errorf("reconcile rule %s: %w: environment %s has no published propagation revision", ruleID, domain.ErrNotFound, env)
	}
	if !ruleIn(rev, ruleID) {
		return DriftSummary{}, fmt.Errorf("reconcile rule %s: %w: not in revision %d", ruleID, domain.ErrNotFound, rev.Number)
	}
	if err := rt.catchUp(ctx); err != nil {
		return DriftSummary{}, err
	}
	id := rt.cfg.NewID()
	p := rt.newProgress(id, ruleID)
	tally := &driftTally{}
	err := rt.runResyncTallied(ctx, env, ruleID, TriggerReconcile, id, &rev, p, tally)
	if err == nil {
		err = rt.createdDrift(ctx, env, ruleID, &rev, tally)
	}
	counts, _, _ := p.Snapshot()
	counts.EnvironmentID, counts.ResyncID, counts.RuleID, counts.RevisionID = env, id, ruleID, rev.RevisionID
	tally.mu.Lock()
	defer tally.mu.Unlock()
	return DriftSummary{PropagationResyncFinished: counts, Modified: tally.modified, Deleted: tally.deleted, Created: tally.created,
		Repaired: tally.repaired}, err
}

// createdDrift lists the target's users and reports, on proprule-<rule>, each one no identity
// owns through a rule targeting the same store (once per target ID: the event's ID derives
// from it). It never deletes them.
func (rt *Runtime) createdDrift(ctx context.Context, env, ruleID string, rev *domain.PropagationRevisionPublished, tally *driftTally) error {
	cr := rt.rec.compiled.get(*rev).rules[ruleID]
	if cr == nil || cr.inactive() != "" {
		return nil
	}
	c, err := rt.rec.conns.get(connSlot(cr.rule), cr.target)
	if err != nil {
		return fmt.Errorf("reconcile rule %s: open the target: %w", ruleID, err)
	}
	lister, ok := c.c.(connectors.Lister)
	if !ok {
		return nil // the store cannot list: created drift is not detected there
	}
	// List first, then catch the index up: an account created while listing has its outcome
	// recorded by then, unless its write returned but its outcome is not appended yet (a window
	// of one append: such an account may be reported, never deleted).
	var listed []string
	err = lister.List(ctx, connectors.KindUser, func(r connectors.Resource) bool {
		if r.ID != "" {
			listed = append(listed, r.ID)
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("reconcile rule %s: list the target's users: %w", ruleID, err)
	}
	if err := rt.index.catchUp(ctx); err != nil {
		return err
	}
	owned := map[string]bool{}
	for _, r := range rev.Content.Rules {
		if r.TargetStoreID == cr.target.ID {
			for _, t := range rt.index.targets(r.ID) {
				owned[t] = true
			}
		}
	}
	reported, err := rt.reportedCreated(ctx, ruleID)
	if err != nil {
		return err
	}
	var found []string
	for _, id := range listed {
		if !owned[id] && !reported[id] {
			found = append(found, id)
		}
	}
	if len(found) == 0 {
		return nil
	}
	policy := cr.rule.DriftPolicy
	if policy == "" {
		policy = domain.DriftReport
	}
	stream := domain.CategoryPropagationRuleState + "-" + ruleID
	var evs []eventstore.EventData
	var es []domain.PropagationDriftDetected
	for _, t := range found {
		e := domain.PropagationDriftDetected{EnvironmentID: env, RuleID: ruleID, StoreID: cr.target.ID, Kind: domain.IdentityUser,
			TargetID: t, Drift: domain.DriftCreated, Policy: policy, Trigger: TriggerReconcile}
		id := uuid.NewSHA1(namespace(), []byte("drift|created|"+ruleID+"|"+t))
		ev, err := rt.cfg.Registry.EncodeContext(ctx, id, e, eventstore.Metadata{EnvironmentID: env, Actor: Actor, OccurredAt: rt.cfg.Now().UTC()})
		if err != nil {
			return fmt.Errorf("append to %s: %w", stream, err)
		}
		evs, es = append(evs, ev), append(es, e)
	}
	if _, err := rt.cfg.Store.Append(ctx, stream, eventstore.Any, evs...); err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	for _, e := range es {
		tally.add(e)
	}
	return nil
}

// reportedCreated returns the target IDs rule ruleID already reported as created drift.
func (rt *Runtime) reportedCreated(ctx context.Context, ruleID string) (map[string]bool, error) {
	out := map[string]bool{}
	stream := domain.CategoryPropagationRuleState + "-" + ruleID
	for ev, err := range rt.cfg.Store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}) {
		if err != nil {
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				return out, nil
			}
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		if ev.Type != domain.EvPropDriftDetected {
			continue
		}
		d, err := rt.cfg.Registry.DecodeEvent(ev)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		if e, ok := d.Payload.(domain.PropagationDriftDetected); ok && e.Drift == domain.DriftCreated {
			out[e.TargetID] = true
		}
	}
	return out, nil
}

// reconcileEvery reconciles every active rule of every published revision each interval,
// one rule after another (a reconciliation reads every account of its target), until ctx ends.
func (rt *Runtime) reconcileEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		envs := rt.revLog.Environments()
		sort.Strings(envs)
		for _, env := range envs {
			rev, ok := rt.revisions().Published(env)
			if !ok {
				continue
			}
			crev := rt.rec.compiled.get(rev)
			for _, id := range crev.order {
				if ctx.Err() != nil {
					return
				}
				if crev.rules[id].inactive() != "" {
					continue
				}
				sum, err := rt.ReconcileRule(ctx, env, id)
				if err != nil {
					rt.log.Warn("propagation reconciliation ended with an error", "env", env, "rule", id, "err", err)
					continue
				}
				rt.log.Info("propagation reconciliation", "env", env, "rule", id, "identities", sum.Identities,
					"modified", sum.Modified, "deleted", sum.Deleted, "created", sum.Created, "repaired", sum.Repaired)
			}
		}
	}
}
