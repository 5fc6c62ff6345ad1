package projections

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// statusWith returns a model holding n synced accounts under rule r1 (store app).
func statusWith(b *testing.B, n int) *PropagationStatus {
	b.Helper()
	s, err := NewPropagationStatus(nil, nil, StatusOptions{Now: func() time.Time { return statusT0 }})
	if err != nil {
		b.Fatal(err)
	}
	feed(s, fed{statusT0, revision("rev1")})
	for i := range n {
		u := fmt.Sprintf("u%07d", i)
		feed(s, fed{statusT0, applied("r1", "app", u, domain.OpCreate, "t"+u, "userName", "name.givenName")})
	}
	return s
}

// BenchmarkPropagationStatusFold measures folding change_applied outcomes into a model of 100k
// accounts (each op updates an existing account).
func BenchmarkPropagationStatusFold(b *testing.B) {
	const n = 100_000
	s := statusWith(b, n)
	events := make([]*eventstore.RecordedEvent, 1024)
	payloads := make([]eventstore.Decoded, len(events))
	for i := range events {
		u := fmt.Sprintf("u%07d", i*97%n)
		events[i] = &eventstore.RecordedEvent{Metadata: eventstore.Metadata{OccurredAt: statusT0}}
		payloads[i] = eventstore.Decoded{Payload: applied("r1", "app", u, domain.OpUpdate, "", "title")}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.fold(events[i%len(events)], payloads[i%len(events)])
	}
}

// BenchmarkPropagationStatusAccountsPage measures the first page of 50 of a rule's 100k
// accounts, by identity ID (what propagationAccounts reads).
func BenchmarkPropagationStatusAccountsPage(b *testing.B) {
	s := statusWith(b, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		n := 0
		s.AccountsAfter("r1", "", func(AccountStatus) bool { n++; return n < 50 })
	}
}

// BenchmarkPropagationStatusMemory reports the heap a model of 100k accounts holds, per account
// (each with its details: two attribute names).
func BenchmarkPropagationStatusMemory(b *testing.B) {
	const n = 100_000
	var before, after runtime.MemStats
	for range b.N {
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := statusWith(b, n)
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(s)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heapB/account")
}
