package propagation

import (
	"errors"
	"testing"

	"github.com/idstream/idstream/domain"
)

// FuzzDecodeChange: any bus payload decodes into a valid change or an error of kind
// domain.ErrInvalid; never a panic.
func FuzzDecodeChange(f *testing.F) {
	f.Add([]byte(`{"env":"e","kind":"USER","identityId":"u","position":"12","eventId":"x"}`))
	f.Add([]byte(`{"env":"e","kind":"GROUP","identityId":"g","position":"12/10","eventId":"x"}`))
	f.Add([]byte(`{"env":"e","kind":"REVISION","identityId":"r","eventId":"x"}`))
	f.Add([]byte(`{"env":"e","kind":"ROBOT","identityId":"u","eventId":"x"}`))
	f.Add([]byte(`{"env":"e","kind":"USER","identityId":"u","position":"-1","eventId":"x"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, pos, err := DecodeChange(b)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if c.Env == "" || c.IdentityID == "" || c.EventID == "" {
			t.Fatalf("accepted %+v", c)
		}
		if c.Position == "" && !pos.IsZero() {
			t.Fatalf("position %v from none", pos)
		}
	})
}
