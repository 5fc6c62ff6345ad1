package propagation

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

// idle starts a runtime that forwards nothing: the test sends the orders itself.
func (e *env) idle() *Runtime {
	rt := e.runtime(func(c *Config) { c.NoForward = true })
	e.t.Cleanup(func() { rt.Close() })
	if err := rt.catchUp(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	return rt
}

func (e *env) order(rt *Runtime, id, cause string) (domain.ProvisionTrace, error) {
	return e.orderBy(rt, id, cause, TriggerEvent)
}

func (e *env) orderBy(rt *Runtime, id, cause, trigger string) (domain.ProvisionTrace, error) {
	if err := rt.catchUp(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	return rt.rec.Reconcile(e.ctx, Order{Env: e.envID, RuleID: "r1", Kind: domain.IdentityUser, IdentityID: id, Trigger: trigger,
		Cause: cause, Attempt: 1})
}

func (e *env) seed(attrs map[string]any) string {
	e.target.mu.Lock()
	defer e.target.mu.Unlock()
	return e.target.insert(connectors.KindUser, attrs).ID
}

func lastOutcome(t *testing.T, out []any) any {
	t.Helper()
	if len(out) == 0 {
		t.Fatalf("no outcome recorded")
	}
	return out[len(out)-1]
}

// TestReconcileDecisions: given the target's accounts, idstream's record, the user and the
// store's actions, the reconciler takes the expected operation and records it.
func TestReconcileDecisions(t *testing.T) {
	type tc struct {
		name    string
		actions domain.StoreActions
		filter  string
		prep    func(e *env, rt *Runtime, id string) // before the order under test
		op      domain.ChangeOperation
		result  string
		records int // outcomes appended by the order under test
		check   func(t *testing.T, e *env, tr domain.ProvisionTrace)
		// trigger of the order under test (default: an identity event, which trusts idstream's
		// record of the account; a resync compares with the store)
		trigger string
		// policy is the rule's drift policy (default REPORT)
		policy domain.DriftPolicy
	}
	disable := func(e *env, id string) {
		if _, err := e.cmds.DisableUser.Handle(e.ctx, commands.DisableUser{EnvironmentID: e.envID, UserID: id}); err != nil {
			e.t.Fatal(err)
		}
	}
	provision := func(e *env, rt *Runtime, id string) {
		if tr, err := e.order(rt, id, "first"); err != nil || tr.Operation != domain.OpCreate {
			e.t.Fatalf("first order: %+v, %v", tr, err)
		}
	}
	cases := []tc{
		{name: "new identity creates", actions: allActions(), op: domain.OpCreate, result: "applied", records: 1},
		{name: "an existing account is linked, not duplicated", actions: allActions(),
			prep: func(e *env, _ *Runtime, _ string) { e.seed(map[string]any{"userName": "BOB", "active": true}) },
			op:   domain.OpLink, result: "applied", records: 1,
			check: func(t *testing.T, e *env, tr domain.ProvisionTrace) {
				if n := len(e.target.users()); n != 1 {
					t.Errorf("%d accounts in the target", n)
				}
			}},
		{name: "two matching accounts are disputed", actions: allActions(),
			prep: func(e *env, _ *Runtime, _ string) {
				e.seed(map[string]any{"userName": "bob"})
				e.seed(map[string]any{"userName": "Bob"})
			},
			op: domain.OpNone, result: "disputed", records: 1,
			check: func(t *testing.T, e *env, tr domain.ProvisionTrace) {
				if e.target.writes.Load() != 2 {
					t.Errorf("a disputed order wrote to the target")
				}
			}},
		{name: "create not allowed is skipped", actions: domain.StoreActions{Update: true}, op: domain.OpNone, result: "skipped", records: 1},
		{name: "out of scope without an account does nothing", actions: allActions(), filter: `title eq "staff"`,
			op: domain.OpNone, result: "skipped", records: 0},
		{name: "a disabled user is not provisioned", actions: allActions(),
			prep: func(e *env, _ *Runtime, id string) { disable(e, id) }, op: domain.OpNone, result: "skipped", records: 0},
		{name: "a disabled user is provisioned disabled when allowed",
			actions: domain.StoreActions{Create: true, Update: true, ProvisionDisabled: true},
			prep:    func(e *env, _ *Runtime, id string) { disable(e, id) }, op: domain.OpCreate, result: "applied", records: 1,
			check: func(t *testing.T, e *env, tr domain.ProvisionTrace) {
				if u := e.target.users()["bob"]; u["active"] != false {
					t.Errorf("bob = %v", u)
				}
			}},
		{name: "disabling with the DISABLE remove action deactivates",
			actions: domain.StoreActions{Create: true, Update: true, Disable: true, RemoveAction: domain.RemoveDisable},
			prep: func(e *env, rt *Runtime, id string) {
				provision(e, rt, id)
				disable(e, id)
			},
			op: domain.OpDisable, result: "applied", records: 1,
			check: func(t *testing.T, e *env, tr domain.ProvisionTrace) {
				if u := e.target.users()["bob"]; u == nil || u["active"] != false {
					t.Errorf("bob = %v", u)
				}
			}},
		{name: "a linked (not created) account is never deleted: disabled instead",
			actions: allActions(),
			prep: func(e *env, rt *Runtime, id string) {
				e.seed(map[string]any{"userName": "bob", "active": true})
				if tr, err := e.order(rt, id, "first"); err != nil || tr.Operation != domain.OpLink {
					e.t.Fatalf("first order: %+v, %v", tr, err)
				}
				disable(e, id)
			},
			op: domain.OpDisable, result: "applied", records: 1},
		{name: "remove not allowed is skipped", actions: domain.StoreActions{Create: true, Update: true},
			prep: func(e *env, rt *Runtime, id string) {
				provision(e, rt, id)
				disable(e, id)
			},
			op: domain.OpNone, result: "skipped", records: 1},
		{name: "an account deleted out of band is reported, not recreated, by a resync under REPORT", actions: allActions(), trigger: TriggerResync,
			prep: func(e *env, rt *Runtime, id string) {
				provision(e, rt, id)
				for tid := range e.target.res[connectors.KindUser] {
					memConn{s: e.target}.Delete(e.ctx, connectors.KindUser, tid)
				}
			},
			op: domain.OpNone, result: "skipped", records: 1,
			check: func(t *testing.T, e *env, tr domain.ProvisionTrace) {
				if n := len(e.target.users()); n != 0 {
					t.Errorf("%d accounts in the target", n)
				}
			}},
		{name: "a drifted attribute is reported and left by a resync under REPORT", actions: allActions(), trigger: TriggerResync,
			prep: func(e *env, rt *Runtime, id string) {
				provision(e, rt, id)
				for tid := range e.target.res[connectors.KindUser] {
					memConn{s: e.target}.Update(e.ctx, connectors.KindUser, tid, []connectors.Change{{Path: "displayName", Value: "x"}})
				}
			},
			op: domain.OpNone, result: "applied", records: 1,
			check: func(t *testing.T, e *env, tr domain.ProvisionTrace) {
				if got := e.target.users()["bob"]["displayName"]; got != "x" {
					t.Errorf("displayName = %v", got)
				}
			}},
		{name: "an account deleted out of band is recreated by a resync", actions: allActions(), trigger: TriggerResync, policy: domain.DriftOverwrite,
			prep: func(e *env, rt *Runtime, id string) {
				provision(e, rt, id)
				for tid := range e.target.res[connectors.KindUser] {
					memConn{s: e.target}.Delete(e.ctx, connectors.KindUser, tid)
				}
			},
			op: domain.OpCreate, result: "applied", records: 2}, // drift_detected and the create
		{name: "a drifted attribute is written back by a resync", actions: allActions(), trigger: TriggerResync, policy: domain.DriftOverwrite,
			prep: func(e *env, rt *Runtime, id string) {
				provision(e, rt, id)
				for tid := range e.target.res[connectors.KindUser] {
					memConn{s: e.target}.Update(e.ctx, connectors.KindUser, tid, []connectors.Change{{Path: "displayName", Value: "x"}})
				}
			},
			op: domain.OpUpdate, result: "applied", records: 2,
			check: func(t *testing.T, e *env, tr domain.ProvisionTrace) {
				if len(tr.Diff) != 1 || tr.Diff[0].Path != "displayName" || tr.Diff[0].Current != `"x"` {
					t.Errorf("diff = %+v", tr.Diff)
				}
			}},
		{name: "an event writes what differs from idstream's record, without reading the account", actions: allActions(),
			prep: func(e *env, rt *Runtime, id string) {
				provision(e, rt, id)
				for tid := range e.target.res[connectors.KindUser] { // drift the event path does not look at
					memConn{s: e.target}.Update(e.ctx, connectors.KindUser, tid, []connectors.Change{{Path: "displayName", Value: "x"}})
				}
				if _, err := e.cmds.UpdateUser.Handle(e.ctx, commands.UpdateUser{EnvironmentID: e.envID, UserID: id,
					Profile: domain.Profile{Username: "bob", Email: "bob@example.com", Name: domain.Name{Given: "Robert"}}}); err != nil {
					e.t.Fatal(err)
				}
			},
			op: domain.OpUpdate, result: "applied", records: 1,
			check: func(t *testing.T, e *env, tr domain.ProvisionTrace) {
				if !slices.ContainsFunc(tr.Steps, func(s domain.TraceStep) bool { return strings.Contains(s.Detail, "idstream's record") }) {
					t.Errorf("steps %+v: the record was not used", tr.Steps)
				}
				for _, u := range e.target.users() {
					if u["name"].(map[string]any)["givenName"] != "Robert" {
						t.Errorf("target %+v: givenName not written", u)
					}
				}
			}},
		{name: "an event for an account deleted out of band recreates it", actions: allActions(), policy: domain.DriftOverwrite,
			prep: func(e *env, rt *Runtime, id string) {
				provision(e, rt, id)
				for tid := range e.target.res[connectors.KindUser] {
					memConn{s: e.target}.Delete(e.ctx, connectors.KindUser, tid)
				}
				if _, err := e.cmds.UpdateUser.Handle(e.ctx, commands.UpdateUser{EnvironmentID: e.envID, UserID: id,
					Profile: domain.Profile{Username: "bob", Email: "bob@example.com", Name: domain.Name{Given: "Robert"}}}); err != nil {
					e.t.Fatal(err)
				}
			},
			op: domain.OpCreate, result: "applied", records: 2},
		{name: "converged writes and records nothing", actions: allActions(),
			prep: func(e *env, rt *Runtime, id string) { provision(e, rt, id) },
			op:   domain.OpNone, result: "applied", records: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			content := e.content(c.filter, c.actions)
			content.Rules[0].DriftPolicy = c.policy
			e.publish(content)
			rt := e.idle()
			id, _ := e.user("bob", "Bob", nil)
			if c.prep != nil {
				c.prep(e, rt, id)
			}
			before := len(e.outcomes("r1", id))
			trigger := c.trigger
			if trigger == "" {
				trigger = TriggerEvent
			}
			tr, err := e.orderBy(rt, id, "under-test", trigger)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Operation != c.op || tr.Result != c.result {
				t.Errorf("operation %s result %s, want %s %s; steps %+v", tr.Operation, tr.Result, c.op, c.result, tr.Steps)
			}
			if got := len(e.outcomes("r1", id)) - before; got != c.records {
				t.Errorf("%d outcomes recorded, want %d: %#v", got, c.records, e.outcomes("r1", id))
			}
			if c.check != nil {
				c.check(t, e, tr)
			}
		})
	}
}

// TestRedeliveryAndOrder: the same order twice creates once and records once; an older order
// delivered after a newer one leaves the target at the newest state.
func TestRedeliveryAndOrder(t *testing.T) {
	e := newEnv(t)
	e.publish(e.content("", allActions()))
	rt := e.idle()
	id, _ := e.user("carol", "Carol", nil)
	for range 2 {
		if _, err := e.order(rt, id, "ev-1"); err != nil {
			t.Fatal(err)
		}
	}
	if w := e.target.writes.Load(); w != 1 {
		t.Errorf("%d writes for one order delivered twice", w)
	}
	if n := len(e.outcomes("r1", id)); n != 1 {
		t.Errorf("%d outcomes for one order delivered twice", n)
	}
	// Two updates; their orders arrive newest first.
	for _, given := range []string{"C2", "C3"} {
		if _, err := e.cmds.UpdateUser.Handle(e.ctx, commands.UpdateUser{EnvironmentID: e.envID, UserID: id,
			Profile: domain.Profile{Username: "carol", Email: "carol@example.com", Name: domain.Name{Given: given}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.order(rt, id, "ev-3"); err != nil {
		t.Fatal(err)
	}
	tr, err := e.order(rt, id, "ev-2")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Operation != domain.OpNone {
		t.Errorf("the older order did %s", tr.Operation)
	}
	if g := e.target.users()["carol"]["name"].(map[string]any)["givenName"]; g != "C3" {
		t.Errorf("givenName = %v, want C3", g)
	}
}

// TestFailureClasses: a transient failure is returned (to be retried) and records nothing; a
// permanent one records one final change_failed and is not returned.
func TestFailureClasses(t *testing.T) {
	e := newEnv(t)
	e.publish(e.content("", allActions()))
	rt := e.idle()
	id, _ := e.user("dave", "Dave", nil)
	e.target.setFail(func(op string) error {
		return &connectors.Error{Class: connectors.ClassUnavailable, Op: op, Err: fmt.Errorf("connection refused")}
	})
	if _, err := e.order(rt, id, "ev-1"); err == nil || !connectors.Transient(err) {
		t.Fatalf("transient failure: err %v", err)
	}
	if n := len(e.outcomes("r1", id)); n != 0 {
		t.Errorf("a transient failure recorded %d outcomes", n)
	}
	e.target.setFail(func(op string) error {
		if op == "create" {
			return &connectors.Error{Class: connectors.ClassInvalid, Op: op, Status: 400, Err: fmt.Errorf("bad userName")}
		}
		return nil
	})
	tr, err := e.order(rt, id, "ev-1")
	if err != nil {
		t.Fatalf("permanent failure returned %v", err)
	}
	if tr.Result != "failed" || !strings.Contains(tr.Error, "bad userName") {
		t.Errorf("trace %+v", tr)
	}
	f, ok := lastOutcome(t, e.outcomes("r1", id)).(domain.PropagationChangeFailed)
	if !ok || !f.Final || f.Class != "INVALID" {
		t.Errorf("outcome %#v", f)
	}
}

// TestPoisonQueue: an order that keeps failing transiently is retried MaxRetries times, then
// records a final change_failed and lands on the poison topic.
func TestPoisonQueue(t *testing.T) {
	e := newEnv(t)
	e.publish(e.content("", allActions()))
	var calls atomic.Int64
	e.target.setFail(func(op string) error {
		calls.Add(1)
		return &connectors.Error{Class: connectors.ClassUnavailable, Op: op, Status: 503}
	})
	rt := e.runtime(nil)
	defer rt.Close()
	e.settle(rt) // the revision's resync (of nobody) is done before the user exists
	poisoned, err := rt.bus.Subscriber.Subscribe(e.ctx, rt.topics.Poison())
	if err != nil {
		t.Fatal(err)
	}
	id, _ := e.user("erin", "Erin", nil)
	select {
	case msg := <-poisoned:
		msg.Ack()
		c, _, err := DecodeChange(msg.Payload)
		if err != nil || c.IdentityID != id {
			t.Errorf("poisoned %+v, %v", c, err)
		}
	case <-e.ctx.Done():
		t.Fatal("no poisoned message")
	}
	e.settle(rt)
	f, ok := lastOutcome(t, e.outcomes("r1", id)).(domain.PropagationChangeFailed)
	if !ok || !f.Final || f.Class != "UNAVAILABLE" || f.Attempt != 4 {
		t.Errorf("outcome %#v", f)
	}
	if n := calls.Load(); n != 4 {
		t.Errorf("%d attempts, want 1 + 3 retries", n)
	}
}

// TestMalformedMessagePoisoned: a payload that is not a change is poisoned at once (no retry),
// and the runtime goes on.
func TestMalformedMessagePoisoned(t *testing.T) {
	e := newEnv(t)
	e.publish(e.content("", allActions()))
	rt := e.runtime(nil)
	defer rt.Close()
	poisoned, err := rt.bus.Subscriber.Subscribe(e.ctx, rt.topics.Poison())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- rt.bus.Publisher.Publish(rt.topics.Shard(0), message.NewMessage("bad-1", []byte(`{"kind":"ROBOT"}`)))
	}()
	select {
	case msg := <-poisoned:
		msg.Ack()
		if msg.UUID != "bad-1" || msg.Metadata.Get(middleware.ReasonForPoisonedKey) == "" {
			t.Errorf("poisoned %s %v", msg.UUID, msg.Metadata)
		}
	case <-e.ctx.Done():
		t.Fatal("not poisoned")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e.user("after", "A", nil)
	e.settle(rt)
	if e.target.users()["after"] == nil {
		t.Errorf("the runtime stopped after a malformed message")
	}
}

// TestCloseWithoutStart: a runtime built but never started closes.
func TestCloseWithoutStart(t *testing.T) {
	e := newEnv(t)
	rt, err := New(Config{Store: e.store, Registry: e.reg, Directory: e.read, Factories: e.factories(), Checkpoints: FileCheckpoints{Dir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("an empty config: %v", err)
	}
}
