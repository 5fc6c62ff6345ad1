package embedded

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/idstream/idstream/eventstore"
)

// gatedFS holds every sync of a write-ahead log file while its gate is shut, so a test can look
// at the store between the moment a write is applied and the moment it is durable.
type gatedFS struct {
	vfs.FS
	mu   sync.Mutex
	open chan struct{} // closed while syncs may proceed
}

func newGatedFS() *gatedFS {
	g := &gatedFS{FS: vfs.Default, open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gatedFS) shut() { g.mu.Lock(); g.open = make(chan struct{}); g.mu.Unlock() }
func (g *gatedFS) lift() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}
func (g *gatedFS) wait() {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	<-ch
}

func (g *gatedFS) wrap(f vfs.File, err error, name string) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &gatedFile{File: f, fs: g}, nil
}

func (g *gatedFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := g.FS.Create(name, c)
	return g.wrap(f, err, name)
}

func (g *gatedFS) ReuseForWrite(old, name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := g.FS.ReuseForWrite(old, name, c)
	return g.wrap(f, err, name)
}

type gatedFile struct {
	vfs.File
	fs *gatedFS
}

func (f *gatedFile) Sync() error     { f.fs.wait(); return f.File.Sync() }
func (f *gatedFile) SyncData() error { f.fs.wait(); return f.File.SyncData() }
func (f *gatedFile) SyncTo(n int64) (bool, error) {
	f.fs.wait()
	return f.File.SyncTo(n)
}

// While a write's WAL sync has not completed, the write is neither acknowledged nor visible:
// not its events, not a deletion, not metadata.
func TestNothingVisibleBeforeDurable(t *testing.T) {
	fs := newGatedFS()
	s, err := Open(t.TempDir(), Options{fs: fs, CacheBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { fs.lift(); s.Close() }()
	ctx := context.Background()
	ev := func(typ string) eventstore.EventData {
		id, err := eventstore.NewEventID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return eventstore.EventData{ID: id, Type: typ, PayloadVersion: 1}
	}
	if _, err := s.Append(ctx, "user-1", eventstore.NoStream, ev("user.created")); err != nil {
		t.Fatal(err)
	}

	for _, w := range []struct {
		name  string
		write func() error
	}{
		{"append", func() error { _, err := s.Append(ctx, "user-1", eventstore.Any, ev("user.renamed")); return err }},
		{"metadata", func() error {
			_, err := s.SetStreamMetadata(ctx, "user-1", eventstore.Any, eventstore.StreamMetadata{MaxCount: 1})
			return err
		}},
		{"delete", func() error { _, err := s.DeleteStream(ctx, "user-1", eventstore.Any); return err }},
	} {
		name, write := w.name, w.write
		before := readAll(t, s, "user-1")
		_, beforeMeta := getMeta(s, "user-1")
		fs.shut()
		done := make(chan error, 1)
		go func() { done <- write() }()
		select {
		case err := <-done:
			t.Fatalf("%s acknowledged (%v) while its WAL sync was held", name, err)
		case <-time.After(100 * time.Millisecond): // long enough for the write to be applied
		}
		// Readers see the state before the write, or wait for it; never the write itself.
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		got, err := eventstore.Collect(s.ReadStream(short, "user-1", eventstore.ReadStreamOptions{}))
		cancel()
		if err == nil && len(got) != len(before) {
			t.Fatalf("%s: ReadStream shows %d events before the write is durable, had %d", name, len(got), len(before))
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !(errors.Is(err, eventstore.ErrStreamNotFound) && len(before) == 0) {
			t.Fatalf("%s: ReadStream before the write is durable: %v", name, err)
		}
		short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
		meta, _, _, err := s.GetStreamMetadata(short, "user-1")
		cancel()
		if err == nil && meta != beforeMeta {
			t.Fatalf("%s: metadata %+v visible before it is durable (was %+v)", name, meta, beforeMeta)
		}
		fs.lift()
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := eventstore.Collect(s.ReadStream(ctx, "user-1", eventstore.ReadStreamOptions{})); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("after the durable delete: %v, want not found", err)
	}
}

func readAll(t *testing.T, s *Store, stream string) []eventstore.RecordedEvent {
	t.Helper()
	got, err := eventstore.Collect(s.ReadStream(context.Background(), stream, eventstore.ReadStreamOptions{}))
	if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatal(err)
	}
	return got
}

func getMeta(s *Store, stream string) (bool, eventstore.StreamMetadata) {
	m, _, found, _ := s.GetStreamMetadata(context.Background(), stream)
	return found, m
}

func TestSubscribeBeyondHeadRefused(t *testing.T) {
	s, err := Open(t.TempDir(), Options{CacheBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.SubscribeAll(context.Background(), eventstore.SubscribeAllOptions{After: eventstore.Position{Commit: 5, Prepare: 5}})
	if !errors.Is(err, eventstore.ErrInvalidArgument) {
		t.Fatalf("subscribe after 5 on an empty log: %v, want ErrInvalidArgument", err)
	}
}
