package password

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/idstream/idstream/domain"
)

// cheap are weak parameters that keep tests fast; DefaultParams is exercised by the benchmarks
// and TestDefaultParamsRoundTrip.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newHasher(t testing.TB, p Params) *Hasher {
	t.Helper()
	h, err := NewHasher(p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Known answers computed with Python's hashlib (pbkdf2_hmac, sha1/sha256/sha512) and, for
// bcrypt, the crypt_blowfish test vector.
var knownAnswers = []struct {
	name, hash, plain string
}{
	{"passlib pbkdf2-sha256", "$pbkdf2-sha256$29000$AAECAwQFBgcICQoLDA0ODw$m/kLywdyNwK9GV2kWntRGvZzmeiVsuqehNWlLst2eWY", "correct horse battery staple"},
	{"phc pbkdf2-sha256", "$pbkdf2-sha256$i=10000,l=32$TmFDbC1zYWx0LWZvci11cw$UmkXr81s9OBoFQibxThNFtsH4GP+WR5mem9EYEFqovs", "p@ssw0rdé"},
	{"ssha", "{SSHA}ih3R+EObyxqEXCAyqQs1eDukxVIBAgMEBQYHCA==", "secret123"},
	{"ssha256", "{SSHA256}NTKtu/t2dFmj7V5Ygw0Q+Q2k1AW+8WBjs4REJ4azercBAgMEBQYHCA==", "secret123"},
	{"ssha512", "{SSHA512}NHXYDsXKbr6+bK7RT8Y+OGNmw2mP2sOuTfWROUUjHMy5HZ1uT2uG73qZ5W6cVc/YKFQLoI7z8T7iyDC7aMtADQECAwQFBgcI", "secret123"},
	{"bcrypt 2a", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
}

func TestVerifyKnownAnswers(t *testing.T) {
	h := newHasher(t, cheap)
	for _, ka := range knownAnswers {
		t.Run(ka.name, func(t *testing.T) {
			if err := h.CheckImported(ka.hash); err != nil {
				t.Fatalf("CheckImported: %v", err)
			}
			ok, rehash, err := h.Verify(ka.hash, ka.plain)
			if err != nil || !ok || !rehash {
				t.Fatalf("right password: ok %v rehash %v err %v; want ok and rehash", ok, rehash, err)
			}
			ok, _, err = h.Verify(ka.hash, ka.plain+"x")
			if err != nil || ok {
				t.Fatalf("wrong password: ok %v err %v", ok, err)
			}
		})
	}
}

func TestVerifyBcryptVariants(t *testing.T) {
	h := newHasher(t, cheap)
	b, err := bcrypt.GenerateFromPassword([]byte("hunter2"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		hash := prefix + string(b[4:])
		if ok, rehash, err := h.Verify(hash, "hunter2"); !ok || !rehash || err != nil {
			t.Errorf("%s: ok %v rehash %v err %v", prefix, ok, rehash, err)
		}
		if ok, _, _ := h.Verify(hash, "hunter3"); ok {
			t.Errorf("%s: wrong password verified", prefix)
		}
	}
}

func TestHashRoundTripAndRehash(t *testing.T) {
	h := newHasher(t, cheap)
	hash, err := h.Hash(domain.DefaultPasswordPolicy(), "alice", "Sturdy-Pass9")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(hash, "Sturdy") {
		t.Fatalf("hash %q", hash)
	}
	if ok, rehash, err := h.Verify(hash, "Sturdy-Pass9"); !ok || rehash || err != nil {
		t.Fatalf("own hash: ok %v rehash %v err %v", ok, rehash, err)
	}
	if ok, _, _ := h.Verify(hash, "Sturdy-Pass8"); ok {
		t.Fatal("wrong password verified")
	}
	again, _ := h.Rehash("Sturdy-Pass9")
	if again == hash {
		t.Fatal("two hashes of one password share a salt")
	}
	stronger := newHasher(t, Params{Memory: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if ok, rehash, _ := stronger.Verify(hash, "Sturdy-Pass9"); !ok || !rehash {
		t.Fatalf("weaker argon2id params: ok %v rehash %v, want both", ok, rehash)
	}
	if _, err := h.Hash(domain.DefaultPasswordPolicy(), "alice", "short"); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("policy not checked: %v", err)
	}
}

func TestDefaultParamsRoundTrip(t *testing.T) {
	h := newHasher(t, DefaultParams())
	hash, err := h.Rehash("Sturdy-Pass9")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q", hash)
	}
	salt, key, _ := strings.Cut(strings.Join(strings.Split(hash, "$")[4:], "$"), "$")
	if len(salt) != 22 || len(key) != 43 { // 16 and 32 bytes, unpadded base64
		t.Fatalf("salt %d key %d characters", len(salt), len(key))
	}
	if ok, rehash, err := h.Verify(hash, "Sturdy-Pass9"); !ok || rehash || err != nil {
		t.Fatalf("ok %v rehash %v err %v", ok, rehash, err)
	}
}

func TestMalformedAndHostileHashes(t *testing.T) {
	h := newHasher(t, cheap)
	for _, c := range []struct{ hash, want string }{
		{"", "empty"},
		{"plaintext", "supported format"},
		{"$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "only argon2id"},
		{"$argon2id$v=16$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "version 19"},
		{"$argon2id$v=19$m=2097152,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "m=2097152 is outside"},
		{"$argon2id$v=19$m=1048576,t=16,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "memory × passes"},
		{"$argon2id$v=19$t=1,m=64,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "want parameter m="},
		{"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA", "salt"},
		{"$2b$17$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "cost 17"},
		{"$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe", "60 characters"},
		{"$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyO!W", "alphabet"},
		{"$pbkdf2-sha256$10000001$AAECAwQFBgcICQoLDA0ODw$m/kLywdyNwK9GV2kWntRGvZzmeiVsuqehNWlLst2eWY", "iterations is outside"},
		{"$pbkdf2-sha256$i=1000,l=16$AAECAwQFBgcICQoLDA0ODw$m/kLywdyNwK9GV2kWntRGvZzmeiVsuqehNWlLst2eWY", "l=16"},
		{"$pbkdf2-sha256$-5$AAECAwQFBgcICQoLDA0ODw$m/kLywdyNwK9GV2kWntRGvZzmeiVsuqehNWlLst2eWY", "not a decimal"},
		{"{SSHA}aGVsbG8=", "digest"},
		{"{MD5}aGVsbG8=", "not a supported scheme"},
		{"{SSHA", "want"},
	} {
		err := h.CheckImported(c.hash)
		var fe *domain.FieldError
		if !errors.As(err, &fe) || fe.Field != "passwordHash" || !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("%q: want a field error on passwordHash, got %v", c.hash, err)
			continue
		}
		if !strings.Contains(fe.Reason, c.want) {
			t.Errorf("%q: reason %q does not say %q", c.hash, fe.Reason, c.want)
		}
		if len(c.hash) > 8 && strings.Contains(fe.Reason, c.hash) {
			t.Errorf("reason quotes the hash: %q", fe.Reason)
		}
		if ok, _, err := h.Verify(c.hash, "x"); ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%q: Verify ok %v err %v", c.hash, ok, err)
		}
	}
}

func TestParamsValidate(t *testing.T) {
	if _, err := NewHasher(Params{Memory: 1, Time: 0, Threads: 0, SaltLen: 1, KeyLen: 1}); err == nil {
		t.Fatal("bad params accepted")
	}
}

func FuzzVerify(f *testing.F) {
	for _, ka := range knownAnswers {
		f.Add(ka.hash, ka.plain)
	}
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA", "pw")
	h := newHasher(f, cheap)
	f.Fuzz(func(t *testing.T, hash, plain string) {
		if len(hash) > 0 && strings.Contains(hash, "$argon2id$") && !strings.Contains(hash, "m=64,") {
			t.Skip("argon2id with arbitrary memory is slow; its bounds are covered by CheckImported")
		}
		ok, _, err := h.Verify(hash, plain)
		if ok && err != nil {
			t.Fatalf("ok with an error: %v", err)
		}
		if err != nil && strings.Contains(err.Error(), plain) && len(plain) > 3 {
			t.Fatalf("error quotes the password: %v", err)
		}
	})
}

func FuzzCheckImported(f *testing.F) {
	for _, ka := range knownAnswers {
		f.Add(ka.hash)
	}
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA")
	h := newHasher(f, cheap)
	f.Fuzz(func(t *testing.T, hash string) {
		err := h.CheckImported(hash)
		if err == nil {
			if _, perr := parse(hash); perr != nil {
				t.Fatalf("accepted yet unparsable: %v", perr)
			}
			return
		}
		var fe *domain.FieldError
		if !errors.As(err, &fe) || fe.Field != "passwordHash" {
			t.Fatalf("not a field error: %v", err)
		}
	})
}

func BenchmarkHash(b *testing.B) {
	h := newHasher(b, DefaultParams())
	for b.Loop() {
		if _, err := h.Rehash("Sturdy-Pass9"); err != nil {
			b.Fatal(err)
		}
	}
	reportMS(b)
}

func BenchmarkVerify(b *testing.B) {
	h := newHasher(b, DefaultParams())
	bc, _ := bcrypt.GenerateFromPassword([]byte("Sturdy-Pass9"), 10)
	argon, _ := h.Rehash("Sturdy-Pass9")
	for _, c := range []struct{ name, hash string }{
		{"argon2id-default", argon},
		{"bcrypt-10", string(bc)},
		{"pbkdf2-sha256-29000", knownAnswers[0].hash},
		{"ssha512", knownAnswers[4].hash},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := h.Verify(c.hash, "Sturdy-Pass9"); err != nil {
					b.Fatal(err)
				}
			}
			reportMS(b)
		})
	}
}

func reportMS(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}
