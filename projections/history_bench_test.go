package projections

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// historyTargets is the number of users whose past BenchmarkUserAt queries; each has
// historySteps events spread evenly through the log.
const historyTargets, historySteps = 100, 10

// fillHistoryLog appends about total events to s: an environment with a schema attribute, then
// historySteps rounds of (total/historySteps noise events — users created with nine updates,
// appended ten to a batch from 16 goroutines — and one event for each target user: its creation,
// then profile and custom updates, a disable and an enable). It returns the log's head.
func fillHistoryLog(b *testing.B, s eventstore.Store, reg *eventstore.Registry, total int) eventstore.Position {
	ctx := context.Background()
	meta := eventstore.Metadata{EnvironmentID: env1, Actor: "apiclient:bench", OccurredAt: time.Now().UTC()}
	var head atomic.Uint64
	appendAll := func(stream string, payloads ...any) {
		evs := make([]eventstore.EventData, len(payloads))
		for i, p := range payloads {
			ev, err := reg.Encode(uuid.Must(uuid.NewV7()), p, meta)
			if err != nil {
				b.Fatal(err)
			}
			evs[i] = ev
		}
		res, err := s.Append(ctx, stream, eventstore.Any, evs...)
		if err != nil {
			b.Fatal(err)
		}
		for h := head.Load(); h < res.Position.Commit && !head.CompareAndSwap(h, res.Position.Commit); h = head.Load() {
		}
	}
	appendAll(domain.StreamName(domain.CategoryEnvironment, env1), domain.EnvironmentCreated{EnvironmentID: env1, Name: "bench", DefaultPopulationID: env1 + "-pop-0"})
	appendAll(domain.StreamName(domain.CategorySchema, env1), domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "badge", Type: domain.AttributeString}})
	t0 := time.Now()
	var noise atomic.Int64
	for step := range historySteps {
		perStep := total / historySteps / 10 // noise users this round, ten events each
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(perStep) {
					u := benchUserCreated(env1, int(noise.Add(1))+historyTargets)
					payloads := []any{u}
					for k := range 9 {
						p := u.Profile
						p.Title = fmt.Sprint("title ", k)
						payloads = append(payloads, domain.UserUpdated{EnvironmentID: env1, UserID: u.UserID, Profile: p, Custom: u.Custom})
					}
					appendAll(domain.StreamName(domain.CategoryUser, u.UserID), payloads...)
				}
			}()
		}
		wg.Wait()
		for n := 1; n <= historyTargets; n++ {
			id := userID(n)
			var p any
			switch step {
			case 0:
				p = domain.UserCreated{EnvironmentID: env1, UserID: id, PopulationID: env1 + "-pop-0", Enabled: true,
					Profile: domain.Profile{Username: fmt.Sprint("target", n)}}
			case 4:
				p = domain.UserDisabled{EnvironmentID: env1, UserID: id}
			case 5:
				p = domain.UserEnabled{EnvironmentID: env1, UserID: id}
			default:
				p = domain.UserUpdated{EnvironmentID: env1, UserID: id, Profile: domain.Profile{Username: fmt.Sprint("target", n), Title: fmt.Sprint("step ", step)},
					Custom: domain.CustomValues{"badge": raw(fmt.Sprintf(`"B-%d"`, step))}}
			}
			appendAll(domain.StreamName(domain.CategoryUser, id), p)
		}
	}
	b.Logf("filled %d events in %s", head.Load(), time.Since(t0).Round(time.Millisecond))
	return eventstore.Position{Commit: head.Load(), Prepare: head.Load()}
}

// BenchmarkUserAt times History.UserAt of a user with ten events at the head of logs of 100k
// and 1M events (p50 and p99 in ns): the cost follows the user's own events, not the log's
// length. Run it with -bench UserAt -benchtime=2000x. IDSTREAM_BENCH_10M=1 adds a log of
// 10M events (about 4 GB of temporary disk, and minutes to fill).
func BenchmarkUserAt(b *testing.B) {
	sizes := []int{100_000, 1_000_000}
	if os.Getenv("IDSTREAM_BENCH_10M") != "" {
		sizes = append(sizes, 10_000_000)
	}
	for _, total := range sizes {
		s := openStore(b)
		reg, err := NewRegistry()
		if err != nil {
			b.Fatal(err)
		}
		head := fillHistoryLog(b, s, reg, total)
		if err := s.Compact(context.Background()); err != nil {
			b.Fatal(err)
		}
		h := NewHistory(s, reg)
		b.Run(fmt.Sprintf("log=%d", head.Commit), func(b *testing.B) {
			ctx := context.Background()
			times := make([]time.Duration, 0, b.N)
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				u, err := h.UserAt(ctx, env1, userID(1+i%historyTargets), head)
				if err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(t0))
				if u.Profile.Title != fmt.Sprint("step ", historySteps-1) || !u.Enabled {
					b.Fatalf("user at head: %+v", u)
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}
