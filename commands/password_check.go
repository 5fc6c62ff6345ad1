package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// CheckUserPassword checks a password offered for a user: a sign-in's password step.
type CheckUserPassword struct {
	EnvironmentID string
	UserID        string
	Password      string
}

// CheckUserPasswordResult is the outcome of a check. Reason is empty when Valid.
type CheckUserPasswordResult struct {
	Valid       bool
	Reason      domain.PasswordCheckReason
	MustChange  bool
	Locked      bool
	LockedUntil time.Time // zero when not locked, or locked until an administrator unlocks
	Position    eventstore.Position
}

// CheckUserPasswordHandler handles CheckUserPassword.
type CheckUserPasswordHandler struct {
	d      *Deps
	hasher PasswordVerifier
}

// NewCheckUserPassword returns the handler of CheckUserPassword.
func NewCheckUserPassword(d *Deps, hasher PasswordVerifier) *CheckUserPasswordHandler {
	return &CheckUserPasswordHandler{d: d, hasher: hasher}
}

// Handle checks the password. A disabled user (DISABLED) or one locked beyond now (LOCKED) is
// not valid and nothing is counted; the password is not even verified. A timed lockout that has
// run out is lifted (user.unlocked, LOCKOUT_EXPIRED) in the same append as the check's outcome.
// A wrong password (WRONG_PASSWORD) appends user.password_check_failed and, at the policy's
// LockoutFailures, user.locked. A right one resets a failure count and replaces an imported or
// weaker hash by a fresh argon2id one (user.password_rehashed). Concurrent checks are
// serialized by the user stream's revision, so no failure is lost.
func (h *CheckUserPasswordHandler) Handle(ctx context.Context, in CheckUserPassword) (CheckUserPasswordResult, error) {
	res, _, err := h.d.checkUserPassword(ctx, h.hasher, in.EnvironmentID, in.UserID, in.Password)
	if err != nil {
		return CheckUserPasswordResult{}, fmt.Errorf("check password of user %s: %w", in.UserID, err)
	}
	return res, nil
}

// maxCheckAttempts bounds the reload-and-decide rounds of password commands. It is above
// maxAttempts because concurrent wrong guesses are expected (each round commits one of them)
// and a round costs no hashing once the password has been verified.
const maxCheckAttempts = 64

// checkUserPassword runs a check and returns its result with the password hash the result was
// decided against, as it stands after the append (rehashed, maybe). Verification, the slow
// part, runs outside any lock and again only when the hash changed under it.
func (d *Deps) checkUserPassword(ctx context.Context, hasher PasswordVerifier, envID, userID, plain string) (CheckUserPasswordResult, string, error) {
	env, _, err := d.loadEnvironment(ctx, envID)
	if err != nil {
		return CheckUserPasswordResult{}, "", err
	}
	var (
		verified     bool   // a verification has run
		verifiedHash string // against this hash
		ok           bool
		rehash       string
	)
	for range maxCheckAttempts {
		u, expected, err := d.loadUser(ctx, envID, userID)
		if err != nil {
			return CheckUserPasswordResult{}, "", err
		}
		now := d.Now()
		pre, reason := u.BeginPasswordCheck(now)
		for _, e := range pre {
			u.Apply(e)
		}
		events := pre
		valid := false
		switch {
		case reason == domain.CheckDisabled || reason == domain.CheckLocked:
			return checkResult(u, false, reason, eventstore.Position{}), u.PasswordHash, nil
		case reason == "":
			if !verified || verifiedHash != u.PasswordHash {
				var needsRehash bool
				ok, needsRehash, err = hasher.Verify(u.PasswordHash, plain)
				if err != nil {
					return CheckUserPasswordResult{}, "", fmt.Errorf("stored password hash: %w", err)
				}
				rehash = ""
				if ok && (needsRehash || u.PasswordImported) {
					if rehash, err = hasher.Rehash(plain); err != nil {
						return CheckUserPasswordResult{}, "", err
					}
				}
				verified, verifiedHash = true, u.PasswordHash
			}
			valid = ok
			if !ok {
				reason = domain.CheckWrongPassword
			}
			events = append(events, u.FinishPasswordCheck(env.PasswordPolicy, now, ok, rehash)...)
		}
		pos, err := d.appendEvents(ctx, domain.StreamName(domain.CategoryUser, u.ID), expected, envID, nil, events...)
		if err != nil {
			if errors.Is(err, eventstore.ErrWrongExpectedRevision) && ctx.Err() == nil {
				continue
			}
			return CheckUserPasswordResult{}, "", err
		}
		for _, e := range events[len(pre):] {
			u.Apply(e)
		}
		return checkResult(u, valid, reason, pos), u.PasswordHash, nil
	}
	return CheckUserPasswordResult{}, "", domain.Conflictf("too many concurrent checks of user %s", userID)
}

func checkResult(u *domain.User, valid bool, reason domain.PasswordCheckReason, pos eventstore.Position) CheckUserPasswordResult {
	return CheckUserPasswordResult{Valid: valid, Reason: reason, MustChange: u.MustChangePassword,
		Locked: u.Locked, LockedUntil: u.LockedUntil, Position: pos}
}
