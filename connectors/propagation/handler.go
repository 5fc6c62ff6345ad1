package propagation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

// errBadMessage marks a message that can never be handled (not retried: poisoned at once).
var errBadMessage = errors.New("malformed propagation message")

// ordersError lists the orders of one message that failed transiently.
type ordersError struct {
	orders []Order
	errs   []error
}

func (e *ordersError) Error() string {
	return fmt.Sprintf("%d change orders failed: %v", len(e.orders), errors.Join(e.errs...))
}

func (e *ordersError) Unwrap() []error { return e.errs }

// retryAfter is the store's requested wait of the first error that has one.
func (e *ordersError) retryAfter() time.Duration {
	var d time.Duration
	for _, err := range e.errs {
		d = max(d, connectors.RetryAfterOf(err))
	}
	return d
}

// router builds the Watermill router: one handler per shard topic and one for revisions, with
// the middleware chain CorrelationID → PoisonQueue → final failure records → Retry →
// Retry-After wait → Timeout.
func (rt *Runtime) newRouter() (*message.Router, error) {
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, rt.wlog)
	if err != nil {
		return nil, err
	}
	// A handler stopped by the router's close is not poisoned: the message is redelivered.
	poison, err := middleware.PoisonQueueWithFilter(rt.bus.Publisher, rt.topics.Poison(), func(err error) bool {
		return !errors.Is(err, context.Canceled)
	})
	if err != nil {
		return nil, err
	}
	retry := middleware.Retry{MaxRetries: rt.cfg.MaxRetries, InitialInterval: rt.cfg.RetryInitial, MaxInterval: rt.cfg.RetryMax,
		Multiplier: 2, RandomizationFactor: 0.2, ResetContextOnRetry: true,
		ShouldRetry: func(p middleware.RetryParams) bool { return !errors.Is(p.Err, errBadMessage) }}
	r.AddMiddleware(middleware.CorrelationID, poison)
	for n := range rt.cfg.Shards {
		h := r.AddConsumerHandler(fmt.Sprintf("propagation-identity-%d", n), rt.topics.Shard(n), rt.bus.Subscriber, rt.handleIdentity)
		h.AddMiddleware(rt.recordFinal, retry.Middleware, rt.waitRetryAfter, middleware.Timeout(rt.cfg.Timeout))
	}
	// A revision's resync may run long: no timeout, and its orders record their own failures.
	h := r.AddConsumerHandler("propagation-revision", rt.topics.Revision(), rt.bus.Subscriber, rt.handleRevision)
	h.AddMiddleware(retry.Middleware)
	return r, nil
}

// waitRetryAfter holds a failed attempt back for as long as the store asked (429 Retry-After)
// before the retry middleware schedules the next one.
func (rt *Runtime) waitRetryAfter(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		var oe *ordersError
		if errors.As(err, &oe) {
			if d := oe.retryAfter(); d > 0 {
				t := time.NewTimer(min(d, rt.cfg.RetryMax))
				select {
				case <-t.C:
				case <-msg.Context().Done():
					t.Stop()
				}
			}
		}
		return out, err
	}
}

// recordFinal appends a final change_failed for each order still failing once retries are
// exhausted, before the poison queue takes the message.
func (rt *Runtime) recordFinal(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		outer := msg.Context() // inner middleware (Timeout) replaces and cancels its own
		out, err := h(msg)
		var oe *ordersError
		if errors.As(err, &oe) && outer.Err() == nil {
			ctx := context.WithoutCancel(outer)
			for i, o := range oe.orders {
				o.Attempt = rt.cfg.MaxRetries + 1
				if ferr := rt.rec.recordFailure(ctx, o, oe.errs[i]); ferr != nil {
					rt.log.Error("propagation: record final failure", "rule", o.RuleID, "identity", o.IdentityID, "err", ferr)
				}
			}
		}
		return out, err
	}
}

// handleIdentity runs one identity change through every rule of its environment's published
// revision.
func (rt *Runtime) handleIdentity(msg *message.Message) error {
	c, pos, err := DecodeChange(msg.Payload)
	if err != nil {
		rt.log.Error("propagation: malformed message", "uuid", msg.UUID, "err", err)
		return fmt.Errorf("%w: %w", errBadMessage, err)
	}
	rt.handled.Add(1)
	ctx := msg.Context()
	if err := rt.waitDirectory(ctx, pos); err != nil {
		return &ordersError{orders: nil, errs: []error{err}}
	}
	rev, ok := rt.revisions().Published(c.Env)
	if !ok {
		return nil
	}
	corr := middleware.MessageCorrelationID(msg)
	oe := &ordersError{}
	for _, rule := range rev.Content.Rules {
		base := Order{Env: c.Env, RuleID: rule.ID, Kind: c.Kind, IdentityID: c.IdentityID, Trigger: TriggerEvent, Cause: c.EventID,
			SourcePosition: pos, CorrelationID: corr, Revision: &rev}
		var orders []Order
		if c.Kind == domain.IdentityGroup {
			orders = rt.groupOrders(ctx, base, rule)
		} else {
			orders = []Order{base}
		}
		for _, o := range orders {
			tr, err := rt.rec.Reconcile(ctx, o)
			if err != nil {
				oe.orders, oe.errs = append(oe.orders, o), append(oe.errs, err)
				continue
			}
			if c.Kind == domain.IdentityUser && len(rule.GroupIDs) > 0 {
				rt.followGroups(ctx, base, rule, tr, oe)
			}
		}
	}
	if len(oe.orders) > 0 {
		return oe
	}
	if !c.CommittedAt.IsZero() {
		rt.rec.metrics.observe(rt.cfg.Now().Sub(c.CommittedAt))
	}
	return nil
}

// groupOrders returns the orders for the rule's selected groups a change of group base.IdentityID
// affects: the group itself, and the selected groups it is nested in.
func (rt *Runtime) groupOrders(ctx context.Context, base Order, rule domain.PropagationRule) []Order {
	var out []Order
	for _, gid := range rule.GroupIDs {
		affected := gid == base.IdentityID
		if !affected {
			gm, err := rt.cfg.Directory.GroupMembers(base.Env, gid, true)
			if err == nil {
				for _, g := range gm.Groups {
					if g.ID == base.IdentityID {
						affected = true
						break
					}
				}
			}
		}
		if affected {
			o := base
			o.IdentityID = gid
			o.Cause = base.Cause + "/" + base.IdentityID
			out = append(out, o)
		}
	}
	// A group the rule no longer selects, or deleted: its account (if any) is removed.
	if len(out) == 0 {
		if a, err := loadAccount(ctx, rt.cfg.Store, rt.cfg.Registry, rule.ID, base.IdentityID); err == nil && a.TargetID != "" {
			out = append(out, base)
		}
	}
	return out
}

// followGroups reconciles the selected groups a user's change may alter: those it belongs to,
// the dynamic ones (it may have left them by this change), and every selected group when its
// account appeared or went away.
func (rt *Runtime) followGroups(ctx context.Context, base Order, rule domain.PropagationRule, tr domain.ProvisionTrace, oe *ordersError) {
	member := map[string]bool{}
	if gs, err := rt.cfg.Directory.UserGroups(base.Env, base.IdentityID, true); err == nil {
		for _, g := range gs {
			member[g.ID] = true
		}
	}
	accountChanged := tr.Result == "applied" && tr.Operation != domain.OpNone && tr.Operation != domain.OpUpdate
	for _, gid := range rule.GroupIDs {
		if !member[gid] && !accountChanged && base.Trigger == TriggerEvent {
			// A dynamic group may have lost the user by this very change.
			if g, err := rt.cfg.Directory.Group(base.Env, gid); err != nil || g.Kind != domain.GroupDynamic {
				continue
			}
		}
		o := base
		o.Kind, o.IdentityID, o.Cause = domain.IdentityGroup, gid, base.Cause+"/"+base.IdentityID
		if _, err := rt.rec.Reconcile(ctx, o); err != nil {
			oe.orders, oe.errs = append(oe.orders, o), append(oe.errs, err)
		}
	}
}

// handleRevision resyncs what a published revision changed.
func (rt *Runtime) handleRevision(msg *message.Message) error {
	c, pos, err := DecodeChange(msg.Payload)
	if err != nil || c.Kind != KindRevision {
		rt.log.Error("propagation: malformed revision message", "uuid", msg.UUID, "err", err)
		return fmt.Errorf("%w: %v", errBadMessage, err)
	}
	ctx := msg.Context()
	if err := rt.revLog.WaitFor(ctx, pos); err != nil {
		return err
	}
	return rt.published(ctx, c.Env, c.IdentityID)
}
