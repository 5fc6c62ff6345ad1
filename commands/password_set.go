package commands

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// SetUserPassword sets a user's password, checked against the environment's policy and its
// history rule.
type SetUserPassword struct {
	EnvironmentID string
	UserID        string
	Password      string
	MustChange    bool
}

// SetUserPasswordHandler handles SetUserPassword.
type SetUserPasswordHandler struct {
	d      *Deps
	hasher PasswordVerifier
}

// NewSetUserPassword returns the handler of SetUserPassword.
func NewSetUserPassword(d *Deps, hasher PasswordVerifier) *SetUserPasswordHandler {
	return &SetUserPasswordHandler{d: d, hasher: hasher}
}

// Handle appends user.password_set with an argon2id hash. Every unmet policy rule is a
// *domain.FieldError on "password", and so is a password that verifies against the current
// hash or one of the policy's History previous ones. A concurrent change of the user is
// retried; the slow hashing is not redone unless the password changed meanwhile.
func (h *SetUserPasswordHandler) Handle(ctx context.Context, in SetUserPassword) (Committed, error) {
	pos, err := h.d.setUserPassword(ctx, h.hasher, in.EnvironmentID, in.UserID, in.Password, in.MustChange, nil)
	if err != nil {
		return Committed{}, fmt.Errorf("set password of user %s: %w", in.UserID, err)
	}
	return Committed{Position: pos}, nil
}

// ResetUserPassword is an administrator's reset: the password set must be changed at next
// sign-in. An empty Password asks for a random temporary one that meets the policy.
type ResetUserPassword struct {
	EnvironmentID string
	UserID        string
	Password      string
}

// ResetUserPasswordResult carries the temporary password generated when none was given: it is
// returned this once and never stored in plain.
type ResetUserPasswordResult struct {
	TemporaryPassword string
	Position          eventstore.Position
}

// ResetUserPasswordHandler handles ResetUserPassword.
type ResetUserPasswordHandler struct {
	d      *Deps
	hasher PasswordVerifier
}

// NewResetUserPassword returns the handler of ResetUserPassword.
func NewResetUserPassword(d *Deps, hasher PasswordVerifier) *ResetUserPasswordHandler {
	return &ResetUserPasswordHandler{d: d, hasher: hasher}
}

// Handle is SetUserPassword with MustChange true.
func (h *ResetUserPasswordHandler) Handle(ctx context.Context, in ResetUserPassword) (ResetUserPasswordResult, error) {
	var out ResetUserPasswordResult
	plain := in.Password
	if plain == "" {
		env, _, err := h.d.loadEnvironment(ctx, in.EnvironmentID)
		if err != nil {
			return out, fmt.Errorf("reset password of user %s: %w", in.UserID, err)
		}
		if plain, err = temporaryPassword(env.PasswordPolicy); err != nil {
			return out, fmt.Errorf("reset password of user %s: %w", in.UserID, err)
		}
		out.TemporaryPassword = plain
	}
	pos, err := h.d.setUserPassword(ctx, h.hasher, in.EnvironmentID, in.UserID, plain, true, nil)
	if err != nil {
		return ResetUserPasswordResult{}, fmt.Errorf("reset password of user %s: %w", in.UserID, err)
	}
	out.Position = pos
	return out, nil
}

// setUserPassword checks plain against the policy and the reuse rule, hashes it and appends
// user.password_set. With expectHash set, the user's current hash must still be *expectHash
// (ChangeUserPassword verified the current password against it), else ErrConflict.
func (d *Deps) setUserPassword(ctx context.Context, hasher PasswordVerifier, envID, userID, plain string,
	mustChange bool, expectHash *string) (eventstore.Position, error) {
	env, _, err := d.loadEnvironment(ctx, envID)
	if err != nil {
		return eventstore.Position{}, err
	}
	policy := env.PasswordPolicy
	var hash, checkedAgainst string // the new hash, and the current hash it was checked against
	for range maxCheckAttempts {
		u, expected, err := d.loadUser(ctx, envID, userID)
		if err != nil {
			return eventstore.Position{}, err
		}
		if expectHash != nil && u.PasswordHash != *expectHash {
			return eventstore.Position{}, domain.Conflictf("the password changed while it was being changed; try again")
		}
		if hash == "" || u.PasswordHash != checkedAgainst {
			if err := domain.CheckPassword(policy, plain, u.Profile.Username); err != nil {
				return eventstore.Position{}, err
			}
			if err := notReused(hasher, u.PasswordReuseCandidates(policy), plain, policy.History); err != nil {
				return eventstore.Position{}, err
			}
			if hash == "" {
				if hash, err = hasher.Hash(policy, u.Profile.Username, plain); err != nil {
					return eventstore.Position{}, err
				}
			}
			checkedAgainst = u.PasswordHash
		}
		ev, err := u.SetPassword(hash, mustChange, false)
		if err != nil {
			return eventstore.Position{}, err
		}
		pos, err := d.appendEvents(ctx, domain.StreamName(domain.CategoryUser, u.ID), expected, envID, nil, ev)
		if err == nil || !errors.Is(err, eventstore.ErrWrongExpectedRevision) || ctx.Err() != nil {
			return pos, err
		}
	}
	return eventstore.Position{}, domain.Conflictf("too many concurrent changes of user %s", userID)
}

// notReused refuses plain when it verifies against one of hashes (the current one first). A
// hash that cannot be read is skipped: it cannot match.
func notReused(hasher PasswordVerifier, hashes []string, plain string, history int) error {
	for _, h := range hashes {
		if ok, _, err := hasher.Verify(h, plain); err == nil && ok {
			return domain.Invalidf("password", "must differ from the current password and the %d before it", history)
		}
	}
	return nil
}

// Character classes of temporary passwords (no look-alikes such as l, 1, O and 0).
const (
	tempUpper   = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	tempLower   = "abcdefghijkmnopqrstuvwxyz"
	tempDigits  = "23456789"
	tempSpecial = "!#$%&*+-=?@^_"
)

// temporaryPassword returns a random password meeting p: 16 characters, or more when p needs
// them, from each class at least what p requires.
func temporaryPassword(p domain.PasswordPolicy) (string, error) {
	n := max(16, p.MinLength, p.MinUppercase+p.MinLowercase+p.MinDigits+p.MinSpecial)
	if p.MaxLength > 0 {
		n = min(n, p.MaxLength)
	}
	for range 16 {
		var out []byte
		for _, c := range []struct {
			chars string
			n     int
		}{{tempUpper, max(p.MinUppercase, 1)}, {tempLower, max(p.MinLowercase, 1)}, {tempDigits, max(p.MinDigits, 1)}, {tempSpecial, p.MinSpecial}} {
			for range c.n {
				b, err := randomChar(c.chars)
				if err != nil {
					return "", err
				}
				out = append(out, b)
			}
		}
		for len(out) < n {
			b, err := randomChar(tempUpper + tempLower + tempDigits)
			if err != nil {
				return "", err
			}
			out = append(out, b)
		}
		out = out[:n]
		for i := len(out) - 1; i > 0; i-- {
			j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
			if err != nil {
				return "", fmt.Errorf("temporary password: %w", err)
			}
			out[i], out[j.Int64()] = out[j.Int64()], out[i]
		}
		if domain.CheckPassword(p, string(out), "") == nil {
			return string(out), nil
		}
	}
	return "", fmt.Errorf("temporary password: the policy cannot be met by a generated password; give one")
}

func randomChar(chars string) (byte, error) {
	i, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
	if err != nil {
		return 0, fmt.Errorf("temporary password: %w", err)
	}
	return chars[i.Int64()], nil
}
