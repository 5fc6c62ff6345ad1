package domain

import (
	"errors"
	"strings"
	"testing"
)

func TestValidatePasswordPolicy(t *testing.T) {
	if err := ValidatePasswordPolicy(DefaultPasswordPolicy()); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	bad := PasswordPolicy{MinLength: 0, MaxLength: 2000, MinUppercase: -1, MinDigits: 600, MinSpecial: 600,
		History: 25, LockoutFailures: 101, LockoutSeconds: 31*86400 + 1}
	err := ValidatePasswordPolicy(bad)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("want ErrInvalid, got %v", err)
	}
	got := fieldsOf(err)
	for _, f := range []string{"passwordPolicy.minLength", "passwordPolicy.maxLength", "passwordPolicy.minUppercase",
		"passwordPolicy.history", "passwordPolicy.lockoutFailures", "passwordPolicy.lockoutSeconds"} {
		if !got[f] {
			t.Errorf("no error on %s in %v", f, err)
		}
	}
	sum := PasswordPolicy{MinLength: 4, MaxLength: 5, MinUppercase: 3, MinDigits: 3}
	if f := fieldsOf(ValidatePasswordPolicy(sum)); !f["passwordPolicy.maxLength"] || len(f) != 1 {
		t.Errorf("counts summing beyond maxLength: fields %v", f)
	}
}

func TestCheckPassword(t *testing.T) {
	p := DefaultPasswordPolicy()
	p.MinSpecial = 1
	if err := CheckPassword(p, "Corr3ct-horse", "alice"); err != nil {
		t.Fatalf("good password refused: %v", err)
	}
	err := CheckPassword(p, "xaLICEx", "alice")
	var reasons []string
	for _, e := range flatten(err) {
		var fe *FieldError
		if !errors.As(e, &fe) || fe.Field != "password" {
			t.Fatalf("not a field error on password: %v", e)
		}
		if strings.Contains(fe.Reason, "xaLICEx") {
			t.Fatalf("reason echoes the password: %q", fe.Reason)
		}
		reasons = append(reasons, fe.Reason)
	}
	want := []string{"at least 8 characters", "at least 1 digit", "at least 1 special", "must not contain the username"}
	if len(reasons) != len(want) {
		t.Fatalf("reasons %q, want %d of them", reasons, len(want))
	}
	for i, w := range want {
		if !strings.Contains(reasons[i], w) {
			t.Errorf("reason %d = %q, want it to mention %q", i, reasons[i], w)
		}
	}
	// Characters, not bytes: 8 runes of 2 bytes each meet MinLength 8 and MaxLength 8.
	q := PasswordPolicy{MinLength: 8, MaxLength: 8}
	if err := CheckPassword(q, "éééééééé", ""); err != nil {
		t.Errorf("8 two-byte runes: %v", err)
	}
	if err := CheckPassword(q, "ééééééééé", ""); err == nil {
		t.Error("9 runes accepted with MaxLength 8")
	}
	if err := CheckPassword(q, "abc\xffdefgh", ""); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
	// Short usernames are not searched for.
	if err := CheckPassword(DefaultPasswordPolicy(), "Abcdefg1", "ab"); err != nil {
		t.Errorf("two-letter username: %v", err)
	}
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func fieldsOf(err error) map[string]bool {
	out := map[string]bool{}
	for _, e := range flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			out[fe.Field] = true
		}
	}
	return out
}
