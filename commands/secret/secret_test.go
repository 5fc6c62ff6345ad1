package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testSealer(t *testing.T, fill byte) *Sealer {
	t.Helper()
	s, err := NewSealer(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	s := testSealer(t, 1)
	sealed, err := s.Seal([]byte("JBSWY3DPEHPK3PXP"), "user-1:device-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "v1:"+s.KeyID()+":") || len(s.KeyID()) != 8 || strings.Contains(sealed, "JBSWY3DP") {
		t.Fatalf("sealed %q", sealed)
	}
	again, _ := s.Seal([]byte("JBSWY3DPEHPK3PXP"), "user-1:device-1")
	if again == sealed {
		t.Fatal("nonce reused")
	}
	plain, err := s.Open(sealed, "user-1:device-1")
	if err != nil || string(plain) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open: %q %v", plain, err)
	}

	// Wrong additional data: a secret copied onto another device does not open.
	if _, err := s.Open(sealed, "user-1:device-2"); !errors.Is(err, ErrOpen) {
		t.Fatalf("wrong aad: %v", err)
	}
	// Every flipped bit of nonce or ciphertext is detected.
	raw, _ := base64.RawStdEncoding.DecodeString(sealed[len("v1:")+9:])
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x01
		tampered := "v1:" + s.KeyID() + ":" + base64.RawStdEncoding.EncodeToString(bad)
		if _, err := s.Open(tampered, "user-1:device-1"); !errors.Is(err, ErrOpen) {
			t.Fatalf("flipped byte %d opened: %v", i, err)
		}
	}
	// Another key: refused by key ID before decrypting.
	other := testSealer(t, 2)
	if _, err := other.Open(sealed, "user-1:device-1"); !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), s.KeyID()) {
		t.Fatalf("other key: %v", err)
	}
	for _, bad := range []string{"", "v2:x:y", "v1:" + s.KeyID(), "v1:" + s.KeyID() + ":!!", "v1:" + s.KeyID() + ":AAAA"} {
		if _, err := s.Open(bad, ""); !errors.Is(err, ErrOpen) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestNewSealerKeyLength(t *testing.T) {
	if _, err := NewSealer(make([]byte, 16)); err == nil {
		t.Fatal("16-byte key accepted")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.key")
	key, err := LoadOrCreateKey(path)
	if err != nil || len(key) != KeySize {
		t.Fatalf("create: %d bytes, %v", len(key), err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	again, err := LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("reload: %v", err)
	}

	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable key: %v", err)
	}

	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("abcd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(short); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Fatalf("short key: %v", err)
	}
	if _, err := LoadOrCreateKey(filepath.Join(dir, "missing-dir", "k")); err == nil {
		t.Fatal("key created in a missing directory")
	}
}
