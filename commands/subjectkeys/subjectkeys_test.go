package subjectkeys

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/idstream/idstream/commands/secret"
)

func sealer(t *testing.T, b byte) *secret.Sealer {
	t.Helper()
	s, err := secret.NewSealer(bytes.Repeat([]byte{b}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// filesContain reports whether any file under dir holds b.
func filesContain(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted by the engine meanwhile
		}
		if err != nil {
			return err
		}
		found = found || bytes.Contains(data, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestKeysLiveAcrossRestartAndDieForGood(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, sealer(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Keys(ctx, []string{"u1", "u2"}, true)
	if err != nil || len(got["u1"]) != 32 || len(got["u2"]) != 32 || bytes.Equal(got["u1"], got["u2"]) {
		t.Fatalf("create: %v %v", got, err)
	}
	k1 := got["u1"]
	none, err := s.Keys(ctx, []string{"u3"}, false)
	if err != nil || len(none) != 0 {
		t.Fatalf("without create a missing key is absent: %v %v", none, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if filesContain(t, dir, k1) {
		t.Fatal("a key is stored unwrapped")
	}

	s, err = Open(dir, sealer(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	again, err := s.Keys(ctx, []string{"u1"}, true)
	if err != nil || !bytes.Equal(again["u1"], k1) {
		t.Fatalf("after restart: %x, %v; want the same key", again["u1"], err)
	}
	v, closer, err := s.db.Get(dbKey("u1"))
	if err != nil {
		t.Fatal(err)
	}
	wrapped := bytes.Clone(v)
	closer.Close()
	if !filesContain(t, dir, wrapped) {
		t.Fatal("the wrapped key is not in the files: the check below proves nothing")
	}
	if err := s.Destroy(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if filesContain(t, dir, wrapped) {
		t.Fatal("the destroyed key, wrapped, is still in the database's files")
	}
	after, err := s.Keys(ctx, []string{"u1", "u2"}, true)
	if err != nil || after["u1"] != nil || len(after["u2"]) != 32 {
		t.Fatalf("after destroy: %v %v; want u1 absent for good, u2 kept", after, err)
	}
	if f, _ := s.Forgotten("u1"); !f {
		t.Fatal("Forgotten(u1) = false")
	}
	if err := s.Destroy(ctx, "never-had-one"); err != nil {
		t.Fatal(err)
	}
}

func TestWrongOperatorKeyIsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, sealer(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Keys(ctx, []string{"u1"}, true); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir, sealer(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Keys(ctx, []string{"u1"}, true); err == nil {
		t.Fatal("a key wrapped by another operator key opened (or was silently replaced)")
	}
}

func TestConcurrentCreatesAgree(t *testing.T) {
	s, err := Open(t.TempDir(), sealer(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	for i := range keys {
		wg.Go(func() {
			got, err := s.Keys(context.Background(), []string{"same"}, true)
			if err != nil {
				t.Error(err)
			}
			keys[i] = got["same"]
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("two callers got two different keys for one subject")
		}
	}
}
