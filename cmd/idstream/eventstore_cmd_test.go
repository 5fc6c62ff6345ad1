package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCommand(func(string) (string, bool) { return "", false }, &out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestEventStoreVerify(t *testing.T) {
	dataDir := t.TempDir()
	store, err := embedded.Open(filepath.Join(dataDir, eventStoreDir), embedded.Options{CacheBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		id, _ := eventstore.NewEventID(rand.Reader)
		if _, err := store.Append(context.Background(), "user-1", eventstore.Any, eventstore.EventData{ID: id, Type: "user.renamed", PayloadVersion: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// While another process (here: this one) holds the store, verify refuses and says why.
	if _, err := runCLI(t, "eventstore", "verify", "--data-dir", dataDir); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("verify of a locked store: %v", err)
	}
	store.Close()
	out, err := runCLI(t, "eventstore", "verify", "--data-dir", dataDir)
	if err != nil || !strings.Contains(out, "positions 1 to 3, every record intact") {
		t.Fatalf("verify: %q, %v", out, err)
	}
	if _, err := runCLI(t, "eventstore", "verify", "--data-dir", dataDir, "--eventstore", "esdb://localhost:2113"); err == nil {
		t.Fatal("verify accepted a server connection string")
	}
}
