package propagation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/scim"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// fastProbes makes health probes quick for tests.
func fastProbes(c *Config) {
	c.ProbeInterval, c.ProbeMax = 20*time.Millisecond, 200*time.Millisecond
}

// startKillable starts a runtime whose context the test cancels to simulate a kill: nothing
// is closed or flushed, the runtime is abandoned.
func (e *env) startKillable(mod func(*Config)) (*Runtime, func()) {
	e.t.Helper()
	cfg := Config{Store: e.store, Registry: e.reg, Directory: e.read, Runner: e.runner, Factories: e.factories(),
		Checkpoints: FileCheckpoints{Dir: e.dir + "/data"}, Logger: testLogger(), Workers: 2, RetryInitial: time.Millisecond,
		RetryMax: 20 * time.Millisecond, MaxRetries: 3, Timeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	rt, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	if err := rt.Start(ctx); err != nil {
		e.t.Fatal(err)
	}
	return rt, func() {
		cancel()
		// Its probers and drains stop with the context; wait for them so that the abandoned
		// runtime cannot drain for the next one.
		rt.availWG.Wait()
	}
}

// events returns the decoded events of a stream.
func (e *env) events(stream string) []any {
	e.t.Helper()
	var out []any
	for ev, err := range e.store.ReadStream(e.ctx, stream, eventstore.ReadStreamOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			e.t.Fatal(err)
		}
		p, err := e.reg.Decode(ev)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// eventually polls cond until it holds; the bound only keeps a broken test from hanging.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countOf[T any](evs []any) int {
	n := 0
	for _, e := range evs {
		if _, ok := e.(T); ok {
			n++
		}
	}
	return n
}

// TestSCIMOutageBacklog: the SCIM server stops under a stream of changes. The store is marked
// unavailable with the probe's reason, orders are deferred to the rule's backlog, a runtime
// killed meanwhile is replaced by one that resumes probing; the server back on the same port,
// the backlog drains and the target converges exactly: every user once, with its latest
// attributes; on-demand orders meanwhile answer a clear error.
func TestSCIMOutageBacklog(t *testing.T) {
	s := newSCIMEnv(t)
	s.publish(s.content("", allActions()))
	mod := func(c *Config) { s.scimConfig(c); fastProbes(c) }
	rt, kill := s.startKillable(mod)
	s.srv.Stop()

	var ids []string
	for i := range 20 {
		id, _ := s.user(fmt.Sprintf("out%02d", i), fmt.Sprintf("Given%02d", i), nil)
		ids = append(ids, id)
		if i == 9 {
			s.settle(rt)
			kill() // abandoned mid-stream, no Close
			rt, kill = s.startKillable(mod)
		}
	}
	// Changes to identities already deferred: the drain runs each identity once, latest state.
	for _, i := range []int{2, 12} {
		if _, err := s.cmds.UpdateUser.Handle(s.ctx, commands.UpdateUser{EnvironmentID: s.envID, UserID: ids[i],
			Profile: domain.Profile{Username: fmt.Sprintf("out%02d", i), Email: fmt.Sprintf("out%02d@example.com", i), Name: domain.Name{Given: "Later"}}}); err != nil {
			t.Fatal(err)
		}
	}
	s.settle(rt)

	st := s.events(StoreStream("s-scim"))
	if n := countOf[domain.PropagationStoreUnavailable](st); n != 1 {
		t.Fatalf("%d store_unavailable events, want 1: %#v", n, st)
	}
	down := st[0].(domain.PropagationStoreUnavailable)
	if down.Class != string(connectors.ClassUnavailable) || down.Reason == "" || down.Since.IsZero() {
		t.Errorf("store_unavailable = %+v", down)
	}
	if a := rt.Availability("s-scim"); a.Mode != "UNAVAILABLE" || a.Class != down.Class {
		t.Errorf("the new runtime sees the store %+v", a)
	}
	backlog := s.events(RuleStream("r1"))
	if n := countOf[domain.PropagationChangeDeferred](backlog); n < 22 {
		t.Errorf("%d orders deferred, want at least 22 (20 creates, 2 updates)", n)
	}
	for _, id := range ids {
		for _, o := range s.outcomes("r1", id) {
			if f, ok := o.(domain.PropagationChangeFailed); ok && f.Final {
				t.Errorf("user %s has a final failure while the store was down: %+v", id, f)
			}
		}
	}
	if _, err := rt.ProvisionUserNow(s.ctx, s.envID, "r1", ids[0]); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("on-demand while down: %v, want ErrUnavailable", err)
	}
	status, err := projections.NewPropagationStatus(s.store, s.reg, projections.StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := status.Start(s.ctx); err != nil {
		t.Fatal(err)
	}
	if err := status.CatchUp(s.ctx); err != nil {
		t.Fatal(err)
	}
	if ss, err := status.Store(s.envID, "s-scim"); err != nil || ss.State != projections.StoreStateUnavailable || ss.Unavailable == nil ||
		ss.Unavailable.Class != down.Class || ss.Unavailable.Reason != down.Reason || ss.Backlog < 22 {
		t.Errorf("store status while down = %+v (%v)", ss, err)
	}
	if rs, err := status.Rule(s.envID, "r1"); err != nil || !rs.Paused || rs.PausedReason == "" || rs.Backlog < 22 {
		t.Errorf("rule status while down = %+v (%v)", rs, err)
	}

	s.srv.Start() // same port, empty
	eventually(t, "the store is up again", func() bool { return rt.Availability("s-scim").Mode == "UP" })
	defer rt.Close()

	users := listAll(t, s.client(), connectors.KindUser, "userName")
	if len(users) != 20 {
		t.Fatalf("%d users in the target, want 20", len(users))
	}
	for i, id := range ids {
		want := fmt.Sprintf("Given%02d", i)
		if i == 2 || i == 12 {
			want = "Later"
		}
		u := users[fmt.Sprintf("out%02d", i)]
		if g := u["name"].(map[string]any)["givenName"]; g != want {
			t.Errorf("out%02d givenName = %v, want %s", i, g, want)
		}
		creates := 0
		for _, o := range s.outcomes("r1", id) {
			if a, ok := o.(domain.PropagationChangeApplied); ok && a.Operation == domain.OpCreate {
				creates++
			}
		}
		if creates != 1 {
			t.Errorf("user %s: %d CREATE outcomes", id, creates)
		}
	}
	backlog = s.events(RuleStream("r1"))
	last, ok := backlog[len(backlog)-1].(domain.PropagationBacklogDrained)
	if !ok || last.Orders != 20 || last.Failed != 0 {
		t.Errorf("the backlog's last event is %#v, want backlog_drained of 20 orders", backlog[len(backlog)-1])
	}
	if n := countOf[domain.PropagationStoreAvailable](s.events(StoreStream("s-scim"))); n != 1 {
		t.Errorf("%d store_available events, want 1", n)
	}
	if err := status.CatchUp(s.ctx); err != nil {
		t.Fatal(err)
	}
	if ss, _ := status.Store(s.envID, "s-scim"); ss.State != projections.StoreStateActive || ss.Unavailable != nil || ss.Backlog != 0 {
		t.Errorf("store status after the drain = %+v", ss)
	}
	if rs, _ := status.Rule(s.envID, "r1"); rs.Paused || rs.Backlog != 0 {
		t.Errorf("rule status after the drain = %+v", rs)
	}
	// Up again: a change goes straight through.
	id, _ := s.user("after", "After", nil)
	s.settle(rt)
	if _, ok := listAll(t, s.client(), connectors.KindUser, "userName")["after"]; !ok {
		t.Errorf("a change after the drain did not reach the target")
	}
	if n := countOf[domain.PropagationChangeApplied](s.outcomes("r1", id)); n != 1 {
		t.Errorf("user after: %d applied outcomes", n)
	}
}

// TestSCIMAuthUnavailable: the store refuses the credentials: unavailable with class AUTH, the
// order deferred (not failed for good); a revision with new credentials is probed and the
// backlog drains.
func TestSCIMAuthUnavailable(t *testing.T) {
	s := newSCIMEnv(t)
	c := s.content("", allActions())
	c.Stores[1].Credentials = "sealed-wrong"
	s.publish(c)
	rt := s.runtime(func(cfg *Config) {
		fastProbes(cfg)
		cfg.Factories = scim.Factories()
		cfg.OpenCredentials = func(st domain.PropagationStore) (map[string]string, error) {
			if st.Credentials == "sealed-wrong" {
				return map[string]string{scim.CredToken: "not-the-token"}, nil
			}
			return map[string]string{scim.CredToken: s.srv.Token}, nil
		}
	})
	defer rt.Close()
	id, _ := s.user("authuser", "A", nil)
	s.settle(rt)
	st := s.events(StoreStream("s-scim"))
	if len(st) != 1 {
		t.Fatalf("store events %#v, want one store_unavailable", st)
	}
	if d := st[0].(domain.PropagationStoreUnavailable); d.Class != string(connectors.ClassAuth) || d.Reason == "" ||
		strings.Contains(d.Reason, "not-the-token") || strings.Contains(d.Reason, s.srv.Token) {
		t.Errorf("store_unavailable = %+v, want class AUTH with a reason and no token", d)
	}
	if n := countOf[domain.PropagationChangeFailed](s.outcomes("r1", id)); n != 0 {
		t.Errorf("the refused order was recorded as failed %d times", n)
	}
	// The user's event, and maybe the publication's resync if it reached the user: both deferred.
	deferred := 0
	for _, ev := range s.events(RuleStream("r1")) {
		if d, ok := ev.(domain.PropagationChangeDeferred); ok && d.IdentityID == id {
			deferred++
		}
	}
	if deferred == 0 {
		t.Errorf("the refused order was not deferred")
	}
	c.Stores[1].Credentials = "sealed-token"
	s.publish(c)
	eventually(t, "the store is up again", func() bool { return rt.Availability("s-scim").Mode == "UP" })
	s.settle(rt)
	if _, ok := listAll(t, s.client(), connectors.KindUser, "userName")["authuser"]; !ok {
		t.Errorf("the deferred user never reached the target")
	}
}

// TestSCIMRestartMidDrain: a process recorded store_available and drained part of the backlog,
// then died. The next runtime drains the rest from the last backlog_drained at Start, with no
// probe failure needed.
func TestSCIMRestartMidDrain(t *testing.T) {
	s := newSCIMEnv(t)
	s.publish(s.content("", allActions()))
	mod := func(c *Config) { s.scimConfig(c); fastProbes(c) }
	rt, kill := s.startKillable(mod)
	s.srv.Stop()
	var ids []string
	for i := range 6 {
		id, _ := s.user(fmt.Sprintf("mid%d", i), "M", nil)
		ids = append(ids, id)
	}
	s.settle(rt)
	kill()
	// What the dead process wrote: the store back, and the backlog drained through its third
	// deferral (deferrals are in the order the shards handled them, not of the creations).
	var through uint64
	lastDeferral := map[string]uint64{}
	n := 0
	for ev, err := range s.store.ReadStream(s.ctx, RuleStream("r1"), eventstore.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.reg.Decode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := p.(domain.PropagationChangeDeferred); ok {
			if n++; n == 3 {
				through = ev.Revision
			}
			lastDeferral[d.IdentityID] = ev.Revision
		}
	}
	if n < 6 {
		t.Fatalf("%d deferrals, want at least 6", n)
	}
	appendEv := func(stream string, p any) {
		ev, err := s.reg.Encode(uuidFor(stream, p), p, eventstore.Metadata{EnvironmentID: s.envID, Actor: Actor, OccurredAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.store.Append(s.ctx, stream, eventstore.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	appendEv(StoreStream("s-scim"), domain.PropagationStoreAvailable{EnvironmentID: s.envID, StoreID: "s-scim", Since: time.Now()})
	appendEv(RuleStream("r1"), domain.PropagationBacklogDrained{EnvironmentID: s.envID, RuleID: "r1", StoreID: "s-scim", Through: through, Orders: 3})
	s.srv.Start()

	rt = s.runtime(mod)
	defer rt.Close()
	eventually(t, "the backlog drained", func() bool { return rt.Availability("s-scim").Mode == "UP" })
	users := listAll(t, s.client(), connectors.KindUser, "userName")
	for i, id := range ids {
		_, ok := users[fmt.Sprintf("mid%d", i)]
		if want := lastDeferral[id] > through; ok != want {
			t.Errorf("mid%d in the target: %v, want %v (its last deferral at %d, drained through %d before the restart)",
				i, ok, want, lastDeferral[id], through)
		}
	}
	if n := countOf[domain.PropagationStoreUnavailable](s.events(StoreStream("s-scim"))); n != 1 {
		t.Errorf("%d store_unavailable, want 1", n)
	}
}

func uuidFor(stream string, p any) uuid.UUID {
	return uuid.NewSHA1(namespace(), []byte(fmt.Sprintf("test|%s|%#v", stream, p)))
}

// TestSCIMTransientNotOutage: a 503 the probe does not confirm takes the normal retry path, and
// 429s are rate limiting, not unavailability: no store_unavailable, nothing deferred.
func TestSCIMTransientNotOutage(t *testing.T) {
	s := newSCIMEnv(t)
	s.publish(s.content("", allActions()))
	rt := s.runtime(func(c *Config) { s.scimConfig(c); fastProbes(c); c.RetryMax = 2 * time.Second })
	defer rt.Close()
	s.srv.Fault(503, 1, "")
	a, _ := s.user("flaky", "F", nil)
	s.settle(rt)
	s.srv.Fault(429, 2, "1")
	b, _ := s.user("limited", "L", nil)
	s.settle(rt)
	users := listAll(t, s.client(), connectors.KindUser, "userName")
	for _, name := range []string{"flaky", "limited"} {
		if _, ok := users[name]; !ok {
			t.Errorf("%s never reached the target", name)
		}
	}
	if st := s.events(StoreStream("s-scim")); len(st) != 0 {
		t.Errorf("store events %#v, want none", st)
	}
	if bl := s.events(RuleStream("r1")); len(bl) != 0 {
		t.Errorf("backlog events %#v, want none", bl)
	}
	for _, id := range []string{a, b} {
		if n := countOf[domain.PropagationChangeApplied](s.outcomes("r1", id)); n != 1 {
			t.Errorf("user %s: %d applied outcomes", id, n)
		}
	}
}
