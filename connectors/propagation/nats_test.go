package propagation

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/idstream/idstream/domain"
)

const natsURL = "nats://127.0.0.1:4222"

// requireNATS skips (fails under CI=true) when no NATS JetStream server answers, and returns a
// fresh namespace whose stream is deleted at the end of the test.
func requireNATS(t *testing.T) string {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.Timeout(2*time.Second))
	if err == nil {
		_, err = nc.JetStream()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NATS at %s: %v (CI=true: NATS is required)", natsURL, err)
		}
		t.Skipf("SKIPPING: no NATS JetStream at %s: %v", natsURL, err)
	}
	ns := "idstest" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	t.Cleanup(func() {
		if js, err := nc.JetStream(); err == nil {
			_ = js.DeleteStream(NewTopics(ns).natsStream())
		}
		nc.Close()
	})
	return ns
}

// TestNATSWorkersShareTheWork: two runtimes on one NATS JetStream bus (one forwarding, both
// handling in the queue group) propagate every user exactly once; a worker closed and
// restarted mid-stream loses nothing.
func TestNATSWorkersShareTheWork(t *testing.T) {
	ns := requireNATS(t)
	e := newEnv(t)
	e.publish(e.content("", allActions()))
	nsConfig := func(forward bool) func(*Config) {
		return func(c *Config) {
			c.BusURL, c.Namespace, c.NoForward = natsURL, ns, !forward
			c.Workers, c.Shards = 2, 4
		}
	}
	a := e.runtime(nsConfig(true))
	b := e.runtime(nsConfig(false))
	var ids []string
	for i := range 30 {
		id, _ := e.user(fmt.Sprintf("n%02d", i), "N", nil)
		ids = append(ids, id)
		if i == 15 {
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			b = e.runtime(nsConfig(false))
		}
	}
	defer a.Close()
	defer func() { b.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for len(e.target.users()) < 30 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling the target with a deadline (an e2e wait)
	}
	if n := len(e.target.users()); n != 30 {
		t.Fatalf("%d users in the target, want 30", n)
	}
	e.settle(a)
	for _, id := range ids {
		// One account each: created, or — when the closed worker created it and stopped
		// before recording it — created by it and linked by the next delivery (its create is
		// answered 409, the account found by userName). Never two.
		provisioned := 0
		for _, o := range e.outcomes("r1", id) {
			if x, ok := o.(domain.PropagationChangeApplied); ok && (x.Operation == domain.OpCreate || x.Operation == domain.OpLink) {
				provisioned++
			}
		}
		if provisioned != 1 {
			t.Errorf("user %s: %d CREATE or LINK outcomes, want 1", id, provisioned)
		}
	}
	handledB := b.Handled()
	for _, rt := range []*Runtime{a, b} {
		if err := rt.Err(); err != nil {
			t.Errorf("runtime: %v", err)
		}
	}
	t.Logf("messages handled: forwarding worker %d, other worker (second instance) %d", a.Handled(), handledB)
	if w := e.target.writes.Load(); w != 30 {
		t.Errorf("%d writes, want 30", w)
	}
}
