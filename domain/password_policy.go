package domain

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of a password policy.
const (
	MaxPasswordLength      = 1024 // characters
	maxPolicyMinLength     = 255
	maxPolicyHistory       = maxPasswordHistory
	maxPolicyLockoutTries  = 100
	maxPolicyLockoutSecond = 31 * 24 * 60 * 60
)

// ValidatePasswordPolicy reports every out-of-range setting of p, each a *FieldError on
// "passwordPolicy.<setting>", joined.
func ValidatePasswordPolicy(p PasswordPolicy) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, Invalidf("passwordPolicy."+field, format, args...))
	}
	if p.MinLength < 1 || p.MinLength > maxPolicyMinLength {
		bad("minLength", "must be between 1 and %d", maxPolicyMinLength)
	}
	if p.MaxLength < p.MinLength || p.MaxLength > MaxPasswordLength {
		bad("maxLength", "must be between minLength (%d) and %d", p.MinLength, MaxPasswordLength)
	}
	sum := 0
	for _, c := range []struct {
		field string
		n     int
	}{{"minUppercase", p.MinUppercase}, {"minLowercase", p.MinLowercase}, {"minDigits", p.MinDigits}, {"minSpecial", p.MinSpecial}} {
		if c.n < 0 {
			bad(c.field, "must not be negative")
		} else if c.n > MaxPasswordLength {
			bad(c.field, "must be at most %d", MaxPasswordLength)
		} else {
			sum += c.n
		}
	}
	if sum > p.MaxLength && p.MaxLength >= 0 {
		bad("maxLength", "must be at least the sum of the required uppercase, lowercase, digit and special characters (%d)", sum)
	}
	if p.History < 0 || p.History > maxPolicyHistory {
		bad("history", "must be between 0 and %d", maxPolicyHistory)
	}
	if p.LockoutFailures < 0 || p.LockoutFailures > maxPolicyLockoutTries {
		bad("lockoutFailures", "must be between 0 (never lock) and %d", maxPolicyLockoutTries)
	}
	if p.LockoutSeconds < 0 || p.LockoutSeconds > maxPolicyLockoutSecond {
		bad("lockoutSeconds", "must be between 0 (until an administrator unlocks) and %d (31 days)", maxPolicyLockoutSecond)
	}
	return FieldErrors(errs...)
}

// minUsernameRunes: NotContainUsername ignores usernames shorter than this, which would forbid
// too many passwords for no gain.
const minUsernameRunes = 3

// CheckPassword reports every rule of p that plain does not meet, each a *FieldError on
// "password" whose reason tells the user what to change; the password itself is never quoted.
// Lengths count characters (runes). username is the user's username, for NotContainUsername.
func CheckPassword(p PasswordPolicy, plain, username string) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, Invalidf("password", format, args...)) }
	if !utf8.ValidString(plain) {
		return Invalidf("password", "must be valid UTF-8 text")
	}
	var n, upper, lower, digits, special int
	for _, r := range plain {
		n++
		switch {
		case unicode.IsUpper(r):
			upper++
		case unicode.IsLower(r):
			lower++
		case unicode.IsDigit(r):
			digits++
		case !unicode.IsLetter(r):
			special++
		}
	}
	if n < p.MinLength {
		bad("must be at least %d characters long", p.MinLength)
	}
	if p.MaxLength > 0 && n > p.MaxLength {
		bad("must be at most %d characters long", p.MaxLength)
	}
	for _, c := range []struct {
		have, want int
		what       string
	}{{upper, p.MinUppercase, "uppercase letter"}, {lower, p.MinLowercase, "lowercase letter"},
		{digits, p.MinDigits, "digit"}, {special, p.MinSpecial, "special character (neither a letter nor a digit)"}} {
		if c.have < c.want {
			bad("must contain at least %s", plural(c.want, c.what))
		}
	}
	if p.NotContainUsername && utf8.RuneCountInString(username) >= minUsernameRunes &&
		strings.Contains(strings.ToLower(plain), strings.ToLower(username)) {
		bad("must not contain the username")
	}
	return FieldErrors(errs...)
}

// plural formats "1 digit", "2 digits", "2 special characters (…)".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	noun, rest, _ := strings.Cut(what, " (")
	if rest != "" {
		rest = " (" + rest
	}
	return fmt.Sprintf("%d %ss%s", n, noun, rest)
}
