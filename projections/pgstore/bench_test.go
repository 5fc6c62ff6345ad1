package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

const benchUsers = 100_000

// benchLog appends an environment, its population and n users (1,000 per append) to a fresh
// embedded log and returns it with the number of directory events.
func benchLog(b *testing.B, n int) (eventstore.Store, *eventstore.Registry, int) {
	log, reg := openLog(b)
	const env = "env-bench"
	appendPayloads(b, log, reg, "population-p", env, domain.PopulationCreated{EnvironmentID: env, PopulationID: "p", Name: "P"})
	appendPayloads(b, log, reg, "environment-e", env, domain.EnvironmentCreated{EnvironmentID: env, Name: "Bench", DefaultPopulationID: "p"},
		domain.SchemaAttributeAdded{EnvironmentID: env, Attribute: domain.AttributeDef{Name: "site", Type: domain.AttributeString}})
	meta := eventstore.Metadata{EnvironmentID: env, OccurredAt: time.Now().UTC()}
	for start := 0; start < n; start += 1000 {
		events := make([]eventstore.EventData, 0, 1000)
		for i := start; i < min(start+1000, n); i++ {
			p := domain.UserCreated{EnvironmentID: env, UserID: uuid.Must(uuid.NewV7()).String(), PopulationID: "p", Enabled: true,
				Profile: domain.Profile{Username: fmt.Sprintf("user%d", i), Email: fmt.Sprintf("user%d@example.com", i),
					Name: domain.Name{Given: "Given", Family: fmt.Sprintf("Family%d", i%100)}},
				Custom: domain.CustomValues{"site": json.RawMessage(fmt.Sprintf(`"site-%d"`, i%7))}}
			ev, err := reg.Encode(uuid.Must(uuid.NewV7()), p, meta)
			if err != nil {
				b.Fatal(err)
			}
			events = append(events, ev)
		}
		if _, err := log.Append(context.Background(), fmt.Sprintf("users-%d", start), eventstore.Any, events...); err != nil {
			b.Fatal(err)
		}
	}
	return log, reg, n + 3
}

// BenchmarkPostgresRebuild: fold a log of 100,000 user creations into memory and bulk-load it
// into PostgreSQL (COPY into fresh tables, indexes built after, switched in one transaction).
func BenchmarkPostgresRebuild(b *testing.B) {
	s := openStore(b)
	log, reg, events := benchLog(b, benchUsers)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		st, err := s.Rebuild(ctx, log, reg, nil)
		if err != nil {
			b.Fatal(err)
		}
		if st.Users != benchUsers {
			b.Fatalf("loaded %d users", st.Users)
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkPostgresLoad: the bulk load alone, of a Directory of 100,000 users already folded.
func BenchmarkPostgresLoad(b *testing.B) {
	s := openStore(b)
	log, reg, events := benchLog(b, benchUsers)
	ctx := context.Background()
	head, _ := s.Position(ctx)
	_ = head
	dir, err := projections.Rebuild(ctx, log, reg, eventstore.Position{Commit: ^uint64(0) >> 1, Prepare: ^uint64(0) >> 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := s.Load(ctx, dir); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkPostgresApply: the incremental path, the Runner's batches of user creations written
// by upserts (one transaction per batch of up to 512 events), from a projector's start to
// caught up on a log of 20,000 users (measured through the Writer, as the Projector does).
func BenchmarkPostgresApply(b *testing.B) {
	const n = 20_000
	for b.Loop() {
		b.StopTimer()
		s := openStore(b)
		w, err := s.NewWriter(context.Background(), projections.NewDirectory())
		if err != nil {
			b.Fatal(err)
		}
		var changes []projections.Change
		var pos uint64
		add := func(p any) {
			pos++
			changes = append(changes, projections.Change{Position: eventstore.Position{Commit: pos, Prepare: pos}, Payload: p,
				Metadata: eventstore.Metadata{OccurredAt: time.Now().UTC()}})
		}
		add(domain.PopulationCreated{EnvironmentID: "e", PopulationID: "p", Name: "P"})
		add(domain.EnvironmentCreated{EnvironmentID: "e", Name: "E", DefaultPopulationID: "p"})
		for i := range n {
			add(domain.UserCreated{EnvironmentID: "e", UserID: uuid.Must(uuid.NewV7()).String(), PopulationID: "p", Enabled: true,
				Profile: domain.Profile{Username: fmt.Sprintf("user%d", i), Email: fmt.Sprintf("user%d@example.com", i)}})
		}
		b.StartTimer()
		start := time.Now()
		for i := 0; i < len(changes); i += 512 {
			if err := w.Apply(context.Background(), changes[i:min(i+512, len(changes))]...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(changes))/time.Since(start).Seconds(), "events/s")
		b.StopTimer()
		w.Close()
		b.StartTimer()
	}
}

// BenchmarkPostgresUsers: user queries on an environment of 100,000 users, from PostgreSQL and
// from the memory Directory: a first page, a page deep in the list, an indexed equality, and a
// filter evaluated on every user (the Directory's predicate in Go over each row's document).
func BenchmarkPostgresUsers(b *testing.B) {
	s := openStore(b)
	log, reg, _ := benchLog(b, benchUsers)
	ctx := context.Background()
	dir, err := projections.Rebuild(ctx, log, reg, eventstore.Position{Commit: ^uint64(0) >> 1, Prepare: ^uint64(0) >> 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Load(ctx, dir); err != nil {
		b.Fatal(err)
	}
	mid := must(dir.Users("env-bench", projections.UserQuery{First: 1000}))
	for _, q := range []struct {
		name string
		q    projections.UserQuery
	}{
		{"first-page", projections.UserQuery{First: 50}},
		{"after-1000", projections.UserQuery{First: 50, After: mid.EndCursor}},
		{"username-eq", projections.UserQuery{Filter: `userName eq "user77777"`}},
		{"scan-site-eq", projections.UserQuery{Filter: `site eq "site-3"`, First: 50}},
	} {
		for _, st := range []struct {
			name string
			s    interface {
				Users(string, projections.UserQuery) (projections.UserPage, error)
			}
		}{{"postgres", s}, {"memory", dir}} {
			b.Run(q.name+"/"+st.name, func(b *testing.B) {
				for b.Loop() {
					p, err := st.s.Users("env-bench", q.q)
					if err != nil || len(p.Users) == 0 {
						b.Fatalf("%d users, %v", len(p.Users), err)
					}
				}
			})
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
