package projections

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
)

// benchUsers is the size of the 1M-user benchmarks (run them with -bench; -benchtime=1x for the
// replay).
const benchUsers = 1_000_000

func benchUserCreated(env string, n int) domain.UserCreated {
	return domain.UserCreated{EnvironmentID: env, UserID: userID(n), PopulationID: fmt.Sprintf("%s-pop-%d", env, n%10), Enabled: true,
		Profile: domain.Profile{Username: fmt.Sprintf("user%07d", n), Email: fmt.Sprintf("user%07d@example.com", n),
			Name: domain.Name{Given: fmt.Sprintf("Given%d", n%1000), Family: fmt.Sprintf("Family%d", n%5000)}, ExternalID: fmt.Sprintf("EXT-%07d", n)},
		Custom: domain.CustomValues{"badge": raw(fmt.Sprintf(`"B-%07d"`, n)), "vip": raw(`false`)}}
}

func benchSetup(env string) []any {
	out := []any{domain.EnvironmentCreated{EnvironmentID: env, Name: "bench", DefaultPopulationID: env + "-pop-0"},
		domain.SchemaAttributeAdded{EnvironmentID: env, Attribute: domain.AttributeDef{Name: "badge", Type: domain.AttributeString}},
		domain.SchemaAttributeAdded{EnvironmentID: env, Attribute: domain.AttributeDef{Name: "vip", Type: domain.AttributeBoolean}}}
	for p := range 10 {
		out = append(out, domain.PopulationCreated{EnvironmentID: env, PopulationID: fmt.Sprintf("%s-pop-%d", env, p), Name: fmt.Sprint("P", p)})
	}
	for g := range 100 {
		out = append(out, domain.GroupCreated{EnvironmentID: env, GroupID: fmt.Sprintf("g-%03d", g), Name: fmt.Sprint("G", g), Kind: domain.GroupDirect})
	}
	return out
}

// BenchmarkDirectory1M builds a 1M-user environment in memory by applying events (each user
// with username, email, given and family name, external ID, two custom attributes and one
// group), reports the heap per user, then times queries, reporting median and p99 in ns.
func BenchmarkDirectory1M(b *testing.B) {
	f := newFixture(b)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f.apply(benchSetup(env1)...)
	batch := make([]any, 0, 2000)
	for n := 1; n <= benchUsers; n++ {
		batch = append(batch, benchUserCreated(env1, n),
			domain.GroupMemberAdded{EnvironmentID: env1, GroupID: fmt.Sprintf("g-%03d", n%100), UserID: userID(n)})
		if len(batch) == cap(batch) {
			f.apply(batch...)
			batch = batch[:0]
		}
	}
	f.apply(batch...)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	perUser := float64(after.HeapAlloc-before.HeapAlloc) / benchUsers
	b.Logf("heap after GC: %.0f bytes per user (%d users)", perUser, benchUsers)

	latency := func(b *testing.B, q func(i int) error) {
		times := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if err := q(i); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(t0))
		}
		b.StopTimer()
		slices.Sort(times)
		b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds()), "p99-ns")
		b.ReportMetric(perUser, "heap-B/user")
	}
	pick := func(i int) int { return 1 + (i*7919)%benchUsers }
	users := func(filter string, want int) func(int) error {
		return func(i int) error {
			p, err := f.d.Users(env1, UserQuery{Filter: fmt.Sprintf(filter, pick(i)%10, pick(i))})
			if err == nil && p.TotalCount != want {
				err = fmt.Errorf("%s: total %d, want %d", filter, p.TotalCount, want)
			}
			return err
		}
	}
	b.Run("username-eq", func(b *testing.B) { latency(b, users(`username eq "user%07[2]d"`, 1)) })
	b.Run("email-eq", func(b *testing.B) { latency(b, users(`email eq "USER%07[2]d@example.com"`, 1)) })
	b.Run("externalId-eq", func(b *testing.B) { latency(b, users(`externalId eq "ext-%07[2]d"`, 1)) })
	b.Run("populationId-eq", func(b *testing.B) { latency(b, users(`populationId eq "env-1-pop-%[1]d"`, benchUsers/10)) })
	b.Run("populationId-eq-and-enabled", func(b *testing.B) {
		latency(b, users(`populationId eq "env-1-pop-%[1]d" and enabled eq true`, benchUsers/10))
	})
	b.Run("User", func(b *testing.B) {
		latency(b, func(i int) error { _, err := f.d.User(env1, userID(pick(i))); return err })
	})
}

// BenchmarkRunnerColdReplay writes benchUsers user.created events, each with its two
// reservation.claimed events (username, email) as the write side appends them, into a real
// embedded store once, then times cold replays into fresh Directories until ready (run it with -benchtime=3x: it
// reports the median, logs each replay with the peak heap it reached).
//
// IDSTREAM_REPLAY_STORE names a directory to keep the filled store in across runs: a store
// found there with the benchmark's events is replayed without filling it again.
func BenchmarkRunnerColdReplay(b *testing.B) {
	var s *embedded.Store
	keep := os.Getenv("IDSTREAM_REPLAY_STORE")
	if keep == "" {
		s = openStore(b)
	} else {
		var err error
		if s, err = embedded.Open(keep, embedded.Options{}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
	}
	reg, err := NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	meta := eventstore.Metadata{EnvironmentID: env1, Actor: "apiclient:bench", CorrelationID: uuid.NewString(), OccurredAt: time.Now().UTC()}
	appendOne := func(stream string, payload any) {
		ev, err := reg.Encode(uuid.Must(uuid.NewV7()), payload, meta)
		if err == nil {
			_, err = s.Append(ctx, stream, eventstore.NoStream, ev)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	setup := benchSetup(env1)
	filled := uint64(len(setup) + 3*benchUsers)
	for e, err := range s.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: 1}) {
		if err != nil {
			b.Fatal(err)
		}
		if e.Position.Commit != filled {
			b.Fatalf("%s holds %d events, neither none nor the benchmark's %d", keep, e.Position.Commit, filled)
		}
		b.Logf("replaying the store kept in %s", keep)
		goto replay
	}
	for i, p := range setup {
		appendOne(fmt.Sprintf("setup-%d", i), p)
	}
	fill(b, appendOne)
	// A restart reads a settled store, not one still rewriting a bulk load.
	if err := s.Compact(ctx); err != nil {
		b.Fatal(err)
	}
replay:
	replay(b, s, reg)
}

// fill appends benchUsers user.created events with their reservations, from 128 goroutines.
func fill(b *testing.B, appendOne func(stream string, payload any)) {
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1))
				if n > benchUsers {
					return
				}
				u := benchUserCreated(env1, n)
				appendOne(fmt.Sprintf("unique-username-%s-%d", env1, n), domain.ReservationClaimed{EnvironmentID: env1, Kind: domain.UniqueUsername, Owner: "user-" + u.UserID})
				appendOne(fmt.Sprintf("unique-email-%s-%d", env1, n), domain.ReservationClaimed{EnvironmentID: env1, Kind: domain.UniqueEmail, Owner: "user-" + u.UserID})
				appendOne("user-"+u.UserID, u)
			}
		}()
	}
	wg.Wait()
	b.Logf("filled %d users (%d events) in %s", benchUsers, 3*benchUsers, time.Since(t0).Round(time.Millisecond))
}

func replay(b *testing.B, s eventstore.Store, reg *eventstore.Registry) {
	ctx := context.Background()
	var times []time.Duration
	var maxPeak uint64
	gcBefore := gcPercent()
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		b.StartTimer()
		dir := NewDirectory()
		rctx, cancel := context.WithCancel(ctx)
		r := NewRunner(s, reg, dir)
		var peak uint64
		stopSampling := sampleHeapPeak(&peak)
		start := time.Now()
		if err := r.Start(rctx); err != nil {
			b.Fatal(err)
		}
		if err := r.CatchUp(rctx); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		stopSampling()
		cancel()
		<-r.Done()
		if p, _ := dir.Users(env1, UserQuery{First: 1}); p.TotalCount != benchUsers {
			b.Fatalf("replayed %d users", p.TotalCount)
		}
		times = append(times, el)
		maxPeak = max(maxPeak, peak)
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if p := gcPercent(); p != gcBefore {
			b.Fatalf("GC percent %d after catching up, %d before", p, gcBefore)
		}
		b.Logf("replay %d: %s (%.0f events/s), peak heap %d MiB, live heap after %d MiB, GC percent %d after",
			len(times), el.Round(time.Millisecond), float64(3*benchUsers)/el.Seconds(), peak>>20, ms.HeapAlloc>>20, gcBefore)
		runtime.KeepAlive(dir)
	}
	slices.Sort(times)
	med := times[len(times)/2]
	b.ReportMetric(med.Seconds(), "s/replay")
	b.ReportMetric(float64(3*benchUsers)/med.Seconds(), "events/s")
	b.ReportMetric(float64(maxPeak>>20), "peak-heap-MiB")
}

// sampleHeapPeak records in *peak the largest heap (bytes in live and unswept objects) seen
// every 20 ms until the returned stop is called.
func sampleHeapPeak(peak *uint64) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			*peak = max(*peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
