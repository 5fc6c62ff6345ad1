package propagation

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// Quarantine bounds: a rule is judged on its last quarantineWindow final outcomes, once it has
// quarantineMin of them, and quarantined when quarantineRatio of them are permanent failures.
const (
	quarantineWindow = 20
	quarantineMin    = 10
	quarantineRatio  = 0.8
)

// releasedByPublication starts the reason of a release a publication made: its publication
// resyncs the rule, the release need not.
const releasedByPublication = "publication "

// quarantine stops the rules whose recent change orders mostly fail for good: a broken
// mapping, a target attribute the store refuses. It folds the rules' final outcomes (from the
// account index, so the windows survive a restart) and their quarantine events (its own
// Follower over proprule-*). A final failure of class INVALID, CONFLICT or NOT_FOUND is
// permanent; UNAVAILABLE, RATE_LIMITED and AUTH say the store is unavailable, not that the rule
// is wrong, and are left out of the window.
type quarantine struct {
	store    eventstore.Store
	reg      *eventstore.Registry
	now      func() time.Time
	follower *projections.Follower
	live     atomic.Bool // the follower caught up at the start: releases folded now are new

	mu       sync.Mutex
	windows  map[string][]qEntry
	state    map[string]*domain.RuleQuarantine
	released map[string]eventstore.Position
	judging  map[string]domain.ChangeOutcome
	signal   chan struct{}
	// resync queues the rules an administrator released, to resync.
	resync []domain.PropagationRuleReleased
}

type qEntry struct {
	pos       eventstore.Position
	permanent bool
	class     string
}

func newQuarantine(store eventstore.Store, reg *eventstore.Registry, now func() time.Time) *quarantine {
	q := &quarantine{store: store, reg: reg, now: now, windows: map[string][]qEntry{}, state: map[string]*domain.RuleQuarantine{},
		released: map[string]eventstore.Position{}, judging: map[string]domain.ChangeOutcome{}, signal: make(chan struct{}, 1)}
	q.follower = projections.NewFollower("propagation rule quarantine", store, reg,
		&eventstore.Filter{StreamPrefixes: []string{domain.CategoryPropagationRuleState + "-"}}, q.fold)
	return q
}

func (q *quarantine) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// observe folds one outcome of the log into its rule's window.
func (q *quarantine) observe(e *eventstore.RecordedEvent, p any) {
	var o domain.ChangeOutcome
	var entry qEntry
	switch v := p.(type) {
	case domain.PropagationChangeApplied:
		o = v.ChangeOutcome
	case domain.PropagationChangeFailed:
		if !v.Final {
			return
		}
		switch connectors.Class(v.Class) {
		case connectors.ClassInvalid, connectors.ClassConflict, connectors.ClassNotFound:
			entry.permanent, entry.class = true, v.Class
		default:
			return
		}
		o = v.ChangeOutcome
	default:
		return
	}
	entry.pos = e.Position
	q.mu.Lock()
	defer q.mu.Unlock()
	if r, ok := q.released[o.RuleID]; ok && e.Position.Less(r) {
		return
	}
	w := append(q.windows[o.RuleID], entry)
	if len(w) > quarantineWindow {
		w = w[len(w)-quarantineWindow:]
	}
	q.windows[o.RuleID] = w
	if s := q.state[o.RuleID]; (s == nil || !s.Quarantined) && entry.permanent && over(w) {
		if _, ok := q.judging[o.RuleID]; !ok {
			q.judging[o.RuleID] = o
			defer q.wake()
		}
	}
}

// over reports whether window w judges its rule broken.
func over(w []qEntry) bool {
	if len(w) < quarantineMin {
		return false
	}
	n := 0
	for _, e := range w {
		if e.permanent {
			n++
		}
	}
	return float64(n) >= quarantineRatio*float64(len(w))
}

// fold folds a rule's quarantine events.
func (q *quarantine) fold(e *eventstore.RecordedEvent, d eventstore.Decoded) {
	rule := strings.TrimPrefix(e.Stream, domain.CategoryPropagationRuleState+"-")
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.state[rule]
	if s == nil {
		s = &domain.RuleQuarantine{}
		q.state[rule] = s
	}
	s.Apply(d.Payload)
	if r, ok := d.Payload.(domain.PropagationRuleReleased); ok {
		q.released[rule] = e.Position
		delete(q.windows, rule)
		if q.live.Load() && !strings.HasPrefix(r.Reason, releasedByPublication) {
			q.resync = append(q.resync, r)
			defer q.wake()
		}
	}
}

// why returns why rule is quarantined ("" when it is not).
func (q *quarantine) why(rule string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if s := q.state[rule]; s != nil && s.Quarantined {
		return s.Reason
	}
	return ""
}

// take returns and clears the rules to judge and the releases to resync.
func (q *quarantine) take() (judge []domain.ChangeOutcome, resync []domain.PropagationRuleReleased) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, o := range q.judging {
		judge = append(judge, o)
	}
	clear(q.judging)
	resync, q.resync = q.resync, nil
	return judge, resync
}

// judge quarantines o's rule when its window, past its last release, is still over the bound
// once the quarantine events are folded up to the log's head. The event's ID derives from the
// rule and its number of releases: two processes judging at once append one quarantine.
func (q *quarantine) judge(ctx context.Context, o domain.ChangeOutcome) error {
	if err := q.follower.CatchUp(ctx); err != nil {
		return err
	}
	q.mu.Lock()
	s := q.state[o.RuleID]
	if s == nil {
		s = &domain.RuleQuarantine{}
		q.state[o.RuleID] = s
	}
	var w []qEntry
	for _, e := range q.windows[o.RuleID] {
		if r, ok := q.released[o.RuleID]; !ok || !e.pos.Less(r) {
			w = append(w, e)
		}
	}
	releases := s.Releases
	quarantined := s.Quarantined
	q.mu.Unlock()
	if quarantined || !over(w) {
		return nil
	}
	classes := map[string]int{}
	failures := 0
	for _, e := range w {
		if e.permanent {
			classes[e.class]++
			failures++
		}
	}
	// Class counts only: a failure's message may echo an identity's data.
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(classes)) {
		parts = append(parts, fmt.Sprintf("%s %d", c, classes[c]))
	}
	ev := domain.PropagationRuleQuarantined{EnvironmentID: o.EnvironmentID, RuleID: o.RuleID, StoreID: o.StoreID,
		Reason:   fmt.Sprintf("%d of the last %d change orders failed for good (%s)", failures, len(w), strings.Join(parts, ", ")),
		Failures: failures, Total: len(w), Since: q.now().UTC()}
	id := uuid.NewSHA1(namespace(), []byte(fmt.Sprintf("quarantine|%s|%d", o.RuleID, releases)))
	if err := q.append(ctx, o.EnvironmentID, o.RuleID, id, ev); err != nil {
		return err
	}
	q.mu.Lock()
	q.state[o.RuleID].Apply(ev)
	q.mu.Unlock()
	return nil
}

func (q *quarantine) append(ctx context.Context, env, rule string, id uuid.UUID, p any) error {
	stream := domain.StreamName(domain.CategoryPropagationRuleState, rule)
	ev, err := q.reg.EncodeContext(ctx, id, p, eventstore.Metadata{EnvironmentID: env, Actor: Actor, OccurredAt: q.now().UTC()})
	if err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	if _, err := q.store.Append(ctx, stream, eventstore.Any, ev); err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	return nil
}

// releaseOnPublish releases rule, quarantined, that publication rev changed: its publication
// resync follows.
func (rt *Runtime) releaseOnPublish(ctx context.Context, rev domain.PropagationRevisionPublished, rule string) error {
	q := rt.rec.quarantine
	if q.why(rule) == "" {
		return nil
	}
	ev := domain.PropagationRuleReleased{EnvironmentID: rev.EnvironmentID, RuleID: rule,
		Reason: fmt.Sprintf("%s%d changed the rule", releasedByPublication, rev.Number)}
	id := uuid.NewSHA1(namespace(), []byte("release|"+rev.RevisionID+"|"+rule))
	if err := q.append(ctx, rev.EnvironmentID, rule, id, ev); err != nil {
		return err
	}
	q.mu.Lock()
	q.state[rule].Apply(ev)
	q.mu.Unlock()
	return nil
}

// startQuarantine follows the rules' quarantine events and runs the loop that judges rules and
// resyncs released ones.
func (rt *Runtime) startQuarantine(ctx context.Context) error {
	q := rt.rec.quarantine
	if err := q.follower.Start(ctx); err != nil {
		return err
	}
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		if err := q.follower.CatchUp(ctx); err != nil {
			return
		}
		q.live.Store(true)
		for {
			judge, resync := q.take()
			for _, o := range judge {
				if err := q.judge(ctx, o); err != nil && ctx.Err() == nil {
					rt.log.Error("propagation: quarantine", "rule", o.RuleID, "err", err)
				}
			}
			for _, r := range resync {
				if _, err := rt.Resync(ctx, r.EnvironmentID, r.RuleID, TriggerResync); err != nil && ctx.Err() == nil {
					rt.log.Warn("propagation: resync of a released rule", "rule", r.RuleID, "err", err)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-q.signal:
			}
		}
	}()
	return nil
}

// skipQuarantined records the order of a quarantined rule as skipped (done true).
func (x *run) skipQuarantined(ctx context.Context) (done bool, err error) {
	if x.r.quarantine == nil || x.o.ForceRemove {
		return false, nil
	}
	why := x.r.quarantine.why(x.o.RuleID)
	if why == "" {
		return false, nil
	}
	return true, x.skipped(ctx, "rule quarantined: "+why)
}
