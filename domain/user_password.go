package domain

import "time"

// PasswordCheckReason says why a password check did not pass ("" when it did).
type PasswordCheckReason string

const (
	CheckDisabled      PasswordCheckReason = "DISABLED"
	CheckLocked        PasswordCheckReason = "LOCKED"
	CheckNoPassword    PasswordCheckReason = "NO_PASSWORD"
	CheckWrongPassword PasswordCheckReason = "WRONG_PASSWORD"
)

// UnlockLockoutExpired is UserUnlocked.Reason when a timed lockout ran out.
const UnlockLockoutExpired = "LOCKOUT_EXPIRED"

// SetPassword records hash (a PHC string computed by the caller, who has checked the policy
// and the history) as the user's password.
func (u *User) SetPassword(hash string, mustChange, imported bool) (UserPasswordSet, error) {
	if !u.Exists {
		return UserPasswordSet{}, NotFoundf("user %s", u.ID)
	}
	if hash == "" {
		return UserPasswordSet{}, Invalidf("password", "is required")
	}
	return UserPasswordSet{EnvironmentID: u.EnvironmentID, UserID: u.ID, Hash: hash, MustChange: mustChange, Imported: imported}, nil
}

// PasswordReuseCandidates returns the hashes a new password must not verify against under p:
// the current one and the newest p.History of the history; none when p.History is 0.
func (u *User) PasswordReuseCandidates(p PasswordPolicy) []string {
	if p.History <= 0 || u.PasswordHash == "" {
		return nil
	}
	out := []string{u.PasswordHash}
	return append(out, u.PasswordHistory[:min(p.History, len(u.PasswordHistory))]...)
}

// BeginPasswordCheck decides what happens before a password is verified at now. A disabled
// user, a user locked beyond now, or a user without a password gets a reason and the password
// must not be verified (a locked account is no oracle). A lock whose Until has passed yields
// the unlock event, to append with the check's outcome; the caller applies it before verifying
// against PasswordHash.
func (u *User) BeginPasswordCheck(now time.Time) (pre []any, reason PasswordCheckReason) {
	if !u.Enabled {
		return nil, CheckDisabled
	}
	if u.Locked {
		if u.LockedUntil.IsZero() || now.Before(u.LockedUntil) {
			return nil, CheckLocked
		}
		pre = append(pre, UserUnlocked{EnvironmentID: u.EnvironmentID, UserID: u.ID, Reason: UnlockLockoutExpired})
	}
	if u.PasswordHash == "" {
		return pre, CheckNoPassword
	}
	return pre, ""
}

// FinishPasswordCheck returns the events of a verified check. A wrong password counts one more
// consecutive failure and, at p.LockoutFailures (when above 0), locks the user for
// p.LockoutSeconds from now (until an administrator unlocks when 0). A right password resets a
// non-zero failure count, and replaces the hash by rehash when rehash is not empty.
func (u *User) FinishPasswordCheck(p PasswordPolicy, now time.Time, ok bool, rehash string) []any {
	var out []any
	if !ok {
		n := u.PasswordFailures + 1
		out = append(out, UserPasswordCheckFailed{EnvironmentID: u.EnvironmentID, UserID: u.ID, Failures: n})
		if p.LockoutFailures > 0 && n >= p.LockoutFailures {
			lock := UserLocked{EnvironmentID: u.EnvironmentID, UserID: u.ID, Reason: LockTooManyFailures}
			if p.LockoutSeconds > 0 {
				lock.Until = now.Add(time.Duration(p.LockoutSeconds) * time.Second).UTC()
			}
			out = append(out, lock)
		}
		return out
	}
	if u.PasswordFailures > 0 {
		out = append(out, UserPasswordCheckPassed{EnvironmentID: u.EnvironmentID, UserID: u.ID})
	}
	if rehash != "" {
		out = append(out, UserPasswordRehashed{EnvironmentID: u.EnvironmentID, UserID: u.ID, Hash: rehash})
	}
	return out
}
