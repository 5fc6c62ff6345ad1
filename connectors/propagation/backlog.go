package propagation

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// deferredOrder is one change_deferred of a backlog.
type deferredOrder struct {
	rev uint64
	p   domain.PropagationChangeDeferred
}

// drain runs the backlogs of every rule of store s, then flips it up: under the store's gate
// (no deferral in flight) it checks that no rule has a deferral after its last drain, else
// drains again. Stopped by the store going down again (it resumes after the next probe) or by
// the runtime's close (the next start redrains from the last backlog_drained).
func (a *availability) drain(ctx context.Context, s *storeAvail) {
	defer func() {
		a.mu.Lock()
		s.draining = false
		a.mu.Unlock()
		a.settle(s)
	}()
	// Orders run the env's published revision: know it first.
	if c, ok := a.rt.revisions().(interface{ CatchUp(context.Context) error }); ok {
		if err := c.CatchUp(ctx); err != nil {
			return
		}
	}
	for {
		a.mu.Lock()
		if s.mode != modeDraining {
			a.mu.Unlock()
			return
		}
		var rules []*ruleBacklog
		for _, r := range a.rules {
			if r.storeID == s.id {
				rules = append(rules, r)
			}
		}
		a.mu.Unlock()
		failed := false
		for _, r := range rules {
			if err := a.drainRule(ctx, s, r); err != nil {
				if errors.Is(err, errStoreDown) || ctx.Err() != nil {
					return
				}
				a.rt.log.Error("propagation: drain backlog", "rule", r.ruleID, "store", s.id, "err", err)
				failed = true
			}
		}
		if failed {
			if sleepCtx(ctx, a.rt.cfg.ProbeInterval) != nil {
				return
			}
			continue
		}
		done, err := a.flipUp(ctx, s, rules)
		if err != nil {
			a.rt.log.Error("propagation: drain backlog", "store", s.id, "err", err)
			if sleepCtx(ctx, a.rt.cfg.ProbeInterval) != nil {
				return
			}
			continue
		}
		if done {
			a.rt.log.Info("propagation: backlog drained, store up", "store", s.id)
			return
		}
	}
}

// flipUp sets store s up when none of its rules has a deferral after its last drain: the log
// says so, read while the gate holds every new deferral back.
func (a *availability) flipUp(ctx context.Context, s *storeAvail, rules []*ruleBacklog) (bool, error) {
	s.gate.Lock()
	defer s.gate.Unlock()
	for _, r := range rules {
		a.mu.Lock()
		through := r.through
		a.mu.Unlock()
		orders, _, err := a.readBacklog(ctx, r.ruleID, through)
		if err != nil {
			return false, err
		}
		if len(orders) > 0 {
			return false, nil
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.mode != modeDraining {
		return false, nil
	}
	s.mode = modeUp
	return true, nil
}

// readBacklog returns the change_deferred of rule ruleID's stream after revision through, and
// the last revision read (through when none).
func (a *availability) readBacklog(ctx context.Context, ruleID string, through int64) ([]deferredOrder, int64, error) {
	stream := RuleStream(ruleID)
	var out []deferredOrder
	last := through
	for ev, err := range a.rt.cfg.Store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{From: uint64(through + 1)}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil, through, nil
		}
		if err != nil {
			return nil, through, fmt.Errorf("read %s: %w", stream, err)
		}
		last = int64(ev.Revision)
		if ev.Type != domain.EvPropChangeDeferred {
			continue
		}
		d, err := a.rt.cfg.Registry.DecodeEvent(ev)
		if err != nil {
			return nil, through, fmt.Errorf("read %s: %w", stream, err)
		}
		if p, ok := d.Payload.(domain.PropagationChangeDeferred); ok {
			out = append(out, deferredOrder{rev: ev.Revision, p: p})
		}
	}
	return out, last, nil
}

// drainRule runs rule r's backlog once, up to the stream's end as read, then appends
// backlog_drained. Orders are deduplicated by (kind, identity), the latest deferral's cause
// kept at the place of the first (level-triggered: the run converges with the identity's state
// now); users run before groups (a group's members are user accounts), distinct identities in
// parallel over the runtime's Workers.
func (a *availability) drainRule(ctx context.Context, s *storeAvail, r *ruleBacklog) error {
	a.mu.Lock()
	through := r.through
	a.mu.Unlock()
	deferred, last, err := a.readBacklog(ctx, r.ruleID, through)
	if err != nil || len(deferred) == 0 {
		return err
	}
	type key struct {
		kind domain.IdentityKind
		id   string
	}
	idx := map[key]int{}
	var users, groups []domain.PropagationChangeDeferred
	for _, d := range deferred {
		k := key{d.p.Kind, d.p.IdentityID}
		list := &users
		if d.p.Kind == domain.IdentityGroup {
			list = &groups
		}
		if i, ok := idx[k]; ok {
			(*list)[i] = d.p
			continue
		}
		idx[k] = len(*list)
		*list = append(*list, d.p)
	}
	var failed int
	for _, batch := range [][]domain.PropagationChangeDeferred{users, groups} {
		f, err := a.runBatch(ctx, s, batch)
		failed += f
		if err != nil {
			return err
		}
	}
	p := domain.PropagationBacklogDrained{EnvironmentID: r.env, RuleID: r.ruleID, StoreID: s.id, Through: uint64(last),
		Orders: len(users) + len(groups), Failed: failed}
	if p.EnvironmentID == "" {
		p.EnvironmentID = deferred[0].p.EnvironmentID
	}
	id := uuid.NewSHA1(namespace(), []byte(fmt.Sprintf("drained|%s|%d", r.ruleID, last)))
	// Any: Through names the revision drained, whatever was deferred meanwhile.
	if _, err := a.append(ctx, RuleStream(r.ruleID), eventstore.Any, id, p.EnvironmentID, "", p); err != nil {
		return err
	}
	a.mu.Lock()
	if last > r.through {
		r.through = last
		r.pending = max(0, r.pending-len(deferred))
	}
	a.mu.Unlock()
	return nil
}

// runBatch runs distinct identities' orders in parallel and returns how many failed for good.
func (a *availability) runBatch(ctx context.Context, s *storeAvail, batch []domain.PropagationChangeDeferred) (int, error) {
	if len(batch) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan domain.PropagationChangeDeferred)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		failed  int
		stopErr error
	)
	for range min(a.rt.cfg.Workers, len(batch)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range jobs {
				err := a.runDeferred(ctx, d)
				mu.Lock()
				switch {
				case err == nil:
				case errors.Is(err, errStoreDown) || ctx.Err() != nil:
					if stopErr == nil {
						stopErr = err
					}
					cancel()
				default:
					failed++
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, d := range batch {
		select {
		case jobs <- d:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if stopErr == nil && ctx.Err() != nil {
		stopErr = ctx.Err()
	}
	return failed, stopErr
}

// runDeferred reruns one deferred order, retrying transient failures like a resync; a store
// down again stops it (errStoreDown), and a failure past the retries is recorded as final.
func (a *availability) runDeferred(ctx context.Context, d domain.PropagationChangeDeferred) error {
	// An approved held removal deferred by an outage stays approved: it is not held again.
	o := Order{Env: d.EnvironmentID, RuleID: d.RuleID, Kind: d.Kind, IdentityID: d.IdentityID, Trigger: d.Trigger, Cause: d.Cause, drain: true,
		bypassRails: d.Trigger == TriggerApproved}
	if d.SourcePosition != "" {
		if pos, err := eventstore.ParsePosition(d.SourcePosition); err == nil {
			o.SourcePosition = pos
		}
	}
	delay := a.rt.cfg.RetryInitial
	for attempt := 1; ; attempt++ {
		o.Attempt = attempt
		_, err := a.rt.rec.Reconcile(ctx, o)
		if err == nil {
			return nil
		}
		if errors.Is(err, errStoreDown) || ctx.Err() != nil {
			return err
		}
		if attempt > a.rt.cfg.MaxRetries {
			if ferr := a.rt.rec.recordFailure(ctx, o, err); ferr != nil {
				a.rt.log.Error("propagation drain: record failure", "rule", o.RuleID, "identity", o.IdentityID, "err", ferr)
			}
			return err
		}
		if err := sleepCtx(ctx, min(max(delay, retryAfterOf(err)), a.rt.cfg.RetryMax)); err != nil {
			return err
		}
		delay *= 2
	}
}
