package subjectkeys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
	// The engine deletes the compacted files in the background: give it a moment.
	for deadline := time.Now().Add(5 * time.Second); filesContain(t, dir, wrapped); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the destroyed key, wrapped, is still in the database's files")
		}
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

// testPostgres opens a Postgres key store in a fresh schema of the local test database; it
// skips loudly without PostgreSQL, except under CI=true.
func testPostgres(t *testing.T, s *secret.Sealer) *Postgres {
	t.Helper()
	url := os.Getenv("IDSTREAM_TEST_POSTGRES")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	schema := fmt.Sprintf("keys_test_%d", time.Now().UnixNano())
	p, err := OpenPostgres(context.Background(), url, schema, s)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is needed under CI=true: %v", err)
		}
		t.Skipf("SKIPPING: no PostgreSQL at %s (%v)", url, err)
	}
	t.Cleanup(func() {
		p.pool.Exec(context.Background(), `DROP SCHEMA "`+schema+`" CASCADE`)
		p.Close()
	})
	return p
}

func TestPostgresKeys(t *testing.T) {
	ctx := context.Background()
	s := sealer(t, 1)
	p := testPostgres(t, s)
	got, err := p.Keys(ctx, []string{"u1", "u2"}, true)
	if err != nil || len(got["u1"]) != 32 || len(got["u2"]) != 32 {
		t.Fatalf("create: %v %v", got, err)
	}
	// Another process (another pool on the same table) gets the same keys.
	other, err := OpenPostgres(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", p.table[1:len(p.table)-len(`".subject_keys`)], s)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	again, err := other.Keys(ctx, []string{"u1", "u3"}, false)
	if err != nil || !bytes.Equal(again["u1"], got["u1"]) || again["u3"] != nil {
		t.Fatalf("the other process: %v %v", again, err)
	}
	// Concurrent creation from two processes agrees.
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	for i := range keys {
		store := p
		if i%2 == 1 {
			store = other
		}
		wg.Go(func() {
			k, err := store.Keys(ctx, []string{"race"}, true)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k["race"]
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("two processes got two keys for one subject")
		}
	}
	if err := other.Destroy(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	after, err := p.Keys(ctx, []string{"u1", "u2"}, true)
	if err != nil || after["u1"] != nil || len(after["u2"]) != 32 {
		t.Fatalf("after destroy: %v %v; want u1 absent for good", after, err)
	}
	if f, err := p.Forgotten(ctx, "u1"); err != nil || !f {
		t.Fatalf("Forgotten(u1) = %v, %v", f, err)
	}
	// The wrapped key is not stored in the clear.
	var wrapped string
	if err := p.pool.QueryRow(ctx, `SELECT wrapped FROM `+p.table+` WHERE subject = 'u2'`).Scan(&wrapped); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(wrapped, fmt.Sprintf("%x", after["u2"])) || !strings.HasPrefix(wrapped, "v1:") {
		t.Fatalf("stored key %q is not wrapped", wrapped)
	}
	if _, err := OpenPostgres(ctx, "postgres://127.0.0.1:5432/test", "Bad-Schema", s); err == nil {
		t.Fatal("a bad schema name was accepted")
	}
}
