package propagation

import (
	"context"
	"fmt"
	"iter"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/connectors/scim/scimtest"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// BenchmarkPropagationLatency measures, for user creations committed at about 200 a second,
// the time from the source event's commit to the outcome event appended after the write to a
// local scimmy SCIM server (both the log's own commit times). b.N changes; run with
// -benchtime=2000x. Reports p50-ms, p99-ms and the rate reached.
func BenchmarkPropagationLatency(b *testing.B) {
	s := newSCIMEnv(b)
	s.publish(s.content("", allActions()))
	ct := &callTimes{}
	rt := s.runtime(func(c *Config) { s.scimConfig(c); c.Workers = benchWorkers; c.Factories = ct.wrap(c.Factories) })
	defer rt.Close()
	// Warm up the connector and the server.
	s.user("warmup", "W", nil)
	s.settle(rt)

	const rate = 200
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	positions := make([]eventstore.Position, b.N)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		<-tick.C // pacing the load, not waiting for state
		wg.Add(1)
		go func() { // a command takes longer than the interval: several in flight
			defer wg.Done()
			_, positions[i] = s.user(fmt.Sprintf("lat%06d", i), "L", nil)
		}()
	}
	wg.Wait()
	sent := time.Since(start)
	s.settle(rt)
	b.StopTimer()
	lat := s.latencies(positions)
	if len(lat) != b.N {
		b.Fatalf("%d outcomes for %d changes", len(lat), b.N)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(b.N)/sent.Seconds(), "changes/s")
	if n := ct.n.Load(); n > 0 {
		b.ReportMetric(float64(ct.create.Load())/float64(n)/1e6, "create-ms")
	}
	b.ReportMetric(0, "ns/op")
}

// latencies returns, for each source position, the outcome's commit time minus the source's.
func (e *env) latencies(positions []eventstore.Position) []time.Duration {
	want := map[string]bool{}
	for _, p := range positions {
		want[p.String()] = true
	}
	src := map[string]time.Time{}
	var out []time.Duration
	for ev, err := range e.store.ReadAll(e.ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			e.t.Fatal(err)
		}
		if want[ev.Position.String()] {
			src[ev.Position.String()] = ev.RecordedAt
		}
		if ev.Type != domain.EvPropChangeApplied {
			continue
		}
		p, err := e.reg.Decode(ev)
		if err != nil {
			e.t.Fatal(err)
		}
		a := p.(domain.PropagationChangeApplied)
		if t0, ok := src[a.SourcePosition]; ok && want[a.SourcePosition] {
			out = append(out, ev.RecordedAt.Sub(t0))
		}
	}
	return out
}

// BenchmarkResync measures a full resync of 10,000 users to a local scimmy SCIM server, in
// users per second, beside the server's own write rate measured in the same run with plain
// HTTP clients (scimtest.MeasureWriteRate). One iteration: run with -benchtime=1x.
func BenchmarkResync(b *testing.B) {
	const users = 10000
	s := newSCIMEnv(b)
	s.publish(s.content("", allActions()))
	importBenchUsers(b, s.env, users)
	ct := &callTimes{}
	rt := s.runtime(func(c *Config) {
		s.scimConfig(c)
		c.NoForward, c.Workers, c.Factories = true, 2*resyncWorkers, ct.wrap(c.Factories)
	})
	defer rt.Close()
	if err := rt.catchUp(s.ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := timeResyncs(b, s.env, rt, users, s.srv.Reset)
	b.ReportMetric(float64(users*b.N)/elapsed.Seconds(), "users/s")
	if n := ct.n.Load(); n > 0 {
		b.ReportMetric(float64(ct.create.Load())/float64(n)/1e6, "create-ms")
	}
	s.srv.Reset()
	own, err := scimtest.MeasureWriteRate(context.Background(), s.srv.URL, s.srv.Token, users, resyncWorkers)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(own, "target-writes/s")
	b.ReportMetric(0, "ns/op")
}

// importBenchUsers imports users users (rs000000…) into s's environment.
func importBenchUsers(b *testing.B, s *env, users int) {
	b.Helper()
	seq := func(yield func(commands.ImportUser) bool) {
		for i := range users {
			if !yield(commands.ImportUser{Profile: domain.Profile{Username: fmt.Sprintf("rs%06d", i), Email: fmt.Sprintf("rs%06d@example.com", i),
				Name: domain.Name{Given: "R"}}}) {
				return
			}
		}
	}
	res, err := s.cmds.ImportUsers.Handle(s.ctx, s.envID, iter.Seq[commands.ImportUser](seq), commands.ImportUsersOptions{})
	if err != nil || res.Created != users {
		b.Fatalf("import: %+v %v", res, err)
	}
}

// timeResyncs runs b.N resyncs of rule r1 of s's environment through rt, each after reset, and
// returns their total time; each must have created or updated every one of users.
func timeResyncs(b *testing.B, s *env, rt *Runtime, users int, reset func()) time.Duration {
	b.Helper()
	b.ResetTimer()
	var elapsed time.Duration
	for range b.N {
		reset()
		start := time.Now()
		id, err := rt.Resync(s.ctx, s.envID, "r1", TriggerResync)
		if err != nil {
			b.Fatal(err)
		}
		p, _ := rt.ResyncStatus(id)
		<-p.Done()
		elapsed += time.Since(start)
		counts, _, err := p.Snapshot()
		if err != nil || counts.Created+counts.Updated < users {
			b.Fatalf("resync %+v: %v", counts, err)
		}
	}
	b.StopTimer()
	return elapsed
}

// benchWorkers is the shard count of the latency benchmark.
const benchWorkers = 16

// resyncWorkers is the worker pool of the resync benchmark, and the concurrent clients of the
// target's own write rate.
const resyncWorkers = 16
