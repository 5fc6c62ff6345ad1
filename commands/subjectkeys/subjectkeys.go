// Package subjectkeys keeps the per-subject data keys that seal personal data in events
// (eventstore.SubjectKeys) in a small embedded database beside the event log, each key wrapped
// with the operator's key.
//
// Forgetting a subject replaces its wrapped key by a tombstone (so that it never gets a key
// again) and then compacts the database's files over that key, so the wrapped key does not
// linger in them (the engine deletes the replaced files in the background, within moments). What may linger is outside this package's reach: copies in backups of the data
// directory, and blocks of the file system not yet reused — which hold the key only wrapped by
// the operator key. Destroy the operator key with the last backup that needs it.
//
// The key store is local to one machine: several idstream processes sharing one event store
// need a shared key store (the PostgreSQL one).
package subjectkeys

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/idstream/idstream/commands/secret"
	"github.com/idstream/idstream/eventstore"
)

// Store is an eventstore.SubjectKeys in a pebble database. It is safe for concurrent use.
type Store struct {
	db     *pebble.DB
	sealer *secret.Sealer
	mu     sync.Mutex // serializes creation, so that two callers never create two keys
	// open guards db against Close: readers hold it shared, Close exclusively.
	open   sync.RWMutex
	closed bool
}

// ErrClosed is returned by a Store used after Close.
var ErrClosed = errors.New("subject key store closed")

func (s *Store) enter() error {
	s.open.RLock()
	if s.closed {
		s.open.RUnlock()
		return ErrClosed
	}
	return nil
}

var _ eventstore.SubjectKeys = (*Store)(nil)

// tombstone is the value of a forgotten subject.
const tombstone = "forgotten"

// Open opens (creating it when absent) the key store in dir, wrapping keys with sealer.
func Open(dir string, sealer *secret.Sealer) (*Store, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("subject keys %s: %w", dir, err)
	}
	return &Store{db: db, sealer: sealer}, nil
}

// Close closes the database; calls after it, or racing with it, fail with ErrClosed.
func (s *Store) Close() error {
	s.open.Lock()
	defer s.open.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}

func dbKey(subject string) []byte { return []byte("k/" + subject) }

func aad(subject string) string { return "subject-key:" + subject }

// Keys implements eventstore.SubjectKeys.
func (s *Store) Keys(ctx context.Context, subjects []string, create bool) (map[string][]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.open.RUnlock()
	out := make(map[string][]byte, len(subjects))
	missing, err := s.read(subjects, out)
	if err != nil || !create || len(missing) == 0 {
		return out, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if missing, err = s.read(missing, out); err != nil || len(missing) == 0 { // created meanwhile
		return out, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	fresh := make(map[string][]byte, len(missing))
	for _, subject := range missing {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		key, err := eventstore.NewSubjectKey()
		if err != nil {
			return nil, err
		}
		wrapped, err := s.sealer.Seal(key, aad(subject))
		if err != nil {
			return nil, err
		}
		if err := b.Set(dbKey(subject), []byte(wrapped), nil); err != nil {
			return nil, err
		}
		fresh[subject] = key
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("store subject keys: %w", err)
	}
	for k, v := range fresh {
		out[k] = v
	}
	return out, nil
}

// read fills out with the keys of subjects it finds and returns those without any record
// (forgotten ones have a record: the tombstone).
func (s *Store) read(subjects []string, out map[string][]byte) (missing []string, err error) {
	for _, subject := range subjects {
		v, closer, err := s.db.Get(dbKey(subject))
		if errors.Is(err, pebble.ErrNotFound) {
			missing = append(missing, subject)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read subject key: %w", err)
		}
		wrapped := string(v)
		closer.Close()
		if wrapped == tombstone {
			continue
		}
		key, err := s.sealer.Open(wrapped, aad(subject))
		if err != nil {
			return nil, fmt.Errorf("subject key of %s: %w", subject, err)
		}
		out[subject] = key
	}
	return missing, nil
}

// Destroy implements eventstore.SubjectKeys: the key is replaced by a tombstone, then the
// database's files are compacted over it.
func (s *Store) Destroy(ctx context.Context, subject string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.open.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := dbKey(subject)
	if err := s.db.Set(k, []byte(tombstone), pebble.Sync); err != nil {
		return fmt.Errorf("destroy subject key: %w", err)
	}
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("destroy subject key: flush: %w", err)
	}
	end := append(append([]byte{}, k...), 0)
	if err := s.db.Compact(ctx, k, end, true); err != nil {
		return fmt.Errorf("destroy subject key: compact: %w", err)
	}
	return nil
}

// Forgotten reports whether subject's key was destroyed.
func (s *Store) Forgotten(subject string) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.open.RUnlock()
	v, closer, err := s.db.Get(dbKey(subject))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	return string(v) == tombstone, nil
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("subject keys: "+format, args...))
}
