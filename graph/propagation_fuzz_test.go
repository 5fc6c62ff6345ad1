package graph

import (
	"errors"
	"testing"

	"github.com/idstream/idstream/domain"
)

// FuzzParseRevisionCursor: a client's cursor is either one of ours, round-tripping, or INVALID
// on "after"; never a panic.
func FuzzParseRevisionCursor(f *testing.F) {
	f.Add(revisionCursor(1))
	f.Add(revisionCursor(123456))
	f.Add("")
	f.Add("cmV2Oi0x") // rev:-1
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, c string) {
		n, err := parseRevisionCursor(c)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		if n <= 0 {
			t.Fatalf("cursor %q parsed to %d", c, n)
		}
	})
}
