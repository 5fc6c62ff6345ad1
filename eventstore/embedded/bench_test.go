package embedded_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/idstream/idstream/eventstore/bench"
	"github.com/idstream/idstream/eventstore/embedded"
)

// The event-store benchmarks of eventstore/bench on the embedded store. Run them with
//
//	go test -run '^$' -bench . -benchtime 3s ./eventstore/embedded
//
// Each reports events/s (or latencies in ms) with ReportMetric; -short skips them all.

// readEvents is the size of the log BenchmarkScan and BenchmarkCatchUp read.
const readEvents = 1_000_000

func skipShort(b *testing.B) {
	b.Helper()
	if testing.Short() {
		b.Skip("event-store benchmark skipped by -short")
	}
}

// openStore opens an empty store in a directory removed when b ends.
func openStore(b *testing.B) *embedded.Store {
	b.Helper()
	s, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkAppend: one op is one durable append of a batch; events/s counts the events.
func BenchmarkAppend(b *testing.B) {
	skipShort(b)
	for _, shape := range bench.Shapes() {
		b.Run(fmt.Sprintf("writers=%d/batch=%d", shape.Writers, shape.Batch), func(b *testing.B) {
			s := openStore(b)
			b.ResetTimer()
			res, err := bench.Append(context.Background(), s, bench.AppendOptions{
				Shape: shape, Appends: int64(b.N), StreamPrefix: bench.StreamPrefix("append"),
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.EventsPerSec(), "events/s")
		})
	}
}

// BenchmarkRawFsyncBaseline: the same shapes as BenchmarkAppend, appended to a plain file by
// one group-commit writer with one fsync per group (see bench.RawBaseline).
func BenchmarkRawFsyncBaseline(b *testing.B) {
	skipShort(b)
	for _, shape := range bench.Shapes() {
		b.Run(fmt.Sprintf("writers=%d/batch=%d", shape.Writers, shape.Batch), func(b *testing.B) {
			dir := b.TempDir()
			b.ResetTimer()
			res, err := bench.RawBaseline(context.Background(), dir, bench.AppendOptions{Shape: shape, Appends: int64(b.N)})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.EventsPerSec(), "events/s")
		})
	}
}

// readFixture is the 1M-event store BenchmarkScan and BenchmarkCatchUp read. Filling it takes
// several seconds, so it is built once per test process, on first use, and removed by TestMain:
// the one piece of package-level state, and it lives in a test file.
type readFixture struct {
	once  sync.Once
	dir   string
	store *embedded.Store
	err   error
}

var sharedReads readFixture

func (f *readFixture) get(b *testing.B) *embedded.Store {
	b.Helper()
	f.once.Do(func() {
		if f.dir, f.err = os.MkdirTemp("", "idstream-bench-reads-*"); f.err != nil {
			return
		}
		if f.store, f.err = embedded.Open(f.dir, embedded.Options{}); f.err != nil {
			return
		}
		f.err = bench.Fill(context.Background(), f.store, readEvents, bench.StreamPrefix("fill"))
	})
	if f.err != nil {
		b.Fatalf("fill %d events: %v", readEvents, f.err)
	}
	return f.store
}

func (f *readFixture) remove() {
	if f.store != nil {
		f.store.Close()
	}
	if f.dir != "" {
		os.RemoveAll(f.dir)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	sharedReads.remove()
	os.Exit(code)
}

// BenchmarkScan: one op is a ReadAll of the 1M events, after one warm-up pass.
func BenchmarkScan(b *testing.B) {
	skipShort(b)
	s := sharedReads.get(b)
	ctx := context.Background()
	if _, err := bench.ScanPass(ctx, s, readEvents); err != nil { // warm-up
		b.Fatal(err)
	}
	reportRate(b, func() (bench.Throughput, error) { return bench.ScanPass(ctx, s, readEvents) })
}

// reportRate runs pass b.N times and reports the events per second over all of them.
func reportRate(b *testing.B, pass func() (bench.Throughput, error)) {
	b.Helper()
	b.ResetTimer()
	var events, ns float64
	for range b.N {
		res, err := pass()
		if err != nil {
			b.Fatal(err)
		}
		events += float64(res.Events)
		ns += float64(res.Elapsed)
	}
	b.ReportMetric(events/ns*1e9, "events/s")
}

// BenchmarkCatchUp: one op is a subscription from the start of the 1M-event log until it is
// caught up.
func BenchmarkCatchUp(b *testing.B) {
	skipShort(b)
	s := sharedReads.get(b)
	reportRate(b, func() (bench.Throughput, error) { return bench.CatchUp(context.Background(), s, readEvents) })
}

// BenchmarkLiveLatency: one op is one event appended (at 1,000 appends/s) and delivered to a
// subscriber waiting at the end of the log; p50-ms, p99-ms and max-ms are the times from
// Append returning to the subscriber receiving the event.
func BenchmarkLiveLatency(b *testing.B) {
	skipShort(b)
	s := openStore(b)
	b.ResetTimer()
	res, err := bench.Live(context.Background(), s, bench.LiveOptions{Rate: 1000, Events: b.N, StreamPrefix: bench.StreamPrefix("live")})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.P50.Seconds()*1e3, "p50-ms")
	b.ReportMetric(res.P99.Seconds()*1e3, "p99-ms")
	b.ReportMetric(res.Max.Seconds()*1e3, "max-ms")
}
