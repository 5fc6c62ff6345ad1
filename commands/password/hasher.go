package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/argon2"

	"github.com/idstream/idstream/domain"
)

// Params are the argon2id parameters of new hashes.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are OWASP's recommended argon2id parameters: 19 MiB, 2 passes, 1 thread, with a
// 16-byte salt and a 32-byte key.
func DefaultParams() Params {
	return Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Validate reports parameters this package would refuse to read back from a hash.
func (p Params) Validate() error {
	var errs []error
	if p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgonMemory {
		errs = append(errs, fmt.Errorf("argon2id memory %d KiB: want 8×threads to %d", p.Memory, maxArgonMemory))
	}
	if p.Time < 1 || p.Time > maxArgonTime {
		errs = append(errs, fmt.Errorf("argon2id time %d: want 1 to %d", p.Time, maxArgonTime))
	}
	if p.Threads < 1 || p.Threads > maxArgonThreads {
		errs = append(errs, fmt.Errorf("argon2id threads %d: want 1 to %d", p.Threads, maxArgonThreads))
	}
	if p.SaltLen < 8 || p.SaltLen > maxSaltLen {
		errs = append(errs, fmt.Errorf("argon2id salt length %d: want 8 to %d", p.SaltLen, maxSaltLen))
	}
	if p.KeyLen < 16 || p.KeyLen > maxKeyLen {
		errs = append(errs, fmt.Errorf("argon2id key length %d: want 16 to %d", p.KeyLen, maxKeyLen))
	}
	return errors.Join(errs...)
}

// MaxPasswordBytes bounds the plain passwords hashed or verified (a policy allows at most 1024
// characters, at most 4 bytes each). Longer input never verifies and is refused by Hash.
const MaxPasswordBytes = 4096

// Hasher hashes new passwords with argon2id and verifies every supported format. It is safe
// for concurrent use; its fields must not change once it is in use.
type Hasher struct {
	params Params
	rand   io.Reader
}

// NewHasher returns a Hasher of new hashes with params (see DefaultParams).
func NewHasher(params Params) (*Hasher, error) {
	if err := params.Validate(); err != nil {
		return nil, fmt.Errorf("password hasher: %w", err)
	}
	return &Hasher{params: params, rand: rand.Reader}, nil
}

// Params returns the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// Hash checks plain against policy (every unmet rule, as *domain.FieldError on "password")
// and returns its argon2id hash.
func (h *Hasher) Hash(policy domain.PasswordPolicy, username, plain string) (string, error) {
	if err := domain.CheckPassword(policy, plain, username); err != nil {
		return "", err
	}
	return h.Rehash(plain)
}

// Rehash returns the argon2id hash of plain without checking any policy: it is for a password
// that has just verified against an older hash.
func (h *Hasher) Rehash(plain string) (string, error) {
	if len(plain) > MaxPasswordBytes {
		return "", domain.Invalidf("password", "is too long")
	}
	salt := make([]byte, h.params.SaltLen)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return "", fmt.Errorf("hash password: read random salt: %w", err)
	}
	p := argonHash{memory: h.params.Memory, time: h.params.Time, threads: h.params.Threads, salt: salt}
	p.key = argon2.IDKey([]byte(plain), salt, p.time, p.memory, p.threads, h.params.KeyLen)
	return p.String(), nil
}

// CheckImported reports whether hash, brought from another system, is one this package can
// verify within its cost bounds. The error is a *domain.FieldError on field "passwordHash"
// saying what is wrong, never quoting the hash.
func (h *Hasher) CheckImported(hash string) error {
	if _, err := parse(hash); err != nil {
		return &domain.FieldError{Field: "passwordHash", Reason: err.Error()}
	}
	return nil
}

// ErrMalformedHash is wrapped by Verify's error when the stored hash cannot be read.
var ErrMalformedHash = errors.New("malformed password hash")

// Verify reports whether plain is the password of hash. needsRehash is true when plain verified
// against a hash that is not argon2id, or argon2id with weaker parameters (less memory, fewer
// passes, a shorter salt or key) than h's. A hash it cannot read is an error wrapping
// ErrMalformedHash that says what is wrong; a wrong password is ok false with a nil error.
// Comparisons take constant time in the compared values.
func (h *Hasher) Verify(hash, plain string) (ok, needsRehash bool, err error) {
	v, err := parse(hash)
	if err != nil {
		return false, false, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	if len(plain) > MaxPasswordBytes {
		return false, false, nil
	}
	ok, err = v.verify(plain)
	if err != nil || !ok {
		return false, false, err
	}
	return true, v.weakerThan(h.params), nil
}

// verifier is one parsed hash.
type verifier interface {
	verify(plain string) (bool, error)
	// weakerThan reports whether the hash should be replaced by one with params.
	weakerThan(params Params) bool
}

// argonHash is a parsed argon2id PHC string.
type argonHash struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func (a argonHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, a.memory, a.time, a.threads,
		base64.RawStdEncoding.EncodeToString(a.salt), base64.RawStdEncoding.EncodeToString(a.key))
}

func (a argonHash) verify(plain string) (bool, error) {
	key := argon2.IDKey([]byte(plain), a.salt, a.time, a.memory, a.threads, uint32(len(a.key)))
	return subtle.ConstantTimeCompare(key, a.key) == 1, nil
}

func (a argonHash) weakerThan(p Params) bool {
	return a.memory < p.Memory || a.time < p.Time || uint32(len(a.salt)) < p.SaltLen || uint32(len(a.key)) < p.KeyLen
}
