// Package secret seals small secrets (TOTP seeds, connector credentials) with the operator's
// key before they enter the event log, and opens them again.
//
// A sealed value reads "v1:<key id>:<base64(nonce || ciphertext)>": AES-256-GCM with a random
// 96-bit nonce, authenticated with additional data the caller chooses (what the secret belongs
// to, so a sealed value copied onto another record does not open). The key ID is the first 8
// hex digits of the key's SHA-256, so that key rotation can be added: a value names the key it
// needs.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// KeySize is the size of an operator key: AES-256.
const KeySize = 32

// ErrOpen is wrapped by every error of Open: the sealed value is malformed, was sealed with
// another key or for other additional data, or was tampered with.
var ErrOpen = errors.New("cannot open sealed secret")

// Sealer seals and opens secrets with one operator key. It is safe for concurrent use.
type Sealer struct {
	aead  cipher.AEAD
	keyID string
}

// NewSealer returns a Sealer of key, which must be KeySize bytes.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key: want %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Sealer{aead: aead, keyID: KeyID(key)}, nil
}

// KeyID returns the first 8 hex digits of key's SHA-256.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// KeyID returns the ID of the Sealer's key.
func (s *Sealer) KeyID() string { return s.keyID }

// Seal encrypts plain, bound to aad, as "v1:<key id>:<base64(nonce||ciphertext)>".
func (s *Sealer) Seal(plain []byte, aad string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, plain, []byte(aad))
	return "v1:" + s.keyID + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value of Seal given the same aad. Every failure wraps ErrOpen and says which
// check failed, never quoting the value.
func (s *Sealer) Open(sealed, aad string) ([]byte, error) {
	version, rest, ok := strings.Cut(sealed, ":")
	if !ok || version != "v1" {
		return nil, fmt.Errorf("%w: not a v1 sealed value", ErrOpen)
	}
	keyID, body, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, fmt.Errorf("%w: no key ID", ErrOpen)
	}
	if keyID != s.keyID {
		return nil, fmt.Errorf("%w: sealed with key %s, this server holds key %s", ErrOpen, keyID, s.keyID)
	}
	raw, err := base64.RawStdEncoding.DecodeString(body)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, fmt.Errorf("%w: the ciphertext is not base64 of nonce and sealed data", ErrOpen)
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed (tampered with, or sealed for another record)", ErrOpen)
	}
	return plain, nil
}

// LoadOrCreateKey reads the operator key from path: KeySize bytes written as hex (surrounding
// white space ignored). When path does not exist it creates it, mode 0600, holding a new random
// key. A key file readable or writable by group or others, or not holding exactly one
// hex-encoded key, is refused with an error saying which.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := loadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("create secret key %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadKey(path) // created concurrently
	}
	if err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	if serr := f.Sync(); werr == nil {
		werr = serr
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return nil, fmt.Errorf("create secret key %s: %w", path, werr)
	}
	return key, nil
}

func loadKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("secret key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("secret key %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("secret key %s: mode %04o lets group or others access it; run chmod 600 %s", path, perm, path)
	}
	buf := make([]byte, 4*KeySize)
	n, err := f.Read(buf)
	if err != nil && n == 0 {
		return nil, fmt.Errorf("secret key %s: %w", path, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(buf[:n])))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("secret key %s: want %d bytes written as %d hex digits", path, KeySize, 2*KeySize)
	}
	return key, nil
}
