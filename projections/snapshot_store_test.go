package projections

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/idstream/idstream/eventstore"
)

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func dirAt(commit uint64) *Directory {
	d := NewDirectory()
	d.Apply(Change{Position: eventstore.Position{Commit: commit, Prepare: commit}})
	return d
}

func TestSnapshotStoreSaveListNearestLoad(t *testing.T) {
	snaps, err := OpenSnapshotStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := foldHistory(t, richHistory(30))
	info, err := snaps.Save(f.d)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []uint64{5, 20} {
		if _, err := snaps.Save(dirAt(c)); err != nil {
			t.Fatal(err)
		}
	}
	refs, err := snaps.List()
	if err != nil || len(refs) != 3 || refs[0].Position.Commit != 5 || refs[2].Position != info.Position || refs[2].Bytes != info.Bytes {
		t.Fatalf("list %+v %v", refs, err)
	}
	for _, c := range []struct{ at, want uint64 }{{4, 0}, {5, 5}, {19, 5}, {20, 20}, {1 << 40, info.Position.Commit}} {
		ref, ok, err := snaps.Nearest(eventstore.Position{Commit: c.at, Prepare: c.at})
		if err != nil || ok != (c.want != 0) || ref.Position.Commit != c.want {
			t.Errorf("nearest %d: %+v %v %v", c.at, ref, ok, err)
		}
	}
	d, _, err := snaps.Load(refs[2])
	if err != nil {
		t.Fatal(err)
	}
	sameModel(t, "loaded", d, f.d)

	// A file of another projection version is not Nearest's, and a file renamed to another
	// position, or with bytes appended, is refused.
	other := filepath.Join(snaps.Dir(), snapshotName(DirectoryVersion+1, eventstore.Position{Commit: 30, Prepare: 30}))
	b, _ := os.ReadFile(refs[1].Path)
	writeFile(t, other, b)
	if ref, _, _ := snaps.Nearest(eventstore.Position{Commit: 40, Prepare: 40}); ref.Position.Commit != 20 {
		t.Fatalf("nearest took %+v", ref)
	}
	moved := SnapshotRef{Path: filepath.Join(snaps.Dir(), snapshotName(DirectoryVersion, eventstore.Position{Commit: 21, Prepare: 21})),
		Position: eventstore.Position{Commit: 21, Prepare: 21}}
	writeFile(t, moved.Path, b)
	if _, _, err := snaps.Load(moved); err == nil {
		t.Fatal("a snapshot under another position's name was loaded")
	}
	writeFile(t, refs[1].Path, append(b, 0))
	if _, _, err := snaps.Load(refs[1]); err == nil {
		t.Fatal("a snapshot with a trailing byte was loaded")
	}
}

func TestSnapshotRetention(t *testing.T) {
	snaps, err := OpenSnapshotStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for c := uint64(1); c <= 1000; c++ {
		if _, err := snaps.Save(dirAt(c * 10)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(snaps.Dir(), ".tmp-directory-123"), []byte("x"))
	writeFile(t, filepath.Join(snaps.Dir(), snapshotName(DirectoryVersion+1, eventstore.Position{Commit: 7})), []byte("x"))
	dropped, err := snaps.Prune(Retention{KeepNewest: 3})
	if err != nil {
		t.Fatal(err)
	}
	refs, _ := snaps.List()
	if len(refs)+len(dropped) != 1001 {
		t.Fatalf("kept %d, dropped %d", len(refs), len(dropped))
	}
	// The three newest, then one per power-of-two distance band from the newest (10000).
	var kept []uint64
	for _, r := range refs {
		kept = append(kept, r.Position.Commit)
	}
	bands := map[int]int{}
	for _, c := range kept[:len(kept)-3] {
		d := 10000 - c
		k := 0
		for ; d > 0; d >>= 1 {
			k++
		}
		bands[k]++
	}
	for k, n := range bands {
		if n != 1 {
			t.Errorf("band %d holds %d snapshots", k, n)
		}
	}
	if n := len(kept); kept[n-1] != 10000 || kept[n-2] != 9990 || kept[n-3] != 9980 || len(kept) > 3+14 || len(bands) != 10 { // distances 30..9990 in steps of 10 span bit lengths 5 to 14
		t.Fatalf("kept %v", kept)
	}
	entries, _ := os.ReadDir(snaps.Dir())
	if len(entries) != len(refs) {
		t.Fatalf("%d files for %d snapshots (leftovers not removed)", len(entries), len(refs))
	}
	// Pruning again keeps the same set: the rule is stable.
	if dropped, _ := snaps.Prune(Retention{KeepNewest: 3}); len(dropped) != 0 {
		t.Fatalf("second prune dropped %v", dropped)
	}
}

func TestSnapshotterWritesEveryNAndAtShutdown(t *testing.T) {
	snaps, err := OpenSnapshotStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := NewDirectory()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- NewSnapshotter(d, snaps, SnapshotterOptions{Every: 100, Poll: time.Millisecond}).Run(ctx)
	}()
	d.Apply(Change{Position: eventstore.Position{Commit: 50, Prepare: 50}})
	d.Apply(Change{Position: eventstore.Position{Commit: 150, Prepare: 150}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ref, ok, _ := snaps.Latest(); ok && ref.Position.Commit == 150 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no snapshot after 100 positions")
		}
		time.Sleep(time.Millisecond)
	}
	d.Apply(Change{Position: eventstore.Position{Commit: 160, Prepare: 160}})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	refs, _ := snaps.List()
	if len(refs) != 2 || refs[0].Position.Commit != 150 || refs[1].Position.Commit != 160 {
		t.Fatalf("snapshots %+v", refs)
	}
}
