package graph

import (
	"errors"
	"testing"

	"github.com/idstream/idstream/domain"
)

// FuzzParseAccountCursor: a client's cursor of propagationAccounts parses to an identity ID
// whose own cursor parses back to it, or is INVALID naming "after"; never a panic.
func FuzzParseAccountCursor(f *testing.F) {
	for _, seed := range []string{"", accountCursor("u1"), accountCursor("01900000-0000-7000-8000-000000000001"), "bm9wZQ", "cHJvcGFjY291bnQ6",
		"!!!", accountCursor("ünïcode"), "cHJvcGFjY291bnQ6dTE="} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, c string) {
		id, err := parseAccountCursor(c)
		if err != nil {
			var fe *domain.FieldError
			if !errors.As(err, &fe) || fe.Field != "after" || !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("parseAccountCursor(%q) = %v, want INVALID on after", c, err)
			}
			return
		}
		if c != "" && id == "" {
			t.Fatalf("parseAccountCursor(%q) = empty ID", c)
		}
		if c != "" {
			if back, err := parseAccountCursor(accountCursor(id)); err != nil || back != id {
				t.Fatalf("round trip of %q: %q, %v", id, back, err)
			}
		}
	})
}
