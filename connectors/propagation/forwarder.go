package propagation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// forwardedUserEvents are the user events that change what propagation reads of a user.
var forwardedUserEvents = map[string]bool{
	domain.EvUserCreated: true, domain.EvUserUpdated: true, domain.EvUserDeleted: true, domain.EvUserEnabled: true,
	domain.EvUserDisabled: true, domain.EvUserLocked: true, domain.EvUserUnlocked: true,
	domain.EvUserPopulationChanged: true, domain.EvUserForgotten: true,
}

// Forwarder publishes the identity changes of the log on the bus, from its own checkpoint.
// Each publish goes through the queue of its shard (one goroutine per shard, so a slow shard
// does not hold the others up); the checkpoint passes an event only once the bus acknowledged
// every message of it and of every earlier event. After a crash it republishes from the
// checkpoint: delivery is at least once. Methods are safe for concurrent use.
type Forwarder struct {
	name   string
	store  eventstore.Store
	reg    *eventstore.Registry
	pub    message.Publisher
	cps    Checkpoints
	dir    Directory
	wait   Waiter
	shards int
	topics Topics
	log    *slog.Logger
	// published, when set, limits forwarding to environments that have a published revision
	// (see OnlyPublished); seen holds those whose revision the forwarder itself passed.
	published Revisions
	seen      map[string]bool

	// acked is the position up to which every change was published and acknowledged.
	acked *projections.Progress
}

// NewForwarder returns a forwarder named name (its checkpoint's name) publishing on pub over
// shards identity topics. dir and wait serve the fan-out of group changes.
func NewForwarder(name string, store eventstore.Store, reg *eventstore.Registry, pub message.Publisher, cps Checkpoints,
	dir Directory, wait Waiter, topics Topics, shards int, log *slog.Logger) *Forwarder {
	return &Forwarder{name: name, store: store, reg: reg, pub: pub, cps: cps, dir: dir, wait: wait, shards: max(shards, 1),
		topics: topics, log: log, acked: projections.NewProgress("forwarder " + name)}
}

// OnlyPublished makes the forwarder skip the identity changes of environments without a
// published propagation revision (most of a directory's traffic, when propagation is not
// configured): nothing is lost, since publishing a first revision resyncs its rules. An
// environment counts as published once revisions answers one, or once the forwarder passed its
// revision event in the log: the latter, in log order, covers a revisions read model that lags
// behind the forwarder. Call it before Run.
func (f *Forwarder) OnlyPublished(revisions Revisions) {
	f.published, f.seen = revisions, map[string]bool{}
}

// forwards reports whether env's identity changes are forwarded.
func (f *Forwarder) forwards(env string) bool {
	if f.published == nil || f.seen[env] {
		return true
	}
	if _, ok := f.published.Published(env); ok {
		f.seen[env] = true
		return true
	}
	return false
}

type fwdJob struct {
	seq   uint64
	topic string
	msg   *message.Message
}

// tracker advances the acknowledged position in event order.
type tracker struct {
	mu      sync.Mutex
	next    uint64 // seq of the oldest unfinished event
	pending map[uint64]int
	pos     map[uint64]eventstore.Position
	on      func(eventstore.Position)
}

func (t *tracker) add(seq uint64, msgs int, pos eventstore.Position) {
	t.mu.Lock()
	t.pending[seq] = msgs
	t.pos[seq] = pos
	t.mu.Unlock()
	if msgs == 0 {
		t.done(seq, false)
	}
}

func (t *tracker) done(seq uint64, dec bool) {
	t.mu.Lock()
	if dec {
		t.pending[seq]--
	}
	var adv eventstore.Position
	moved := false
	for {
		n, ok := t.pending[t.next]
		if !ok || n > 0 {
			break
		}
		adv, moved = t.pos[t.next], true
		delete(t.pending, t.next)
		delete(t.pos, t.next)
		t.next++
	}
	t.mu.Unlock()
	if moved {
		t.on(adv)
	}
}

// Run forwards until ctx ends or the log fails; it returns the error (nil when ctx ended).
func (f *Forwarder) Run(ctx context.Context) error {
	err := f.run(ctx)
	if ctx.Err() != nil {
		f.acked.Stop(fmt.Errorf("forwarder %s: %w: %w", f.name, projections.ErrStopped, ctx.Err()))
		return nil
	}
	f.acked.Stop(err)
	return err
}

func (f *Forwarder) run(ctx context.Context) error {
	start, err := f.cps.Load(ctx, f.name)
	if err != nil {
		return err
	}
	f.setAcked(start)
	sub, err := f.store.SubscribeAll(ctx, eventstore.SubscribeAllOptions{After: start, Filter: &eventstore.Filter{
		EventTypePrefixes: []string{"user.", "group.", "grouptree.", domain.EvPropRevisionPublished}}})
	if err != nil {
		return fmt.Errorf("forwarder %s: subscribe: %w", f.name, err)
	}
	defer sub.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	save := make(chan struct{}, 1)
	tr := &tracker{pending: map[uint64]int{}, pos: map[uint64]eventstore.Position{}, on: func(p eventstore.Position) {
		f.setAcked(p)
		select {
		case save <- struct{}{}:
		default:
		}
	}}
	// The saver coalesces: while one save runs, every later advance waits for the next.
	saved := make(chan struct{})
	go func() {
		defer close(saved)
		var last eventstore.Position
		for {
			select {
			case <-save:
			case <-ctx.Done():
				if p := f.Acked(); last.Less(p) {
					_ = f.cps.Save(context.WithoutCancel(ctx), f.name, p)
				}
				return
			}
			p := f.Acked()
			if err := f.cps.Save(ctx, f.name, p); err != nil && ctx.Err() == nil {
				f.log.Error("propagation forwarder: save checkpoint", "err", err)
				continue
			}
			last = p
		}
	}()
	queues := make([]chan fwdJob, f.shards+1)
	for i := range queues {
		queues[i] = make(chan fwdJob, 256)
		wg.Add(1)
		go func(q chan fwdJob) {
			defer wg.Done()
			for j := range q {
				if err := f.publish(ctx, j); err != nil {
					return // ctx ended: the checkpoint stays before this event
				}
				tr.done(j.seq, true)
			}
		}(queues[i])
	}
	defer func() {
		for _, q := range queues {
			close(q)
		}
		cancel()
		wg.Wait()
		<-saved
	}()

	var seq uint64
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("forwarder %s: subscription: %w", f.name, err)
		}
		var changes []Change
		if m.Kind == eventstore.MessageEvent {
			if changes, err = f.changes(ctx, &m.Event); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("forwarder %s: event at %s: %w", f.name, m.Event.Position, err)
			}
		}
		if m.Kind != eventstore.MessageEvent && m.Kind != eventstore.MessageCheckpoint {
			continue
		}
		corr := ""
		if m.Kind == eventstore.MessageEvent {
			corr = m.Event.Metadata.CorrelationID
			if corr == "" {
				corr = m.Event.ID.String()
			}
		}
		tr.add(seq, len(changes), m.Position)
		for _, c := range changes {
			msg, err := newMessage(c, corr)
			if err != nil {
				return fmt.Errorf("forwarder %s: %w", f.name, err)
			}
			q, topic := f.shards, f.topics.Revision()
			if c.Kind != KindRevision {
				q = ShardOf(c.IdentityID, f.shards)
				topic = f.topics.Shard(q)
			}
			select {
			case queues[q] <- fwdJob{seq: seq, topic: topic, msg: msg}:
			case <-ctx.Done():
				return nil
			}
		}
		seq++
	}
}

// publish publishes j, retrying a refused publish with back-off until ctx ends.
func (f *Forwarder) publish(ctx context.Context, j fwdJob) error {
	delay := 50 * time.Millisecond
	for {
		err := f.pub.Publish(j.topic, j.msg)
		if err == nil {
			return nil
		}
		f.log.Warn("propagation forwarder: publish refused, retrying", "topic", j.topic, "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		delay = min(2*delay, 10*time.Second)
		j.msg = j.msg.Copy()
	}
}

// changes maps one event to the identity changes it causes.
func (f *Forwarder) changes(ctx context.Context, ev *eventstore.RecordedEvent) ([]Change, error) {
	env := ev.Metadata.EnvironmentID
	if ev.Type != domain.EvPropRevisionPublished && !f.forwards(env) {
		return nil, nil
	}
	base := Change{Env: env, Position: ev.Position.String(), EventID: ev.ID.String(), EventType: ev.Type, CommittedAt: ev.RecordedAt}
	with := func(kind domain.IdentityKind, id string) Change {
		c := base
		c.Kind, c.IdentityID = kind, id
		return c
	}
	switch {
	case strings.HasPrefix(ev.Type, "user."):
		if !forwardedUserEvents[ev.Type] {
			return nil, nil
		}
		id, ok := strings.CutPrefix(ev.Stream, domain.CategoryUser+"-")
		if !ok || env == "" {
			return nil, nil
		}
		return []Change{with(domain.IdentityUser, id)}, nil
	case ev.Type == domain.EvPropRevisionPublished:
		p, err := f.reg.Decode(*ev)
		if err != nil {
			return nil, err
		}
		rev := p.(domain.PropagationRevisionPublished)
		if f.seen != nil {
			f.seen[rev.EnvironmentID] = true
		}
		c := with(KindRevision, rev.RevisionID)
		c.Env = rev.EnvironmentID
		return []Change{c}, nil
	}
	p, err := f.reg.Decode(*ev)
	if errors.Is(err, eventstore.ErrUnknownEventType) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	switch e := p.(type) {
	case domain.GroupCreated:
		return []Change{with(domain.IdentityGroup, e.GroupID)}, nil
	case domain.GroupDeleted:
		return []Change{with(domain.IdentityGroup, e.GroupID)}, nil
	case domain.GroupUpdated:
		// Its name is in its members' "groups": they change too.
		return f.withMembers(ctx, ev, with(domain.IdentityGroup, e.GroupID), e.EnvironmentID, e.GroupID)
	case domain.GroupMemberAdded:
		return []Change{with(domain.IdentityGroup, e.GroupID), with(domain.IdentityUser, e.UserID)}, nil
	case domain.GroupMemberRemoved:
		return []Change{with(domain.IdentityGroup, e.GroupID), with(domain.IdentityUser, e.UserID)}, nil
	case domain.GroupNested:
		return f.withMembers(ctx, ev, with(domain.IdentityGroup, e.ParentID), e.EnvironmentID, e.ChildID)
	case domain.GroupUnnested:
		return f.withMembers(ctx, ev, with(domain.IdentityGroup, e.ParentID), e.EnvironmentID, e.ChildID)
	}
	return nil, nil
}

// withMembers returns c and a user change for every transitive member of group, read from
// the directory once it has applied the event.
func (f *Forwarder) withMembers(ctx context.Context, ev *eventstore.RecordedEvent, c Change, env, group string) ([]Change, error) {
	out := []Change{c}
	if f.dir == nil {
		return out, nil
	}
	if f.wait != nil {
		if err := f.wait.WaitFor(ctx, ev.Position); err != nil {
			return nil, err
		}
	}
	gm, err := f.dir.GroupMembers(env, group, true)
	if errors.Is(err, domain.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, u := range gm.Users {
		uc := c
		uc.Kind, uc.IdentityID = domain.IdentityUser, u.ID
		out = append(out, uc)
	}
	return out, nil
}

func (f *Forwarder) setAcked(p eventstore.Position) { f.acked.Advance(p) }

// Acked returns the position up to which every change was published and acknowledged.
func (f *Forwarder) Acked() eventstore.Position { return f.acked.Position() }

// WaitFor returns once every change up to pos was acknowledged by the bus, or with the
// forwarder's error, or with ctx's.
func (f *Forwarder) WaitFor(ctx context.Context, pos eventstore.Position) error {
	return f.acked.WaitFor(ctx, pos)
}
