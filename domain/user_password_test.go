package domain

import (
	"testing"
	"time"
)

func passwordUser() *User {
	u := &User{}
	u.Apply(UserCreated{EnvironmentID: "env", UserID: "u1", Profile: Profile{Username: "alice"}, Enabled: true})
	u.Apply(UserPasswordSet{EnvironmentID: "env", UserID: "u1", Hash: "h1"})
	return u
}

func TestPasswordCheckLockoutFlow(t *testing.T) {
	u := passwordUser()
	p := PasswordPolicy{LockoutFailures: 2, LockoutSeconds: 60}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	evs := u.FinishPasswordCheck(p, now, false, "")
	if len(evs) != 1 || evs[0].(UserPasswordCheckFailed).Failures != 1 {
		t.Fatalf("first failure: %#v", evs)
	}
	u.Apply(evs[0])
	evs = u.FinishPasswordCheck(p, now, false, "")
	if len(evs) != 2 {
		t.Fatalf("second failure should lock: %#v", evs)
	}
	lock := evs[1].(UserLocked)
	if lock.Reason != LockTooManyFailures || !lock.Until.Equal(now.Add(time.Minute)) {
		t.Fatalf("lock %#v", lock)
	}
	for _, e := range evs {
		u.Apply(e)
	}
	if pre, r := u.BeginPasswordCheck(now.Add(59 * time.Second)); r != CheckLocked || pre != nil {
		t.Fatalf("inside the lockout: %v %v", pre, r)
	}
	pre, r := u.BeginPasswordCheck(now.Add(time.Minute))
	if r != "" || len(pre) != 1 || pre[0].(UserUnlocked).Reason != UnlockLockoutExpired {
		t.Fatalf("after the lockout: %#v %v", pre, r)
	}
	u.Apply(pre[0])
	if evs := u.FinishPasswordCheck(p, now, true, ""); len(evs) != 0 {
		t.Fatalf("success after unlock (failures reset) should record nothing: %#v", evs)
	}
	evs = u.FinishPasswordCheck(p, now, true, "h2")
	if len(evs) != 1 || evs[0].(UserPasswordRehashed).Hash != "h2" {
		t.Fatalf("rehash: %#v", evs)
	}

	// LockoutSeconds 0 locks until an administrator unlocks.
	p.LockoutSeconds = 0
	v := passwordUser()
	v.Apply(UserPasswordCheckFailed{Failures: 1})
	evs = v.FinishPasswordCheck(p, now, false, "")
	if l := evs[1].(UserLocked); !l.Until.IsZero() {
		t.Fatalf("want a lock without Until, got %v", l.Until)
	}
	v.Apply(evs[1])
	if _, r := v.BeginPasswordCheck(now.Add(1000 * time.Hour)); r != CheckLocked {
		t.Fatalf("admin-only lock expired: %v", r)
	}
	v.Apply(UserDisabled{})
	if _, r := v.BeginPasswordCheck(now); r != CheckDisabled {
		t.Fatalf("disabled: %v", r)
	}
}

func TestPasswordReuseCandidates(t *testing.T) {
	u := passwordUser()
	for _, h := range []string{"h2", "h3", "h4"} {
		u.Apply(UserPasswordSet{Hash: h})
	}
	got := u.PasswordReuseCandidates(PasswordPolicy{History: 2})
	if len(got) != 3 || got[0] != "h4" || got[1] != "h3" || got[2] != "h2" {
		t.Fatalf("got %v", got)
	}
	if got := u.PasswordReuseCandidates(PasswordPolicy{History: 0}); got != nil {
		t.Fatalf("history 0: %v", got)
	}
}
