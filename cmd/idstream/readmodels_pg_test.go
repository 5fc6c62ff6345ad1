package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/projections/pgstore"
)

// pgTestURL returns the test PostgreSQL URL on a fresh schema (dropped after the test); it skips
// loudly, or fails under CI=true, when PostgreSQL is unreachable.
func pgTestURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("IDSTREAM_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	url := fmt.Sprintf("%s%sschema=idstream_cmd_%d_%d", base, sep, os.Getpid(), time.Now().UnixNano()%1e9)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := pgstore.Open(ctx, pgstore.Options{URL: url})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true: %v", err)
		}
		t.Skipf("SKIPPED: PostgreSQL unreachable (set IDSTREAM_TEST_POSTGRES): %v", err)
	}
	t.Cleanup(func() {
		if err := s.DropSchema(context.Background()); err != nil {
			t.Errorf("drop the test schema: %v", err)
		}
		s.Close()
	})
	return url
}

// TestPostgresReadModelsShared: two apps on one log and one PostgreSQL schema (as two servers
// would be); a write through A is read through B at its position, both answer the same, and
// B's read model holds what A's applier wrote.
func TestPostgresReadModelsShared(t *testing.T) {
	url := pgTestURL(t)
	store := openEmbedded(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	build := func() (*app, string) {
		cfg := DefaultConfig()
		cfg.DataDir, cfg.ReadModels = t.TempDir(), url
		a, err := buildApp(ctx, cfg, store, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.stopPropagation(log) }) // before its data directory is removed
		return a, cfg.DataDir
	}
	a, dirA := build()
	if err := a.bootstrap(ctx, dirA, io.Discard, log); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dirA, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	b, _ := build()
	srvA, srvB := httptest.NewServer(a.api), httptest.NewServer(b.api)
	t.Cleanup(srvA.Close)
	t.Cleanup(srvB.Close)
	ca, cb := newGQLClient(srvA.URL, token), newGQLClient(srvB.URL, token)

	var env struct {
		CreateEnvironment struct {
			Environment struct{ ID string }
			Position    string
		} `json:"createEnvironment"`
	}
	gql(t, ca, `mutation { createEnvironment(input: {name: "Shared"}) { environment { id } position } }`, nil, &env)
	envID := env.CreateEnvironment.Environment.ID
	var user struct {
		CreateUser struct {
			User     struct{ ID string }
			Position string
		} `json:"createUser"`
	}
	gql(t, ca, `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } position } }`,
		map[string]any{"in": map[string]any{"environmentId": envID, "username": "alice", "email": "alice@example.com"}}, &user)
	var page struct {
		Users struct {
			TotalCount int
			Edges      []struct{ Node struct{ ID, Username string } }
		}
	}
	gql(t, cb, `query($e: ID!, $p: String) { users(environmentId: $e, filter: "userName eq \"ALICE\"", minPosition: $p) {
		totalCount edges { node { id username } } } }`, map[string]any{"e": envID, "p": user.CreateUser.Position}, &page)
	if page.Users.TotalCount != 1 || page.Users.Edges[0].Node.ID != user.CreateUser.User.ID {
		t.Fatalf("B reads %+v after A's write", page)
	}
	// One of the two applies; the other only reads.
	pa, pb := a.live.(*pgDirectory).proj.Leading(), b.live.(*pgDirectory).proj.Leading()
	if pa == pb {
		t.Fatalf("leading: A %v, B %v; want exactly one", pa, pb)
	}
	st := b.live.Status(ctx)
	if len(st) != 1 || st[0].State != "LIVE" || st[0].Checkpoint.IsZero() {
		t.Fatalf("status %+v", st)
	}
	if err := b.ready(); err != nil {
		t.Fatalf("B not ready: %v", err)
	}
}
