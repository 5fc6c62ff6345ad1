package propagation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// Store availability: when a store stops answering (refused, timeout, 5xx, or it refuses the
// credentials), the rules targeting it pause. Their orders are appended to the rule's backlog
// (change_deferred on proprule-<rule>) instead of running, and the bus message is acked once the
// deferral is durable. A prober checks the store with back-off; when it answers, the backlogs
// drain (backlog.go) and the store is up again.
//
// The state lives in the log (propstore-<store>, proprule-<rule>) and is loaded at Start, so a
// process killed while a store is down resumes probing, and one killed mid-drain redrains from
// the last backlog_drained (the reconciler is level-triggered: reruns are harmless).

// storeMode is a store's availability as this process sees it.
type storeMode int

const (
	modeUp storeMode = iota
	// modeDown: store_unavailable is recorded; a prober runs.
	modeDown
	// modeDraining: store_available is recorded; the backlogs drain, and new orders are still
	// deferred so that they never overtake the backlog.
	modeDraining
)

// errStoreDown: the order's store is unavailable; the order is not run (a drain stops).
var errStoreDown = errors.New("propagation store unavailable")

type storeAvail struct {
	id, env string
	// gate orders deferrals (read lock, held from the mode check to the end of the append)
	// before the drain's final flip to modeUp (write lock): no order is deferred after the
	// drain saw its backlog empty.
	gate sync.RWMutex

	// Guarded by availability.mu.
	mode          storeMode
	class, reason string
	since         time.Time
	rev           eventstore.ExpectedRevision // of propstore-<id>
	probing       bool
	draining      bool
}

// ruleBacklog is one rule's backlog: the change_deferred of proprule-<rule> after the revision
// through of its last backlog_drained.
type ruleBacklog struct {
	env, ruleID, storeID string
	through              int64 // -1: nothing drained yet
	pending              int   // deferred orders after through known to this process
}

type probeCall struct {
	done chan struct{}
	err  error
}

type availability struct {
	rt *Runtime

	mu     sync.Mutex
	stores map[string]*storeAvail
	rules  map[string]*ruleBacklog
	probes map[string]*probeCall
	// closed: the runtime is closing; no prober or drain starts (availWG.Add never races Wait).
	closed bool
}

func newAvailability(rt *Runtime) *availability {
	return &availability{rt: rt, stores: map[string]*storeAvail{}, rules: map[string]*ruleBacklog{}, probes: map[string]*probeCall{}}
}

// StoreStream names the availability stream of a store; RuleStream the backlog stream of a rule.
func StoreStream(storeID string) string { return domain.CategoryPropagationStoreState + "-" + storeID }
func RuleStream(ruleID string) string   { return domain.CategoryPropagationRuleState + "-" + ruleID }

func (a *availability) storeLocked(id, env string) *storeAvail {
	s := a.stores[id]
	if s == nil {
		s = &storeAvail{id: id, env: env, rev: eventstore.NoStream}
		a.stores[id] = s
	}
	if s.env == "" {
		s.env = env
	}
	return s
}

func (a *availability) ruleLocked(env, ruleID, storeID string) *ruleBacklog {
	r := a.rules[ruleID]
	if r == nil {
		r = &ruleBacklog{env: env, ruleID: ruleID, storeID: storeID, through: -1}
		a.rules[ruleID] = r
	}
	if storeID != "" {
		r.storeID = storeID
	}
	return r
}

// gated reports whether order o goes through the availability gate: orders that write to the
// store for real, except a deprovisioning of a deleted store (it runs a previous revision, which
// a drain could not rerun) and the drain's own orders.
func gated(o *Order) bool {
	return !o.DryRun && !o.Preview && !o.ForceRemove && !o.drain
}

// admit defers order o when its target store is not up: it returns deferred=true once the
// deferral is durable. An on-demand order is refused with a clear error instead.
func (a *availability) admit(ctx context.Context, o *Order, cr *compiledRule) (bool, error) {
	if !gated(o) || cr.inactive() != "" {
		return false, nil
	}
	a.mu.Lock()
	s := a.stores[cr.target.ID]
	a.mu.Unlock()
	if s == nil {
		return false, nil
	}
	s.gate.RLock()
	defer s.gate.RUnlock()
	a.mu.Lock()
	mode, class, reason, since := s.mode, s.class, s.reason, s.since
	a.mu.Unlock()
	if mode == modeUp {
		return false, nil
	}
	if o.Trigger == TriggerOnDemand {
		return false, unavailableError(cr.target.ID, mode, class, reason, since)
	}
	why := fmt.Sprintf("store %s unavailable since %s (%s): %s", cr.target.ID, since.UTC().Format(time.RFC3339), class, reason)
	if mode == modeDraining {
		why = fmt.Sprintf("store %s is draining its backlog", cr.target.ID)
	}
	return true, a.deferLocked(ctx, o, cr, why)
}

func unavailableError(storeID string, mode storeMode, class, reason string, since time.Time) error {
	if mode == modeDraining {
		return fmt.Errorf("%w: store %s is back and draining its backlog; retry shortly", domain.ErrUnavailable, storeID)
	}
	return fmt.Errorf("%w: store %s is unavailable since %s (%s): %s", domain.ErrUnavailable, storeID,
		since.UTC().Format(time.RFC3339), class, reason)
}

// deferLocked appends change_deferred of o to its rule's backlog. The caller holds the store's
// gate (read).
func (a *availability) deferLocked(ctx context.Context, o *Order, cr *compiledRule, reason string) error {
	p := domain.PropagationChangeDeferred{EnvironmentID: o.Env, RuleID: o.RuleID, StoreID: cr.target.ID, Kind: o.Kind,
		IdentityID: o.IdentityID, Cause: o.Cause, Trigger: o.Trigger, Reason: reason}
	if !o.SourcePosition.IsZero() {
		p.SourcePosition = o.SourcePosition.String()
	}
	// The ID derives from the change order: a redelivery of a message whose ack was lost
	// defers it again with the same ID (the store recognises the retry).
	id := uuid.NewSHA1(namespace(), []byte("deferred|"+ChangeOrderID(o.RuleID, o.Cause, o.IdentityID)))
	if _, err := a.append(ctx, RuleStream(o.RuleID), eventstore.Any, id, o.Env, o.CorrelationID, p); err != nil {
		return err
	}
	a.mu.Lock()
	a.ruleLocked(o.Env, o.RuleID, cr.target.ID).pending++
	a.mu.Unlock()
	a.rt.rec.metrics.outcome("DEFERRED")
	return nil
}

func (a *availability) append(ctx context.Context, stream string, exp eventstore.ExpectedRevision, id uuid.UUID, env, corr string, p any) (eventstore.AppendResult, error) {
	ev, err := a.rt.cfg.Registry.EncodeContext(ctx, id, p, eventstore.Metadata{EnvironmentID: env, Actor: Actor, CorrelationID: corr,
		OccurredAt: a.rt.cfg.Now().UTC()})
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	res, err := a.rt.cfg.Store.Append(ctx, stream, exp, ev)
	if err != nil {
		return res, fmt.Errorf("append to %s: %w", stream, err)
	}
	return res, nil
}

// unavailableClass reports whether err may mean the store is down (a probe tells).
func unavailableClass(err error) bool {
	c := connectors.ClassOf(err)
	return c == connectors.ClassUnavailable || c == connectors.ClassAuth
}

// failed handles order o that failed with err: when the store may be down, it probes it (one
// probe in flight per store); down, the store is marked unavailable and the order deferred
// (handled=true, with the trace and error to return). Up, a transient error takes the normal
// retry path and an AUTH refusal is recorded as the final failure it is.
func (a *availability) failed(ctx context.Context, o *Order, cr *compiledRule, tr domain.ProvisionTrace, err error) (domain.ProvisionTrace, error, bool) {
	if o.DryRun || o.Preview || o.ForceRemove || !unavailableClass(err) {
		return tr, err, false
	}
	class := connectors.ClassOf(err)
	a.mu.Lock()
	s := a.stores[cr.target.ID]
	down := s != nil && s.mode == modeDown
	a.mu.Unlock()
	if !down {
		perr := a.probe(ctx, cr.target)
		if perr == nil {
			if class == connectors.ClassAuth {
				// The store accepts the credentials: this refusal is the request's own.
				if ferr := a.rt.rec.recordFailure(context.WithoutCancel(ctx), *o, err); ferr != nil {
					return tr, ferr, true
				}
				return tr, nil, true
			}
			return tr, err, false
		}
		if ctx.Err() != nil {
			return tr, err, false
		}
		pclass := connectors.ClassOf(perr)
		if pclass != connectors.ClassAuth && pclass != connectors.ClassUnavailable {
			pclass = class
		}
		if merr := a.markDown(ctx, o.Env, cr.target.ID, string(pclass), perr.Error()); merr != nil {
			return tr, errors.Join(err, merr), true
		}
	}
	if o.drain {
		return tr, fmt.Errorf("%w: %w", errStoreDown, err), true
	}
	if o.Trigger == TriggerOnDemand {
		a.mu.Lock()
		s = a.stores[cr.target.ID]
		uerr := unavailableError(s.id, s.mode, s.class, s.reason, s.since)
		a.mu.Unlock()
		return tr, fmt.Errorf("%w (%w)", uerr, err), true
	}
	deferred, derr := a.admit(ctx, o, cr)
	if derr != nil {
		return tr, derr, true
	}
	if !deferred { // back up meanwhile: retry
		return tr, err, false
	}
	tr.Result, tr.Error = "deferred", ""
	tr.Steps = append(tr.Steps, domain.TraceStep{Name: "availability", Detail: fmt.Sprintf("store %s unavailable: deferred to the rule's backlog", cr.target.ID)})
	return tr, nil, true
}

// probe checks store st once, sharing the answer with concurrent callers for the same store.
func (a *availability) probe(ctx context.Context, st domain.PropagationStore) error {
	a.mu.Lock()
	if c := a.probes[st.ID]; c != nil {
		a.mu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c := &probeCall{done: make(chan struct{})}
	a.probes[st.ID] = c
	a.mu.Unlock()
	c.err = a.check(context.WithoutCancel(ctx), st)
	a.mu.Lock()
	delete(a.probes, st.ID)
	a.mu.Unlock()
	close(c.done)
	return c.err
}

// check runs the store's health check. A connector without one cannot be probed: it is taken
// as up (its failures take the retry path as before).
func (a *availability) check(ctx context.Context, st domain.PropagationStore) error {
	c, err := a.rt.rec.conns.get(st.ID, st) // the store's own slot: the probe checks the store, not a rule's override
	if err != nil {
		return err
	}
	ch, ok := c.c.(connectors.Checker)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.rt.cfg.Timeout)
	defer cancel()
	return ch.Check(ctx)
}

// markDown records store id unavailable (once, across workers and processes: the append
// expects the stream's revision this process knows) and starts its prober.
func (a *availability) markDown(ctx context.Context, env, id, class, reason string) error {
	ctx = context.WithoutCancel(ctx)
	for range maxRaces {
		a.mu.Lock()
		s := a.storeLocked(id, env)
		if s.mode == modeDown {
			a.mu.Unlock()
			return nil
		}
		exp := s.rev
		a.mu.Unlock()
		now := a.rt.cfg.Now().UTC()
		p := domain.PropagationStoreUnavailable{EnvironmentID: env, StoreID: id, Class: class, Reason: reason, Since: now}
		res, err := a.append(ctx, StoreStream(id), exp, uuid.New(), env, "", p)
		if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			if err := a.reloadStore(ctx, id); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		a.rt.log.Warn("propagation: store unavailable, its rules pause", "store", id, "class", class, "reason", reason)
		a.mu.Lock()
		s.mode, s.class, s.reason, s.since, s.rev = modeDown, class, reason, now, eventstore.Exact(res.NextExpectedRevision)
		a.mu.Unlock()
		a.settle(s)
		return nil
	}
	return fmt.Errorf("mark store %s unavailable: %w", id, eventstore.ErrWrongExpectedRevision)
}

// markUp records store s available again and starts draining.
func (a *availability) markUp(ctx context.Context, s *storeAvail) error {
	for range maxRaces {
		a.mu.Lock()
		if s.mode != modeDown {
			a.mu.Unlock()
			return nil
		}
		exp, downSince, env := s.rev, s.since, s.env
		a.mu.Unlock()
		p := domain.PropagationStoreAvailable{EnvironmentID: env, StoreID: s.id, Since: a.rt.cfg.Now().UTC(), DownSince: downSince}
		res, err := a.append(ctx, StoreStream(s.id), exp, uuid.New(), env, "", p)
		if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			if err := a.reloadStore(ctx, s.id); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		a.rt.log.Info("propagation: store available again, draining its backlog", "store", s.id, "downSince", downSince)
		a.mu.Lock()
		s.mode, s.rev = modeDraining, eventstore.Exact(res.NextExpectedRevision)
		a.mu.Unlock()
		a.settle(s)
		return nil
	}
	return fmt.Errorf("mark store %s available: %w", s.id, eventstore.ErrWrongExpectedRevision)
}

// foldStore applies one event of a store's stream.
func (a *availability) foldStoreLocked(s *storeAvail, ev eventstore.RecordedEvent, p any) {
	s.rev = eventstore.Exact(ev.Revision)
	switch e := p.(type) {
	case domain.PropagationStoreUnavailable:
		s.env = e.EnvironmentID
		s.mode, s.class, s.reason, s.since = modeDown, e.Class, e.Reason, e.Since
	case domain.PropagationStoreAvailable:
		s.env = e.EnvironmentID
		if s.mode == modeDown {
			s.mode = modeDraining // up once the backlogs are drained (settle)
		}
	}
}

// foldRuleLocked applies one event of a rule's backlog stream.
func (a *availability) foldRuleLocked(ev eventstore.RecordedEvent, p any) {
	switch e := p.(type) {
	case domain.PropagationChangeDeferred:
		r := a.ruleLocked(e.EnvironmentID, e.RuleID, e.StoreID)
		if int64(ev.Revision) > r.through {
			r.pending++
		}
	case domain.PropagationBacklogDrained:
		r := a.ruleLocked(e.EnvironmentID, e.RuleID, e.StoreID)
		if int64(e.Through) > r.through {
			r.through, r.pending = int64(e.Through), 0
		}
	}
}

// reloadStore refolds a store's stream (another worker or process wrote it).
func (a *availability) reloadStore(ctx context.Context, id string) error {
	stream := StoreStream(id)
	a.mu.Lock()
	s := a.storeLocked(id, "")
	a.mu.Unlock()
	for ev, err := range a.rt.cfg.Store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		d, err := a.rt.cfg.Registry.DecodeEvent(ev)
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		a.mu.Lock()
		a.foldStoreLocked(s, ev, d.Payload)
		a.mu.Unlock()
	}
	a.settle(s)
	return nil
}

// load folds every store's and rule's stream from the log (at Start, before any order runs).
func (a *availability) load(ctx context.Context) error {
	f := &eventstore.Filter{StreamPrefixes: []string{domain.CategoryPropagationStoreState + "-", domain.CategoryPropagationRuleState + "-"}}
	for ev, err := range a.rt.cfg.Store.ReadAll(ctx, eventstore.ReadAllOptions{Filter: f}) {
		if err != nil {
			return fmt.Errorf("propagation runtime: load store availability: %w", err)
		}
		switch ev.Type {
		case domain.EvPropStoreUnavailable, domain.EvPropStoreAvailable, domain.EvPropChangeDeferred, domain.EvPropBacklogDrained:
		default:
			continue
		}
		d, err := a.rt.cfg.Registry.DecodeEvent(ev)
		if err != nil {
			return fmt.Errorf("propagation runtime: load store availability: %w", err)
		}
		a.mu.Lock()
		switch p := d.Payload.(type) {
		case domain.PropagationStoreUnavailable:
			a.foldStoreLocked(a.storeLocked(p.StoreID, p.EnvironmentID), ev, p)
		case domain.PropagationStoreAvailable:
			a.foldStoreLocked(a.storeLocked(p.StoreID, p.EnvironmentID), ev, p)
		default:
			a.foldRuleLocked(ev, p)
		}
		a.mu.Unlock()
	}
	// A store never marked down whose rules have undrained backlogs (a drain killed after
	// store_available, or no propstore event at all): drain them.
	a.mu.Lock()
	for _, r := range a.rules {
		if r.pending > 0 && r.storeID != "" {
			s := a.storeLocked(r.storeID, r.env)
			if s.mode == modeUp {
				s.mode = modeDraining
			}
		}
	}
	a.mu.Unlock()
	return nil
}

// resume starts the probers and drains the loaded state asks for.
func (a *availability) resume() {
	a.mu.Lock()
	var ss []*storeAvail
	for _, s := range a.stores {
		ss = append(ss, s)
	}
	a.mu.Unlock()
	for _, s := range ss {
		a.settle(s)
	}
}

// settle starts what store s's mode needs: a prober when down, a drain when draining.
func (a *availability) settle(s *storeAvail) {
	ctx := a.rt.runCtx
	if ctx == nil || ctx.Err() != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	switch {
	case s.mode == modeDown && !s.probing:
		s.probing = true
		a.rt.availWG.Add(1)
		go func() {
			defer a.rt.availWG.Done()
			a.probeLoop(ctx, s)
		}()
	case s.mode == modeDraining && !s.draining:
		s.draining = true
		a.rt.availWG.Add(1)
		go func() {
			defer a.rt.availWG.Done()
			a.drain(ctx, s)
		}()
	}
}

// probeLoop probes store s with back-off (ProbeInterval doubling up to ProbeMax) until it
// answers, then marks it available. It probes the store as the latest published revision
// configures it: new credentials are tried at the next probe.
func (a *availability) probeLoop(ctx context.Context, s *storeAvail) {
	defer func() {
		a.mu.Lock()
		s.probing = false
		a.mu.Unlock()
		a.settle(s)
	}()
	delay := a.rt.cfg.ProbeInterval
	var lastKey string
	for {
		if sleepCtx(ctx, delay) != nil {
			return
		}
		a.mu.Lock()
		mode, env := s.mode, s.env
		a.mu.Unlock()
		if mode != modeDown {
			return
		}
		var err error
		if st, ok := a.publishedStore(env, s.id); ok {
			if k := storeKey(st); k != lastKey {
				lastKey, delay = k, a.rt.cfg.ProbeInterval // a new configuration: probe it promptly
			}
			err = a.probe(ctx, st)
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if err := a.markUp(ctx, s); err != nil {
				a.rt.log.Error("propagation: record store available", "store", s.id, "err", err)
				continue
			}
			return
		}
		a.rt.log.Debug("propagation: store still unavailable", "store", s.id, "err", err)
		delay = min(delay*2, a.rt.cfg.ProbeMax)
	}
}

// publishedStore returns store id of env's published revision (false: not in it, nothing to
// probe: its orders are skipped when drained).
func (a *availability) publishedStore(env, id string) (domain.PropagationStore, bool) {
	rev, ok := a.rt.revisions().Published(env)
	if !ok {
		return domain.PropagationStore{}, false
	}
	for _, st := range rev.Content.Stores {
		if st.ID == id {
			return st, true
		}
	}
	return domain.PropagationStore{}, false
}

// StoreAvailability is a store's availability as the runtime sees it.
type StoreAvailability struct {
	StoreID string
	// Mode: "UP", "UNAVAILABLE" or "DRAINING".
	Mode   string
	Class  string
	Reason string
	Since  time.Time
}

// Availability returns store id's availability as this runtime sees it.
func (rt *Runtime) Availability(id string) StoreAvailability {
	a := rt.avail
	a.mu.Lock()
	defer a.mu.Unlock()
	out := StoreAvailability{StoreID: id, Mode: "UP"}
	if s := a.stores[id]; s != nil {
		switch s.mode {
		case modeDown:
			out.Mode, out.Class, out.Reason, out.Since = "UNAVAILABLE", s.class, s.reason, s.since
		case modeDraining:
			out.Mode = "DRAINING"
		}
	}
	return out
}

// close stops new probers and drains from starting (the running ones end with the runtime's
// context).
func (a *availability) close() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
}
