package projections

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/idstream/idstream/domain"
)

// TestCompileUserMatcher: the exported matcher answers like users(filter) for core, system,
// alias and custom attributes; empty matches everyone; a bad filter names the field.
func TestCompileUserMatcher(t *testing.T) {
	schema := []domain.AttributeDef{{Name: "department", Type: domain.AttributeString}}
	u := &User{ID: "u1", Enabled: true, Profile: domain.Profile{Username: "ann", Title: "staff"},
		Custom: []CustomValue{{Name: "department", Value: json.RawMessage(`"eng"`)}}}
	for filter, want := range map[string]bool{
		"":                                       true,
		`title eq "staff"`:                       true,
		`userName eq "ANN"`:                      true,
		`active eq true and department eq "eng"`: true,
		`department eq "ops"`:                    false,
		`not (title eq "staff")`:                 false,
	} {
		m, err := CompileUserMatcher(filter, schema)
		if err != nil {
			t.Fatalf("%q: %v", filter, err)
		}
		if got := m(u); got != want {
			t.Errorf("%q matched %v, want %v", filter, got, want)
		}
	}
	for _, bad := range []string{`nosuch eq "x"`, `title eq`} {
		_, err := CompileUserMatcher(bad, schema)
		var fe *domain.FieldError
		if !errors.As(err, &fe) || fe.Field != "filter" || !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("%q: error %v, want a field error on filter", bad, err)
		}
	}
}
