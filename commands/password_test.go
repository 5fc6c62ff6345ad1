package commands

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/idstream/idstream/commands/password"
	"github.com/idstream/idstream/commands/secret"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// credFixture is an environment with one enabled user, on a real embedded store.
type credFixture struct {
	d      *Deps
	clock  *testClock
	creds  *Credentials
	hasher *password.Hasher
	env    string
	user   string
}

func newCredFixture(t *testing.T, policy domain.PasswordPolicy) *credFixture {
	t.Helper()
	d, clock := testDeps(t)
	// Weak argon2id parameters keep the tests fast; the benchmarks measure the defaults.
	hasher, err := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := secret.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	f := &credFixture{d: d, clock: clock, hasher: hasher, env: d.NewID(), user: d.NewID(),
		creds: NewCredentials(d, CredentialPorts{Passwords: hasher, Secrets: sealer, TOTPIssuer: "Acme"})}
	f.given(t, domain.StreamName(domain.CategoryEnvironment, f.env),
		domain.EnvironmentCreated{EnvironmentID: f.env, Name: "test", DefaultPopulationID: d.NewID(), PasswordPolicy: policy})
	f.given(t, domain.StreamName(domain.CategoryUser, f.user),
		domain.UserCreated{EnvironmentID: f.env, UserID: f.user, Profile: domain.Profile{Username: "alice"}, Enabled: true})
	return f
}

// given appends past events to stream.
func (f *credFixture) given(t *testing.T, stream string, payloads ...any) {
	t.Helper()
	if _, err := f.d.appendEvents(context.Background(), stream, eventstore.Any, f.env, nil, payloads...); err != nil {
		t.Fatal(err)
	}
}

// events returns the decoded events of stream from revision from on.
func (f *credFixture) events(t *testing.T, stream string, from uint64) []any {
	t.Helper()
	var out []any
	for ev, err := range f.d.Store.ReadStream(context.Background(), stream, eventstore.ReadStreamOptions{From: from}) {
		if err != nil {
			t.Fatal(err)
		}
		p, err := f.d.Registry.Decode(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func (f *credFixture) userEvents(t *testing.T) []any {
	return f.events(t, domain.StreamName(domain.CategoryUser, f.user), 0)
}

// assertLogHasNo fails when any event's raw JSON in the log contains one of secrets.
func assertLogHasNo(t *testing.T, d *Deps, secrets ...string) {
	t.Helper()
	n := 0
	for ev, err := range d.Store.ReadAll(context.Background(), eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, s := range secrets {
			if strings.Contains(string(ev.Data), s) {
				t.Fatalf("event %s %s holds a secret in plain: %s", ev.Stream, ev.Type, ev.Data)
			}
		}
	}
	if n == 0 {
		t.Fatal("empty log")
	}
}

func fieldOf(err error) string {
	var fe *domain.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

func TestSetPasswordPolicy(t *testing.T) {
	f := newCredFixture(t, domain.DefaultPasswordPolicy())
	ctx := context.Background()
	bad := domain.DefaultPasswordPolicy()
	bad.MinLength = 0
	if _, err := f.creds.SetPasswordPolicy.Handle(ctx, SetPasswordPolicy{EnvironmentID: f.env, Policy: bad}); fieldOf(err) != "passwordPolicy.minLength" {
		t.Fatalf("invalid policy: %v", err)
	}
	p := domain.DefaultPasswordPolicy()
	p.History = 2
	res, err := f.creds.SetPasswordPolicy.Handle(ctx, SetPasswordPolicy{EnvironmentID: f.env, Policy: p})
	if err != nil || res.Position.IsZero() {
		t.Fatal(res, err)
	}
	evs := f.events(t, domain.StreamName(domain.CategoryEnvironment, f.env), 1)
	if len(evs) != 1 || evs[0].(domain.PasswordPolicySet).Policy != p {
		t.Fatalf("events %#v", evs)
	}
	if res, err := f.creds.SetPasswordPolicy.Handle(ctx, SetPasswordPolicy{EnvironmentID: f.env, Policy: p}); err != nil || !res.Position.IsZero() {
		t.Fatalf("same policy again: %v %v", res, err)
	}
	if _, err := f.creds.SetPasswordPolicy.Handle(ctx, SetPasswordPolicy{EnvironmentID: f.d.NewID(), Policy: p}); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown environment: %v", err)
	}
}

func TestSetUserPasswordPolicyAndHistory(t *testing.T) {
	p := domain.DefaultPasswordPolicy()
	p.History = 1
	f := newCredFixture(t, p)
	ctx := context.Background()
	set := func(pw string) error {
		_, err := f.creds.SetUserPassword.Handle(ctx, SetUserPassword{EnvironmentID: f.env, UserID: f.user, Password: pw})
		return err
	}
	err := set("alice")
	if !errors.Is(err, domain.ErrInvalid) || fieldOf(err) != "password" || strings.Contains(err.Error(), "alice1") {
		t.Fatalf("weak password: %v", err)
	}
	for _, pw := range []string{"First-pass1", "Second-pass2"} {
		if err := set(pw); err != nil {
			t.Fatalf("set %s: %v", pw, err)
		}
	}
	for _, reused := range []string{"Second-pass2", "First-pass1"} { // current, and one back
		if err := set(reused); fieldOf(err) != "password" || !strings.Contains(err.Error(), "must differ") {
			t.Fatalf("reuse of %s: %v", reused, err)
		}
	}
	if err := set("Third-pass3"); err != nil {
		t.Fatal(err)
	}
	if err := set("First-pass1"); err != nil { // now two back: allowed with History 1
		t.Fatalf("outside the history: %v", err)
	}
	var hashes []string
	for _, e := range f.userEvents(t) {
		if s, ok := e.(domain.UserPasswordSet); ok {
			hashes = append(hashes, s.Hash)
			if !strings.HasPrefix(s.Hash, "$argon2id$") || s.MustChange || s.Imported {
				t.Fatalf("password_set %#v", s)
			}
		}
	}
	if len(hashes) != 4 {
		t.Fatalf("%d password_set events, want 4", len(hashes))
	}
	assertLogHasNo(t, f.d, "First-pass1", "Second-pass2", "Third-pass3")
}

func TestResetUserPasswordGeneratesATemporaryPassword(t *testing.T) {
	p := domain.DefaultPasswordPolicy()
	p.MinSpecial, p.MinLength = 2, 20
	f := newCredFixture(t, p)
	ctx := context.Background()
	res, err := f.creds.ResetUserPassword.Handle(ctx, ResetUserPassword{EnvironmentID: f.env, UserID: f.user})
	if err != nil {
		t.Fatal(err)
	}
	if err := domain.CheckPassword(p, res.TemporaryPassword, "alice"); err != nil || len(res.TemporaryPassword) != 20 {
		t.Fatalf("temporary password %d long: %v", len(res.TemporaryPassword), err)
	}
	chk, err := f.creds.CheckUserPassword.Handle(ctx, CheckUserPassword{EnvironmentID: f.env, UserID: f.user, Password: res.TemporaryPassword})
	if err != nil || !chk.Valid || !chk.MustChange {
		t.Fatalf("check the temporary password: %+v %v", chk, err)
	}
	assertLogHasNo(t, f.d, res.TemporaryPassword)

	// An administrator's own choice, then the user's change clears MustChange.
	if _, err := f.creds.ResetUserPassword.Handle(ctx, ResetUserPassword{EnvironmentID: f.env, UserID: f.user, Password: "Admin-chosen-pass1!!"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.creds.ChangeUserPassword.Handle(ctx, ChangeUserPassword{EnvironmentID: f.env, UserID: f.user,
		CurrentPassword: "Admin-chosen-pass1!!", NewPassword: "Users-own-pass-2!!xy"})
	if err != nil {
		t.Fatal(err)
	}
	chk, _ = f.creds.CheckUserPassword.Handle(ctx, CheckUserPassword{EnvironmentID: f.env, UserID: f.user, Password: "Users-own-pass-2!!xy"})
	if !chk.Valid || chk.MustChange {
		t.Fatalf("after change: %+v", chk)
	}
}

func TestChangeUserPasswordWrongCurrentCounts(t *testing.T) {
	p := domain.DefaultPasswordPolicy()
	p.LockoutFailures = 2
	f := newCredFixture(t, p)
	ctx := context.Background()
	if _, err := f.creds.SetUserPassword.Handle(ctx, SetUserPassword{EnvironmentID: f.env, UserID: f.user, Password: "Current-pass1"}); err != nil {
		t.Fatal(err)
	}
	change := ChangeUserPassword{EnvironmentID: f.env, UserID: f.user, CurrentPassword: "Wrong-pass1", NewPassword: "Next-pass-22"}
	if _, err := f.creds.ChangeUserPassword.Handle(ctx, change); fieldOf(err) != "currentPassword" {
		t.Fatalf("wrong current: %v", err)
	}
	if _, err := f.creds.ChangeUserPassword.Handle(ctx, change); fieldOf(err) != "currentPassword" {
		t.Fatalf("wrong current again: %v", err)
	}
	change.CurrentPassword = "Current-pass1"
	if _, err := f.creds.ChangeUserPassword.Handle(ctx, change); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("locked after two failures: %v", err)
	}
	evs := f.userEvents(t)
	if _, ok := evs[len(evs)-1].(domain.UserLocked); !ok {
		t.Fatalf("last event %T, want user.locked", evs[len(evs)-1])
	}
}

func TestCheckUserPasswordLockoutAndAutoUnlock(t *testing.T) {
	p := domain.DefaultPasswordPolicy()
	p.LockoutFailures, p.LockoutSeconds = 3, 60
	f := newCredFixture(t, p)
	ctx := context.Background()
	hash, _ := f.hasher.Rehash("Right-pass1")
	f.given(t, domain.StreamName(domain.CategoryUser, f.user), domain.UserPasswordSet{EnvironmentID: f.env, UserID: f.user, Hash: hash})
	check := func(pw string) CheckUserPasswordResult {
		t.Helper()
		r, err := f.creds.CheckUserPassword.Handle(ctx, CheckUserPassword{EnvironmentID: f.env, UserID: f.user, Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	start := len(f.userEvents(t))
	for i := 1; i <= 3; i++ {
		r := check("wrong")
		if r.Valid || r.Reason != domain.CheckWrongPassword || r.Locked != (i == 3) {
			t.Fatalf("failure %d: %+v", i, r)
		}
	}
	evs := f.userEvents(t)[start:]
	want := []string{"1", "2", "3", "lock"}
	if len(evs) != len(want) {
		t.Fatalf("events %#v", evs)
	}
	lock := evs[3].(domain.UserLocked)
	if lock.Reason != domain.LockTooManyFailures || !lock.Until.Equal(f.clock.Now().Add(time.Minute)) {
		t.Fatalf("lock %#v", lock)
	}

	// Locked: the right password is not even verified, and nothing is counted.
	f.clock.Advance(59 * time.Second)
	if r := check("Right-pass1"); r.Valid || r.Reason != domain.CheckLocked || !r.Locked || !r.LockedUntil.Equal(lock.Until) {
		t.Fatalf("while locked: %+v", r)
	}
	if n := len(f.userEvents(t)); n != start+4 {
		t.Fatalf("a check while locked appended %d events", n-start-4)
	}

	// Expired: unlocked in the same append as the check's outcome.
	f.clock.Advance(time.Second)
	if r := check("wrong"); r.Valid || r.Locked || r.Reason != domain.CheckWrongPassword {
		t.Fatalf("after expiry: %+v", r)
	}
	evs = f.userEvents(t)[start+4:]
	if len(evs) != 2 || evs[0].(domain.UserUnlocked).Reason != domain.UnlockLockoutExpired || evs[1].(domain.UserPasswordCheckFailed).Failures != 1 {
		t.Fatalf("events after expiry %#v", evs)
	}
	if r := check("Right-pass1"); !r.Valid || r.Reason != "" {
		t.Fatalf("right password: %+v", r)
	}
	if _, ok := f.userEvents(t)[start+6].(domain.UserPasswordCheckPassed); !ok {
		t.Fatal("no password_check_passed after a failure")
	}
	n := len(f.userEvents(t))
	if r := check("Right-pass1"); !r.Valid || !r.Position.IsZero() || len(f.userEvents(t)) != n {
		t.Fatalf("a success without failures to reset appends nothing: %+v", r)
	}

	f.given(t, domain.StreamName(domain.CategoryUser, f.user), domain.UserDisabled{EnvironmentID: f.env, UserID: f.user})
	if r := check("Right-pass1"); r.Valid || r.Reason != domain.CheckDisabled {
		t.Fatalf("disabled: %+v", r)
	}
}

func TestCheckUserPasswordRehashesImportedHashes(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("correct horse battery staple"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for name, hash := range map[string]string{
		"bcrypt": string(bc),
		"pbkdf2": "$pbkdf2-sha256$29000$AAECAwQFBgcICQoLDA0ODw$m/kLywdyNwK9GV2kWntRGvZzmeiVsuqehNWlLst2eWY",
		"ssha":   sshaOf("correct horse battery staple"),
	} {
		t.Run(name, func(t *testing.T) {
			f := newCredFixture(t, domain.DefaultPasswordPolicy())
			ctx := context.Background()
			f.given(t, domain.StreamName(domain.CategoryUser, f.user),
				domain.UserPasswordSet{EnvironmentID: f.env, UserID: f.user, Hash: hash, Imported: true})
			r, err := f.creds.CheckUserPassword.Handle(ctx, CheckUserPassword{EnvironmentID: f.env, UserID: f.user, Password: "correct horse battery staple"})
			if err != nil || !r.Valid {
				t.Fatalf("%+v %v", r, err)
			}
			evs := f.userEvents(t)
			re, ok := evs[len(evs)-1].(domain.UserPasswordRehashed)
			if !ok || !strings.HasPrefix(re.Hash, "$argon2id$") {
				t.Fatalf("last event %#v, want an argon2id rehash", evs[len(evs)-1])
			}
			if ok, rehash, err := f.hasher.Verify(re.Hash, "correct horse battery staple"); !ok || rehash || err != nil {
				t.Fatalf("new hash: %v %v %v", ok, rehash, err)
			}
			// The next success finds nothing to do.
			r, _ = f.creds.CheckUserPassword.Handle(ctx, CheckUserPassword{EnvironmentID: f.env, UserID: f.user, Password: "correct horse battery staple"})
			if !r.Valid || !r.Position.IsZero() {
				t.Fatalf("second check: %+v", r)
			}
			assertLogHasNo(t, f.d, "correct horse")
		})
	}
}

func TestConcurrentWrongChecksCountExactly(t *testing.T) {
	for _, lockAt := range []int{5, 0} {
		p := domain.DefaultPasswordPolicy()
		p.LockoutFailures = lockAt
		f := newCredFixture(t, p)
		hash, _ := f.hasher.Rehash("Right-pass1")
		f.given(t, domain.StreamName(domain.CategoryUser, f.user), domain.UserPasswordSet{EnvironmentID: f.env, UserID: f.user, Hash: hash})
		start := len(f.userEvents(t))
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() {
				r, err := f.creds.CheckUserPassword.Handle(context.Background(), CheckUserPassword{EnvironmentID: f.env, UserID: f.user, Password: "wrong"})
				if err == nil && r.Valid {
					err = errors.New("a wrong password passed")
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var failures []int
		locks := 0
		for _, e := range f.userEvents(t)[start:] {
			switch e := e.(type) {
			case domain.UserPasswordCheckFailed:
				failures = append(failures, e.Failures)
			case domain.UserLocked:
				locks++
			}
		}
		want := 20
		if lockAt > 0 {
			want = lockAt
		}
		if len(failures) != want || locks != min(lockAt, 1) {
			t.Fatalf("lockAt %d: %d failures %v, %d locks", lockAt, len(failures), failures, locks)
		}
		for i, n := range failures {
			if n != i+1 {
				t.Fatalf("failure counts %v are not 1..%d", failures, want)
			}
		}
	}
}

// sshaOf returns the {SSHA512} hash of plain with a fixed salt: base64(sha512(plain || salt) || salt).
func sshaOf(plain string) string {
	salt := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	sum := sha512.Sum512(append([]byte(plain), salt...))
	return "{SSHA512}" + base64.StdEncoding.EncodeToString(append(sum[:], salt...))
}
