package projections

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// BenchmarkConfiguration times what a configuration revision costs: the configuration of an
// environment with 100 groups (each with a role) and 10 populations extracted from a live
// Directory and hashed, and the same by ConfigurationReplay over a log of 100k users (the
// reference replay CreateConfigRevision pays once and RestoreConfigRevision three times).
func BenchmarkConfiguration(b *testing.B) {
	const users = 100_000
	reg, err := NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	s := openStore(b)
	ctx := context.Background()
	meta := eventstore.Metadata{EnvironmentID: env1, Actor: "apiclient:bench", OccurredAt: time.Now().UTC()}
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
	for g := range 100 {
		setup = append(setup, domain.GroupRoleAssigned{EnvironmentID: env1, GroupID: fmt.Sprintf("g-%03d", g),
			Assignment: domain.RoleAssignment{ID: fmt.Sprint("a", g), Role: domain.RoleAuditor, EnvironmentID: env1}})
	}
	for i, p := range setup {
		appendOne(fmt.Sprintf("setup-%d", i), p)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := int(next.Add(1)); n <= users; n = int(next.Add(1)) {
				u := benchUserCreated(env1, n)
				appendOne("user-"+u.UserID, u)
			}
		}()
	}
	wg.Wait()
	replay := ConfigurationReplay{Store: s, Registry: reg}
	end := eventstore.Position{Commit: ^uint64(0), Prepare: ^uint64(0)}
	live, err := replay.DirectoryAt(ctx, end)
	if err != nil {
		b.Fatal(err)
	}
	want, err := live.Configuration(env1)
	if err != nil || len(want.Groups) != 100 {
		b.Fatalf("configuration: %d groups, %v", len(want.Groups), err)
	}

	b.Run("live+hash", func(b *testing.B) {
		for b.Loop() {
			c, err := live.Configuration(env1)
			if err != nil || c.Hash() == "" {
				b.Fatal(err)
			}
		}
	})
	b.Run("diff", func(b *testing.B) {
		other := want
		other.Name = "changed"
		for b.Loop() {
			if len(DiffConfigurations(want, other)) != 1 {
				b.Fatal("diff")
			}
		}
	})
	b.Run("replay100k", func(b *testing.B) {
		for b.Loop() {
			c, err := replay.ConfigurationAt(ctx, env1, end)
			if err != nil || c.Hash() != want.Hash() {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(setup)+users), "events")
	})
}
