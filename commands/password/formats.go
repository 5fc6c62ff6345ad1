package password

import (
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Bounds on what a hash may ask for: beyond them a single verification would cost the server
// seconds to minutes, or gigabytes.
const (
	maxHashLen       = 1024
	maxArgonMemory   = 1 << 20 // KiB: 1 GiB
	maxArgonTime     = 16
	maxArgonWork     = 4 << 20 // memory × time, KiB-passes: 4 GiB
	maxArgonThreads  = 16
	maxSaltLen       = 256
	maxKeyLen        = 256
	maxPBKDF2Iter    = 10_000_000
	maxPBKDF2KeyLen  = 64 // two SHA-256 blocks at most: each block costs the iterations again
	maxBcryptCost    = 16
	supportedFormats = "argon2id, bcrypt ($2a$, $2b$, $2y$), pbkdf2-sha256, {SSHA}, {SSHA256} or {SSHA512}"
)

// parse reads a hash in any supported format, refusing costs beyond the bounds. Its errors say
// what is wrong without quoting the hash.
func parse(h string) (verifier, error) {
	switch {
	case h == "":
		return nil, errors.New("is empty")
	case len(h) > maxHashLen:
		return nil, fmt.Errorf("is longer than %d characters", maxHashLen)
	case strings.HasPrefix(h, "$argon2id$"):
		return parseArgon2id(h)
	case strings.HasPrefix(h, "$argon2i$"), strings.HasPrefix(h, "$argon2d$"):
		return nil, errors.New("argon2i and argon2d hashes are not supported; only argon2id")
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		return parseBcrypt(h)
	case strings.HasPrefix(h, "$pbkdf2-sha256$"):
		return parsePBKDF2(h)
	case strings.HasPrefix(h, "{"):
		return parseSSHA(h)
	}
	return nil, errors.New("is not in a supported format: " + supportedFormats)
}

// parseArgon2id reads "$argon2id$v=19$m=<KiB>,t=<passes>,p=<threads>$<salt>$<key>" (PHC string
// format; salt and key in base64 without padding).
func parseArgon2id(h string) (verifier, error) {
	f := strings.Split(h, "$")
	if len(f) != 6 {
		return nil, errors.New(`argon2id: want "$argon2id$v=19$m=…,t=…,p=…$<salt>$<key>"`)
	}
	if f[2] != "v=19" {
		return nil, errors.New("argon2id: only version 19 (v=19) is supported")
	}
	var m, t, p uint64
	params := strings.Split(f[3], ",")
	if len(params) != 3 {
		return nil, errors.New("argon2id: want parameters m=…,t=…,p=… in this order")
	}
	for i, want := range []struct {
		name string
		dst  *uint64
		max  uint64
	}{{"m", &m, maxArgonMemory}, {"t", &t, maxArgonTime}, {"p", &p, maxArgonThreads}} {
		v, err := uintParam(params[i], want.name)
		if err != nil {
			return nil, fmt.Errorf("argon2id: %w", err)
		}
		if v < 1 || v > want.max {
			return nil, fmt.Errorf("argon2id: %s=%d is outside 1 to %d", want.name, v, want.max)
		}
		*want.dst = v
	}
	if m < 8*p {
		return nil, fmt.Errorf("argon2id: memory m=%d is below 8 KiB per thread (p=%d)", m, p)
	}
	if m*t > maxArgonWork {
		return nil, fmt.Errorf("argon2id: memory × passes (%d) exceeds %d", m*t, maxArgonWork)
	}
	salt, err := decodeB64(f[4], base64.RawStdEncoding)
	if err != nil || len(salt) < 8 || len(salt) > maxSaltLen {
		return nil, fmt.Errorf("argon2id: salt is not base64 of 8 to %d bytes", maxSaltLen)
	}
	key, err := decodeB64(f[5], base64.RawStdEncoding)
	if err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return nil, fmt.Errorf("argon2id: key is not base64 of 16 to %d bytes", maxKeyLen)
	}
	return argonHash{memory: uint32(m), time: uint32(t), threads: uint8(p), salt: salt, key: key}, nil
}

// uintParam reads "name=<decimal>".
func uintParam(s, name string) (uint64, error) {
	v, ok := strings.CutPrefix(s, name+"=")
	if !ok {
		return 0, fmt.Errorf("want parameter %s=…", name)
	}
	return parseUint(v, name)
}

func parseUint(s, name string) (uint64, error) {
	if s == "" || len(s) > 10 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%s is not a decimal number", name)
	}
	return strconv.ParseUint(s, 10, 64)
}

// decodeB64 decodes unpadded base64 in enc's alphabet, tolerating "=" padding.
func decodeB64(s string, enc *base64.Encoding) ([]byte, error) {
	return enc.DecodeString(strings.TrimRight(s, "="))
}

// bcryptHash is a bcrypt hash ($2a$, $2b$ or $2y$).
type bcryptHash struct{ h []byte }

const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func parseBcrypt(h string) (verifier, error) {
	if len(h) != 60 || h[6] != '$' {
		return nil, errors.New(`bcrypt: want 60 characters, "$2b$<cost>$" then 53 of salt and hash`)
	}
	cost, err := parseUint(h[4:6], "bcrypt cost")
	if err != nil {
		return nil, fmt.Errorf("bcrypt: %w", err)
	}
	if cost < uint64(bcrypt.MinCost) || cost > maxBcryptCost {
		return nil, fmt.Errorf("bcrypt: cost %d is outside %d to %d", cost, bcrypt.MinCost, maxBcryptCost)
	}
	if strings.Trim(h[7:], bcryptAlphabet) != "" {
		return nil, errors.New("bcrypt: salt and hash hold characters outside bcrypt's base64 alphabet")
	}
	return bcryptHash{h: []byte(h)}, nil
}

func (b bcryptHash) verify(plain string) (bool, error) {
	err := bcrypt.CompareHashAndPassword(b.h, []byte(plain))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	}
	return false, fmt.Errorf("%w: bcrypt: %v", ErrMalformedHash, err)
}

func (bcryptHash) weakerThan(Params) bool { return true }

// pbkdf2Hash is a PBKDF2-HMAC-SHA256 hash.
type pbkdf2Hash struct {
	iter      int
	salt, key []byte
}

// parsePBKDF2 reads "$pbkdf2-sha256$i=<iter>,l=<key length>$<salt b64>$<key b64>" (standard
// base64, padding optional; l may be left out) and passlib's
// "$pbkdf2-sha256$<iter>$<salt ab64>$<key ab64>" (base64 with "." for "+", no padding).
func parsePBKDF2(h string) (verifier, error) {
	f := strings.Split(h, "$")
	if len(f) != 5 {
		return nil, errors.New(`pbkdf2-sha256: want "$pbkdf2-sha256$i=…,l=…$<salt>$<hash>" or "$pbkdf2-sha256$<iterations>$<salt>$<hash>"`)
	}
	var (
		iter, keyLen uint64
		err          error
		enc          = base64.RawStdEncoding
		salt, key    = f[3], f[4]
	)
	if strings.HasPrefix(f[2], "i=") {
		params := strings.Split(f[2], ",")
		if len(params) > 2 {
			return nil, errors.New("pbkdf2-sha256: want parameters i=…[,l=…]")
		}
		if iter, err = uintParam(params[0], "i"); err != nil {
			return nil, fmt.Errorf("pbkdf2-sha256: %w", err)
		}
		if len(params) == 2 {
			if keyLen, err = uintParam(params[1], "l"); err != nil {
				return nil, fmt.Errorf("pbkdf2-sha256: %w", err)
			}
		}
	} else {
		if iter, err = parseUint(f[2], "iterations"); err != nil {
			return nil, fmt.Errorf("pbkdf2-sha256: %w", err)
		}
		salt, key = strings.ReplaceAll(salt, ".", "+"), strings.ReplaceAll(key, ".", "+")
	}
	if iter < 1 || iter > maxPBKDF2Iter {
		return nil, fmt.Errorf("pbkdf2-sha256: %d iterations is outside 1 to %d", iter, maxPBKDF2Iter)
	}
	p := pbkdf2Hash{iter: int(iter)}
	if p.salt, err = decodeB64(salt, enc); err != nil || len(p.salt) < 1 || len(p.salt) > maxSaltLen {
		return nil, fmt.Errorf("pbkdf2-sha256: salt is not base64 of 1 to %d bytes", maxSaltLen)
	}
	if p.key, err = decodeB64(key, enc); err != nil || len(p.key) < 16 || len(p.key) > maxPBKDF2KeyLen {
		return nil, fmt.Errorf("pbkdf2-sha256: hash is not base64 of 16 to %d bytes", maxPBKDF2KeyLen)
	}
	if keyLen != 0 && keyLen != uint64(len(p.key)) {
		return nil, fmt.Errorf("pbkdf2-sha256: l=%d but the hash holds %d bytes", keyLen, len(p.key))
	}
	return p, nil
}

func (p pbkdf2Hash) verify(plain string) (bool, error) {
	key, err := pbkdf2.Key(sha256.New, plain, p.salt, p.iter, len(p.key))
	if err != nil {
		return false, fmt.Errorf("%w: pbkdf2-sha256: %v", ErrMalformedHash, err)
	}
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

func (pbkdf2Hash) weakerThan(Params) bool { return true }

// sshaHash is an LDAP salted SHA hash: "{SSHA}" (SHA-1), "{SSHA256}" or "{SSHA512}" followed by
// base64(digest || salt).
type sshaHash struct {
	newHash      func() hash.Hash
	digest, salt []byte
}

func parseSSHA(h string) (verifier, error) {
	scheme, body, ok := strings.Cut(h[1:], "}")
	if !ok {
		return nil, errors.New(`salted SHA: want "{SSHA}", "{SSHA256}" or "{SSHA512}" then base64`)
	}
	var (
		newHash func() hash.Hash
		size    int
	)
	switch strings.ToUpper(scheme) {
	case "SSHA":
		newHash, size = sha1.New, sha1.Size
	case "SSHA256":
		newHash, size = sha256.New, sha256.Size
	case "SSHA512":
		newHash, size = sha512.New, sha512.Size
	default:
		return nil, errors.New("{" + scheme + "} is not a supported scheme: want {SSHA}, {SSHA256} or {SSHA512}")
	}
	raw, err := decodeB64(body, base64.RawStdEncoding)
	if err != nil {
		return nil, fmt.Errorf("{%s}: the value is not base64", strings.ToUpper(scheme))
	}
	if len(raw) <= size || len(raw)-size > maxSaltLen {
		return nil, fmt.Errorf("{%s}: want a %d-byte digest followed by 1 to %d bytes of salt", strings.ToUpper(scheme), size, maxSaltLen)
	}
	return sshaHash{newHash: newHash, digest: raw[:size], salt: raw[size:]}, nil
}

func (s sshaHash) verify(plain string) (bool, error) {
	h := s.newHash()
	h.Write([]byte(plain))
	h.Write(s.salt)
	return subtle.ConstantTimeCompare(h.Sum(nil), s.digest) == 1, nil
}

func (sshaHash) weakerThan(Params) bool { return true }
