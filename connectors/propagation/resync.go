package propagation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// ResyncProgress is the progress of one resync. Done is closed when it finishes.
type ResyncProgress struct {
	ResyncID string
	RuleID   string

	mu       sync.Mutex
	counts   domain.PropagationResyncFinished
	finished bool
	err      error
	done     chan struct{}
}

// Snapshot returns the counts so far, whether the resync finished and its error.
func (p *ResyncProgress) Snapshot() (counts domain.PropagationResyncFinished, finished bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts, p.finished, p.err
}

// Done is closed when the resync finishes.
func (p *ResyncProgress) Done() <-chan struct{} { return p.done }

func (p *ResyncProgress) count(tr domain.ProvisionTrace, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts.Identities++
	switch {
	case err != nil || tr.Result == "failed":
		p.counts.Failed++
	case tr.Result != "applied":
		p.counts.Unchanged++
	case tr.Operation == domain.OpCreate:
		p.counts.Created++
	case tr.Operation == domain.OpUpdate || tr.Operation == domain.OpLink:
		p.counts.Updated++
	case tr.Operation == domain.OpDisable || tr.Operation == domain.OpDelete:
		p.counts.Removed++
	default:
		p.counts.Unchanged++
	}
}

// Resync starts converging the target of rule ruleID with every identity of env in the
// background and returns the resync's ID at once; ResyncStatus follows it.
func (rt *Runtime) Resync(ctx context.Context, env, ruleID, trigger string) (string, error) {
	rev, ok := rt.revisions().Published(env)
	if !ok {
		return "", fmt.Errorf("resync rule %s: %w: environment %s has no published propagation revision", ruleID, domain.ErrNotFound, env)
	}
	if !ruleIn(rev, ruleID) {
		return "", fmt.Errorf("resync rule %s: %w: not in revision %d", ruleID, domain.ErrNotFound, rev.Number)
	}
	if rt.runCtx == nil || rt.runCtx.Err() != nil {
		return "", fmt.Errorf("resync rule %s: %w: the propagation runtime is not running", ruleID, domain.ErrUnavailable)
	}
	id := rt.cfg.NewID()
	p := rt.newProgress(id, ruleID)
	// The resync outlives the request that started it, not the runtime: Close stops it.
	rt.resyncWG.Add(1)
	go func() {
		defer rt.resyncWG.Done()
		if err := rt.runResync(rt.runCtx, env, ruleID, trigger, id, &rev, p); err != nil {
			rt.log.Warn("propagation resync ended with an error", "rule", ruleID, "resync", id, "err", err)
		}
	}()
	return id, nil
}

// ResyncStatus returns the progress of a resync started by this process.
func (rt *Runtime) ResyncStatus(id string) (*ResyncProgress, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	p, ok := rt.resyncs[id]
	return p, ok
}

func (rt *Runtime) newProgress(id, ruleID string) *ResyncProgress {
	p := &ResyncProgress{ResyncID: id, RuleID: ruleID, done: make(chan struct{})}
	rt.mu.Lock()
	rt.resyncs[id] = p
	rt.mu.Unlock()
	return p
}

// claimProgress returns the progress of resync id: the existing one (running true) when this
// process has started it, else a new one.
func (rt *Runtime) claimProgress(id, ruleID string) (p *ResyncProgress, running bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if p, ok := rt.resyncs[id]; ok {
		return p, true
	}
	p = &ResyncProgress{ResyncID: id, RuleID: ruleID, done: make(chan struct{})}
	rt.resyncs[id] = p
	return p, false
}

func ruleIn(rev domain.PropagationRevisionPublished, ruleID string) bool {
	for _, r := range rev.Content.Rules {
		if r.ID == ruleID {
			return true
		}
	}
	return false
}

// resyncPage is the page size of the directory walk.
const resyncPage = 500

// runResync walks env's users page by page (never the whole directory in memory), runs each
// through the rule with a pool of Workers, then the accounts of identities no longer in the
// directory (from the account index) and the rule's groups; resync_started and
// resync_finished bracket it on propresync-<rule>.
func (rt *Runtime) runResync(ctx context.Context, env, ruleID, trigger, resyncID string, rev *domain.PropagationRevisionPublished,
	p *ResyncProgress) (err error) {
	return rt.runResyncTallied(ctx, env, ruleID, trigger, resyncID, rev, p, nil)
}

// runResyncTallied is runResync counting the drift its orders record in tally (nil: none).
func (rt *Runtime) runResyncTallied(ctx context.Context, env, ruleID, trigger, resyncID string, rev *domain.PropagationRevisionPublished,
	p *ResyncProgress, tally *driftTally) (err error) {
	defer func() {
		p.mu.Lock()
		p.finished, p.err = true, err
		p.mu.Unlock()
		close(p.done)
	}()
	stream := domain.CategoryPropagationResync + "-" + ruleID
	started := domain.PropagationResyncStarted{EnvironmentID: env, ResyncID: resyncID, RuleID: ruleID, RevisionID: rev.RevisionID, Trigger: trigger}
	if err := rt.appendResync(ctx, stream, env, resyncID, "started", started); err != nil {
		return err
	}
	jobs := make(chan Order, rt.cfg.Workers*4)
	var wg sync.WaitGroup
	for range rt.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range jobs {
				tr, err := rt.reconcileRetrying(ctx, o)
				p.count(tr, err)
			}
		}()
	}
	base := Order{Env: env, RuleID: ruleID, Kind: domain.IdentityUser, Trigger: trigger, Cause: resyncID, Revision: rev, Attempt: 1,
		drift: tally}
	walkErr := func() error {
		defer close(jobs)
		after := ""
		for {
			page, err := rt.cfg.Directory.Users(env, projections.UserQuery{First: resyncPage, After: after})
			if err != nil {
				return fmt.Errorf("resync rule %s: read users: %w", ruleID, err)
			}
			for _, u := range page.Users {
				o := base
				o.IdentityID = u.ID
				select {
				case jobs <- o:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if !page.HasNextPage {
				break
			}
			after = page.EndCursor
		}
		if err := rt.index.catchUp(ctx); err != nil {
			return err
		}
		for _, id := range rt.index.identities(ruleID, domain.IdentityUser) {
			if u, err := rt.cfg.Directory.User(env, id); err == nil && !u.Erased {
				continue // reconciled above
			}
			o := base
			o.IdentityID = id
			select {
			case jobs <- o:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}()
	wg.Wait()
	// Groups last: their members are the accounts just converged.
	groups := map[string]bool{}
	for _, r := range rev.Content.Rules {
		if r.ID == ruleID {
			for _, g := range r.GroupIDs {
				groups[g] = true
			}
		}
	}
	for _, g := range rt.index.identities(ruleID, domain.IdentityGroup) {
		groups[g] = true
	}
	for g := range groups {
		o := base
		o.Kind, o.IdentityID = domain.IdentityGroup, g
		tr, err := rt.reconcileRetrying(ctx, o)
		p.count(tr, err)
	}
	counts, _, _ := p.Snapshot()
	counts.EnvironmentID, counts.ResyncID, counts.RuleID, counts.RevisionID = env, resyncID, ruleID, rev.RevisionID
	if err := rt.appendResync(ctx, stream, env, resyncID, "finished", counts); err != nil {
		return errors.Join(walkErr, err)
	}
	return walkErr
}

// reconcileRetrying runs o, retrying transient failures with the runtime's back-off, and
// records a final failure when they persist.
func (rt *Runtime) reconcileRetrying(ctx context.Context, o Order) (domain.ProvisionTrace, error) {
	delay := rt.cfg.RetryInitial
	for attempt := 1; ; attempt++ {
		o.Attempt = attempt
		tr, err := rt.rec.Reconcile(ctx, o)
		if err == nil {
			return tr, nil
		}
		if ctx.Err() != nil {
			return tr, err // stopped, not failed: the next resync or delivery runs it
		}
		if attempt > rt.cfg.MaxRetries {
			if ferr := rt.rec.recordFailure(ctx, o, err); ferr != nil {
				rt.log.Error("propagation resync: record failure", "rule", o.RuleID, "identity", o.IdentityID, "err", ferr)
			}
			return tr, err
		}
		wait := max(delay, retryAfterOf(err))
		if err := sleepCtx(ctx, min(wait, rt.cfg.RetryMax)); err != nil {
			return tr, err
		}
		delay *= 2
	}
}

func (rt *Runtime) appendResync(ctx context.Context, stream, env, resyncID, what string, p any) error {
	id := uuid.NewSHA1(namespace(), []byte("resync|"+resyncID+"|"+what))
	ev, err := rt.cfg.Registry.EncodeContext(ctx, id, p, eventstore.Metadata{EnvironmentID: env, Actor: Actor, CorrelationID: resyncID,
		OccurredAt: rt.cfg.Now().UTC()})
	if err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	if _, err := rt.cfg.Store.Append(ctx, stream, eventstore.Any, ev); err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	return nil
}

// published resyncs, after revision revID of env was published, each rule whose content (or
// its plan's or stores') changed from the previous revision, and deprovisions the accounts of
// a managed store the revision deleted (with the previous revision's store configuration).
func (rt *Runtime) published(ctx context.Context, env, revID string) error {
	cur, ok := rt.revLog.Revision(revID)
	if !ok {
		return nil
	}
	// The rules this revision changed are resynced with the latest revision's content: a newer
	// revision (published meanwhile, or replayed after a restart) resyncs only what it changed
	// itself, so what this one changed must not wait for it.
	target := cur
	if latest, ok := rt.revisions().Published(env); ok && latest.Number > cur.Number {
		if l, ok := rt.revLog.Revision(latest.RevisionID); ok {
			target = l
		} else {
			target = latest
		}
	}
	var prev *domain.PropagationRevisionPublished
	if p, ok := rt.revLog.Revision(cur.PreviousRevisionID); ok {
		prev = &p
	}
	var errs []error
	for _, r := range cur.Content.Rules {
		if prev != nil && ruleFingerprint(*prev, r.ID) == ruleFingerprint(cur, r.ID) {
			continue
		}
		if !ruleIn(target, r.ID) {
			continue // deleted since
		}
		if err := rt.releaseOnPublish(ctx, cur, r.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		resyncID := uuid.NewSHA1(namespace(), []byte("publish|"+revID+"|"+r.ID)).String()
		p, running := rt.claimProgress(resyncID, r.ID)
		if running {
			// A redelivery of the revision while its resync runs here (the bus's ack wait
			// is shorter than a large resync): wait for that one instead of starting another.
			select {
			case <-p.Done():
			case <-ctx.Done():
				return ctx.Err()
			}
			if _, _, err := p.Snapshot(); err == nil {
				continue
			}
			p = rt.newProgress(resyncID, r.ID)
		}
		if err := rt.runResync(ctx, env, r.ID, TriggerPublish, resyncID, &target, p); err != nil {
			errs = append(errs, err)
		}
	}
	if prev != nil {
		if err := rt.deprovisionDeleted(ctx, env, *prev, cur); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deprovisionDeleted removes, through the previous revision's configuration, the accounts the
// rules of prev created in managed stores that cur no longer has.
func (rt *Runtime) deprovisionDeleted(ctx context.Context, env string, prev, cur domain.PropagationRevisionPublished) error {
	kept := map[string]bool{}
	for _, s := range cur.Content.Stores {
		kept[s.ID] = true
	}
	managedGone := map[string]bool{}
	for _, s := range prev.Content.Stores {
		if !kept[s.ID] && s.Managed {
			managedGone[s.ID] = true
		}
	}
	if len(managedGone) == 0 {
		return nil
	}
	if err := rt.index.catchUp(ctx); err != nil {
		return err
	}
	var errs []error
	for _, r := range prev.Content.Rules {
		if !managedGone[r.TargetStoreID] {
			continue
		}
		cause := "deprovision|" + cur.RevisionID
		for _, kind := range []domain.IdentityKind{domain.IdentityGroup, domain.IdentityUser} {
			for _, id := range rt.index.identities(r.ID, kind) {
				o := Order{Env: env, RuleID: r.ID, Kind: kind, IdentityID: id, Trigger: TriggerPublish, Cause: cause, Revision: &prev,
					ForceRemove: true, Attempt: 1}
				if _, err := rt.reconcileRetrying(ctx, o); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// ruleFingerprint is the JSON of a rule with its plan and stores in rev ("" when absent).
func ruleFingerprint(rev domain.PropagationRevisionPublished, ruleID string) string {
	for _, r := range rev.Content.Rules {
		if r.ID != ruleID {
			continue
		}
		v := struct {
			R domain.PropagationRule
			P []domain.PropagationPlan
			S []domain.PropagationStore
		}{R: r}
		for _, p := range rev.Content.Plans {
			if p.ID == r.PlanID {
				v.P = append(v.P, p)
			}
		}
		for _, s := range rev.Content.Stores {
			if s.ID == r.SourceStoreID || s.ID == r.TargetStoreID {
				v.S = append(v.S, s)
			}
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	return ""
}
