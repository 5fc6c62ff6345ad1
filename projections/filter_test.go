package projections

import (
	"errors"
	"strings"
	"testing"

	"github.com/idstream/idstream/domain"
)

func isFilterErr(err error) bool {
	var fe *domain.FieldError
	return errors.As(err, &fe) && fe.Field == "filter" && errors.Is(err, domain.ErrInvalid)
}

// filterFixture: three users with varied attributes.
func filterFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.env(env1)
	f.apply(
		domain.PopulationCreated{EnvironmentID: env1, PopulationID: "staff", Name: "Staff"},
		domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "badge", Type: domain.AttributeString}},
		domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "tags", Type: domain.AttributeString, MultiValued: true}},
		domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "vip", Type: domain.AttributeBoolean}},
		domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "prefs", Type: domain.AttributeJSON}},
	)
	f.user(env1, 1, func(u *domain.UserCreated) {
		u.Profile = domain.Profile{Username: "Alice", Email: "alice@example.com", ExternalID: "EXT-1",
			Name: domain.Name{Given: "Alice", Family: "Smith"}, Title: "Engineer"}
		u.Custom = domain.CustomValues{"badge": raw(`"B-100"`), "tags": raw(`["red","Blue"]`), "vip": raw(`true`), "prefs": raw(`{"a": 1}`)}
	})
	f.user(env1, 2, func(u *domain.UserCreated) {
		u.Profile = domain.Profile{Username: "bob", Email: "bob@example.org", Name: domain.Name{Given: "Bob", Family: "Smithers"}}
		u.PopulationID = "staff"
		u.Custom = domain.CustomValues{"vip": raw(`false`), "tags": raw(`["green"]`)}
		u.Enabled = false
	})
	f.user(env1, 3, func(u *domain.UserCreated) {
		u.Profile = domain.Profile{Username: "carol", Email: "carol@example.com", Name: domain.Name{Given: "Carol", Family: "Jones"}}
		u.Custom = domain.CustomValues{"badge": raw(`"B-300"`)}
	})
	f.apply(domain.UserLocked{EnvironmentID: env1, UserID: userID(3), Reason: domain.LockAdmin})
	return f
}

func TestUserFilterSemantics(t *testing.T) {
	f := filterFixture(t)
	cases := []struct {
		filter string
		want   string // user numbers, in order
	}{
		{``, "123"},
		{`username eq "alice"`, "1"},
		{`userName eq "ALICE"`, "1"},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob"`, "2"},
		{`emails.value eq "BOB@example.org"`, "2"},
		{`email ew "example.com"`, "13"},
		{`externalId eq "ext-1"`, "1"},
		{`externalId pr`, "1"},
		{`not (externalId pr)`, "23"},
		{`externalId eq null`, "23"},
		{`name.familyName sw "smith"`, "12"},
		{`name.family co "MITH"`, "12"},
		{`name.givenName gt "b"`, "23"},
		{`name.givenName ge "bob"`, "23"},
		{`name.givenName lt "bob"`, "1"},
		{`name.givenName le "bob"`, "12"},
		{`title ne "engineer"`, "23"},
		{`username eq "alice" or username eq "carol"`, "13"},
		{`(username eq "alice" or username eq "bob") and enabled eq true`, "1"},
		{`active eq false`, "2"},
		{`locked eq true`, "3"},
		{`populationId eq "staff"`, "2"},
		{`populationId eq "staff" and username eq "alice"`, ""},
		{`email ew "example.com" and username eq "carol"`, "3"},
		{`username eq "carol" and email ew "example.org"`, ""},
		{`badge eq "b-100"`, "1"},
		{`badge pr`, "13"},
		{`BADGE sw "B-"`, "13"},
		{`tags eq "blue"`, "1"},
		{`tags co "ee"`, "2"},
		{`tags pr`, "12"},
		{`tags ne "red"`, "23"},
		{`vip eq true`, "1"},
		{`vip eq false`, "2"},
		{`vip pr`, "12"},
		{`prefs pr`, "1"},
		{`prefs eq "{\"a\":1}"`, ""}, // the parser keeps escapes: no match, no panic
		{`id eq "` + userID(2) + `"`, "2"},
	}
	for _, c := range cases {
		page, err := f.d.Users(env1, UserQuery{Filter: c.filter})
		if err != nil {
			t.Errorf("%s: %v", c.filter, err)
			continue
		}
		var got strings.Builder
		for _, u := range page.Users {
			got.WriteString(strings.TrimLeft(u.ID[len(u.ID)-3:], "0"))
		}
		if got.String() != c.want || page.TotalCount != len(c.want) {
			t.Errorf("%s: got users %q (total %d), want %q", c.filter, got.String(), page.TotalCount, c.want)
		}
	}
}

func TestUserFilterJSONEquality(t *testing.T) {
	f := newFixture(t)
	f.env(env1)
	f.apply(domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "level", Type: domain.AttributeJSON}})
	f.user(env1, 1, func(u *domain.UserCreated) { u.Custom = domain.CustomValues{"level": raw(`3`)} })
	f.user(env1, 2, func(u *domain.UserCreated) { u.Custom = domain.CustomValues{"level": raw(`"gold"`)} })
	for filter, want := range map[string]int{`level eq 3`: 1, `level eq "gold"`: 1, `level eq "\"gold\""`: 0, `level pr`: 2, `level ne 3`: 1} {
		page, err := f.d.Users(env1, UserQuery{Filter: filter})
		if err != nil || page.TotalCount != want {
			t.Errorf("%s: total %d, %v; want %d", filter, page.TotalCount, err, want)
		}
	}
}

func TestUserFilterErrors(t *testing.T) {
	f := filterFixture(t)
	for _, filter := range []string{
		`nosuch eq "x"`,
		`username eq`,
		`username xx "a"`,
		`(username eq "a"`,
		`enabled eq "yes"`,
		`enabled gt true`,
		`username eq true`,
		`username eq 3`,
		`prefs co "a"`,
		`emails[type eq "work"]`,
		`username gt null`,
		`vip co "t"`,
	} {
		_, err := f.d.Users(env1, UserQuery{Filter: filter})
		if !isFilterErr(err) {
			t.Errorf("%s: error %v, want a FieldError on filter", filter, err)
		}
	}
	_, err := f.d.Users(env1, UserQuery{Filter: `nosuch eq "x"`})
	if err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown attribute error does not name it: %v", err)
	}
	if _, err := f.d.Groups(env1, GroupQuery{Filter: `members eq "x"`}); !isFilterErr(err) {
		t.Errorf("groups filter on an unknown attribute: %v", err)
	}
}

func TestUsersPaginationAndScope(t *testing.T) {
	f := newFixture(t)
	f.env(env1)
	f.apply(domain.PopulationCreated{EnvironmentID: env1, PopulationID: "p2", Name: "Two"})
	// Created out of ID order: pages follow ID order anyway.
	for _, n := range []int{5, 1, 4, 2, 3, 7, 6} {
		f.user(env1, n, func(u *domain.UserCreated) {
			if n%2 == 0 {
				u.PopulationID = "p2"
			}
		})
	}
	var seen []string
	after := ""
	for pages := 0; ; pages++ {
		page, err := f.d.Users(env1, UserQuery{First: 3, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalCount != 7 {
			t.Fatalf("total = %d", page.TotalCount)
		}
		for _, u := range page.Users {
			seen = append(seen, u.ID)
		}
		if !page.HasNextPage {
			if pages != 2 || len(page.Users) != 1 {
				t.Fatalf("last page %d has %d users", pages, len(page.Users))
			}
			break
		}
		after = page.EndCursor
	}
	want := []string{userID(1), userID(2), userID(3), userID(4), userID(5), userID(6), userID(7)}
	if !equal(seen, want) {
		t.Fatalf("pages = %v", seen)
	}
	// Filter + pagination: the total counts every match.
	page, _ := f.d.Users(env1, UserQuery{Filter: `username sw "user"`, First: 2})
	if page.TotalCount != 7 || len(page.Users) != 2 || !page.HasNextPage {
		t.Fatalf("filtered page = %+v", page)
	}
	// Scope restricts, with and without filters and indexes.
	for _, q := range []UserQuery{
		{PopulationIDs: []string{"p2"}},
		{PopulationIDs: []string{"p2", "nosuch"}},
		{PopulationIDs: []string{"p2"}, Filter: `username sw "user"`},
		{PopulationIDs: []string{"p2", env1 + "-pop"}, Filter: `populationId eq "p2"`},
	} {
		page, err := f.d.Users(env1, q)
		if err != nil || page.TotalCount != 3 || page.Users[0].ID != userID(2) {
			t.Errorf("%+v: total %d, %v", q, page.TotalCount, err)
		}
	}
	if page, _ := f.d.Users(env1, UserQuery{PopulationIDs: []string{env1 + "-pop"}, Filter: `populationId eq "p2"`}); page.TotalCount != 0 {
		t.Errorf("scope outside the filtered population: %d", page.TotalCount)
	}
	if page, _ := f.d.Users(env1, UserQuery{PopulationIDs: []string{}}); page.TotalCount != 0 {
		t.Errorf("empty scope matches %d", page.TotalCount)
	}
	if page, _ := f.d.Users(env1, UserQuery{PopulationIDs: []string{"p2"}, Filter: `username eq "USER4"`}); page.TotalCount != 1 {
		t.Errorf("indexed eq inside scope: %d", page.TotalCount)
	}
	if page, _ := f.d.Users(env1, UserQuery{PopulationIDs: []string{"p2"}, Filter: `username eq "user5"`}); page.TotalCount != 0 {
		t.Errorf("indexed eq outside scope: %d", page.TotalCount)
	}
	// Clamping and bad cursors.
	if page, _ := f.d.Users(env1, UserQuery{First: 5000}); len(page.Users) != 7 {
		t.Errorf("first 5000: %d users", len(page.Users))
	}
	var fe *domain.FieldError
	if _, err := f.d.Users(env1, UserQuery{After: "!!!"}); !errors.As(err, &fe) || fe.Field != "after" {
		t.Errorf("bad cursor: %v", err)
	}
	if pageSize(0) != 50 || pageSize(-3) != 50 || pageSize(1001) != 1000 || pageSize(7) != 7 {
		t.Error("page size clamping")
	}
}

func TestUserListOrderUnderChurn(t *testing.T) {
	var l userList
	ids := map[string]bool{}
	// Interleaved inserts and removals, enough to split blocks.
	for i := 0; i < 5000; i++ {
		id := userID((i * 7919) % 5003)
		l.insert(&userSlot{id: id})
		ids[id] = true
		if i%3 == 0 {
			rm := userID((i * 31) % 5003)
			l.remove(rm)
			delete(ids, rm)
		}
	}
	if l.len() != len(ids) {
		t.Fatalf("len %d, want %d", l.len(), len(ids))
	}
	prev, n := "", 0
	l.each("", func(s *userSlot) bool {
		if s.id <= prev || !ids[s.id] {
			t.Fatalf("order broken at %s after %s", s.id, prev)
		}
		prev = s.id
		n++
		return true
	})
	if n != len(ids) {
		t.Fatalf("visited %d of %d", n, len(ids))
	}
}

func FuzzCompileFilter(f *testing.F) {
	for _, s := range []string{`username eq "a"`, `not (a pr) or b eq true and c gt 3`, `emails[type eq "work"].value`,
		`badge co "x" and (tags eq "y" or vip eq false)`, `prefs eq null`, `((((`, `a eq "\"`, `title le 1.5e3`} {
		f.Add(s)
	}
	schema := []domain.AttributeDef{{Name: "badge", Type: domain.AttributeString}, {Name: "tags", Type: domain.AttributeString, MultiValued: true},
		{Name: "vip", Type: domain.AttributeBoolean}, {Name: "prefs", Type: domain.AttributeJSON}}
	u := &User{ID: "x", Profile: domain.Profile{Username: "a"}, Custom: []CustomValue{{"badge", raw(`"x"`)}, {"prefs", raw(`{}`)}, {"tags", raw(`["y"]`)}}}
	f.Fuzz(func(t *testing.T, filter string) {
		uf, err := compileUserFilter(filter, schema)
		if err != nil {
			if !isFilterErr(err) {
				t.Fatalf("%q: error %v is not a FieldError on filter", filter, err)
			}
			return
		}
		if uf.match != nil {
			uf.match(u)
		}
		if uf.rest != nil {
			uf.rest(u)
		}
		if _, err := compileGroupFilter(filter); err != nil && !isFilterErr(err) {
			t.Fatalf("%q: group filter error %v", filter, err)
		}
	})
}
