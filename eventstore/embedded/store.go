package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/idstream/idstream/eventstore"
)

var _ eventstore.Store = (*Store)(nil)

// Options tune the store. The zero value is the production default.
type Options struct {
	// MaxAppendBytes bounds the encoded size of one append (default 16 MiB).
	MaxAppendBytes int
	// CacheBytes is the block cache size (default 1 GiB; it fills only as data is read).
	CacheBytes int64
	// Now is the clock stamping RecordedAt (default time.Now).
	Now func() time.Time
	// Logger receives the engine's warnings and errors (default slog.Default()).
	Logger *slog.Logger

	// fs replaces the engine's file system in tests (default: the operating system's).
	fs vfs.FS
}

func (o *Options) setDefaults() {
	if o.MaxAppendBytes <= 0 {
		o.MaxAppendBytes = 16 << 20
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = 1 << 30
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Store is the embedded event store. Open it with Open; it is safe for concurrent use.
type Store struct {
	db   *pebble.DB
	dir  string
	opts Options
	lock *os.File

	reqs    chan *writeReq
	stopped chan struct{} // closed when the committer has exited

	// head is the position of the last durable event. Readers never look past it.
	head atomic.Uint64
	// corruptPath is the last file the engine found corrupt.
	corruptPath *atomic.Pointer[string]

	mu       sync.Mutex
	notify   chan struct{}     // closed and replaced after every commit group is durable
	pending  map[string]uint64 // stream → last group that changed its state, until durable
	synced   uint64            // the last durable group
	closed   bool
	closing  chan struct{} // closed by Close
	failed   error         // set when a commit failed: the store refuses further writes
	inflight sync.WaitGroup
}

// Open opens (creating if needed) the store in dir and takes an exclusive lock on it.
func Open(dir string, opts Options) (*Store, error) {
	opts.setDefaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	lockPath := filepath.Join(dir, "idstream.lock")
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open event store: lock file: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("open event store: data directory %s is in use by another process (lock %s held)", dir, lockPath)
		}
		return nil, fmt.Errorf("open event store: lock %s: %w", lockPath, err)
	}
	cache := pebble.NewCache(opts.CacheBytes)
	defer cache.Unref()
	po := &pebble.Options{
		Cache:                       cache,
		FormatMajorVersion:          pebble.FormatNewest,
		MemTableSize:                64 << 20,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
		LBaseMaxBytes:               256 << 20,
		Logger:                      pebbleLogger{opts.Logger},
		FS:                          opts.fs,
	}
	for i := range po.Levels {
		po.Levels[i].BlockSize = 32 << 10
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	// Pebble's default reaction to a corrupt block is to exit the process. A server must instead
	// refuse the read with an error naming the file, and keep serving what is intact.
	var corruptPath atomic.Pointer[string]
	po.EventListener = &pebble.EventListener{DataCorruption: func(info pebble.DataCorruptionInfo) {
		corruptPath.Store(&info.Path)
		opts.Logger.Error("event store: on-disk corruption", "file", info.Path, "err", info.Details.Error())
	}}
	po.EnsureDefaults()
	db, err := pebble.Open(filepath.Join(dir, "events"), po)
	if err != nil {
		lock.Close()
		if pebble.IsCorruptionError(err) || errors.Is(err, record.ErrInvalidChunk) || errors.Is(err, record.ErrZeroedChunk) || errors.Is(err, record.ErrUnexpectedEOF) {
			where := ""
			if wal := damagedWAL(filepath.Join(dir, "events")); wal != "" {
				where = " in write-ahead log " + wal
			}
			return nil, fmt.Errorf("%w: open event store in %s: damage%s: %v; refusing to open rather than drop acknowledged events",
				eventstore.ErrCorrupt, dir, where, err)
		}
		return nil, fmt.Errorf("open event store in %s: %w", dir, err)
	}
	s := &Store{
		db: db, dir: dir, opts: opts, lock: lock, corruptPath: &corruptPath,
		reqs:    make(chan *writeReq, 4096),
		stopped: make(chan struct{}),
		notify:  make(chan struct{}),
		pending: map[string]uint64{},
		closing: make(chan struct{}),
	}
	head, err := s.lastPosition()
	if err != nil {
		db.Close()
		lock.Close()
		return nil, err
	}
	s.head.Store(head)
	go s.commitLoop(head)
	return s, nil
}

// lastPosition finds the last event on disk and checks that its record is intact.
func (s *Store) lastPosition() (uint64, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'e'}, UpperBound: []byte{'f'}})
	if err != nil {
		return 0, fmt.Errorf("open event store in %s: %w", s.dir, err)
	}
	defer it.Close()
	if !it.Last() {
		return 0, s.engineErr("open event store", it.Error())
	}
	pos := decodePos(it.Key()[1:])
	v, err := it.ValueAndErr()
	if err != nil {
		return 0, s.engineErr("open event store", err)
	}
	if _, _, err := decodeHead(pos, v); err != nil {
		return 0, fmt.Errorf("open event store in %s: %w", s.dir, err)
	}
	return pos, nil
}

// engineErr wraps an engine error, classifying corruption.
func (s *Store) engineErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if pebble.IsCorruptionError(err) {
		file := ""
		if p := s.corruptPath.Load(); p != nil {
			file = " (file " + *p + ")"
		}
		return fmt.Errorf("%w: %s in %s%s: %v", eventstore.ErrCorrupt, op, s.dir, file, err)
	}
	if errors.Is(err, pebble.ErrClosed) {
		return fmt.Errorf("%s: %w", op, eventstore.ErrClosed)
	}
	return fmt.Errorf("%s in %s: %w", op, s.dir, err)
}

// Head returns the position of the last durable event (0 for an empty log).
func (s *Store) Head() eventstore.Position {
	h := s.head.Load()
	return eventstore.Position{Commit: h, Prepare: h}
}

// Close ends subscriptions, waits for the operations in progress (an iteration of ReadStream or
// ReadAll lasts until its loop ends, so never call Close from inside one), stops the committer,
// and releases the directory lock.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()
	s.inflight.Wait() // no new requests can enter now
	close(s.reqs)
	<-s.stopped
	err := s.db.Close()
	s.lock.Close()
	return err
}

// enter registers an operation; it fails once the store is closing.
func (s *Store) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	s.inflight.Add(1)
	return nil
}

func (s *Store) waitChan() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notify
}

// markPending records, before group seq is applied to the engine, the streams whose state it
// changes: until the group is durable, readers of those streams wait (see awaitDurable).
func (s *Store) markPending(seq uint64, streams []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, stream := range streams {
		s.pending[stream] = seq
	}
}

// groupDurable publishes that group seq is durable: its streams' states become readable, the
// head moves to head, and waiting readers and subscriptions wake.
func (s *Store) groupDurable(seq uint64, streams []string, head uint64) {
	s.head.Store(head)
	s.mu.Lock()
	s.synced = seq
	for _, stream := range streams {
		if s.pending[stream] == seq {
			delete(s.pending, stream)
		}
	}
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

// awaitDurable returns once every state change of stream that a read begun before the call can
// have seen is durable: the engine shows a batch before its WAL sync, and a reader must not
// report a deletion or metadata that a crash could take back. Call it after taking the read's
// snapshot.
func (s *Store) awaitDurable(ctx context.Context, stream string) error {
	s.mu.Lock()
	seq, ok := s.pending[stream]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	for {
		s.mu.Lock()
		done, failed, wait := s.synced >= seq, s.failed, s.notify
		s.mu.Unlock()
		switch {
		case done:
			return nil
		case failed != nil:
			return failed
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return eventstore.ErrClosed
		}
	}
}

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("event store engine: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("event store engine fatal: " + fmt.Sprintf(format, args...))
	os.Exit(70)
}

// Verify reads the whole log and checks every record's checksum and that positions run from 1 to
// the head with no hole. The engine checks each block's checksum as it reads it from disk. The
// first problem found is returned as ErrCorrupt naming the position and, for a damaged block, the
// file.
func (s *Store) Verify(ctx context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	head := s.head.Load()
	var last uint64
	err := s.scanCheck(ctx, 1, head, false, nil, 0, true, func(e eventstore.RecordedEvent) bool {
		if e.Position.Commit != last+1 {
			return false
		}
		last = e.Position.Commit
		return true
	}, nil)
	if err != nil {
		return err
	}
	if last != head {
		return fmt.Errorf("%w: verify %s: the log jumps from position %d to past it, head is %d", eventstore.ErrCorrupt, s.dir, last, head)
	}
	return nil
}

// fail records that a commit failed; every later write is refused with err.
func (s *Store) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = err
		close(s.notify) // readers waiting for durability learn of the failure
		s.notify = make(chan struct{})
	}
}

func (s *Store) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// Compact rewrites the whole store into the engine's bottom level and returns once done, leaving
// no background compaction behind. Reads are fastest afterwards; writes go on meanwhile.
func (s *Store) Compact(ctx context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	if err := s.db.Compact(ctx, []byte{0}, []byte{0xff}, true); err != nil {
		return s.engineErr("compact", err)
	}
	return nil
}

// damagedWAL names the first write-ahead log file in dir that cannot be read to its end, or
// returns "" when every one reads cleanly.
func damagedWAL(dir string) string {
	wals, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	sort.Strings(wals)
	for _, path := range wals {
		num, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(path), ".log"), 10, 64)
		if err != nil {
			continue
		}
		if !walReadsCleanly(path, num) {
			return path
		}
	}
	return ""
}

func walReadsCleanly(path string, num uint64) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	rr := newWALReader(record.NewReader, f, num)
	for {
		r, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return false
		}
	}
}

// newWALReader calls the engine's record.NewReader, whose file-number parameter has a type of an
// internal package: inference names it for us.
func newWALReader[N ~uint64](newReader func(io.Reader, N) *record.Reader, r io.Reader, num uint64) *record.Reader {
	return newReader(r, N(num))
}
