package embedded_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
)

// writeEvents appends n single-event appends to one stream and closes the store.
func writeEvents(t *testing.T, dir string, n int) {
	t.Helper()
	s, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		data := []byte(`{"n":` + strings.Repeat("1", 1+i%40) + `}`)
		e := eventstore.EventData{ID: newID(t), Type: "user.renamed", PayloadVersion: 1, Data: data, Metadata: eventstore.Metadata{OccurredAt: time.Now()}}
		if _, err := s.Append(context.Background(), "user-1", eventstore.Any, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// damage flips 16 bytes in the middle of the first file in dir/events whose name ends in suffix,
// and returns its name.
func damage(t *testing.T, dir, suffix string) string {
	t.Helper()
	files, err := os.ReadDir(filepath.Join(dir, "events"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := filepath.Join(dir, "events", f.Name())
		b, err := os.ReadFile(p)
		if err != nil || !strings.HasSuffix(f.Name(), suffix) || len(b) < 1024 {
			continue
		}
		for i := len(b) / 2; i < len(b)/2+16; i++ {
			b[i] ^= 0xff
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return f.Name()
	}
	t.Fatalf("no %s file of 1 KiB or more in %s", suffix, dir)
	return ""
}

func TestCorruptWALReportedOnOpen(t *testing.T) {
	dir := t.TempDir()
	writeEvents(t, dir, 2000) // stays in the write-ahead log: far below a memtable
	name := damage(t, dir, ".log")
	s, err := embedded.Open(dir, embedded.Options{})
	if err == nil {
		s.Close()
		t.Fatalf("opened a store whose write-ahead log %s is damaged in the middle: acknowledged events would be silently lost", name)
	}
	if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), "write-ahead log "+filepath.Join(dir, "events", name)) {
		t.Fatalf("open error %q: want ErrCorrupt naming %s", err, name)
	}
}

func TestCorruptTableReportedWithItsFile(t *testing.T) {
	dir := t.TempDir()
	writeEvents(t, dir, 2000)
	s, err := embedded.Open(dir, embedded.Options{}) // reopening flushes the log into a table
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	name := damage(t, dir, ".sst")
	s, err = embedded.Open(dir, embedded.Options{})
	if err != nil {
		if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), name) {
			t.Fatalf("open error %q: want ErrCorrupt naming %s", err, name)
		}
		return
	}
	defer s.Close()
	err = s.Verify(context.Background())
	if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), name) {
		t.Fatalf("Verify of a store with table %s damaged: %v; want ErrCorrupt naming the file", name, err)
	}
	// The process is alive and the store still answers what is intact.
	if _, _, _, err := s.GetStreamMetadata(context.Background(), "user-1"); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyIntactStore(t *testing.T) {
	dir := t.TempDir()
	writeEvents(t, dir, 500)
	s, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSecondOpenRefusedByLock(t *testing.T) {
	dir := t.TempDir()
	s, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = embedded.Open(dir, embedded.Options{})
	if err == nil || !strings.Contains(err.Error(), "in use by another process") || !strings.Contains(err.Error(), "idstream.lock") {
		t.Fatalf("second open: %v; want an error naming the lock", err)
	}
}

func newID(t *testing.T) [16]byte {
	t.Helper()
	id, err := eventstore.NewEventID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
