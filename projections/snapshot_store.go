package projections

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// SnapshotStore keeps Directory snapshots as files in one directory (the server uses
// <data dir>/snapshots), named by projection version and position:
// directory-v<version>-<commit>-<prepare>.snap. Files are written atomically (a temporary
// file, fsync, rename, fsync of the directory), so a crash leaves either the whole snapshot or
// none. Methods are safe for concurrent use within one process; two processes must not share a
// directory.
type SnapshotStore struct {
	dir string
	mu  sync.Mutex // serialises Save and Prune
}

// SnapshotRef names a stored snapshot.
type SnapshotRef struct {
	Position          eventstore.Position
	ProjectionVersion int
	Path              string
	Bytes             int64
}

// OpenSnapshotStore opens (creating it if needed) the snapshot directory dir.
func OpenSnapshotStore(dir string) (*SnapshotStore, error) {
	if dir == "" {
		return nil, domain.Invalidf("snapshotDir", "empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open snapshot store %s: %w: %w", dir, domain.ErrUnavailable, err)
	}
	return &SnapshotStore{dir: dir}, nil
}

// Dir returns the store's directory.
func (s *SnapshotStore) Dir() string { return s.dir }

func snapshotName(version int, pos eventstore.Position) string {
	return fmt.Sprintf("directory-v%d-%020d-%020d.snap", version, pos.Commit, pos.Prepare)
}

func parseSnapshotName(name string) (version int, pos eventstore.Position, ok bool) {
	if !strings.HasPrefix(name, "directory-v") || !strings.HasSuffix(name, ".snap") {
		return 0, pos, false
	}
	n, err := fmt.Sscanf(name, "directory-v%d-%d-%d.snap", &version, &pos.Commit, &pos.Prepare)
	return version, pos, err == nil && n == 3 && snapshotName(version, pos) == name
}

// Save writes a snapshot of d (see WriteSnapshot) and returns its description. A snapshot at
// the same position is replaced.
func (s *SnapshotStore) Save(d *Directory) (SnapshotInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(err error) (SnapshotInfo, error) {
		return SnapshotInfo{}, fmt.Errorf("save snapshot in %s: %w: %w", s.dir, domain.ErrUnavailable, err)
	}
	tmp, err := os.CreateTemp(s.dir, ".tmp-directory-*")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing there
	info, err := d.WriteSnapshot(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.dir, snapshotName(DirectoryVersion, info.Position))); err != nil {
		return fail(err)
	}
	if err := syncDir(s.dir); err != nil {
		return fail(err)
	}
	return info, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// List returns the stored snapshots of every projection version, oldest position first.
func (s *SnapshotStore) List() ([]SnapshotRef, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list snapshots in %s: %w: %w", s.dir, domain.ErrUnavailable, err)
	}
	var out []SnapshotRef
	for _, e := range entries {
		v, pos, ok := parseSnapshotName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		ref := SnapshotRef{Position: pos, ProjectionVersion: v, Path: filepath.Join(s.dir, e.Name())}
		if fi, err := e.Info(); err == nil {
			ref.Bytes = fi.Size()
		}
		out = append(out, ref)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Position != out[j].Position {
			return out[i].Position.Less(out[j].Position)
		}
		return out[i].ProjectionVersion < out[j].ProjectionVersion
	})
	return out, nil
}

// Nearest returns the newest snapshot of DirectoryVersion at or before pos; ok is false when
// there is none.
func (s *SnapshotStore) Nearest(pos eventstore.Position) (ref SnapshotRef, ok bool, err error) {
	all, err := s.List()
	if err != nil {
		return SnapshotRef{}, false, err
	}
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].ProjectionVersion == DirectoryVersion && !pos.Less(all[i].Position) {
			return all[i], true, nil
		}
	}
	return SnapshotRef{}, false, nil
}

// Latest returns the newest snapshot of DirectoryVersion; ok is false when there is none.
func (s *SnapshotStore) Latest() (SnapshotRef, bool, error) {
	return s.Nearest(eventstore.Position{Commit: ^uint64(0), Prepare: ^uint64(0)})
}

// Load reads the snapshot ref. Errors wrap ErrSnapshotCorrupt (also for a file whose size or
// position is not what its name and header say), ErrSnapshotVersion, or are of kind
// domain.ErrUnavailable (the file cannot be read) or domain.ErrNotFound (it is gone).
func (s *SnapshotStore) Load(ref SnapshotRef) (*Directory, SnapshotInfo, error) {
	f, err := os.Open(ref.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, SnapshotInfo{}, fmt.Errorf("load snapshot %s: %w", ref.Path, domain.ErrNotFound)
	}
	if err != nil {
		return nil, SnapshotInfo{}, fmt.Errorf("load snapshot %s: %w: %w", ref.Path, domain.ErrUnavailable, err)
	}
	defer f.Close()
	d, info, err := ReadSnapshot(f)
	if err != nil {
		return nil, info, fmt.Errorf("load snapshot %s: %w", ref.Path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, info, fmt.Errorf("load snapshot %s: %w: %w", ref.Path, domain.ErrUnavailable, err)
	}
	if fi.Size() != info.Bytes || info.Position != ref.Position {
		return nil, info, fmt.Errorf("load snapshot %s: %w: %d bytes at position %s, the snapshot has %d at %s",
			ref.Path, ErrSnapshotCorrupt, fi.Size(), ref.Position, info.Bytes, info.Position)
	}
	return d, info, nil
}

// Retention says which snapshots Prune keeps: the KeepNewest newest of DirectoryVersion, and of
// the older ones, one per power-of-two distance band behind the newest — the newest snapshot
// whose distance (in commit positions) d from the newest has bit length k, for each k. So
// snapshots thin out logarithmically with age (at most 64 beyond KeepNewest), and time travel
// far back still starts near its target. Snapshots of other projection versions and leftover
// temporary files are always removed.
type Retention struct {
	KeepNewest int // 0 means 3
}

// Prune removes the snapshots r does not keep and returns them.
func (s *SnapshotStore) Prune(r Retention) ([]SnapshotRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keepNewest := r.KeepNewest
	if keepNewest <= 0 {
		keepNewest = 3
	}
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	var cur, drop []SnapshotRef
	for _, ref := range all {
		if ref.ProjectionVersion == DirectoryVersion {
			cur = append(cur, ref)
		} else {
			drop = append(drop, ref)
		}
	}
	if n := len(cur); n > keepNewest {
		newest := cur[n-1].Position.Commit
		band := map[int]bool{}
		for i := n - 1 - keepNewest; i >= 0; i-- {
			k := bits.Len64(newest - cur[i].Position.Commit)
			if band[k] {
				drop = append(drop, cur[i])
				continue
			}
			band[k] = true
		}
	}
	var errs []error
	for _, ref := range drop {
		if err := os.Remove(ref.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if entries, err := os.ReadDir(s.dir); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".tmp-directory-") {
				os.Remove(filepath.Join(s.dir, e.Name())) // a crash's leftover; Save holds mu
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return drop, fmt.Errorf("prune snapshots in %s: %w: %w", s.dir, domain.ErrUnavailable, err)
	}
	return drop, nil
}

// RemoveBefore removes every snapshot (of any version) taken before pos and returns them: after
// an erasure at pos, older snapshots may hold the erased personal data.
func (s *SnapshotStore) RemoveBefore(pos eventstore.Position) ([]SnapshotRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	var gone []SnapshotRef
	var errs []error
	for _, ref := range all {
		if !ref.Position.Less(pos) {
			continue
		}
		if err := os.Remove(ref.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		gone = append(gone, ref)
	}
	if err := errors.Join(errs...); err != nil {
		return gone, fmt.Errorf("remove snapshots before %s in %s: %w: %w", pos, s.dir, domain.ErrUnavailable, err)
	}
	return gone, syncDir(s.dir)
}

// SnapshotterOptions configures a Snapshotter.
type SnapshotterOptions struct {
	// Every is how far (in commit positions: events, on the embedded store) the Directory
	// advances between snapshots. 0 means 100,000.
	Every uint64
	// Poll is how often the Directory's position is looked at. 0 means one second.
	Poll      time.Duration
	Retention Retention
	// Logf, when not nil, reports each snapshot written and each failure.
	Logf func(format string, args ...any)
}

// Snapshotter writes snapshots of a live Directory beside its Runner: whenever the Directory
// has advanced Options.Every positions since the last snapshot, and once more when Run's
// context ends, then prunes by Options.Retention. When the Directory applies an erasure
// (user.forgotten), it removes every snapshot taken before it at its next poll and writes a
// fresh one. It only reads the Directory (no hook into the Runner).
type Snapshotter struct {
	dir   *Directory
	snaps *SnapshotStore
	opts  SnapshotterOptions
}

// NewSnapshotter returns a snapshotter of dir into snaps.
func NewSnapshotter(dir *Directory, snaps *SnapshotStore, opts SnapshotterOptions) *Snapshotter {
	if opts.Every == 0 {
		opts.Every = 100_000
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	return &Snapshotter{dir: dir, snaps: snaps, opts: opts}
}

// Run snapshots until ctx ends, then writes a last snapshot if the Directory advanced since the
// last one and returns nil; a failed snapshot is logged and retried at the next poll.
func (s *Snapshotter) Run(ctx context.Context) error {
	var last eventstore.Position
	if ref, ok, err := s.snaps.Latest(); err == nil && ok {
		last = ref.Position
	}
	var purged eventstore.Position // the last erasure whose older snapshots are gone
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		s.purgeErased(&purged, &last)
		select {
		case <-ctx.Done():
			s.purgeErased(&purged, &last)
			if last.Less(s.dir.Position()) {
				s.snapshot(&last)
			}
			return nil
		case <-t.C:
			if pos := s.dir.Position(); last.Less(pos) && pos.Commit-last.Commit >= s.opts.Every {
				s.snapshot(&last)
			}
		}
	}
}

// purgeErased removes the snapshots older than the Directory's last erasure, once per erasure,
// and snapshots the Directory (which holds the erasure) in their place.
func (s *Snapshotter) purgeErased(purged, last *eventstore.Position) {
	e := s.dir.LastErasure()
	if e.IsZero() || !purged.Less(e) {
		return
	}
	gone, err := s.snaps.RemoveBefore(e)
	if err != nil {
		s.logf("projections: remove snapshots older than the erasure at %s: %v", e, err)
		return // retried at the next poll
	}
	*purged = e
	if len(gone) > 0 {
		s.logf("projections: erasure at %s: removed %d older snapshots", e, len(gone))
	}
	if last.Less(e) {
		*last = eventstore.Position{}
		s.snapshot(last)
	}
}

func (s *Snapshotter) snapshot(last *eventstore.Position) {
	start := time.Now()
	info, err := s.snaps.Save(s.dir)
	if err != nil {
		s.logf("projections: snapshot: %v", err)
		return
	}
	*last = info.Position
	s.logf("projections: snapshot at %s: %d users, %d bytes in %s (read lock held %s)", info.Position, info.Users, info.Bytes,
		time.Since(start).Round(time.Millisecond), info.Pause)
	if _, err := s.snaps.Prune(s.opts.Retention); err != nil {
		s.logf("projections: %v", err)
	}
}

func (s *Snapshotter) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}
