package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore/embedded"
	"github.com/idstream/idstream/projections"
)

func noEnv(string) (string, bool) { return "", false }

// adminOf replays dataDir's log and reports whether token authenticates an organization-wide
// ENVIRONMENT_ADMIN.
func adminOf(t *testing.T, dataDir, token string) bool {
	t.Helper()
	store, err := embedded.Open(filepath.Join(dataDir, eventStoreDir), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	reg, err := projections.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	dir := projections.NewDirectory()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := projections.NewRunner(store, reg, dir)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	c, _, ok := dir.APIClientByTokenHash(commands.HashToken(strings.TrimSpace(token)), time.Now())
	return ok && c.EnvironmentID == "" && len(c.Roles) == 1 && c.Roles[0].Role == domain.RoleEnvironmentAdmin && c.Roles[0].EnvironmentID == ""
}

// TestTokenBootstrapRecoversALostAdminToken: serve bootstraps only an empty log, so a crash
// between the bootstrap append and the token file (or a lost file) left no way in.
func TestTokenBootstrapRecoversALostAdminToken(t *testing.T) {
	dataDir := t.TempDir()
	// A log whose bootstrap client was appended but whose token never reached the file.
	store, err := embedded.Open(filepath.Join(dataDir, eventStoreDir), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := commands.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	deps := &commands.Deps{Store: store, Registry: reg, Now: func() time.Time { return time.Now().UTC() }, NewID: newID}
	if _, _, _, err := commands.NewBootstrap(deps).Handle(context.Background()); err != nil {
		t.Fatal(err)
	}

	// While the store is open (a server running), the command refuses and writes nothing.
	var stdout, stderr bytes.Buffer
	args := []string{"token", "bootstrap", "--data-dir", dataDir}
	if code := run(context.Background(), args, noEnv, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "serve stopped") {
		t.Fatalf("with the store locked: exit %d, stderr %q", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dataDir, adminTokenFile)); !os.IsNotExist(err) {
		t.Fatalf("with the store locked, admin.token: %v", err)
	}
	store.Close()

	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), args, noEnv, &stdout, &stderr); code != 0 {
		t.Fatalf("token bootstrap: exit %d, stderr %q", code, stderr.String())
	}
	path := filepath.Join(dataDir, adminTokenFile)
	if stdout.String() != "admin token written to "+path+"\n" {
		t.Fatalf("stdout %q", stdout.String())
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token: %v, mode %v", err, fi.Mode().Perm())
	}
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !adminOf(t, dataDir, string(first)) {
		t.Fatal("the recovered token is not an organization-wide ENVIRONMENT_ADMIN")
	}
	if strings.Contains(stderr.String(), strings.TrimSpace(string(first))) {
		t.Fatal("the token appears in the log output")
	}

	// A file holding a token is kept unless --force.
	stderr.Reset()
	if code := run(context.Background(), args, noEnv, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "--force") {
		t.Fatalf("second run without --force: exit %d, stderr %q", code, stderr.String())
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, first) {
		t.Fatal("admin.token replaced without --force")
	}
	stderr.Reset()
	if code := run(context.Background(), append(args, "--force"), noEnv, &stdout, &stderr); code != 0 {
		t.Fatalf("--force: exit %d, stderr %q", code, stderr.String())
	}
	second, _ := os.ReadFile(path)
	if bytes.Equal(second, first) || !adminOf(t, dataDir, string(second)) || !adminOf(t, dataDir, string(first)) {
		t.Fatal("--force: want a new working token, the first one still valid")
	}
	if matches, _ := filepath.Glob(filepath.Join(dataDir, adminTokenFile+".*")); len(matches) != 0 {
		t.Fatalf("temporary files left: %v", matches)
	}
}

// An empty admin.token (a crash after creating the file) is replaced without --force.
func TestTokenBootstrapReplacesAnEmptyTokenFile(t *testing.T) {
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, adminTokenFile)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"token", "bootstrap", "--data-dir", dataDir}, noEnv, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	tok, _ := os.ReadFile(path)
	if !adminOf(t, dataDir, string(tok)) {
		t.Fatal("token does not authenticate")
	}
}
