package projections

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/idstream/idstream/domain"
)

// TestFilterNeedlesAreNecessary: for every user a filter matches, each clause of the filter's
// needles has one needle in the user's search text (so a store narrowing by them loses no
// match), including case-folding corners (the Kelvin sign, the long s, dotted capital I).
func TestFilterNeedlesAreNecessary(t *testing.T) {
	schema := []domain.AttributeDef{{Name: "site", Type: domain.AttributeString}, {Name: "tags", Type: domain.AttributeString, MultiValued: true},
		{Name: "vip", Type: domain.AttributeBoolean}, {Name: "n", Type: domain.AttributeString}}
	users := []*User{
		{ID: "u1", PopulationID: "p1", Profile: domain.Profile{Username: "Alice", Email: "alice@Example.com", Name: domain.Name{Given: "Ann", Family: "Smith"}},
			Custom: []CustomValue{{Name: "site", Value: json.RawMessage(`"Paris"`)}, {Name: "tags", Value: json.RawMessage(`["red", "Blue"]`)}}},
		{ID: "u2", PopulationID: "p2", Profile: domain.Profile{Username: "\u212Aelvin", Title: "\u017Fir", Locale: "\u0130stanbul"},
			Custom: []CustomValue{{Name: "n", Value: json.RawMessage(`42`)}, {Name: "vip", Value: json.RawMessage(`true`)}}},
		{ID: "u3", PopulationID: "p1", Profile: domain.Profile{Username: "bob", Address: domain.Address{Locality: "Lyon"}}},
	}
	filters := []string{`userName eq "alice"`, `userName eq "KELVIN"`, `userName sw "k"`, `title eq "SIR"`, `title co "IR"`,
		`locale sw "i"`, `locale eq "İSTANBUL"`, `site eq "paris" and tags eq "blue"`, `site co "ar" or userName eq "bob"`,
		`tags ew "UE"`, `n eq "42"`, `id eq "U1"`, `populationId eq "P1"`, `addresses.locality eq "lyon"`, `not (userName eq "x")`,
		`vip eq true`, `emails co "EXAMPLE"`, `name.givenName sw "an" and (site pr or userName eq "bob")`}
	narrowed := 0
	for _, filter := range filters {
		f, err := CompileUserFilter(filter, schema)
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		if len(f.Needles) > 0 {
			narrowed++
		}
		matched := 0
		for _, u := range users {
			if !f.Match(u) {
				continue
			}
			matched++
			text := UserSearchText(u)
			for _, clause := range f.Needles {
				ok := false
				for _, n := range clause {
					ok = ok || strings.Contains(text, n)
				}
				if !ok {
					t.Errorf("%s matches %s, but no needle of %q is in its search text %q", filter, u.ID, clause, text)
				}
			}
		}
		if matched == 0 && !strings.HasPrefix(filter, "not") && filter != `vip eq true` {
			t.Errorf("%s matches nobody: the case proves nothing", filter)
		}
	}
	if narrowed < len(filters)-3 {
		t.Errorf("only %d of %d filters narrow", narrowed, len(filters))
	}
	// A narrowing that excludes: the needles of userName eq "alice" are not in bob's text.
	f, _ := CompileUserFilter(`userName eq "alice"`, schema)
	if strings.Contains(UserSearchText(users[2]), f.Needles[0][0]) {
		t.Error("the needle of alice is in bob's search text")
	}
}
