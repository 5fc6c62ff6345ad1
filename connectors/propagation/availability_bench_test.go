package propagation

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

// BenchmarkPropagationRecovery measures the recovery from an outage: the scimmy SCIM server
// stops, user creations are committed at about 200 a second for the outage
// (PROPAGATION_OUTAGE, a duration, default 5s; the figure is 60s), then the server
// starts again on the same port. Reported: the backlog's size, the time from the server's
// return to the store up again with its backlog drained (health probes at the defaults, 1s
// doubling to 10s, included), and the drain alone. Run with -benchtime=1x.
func BenchmarkPropagationRecovery(b *testing.B) {
	outage := 5 * time.Second
	if v := os.Getenv("PROPAGATION_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("PROPAGATION_OUTAGE: %v", err)
		}
		outage = d
	}
	for n := range b.N {
		s := newSCIMEnv(b)
		s.publish(s.content("", allActions()))
		rt := s.runtime(func(c *Config) { s.scimConfig(c); c.Workers = benchWorkers })
		s.user(fmt.Sprintf("warmup%d", n), "W", nil)
		s.settle(rt)
		s.srv.Stop()

		const rate = 200
		tick := time.NewTicker(time.Second / rate)
		var wg sync.WaitGroup
		count := 0
		start := time.Now()
		for time.Since(start) < outage {
			<-tick.C // pacing the load
			i := count
			count++
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.user(fmt.Sprintf("rec%d-%06d", n, i), "R", nil)
			}()
		}
		tick.Stop()
		wg.Wait()
		sent := time.Since(start)
		s.settle(rt)
		if a := rt.Availability("s-scim"); a.Mode != "UNAVAILABLE" {
			b.Fatalf("after the outage the store is %+v", a)
		}
		b.ResetTimer()
		back := time.Now()
		s.srv.Start()
		var drainStart time.Time
		for {
			a := rt.Availability("s-scim")
			if a.Mode == "DRAINING" && drainStart.IsZero() {
				drainStart = time.Now()
			}
			if a.Mode == "UP" {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		upAt := time.Now()
		b.StopTimer()
		if drainStart.IsZero() { // the drain ran between two polls
			drainStart = upAt
		}
		users := listAll(b, s.client(), connectors.KindUser, "userName")
		if len(users) != count { // the warm-up user went with the server's memory
			b.Fatalf("%d users in the target after recovery, want %d", len(users), count)
		}
		deferred := countOf[domain.PropagationChangeDeferred](s.events(RuleStream("r1")))
		b.ReportMetric(float64(count)/sent.Seconds(), "changes/s")
		b.ReportMetric(float64(deferred), "deferred")
		b.ReportMetric(upAt.Sub(back).Seconds(), "recover-s")
		b.ReportMetric(upAt.Sub(drainStart).Seconds(), "drain-s")
		b.ReportMetric(0, "ns/op")
		rt.Close()
	}
}
