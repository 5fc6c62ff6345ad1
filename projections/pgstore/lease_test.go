package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
	"github.com/idstream/idstream/projections"
	"github.com/idstream/idstream/projections/pgstore"
)

func openLog(t testing.TB) (*embedded.Store, *eventstore.Registry) {
	t.Helper()
	es, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { es.Close() })
	reg, err := projections.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	return es, reg
}

func appendPayloads(t testing.TB, s eventstore.Store, reg *eventstore.Registry, stream, env string, payloads ...any) eventstore.Position {
	t.Helper()
	events := make([]eventstore.EventData, len(payloads))
	for i, p := range payloads {
		ev, err := reg.Encode(uuid.Must(uuid.NewV7()), p, eventstore.Metadata{EnvironmentID: env, OccurredAt: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		events[i] = ev
	}
	res, err := s.Append(context.Background(), stream, eventstore.Any, events...)
	if err != nil {
		t.Fatal(err)
	}
	return res.Position
}

func openSchema(t testing.TB, schema string, log eventstore.Store) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), pgstore.Options{URL: testURL(), Schema: schema, Log: log, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func runProjector(t testing.TB, s *pgstore.Store, es eventstore.Store, reg *eventstore.Registry) (*pgstore.Projector, context.CancelFunc) {
	p := s.NewProjector(es, reg)
	p.RetryInterval = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return p, stop
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func userPayload(env string, n int) domain.UserCreated {
	return domain.UserCreated{EnvironmentID: env, UserID: fmt.Sprintf("01900000-0000-7000-8000-%012d", n), PopulationID: env + "-pop",
		Enabled: true, Profile: domain.Profile{Username: fmt.Sprintf("user%d", n)}}
}

// TestLeaseTakeover: two stores on one schema; A applies (after a bulk load of the history it
// found), B answers with read-your-writes; A's lock connection is terminated → B takes over
// and keeps applying; B stops → A takes over again.
func TestLeaseTakeover(t *testing.T) {
	base := openStore(t) // creates (and drops after) the schema
	es, reg := openLog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const env = "env-l"
	appendPayloads(t, es, reg, "population-"+env+"-pop", env, domain.PopulationCreated{EnvironmentID: env, PopulationID: env + "-pop", Name: "P"})
	appendPayloads(t, es, reg, "environment-"+env, env, domain.EnvironmentCreated{EnvironmentID: env, Name: "L", DefaultPopulationID: env + "-pop"})
	for i := range 50 {
		appendPayloads(t, es, reg, fmt.Sprintf("user-%d", i), env, userPayload(env, i))
	}
	a := openSchema(t, base.SchemaName(), es)
	b := openSchema(t, base.SchemaName(), es)
	pa, stopA := runProjector(t, a, es, reg)
	eventually(t, "A leads", pa.Leading)
	pb, stopB := runProjector(t, b, es, reg)
	time.Sleep(300 * time.Millisecond)
	if pb.Leading() {
		t.Fatal("B leads while A holds the lease")
	}
	if err := b.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := b.Populations(env); err != nil || p[0].UserCount != 50 {
		t.Fatalf("after the bulk load B reads %+v, %v", p, err)
	}
	// Read-your-writes across processes: A applies, B waits for the position and reads.
	pos := appendPayloads(t, es, reg, "user-100", env, userPayload(env, 100))
	if err := b.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	if _, err := b.User(env, userPayload(env, 100).UserID); err != nil {
		t.Fatalf("B after WaitFor: %v", err)
	}
	l, ok, err := b.Lease(ctx)
	if err != nil || !ok || !l.Held || l.PID == 0 || l.Host == "" {
		t.Fatalf("lease %+v %v %v", l, ok, err)
	}
	// Kill A's lock connection: B takes over and keeps applying.
	pid, err := b.LeaseBackendPID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := base.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B takes over", pb.Leading)
	eventually(t, "A steps down", func() bool { return !pa.Leading() })
	for i := 200; i < 210; i++ {
		pos = appendPayloads(t, es, reg, fmt.Sprintf("user-%d", i), env, userPayload(env, i))
	}
	for _, s := range []*pgstore.Store{a, b} {
		if err := s.WaitFor(ctx, pos); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Population(env, env+"-pop"); err != nil || p.UserCount != 61 {
			t.Fatalf("after the takeover: %+v, %v", p, err)
		}
	}
	// B stops (its connection closes): A takes over.
	stopB()
	eventually(t, "A takes over again", pa.Leading)
	pos = appendPayloads(t, es, reg, "user-300", env, domain.UserDeleted{EnvironmentID: env, UserID: userPayload(env, 0).UserID})
	if err := a.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	if _, err := a.User(env, userPayload(env, 0).UserID); err == nil {
		t.Fatal("a user deleted after the second takeover is still there")
	}
	if p, _ := a.Population(env, env+"-pop"); p.UserCount != 60 {
		t.Fatalf("user count %d after the second takeover", p.UserCount)
	}
	stopA()
}
