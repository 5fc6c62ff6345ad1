package readmodeltest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/projections"
)

// Run runs every case against fresh stores from factory.
func Run(t *testing.T, factory Factory) {
	cases := []struct {
		name string
		fn   func(*testing.T, *fixture)
	}{
		{"Environments", testEnvironments},
		{"PopulationsAndCounts", testPopulations},
		{"UsersLifecycle", testUsersLifecycle},
		{"Filters", testFilters},
		{"Paging", testPaging},
		{"PopulationScope", testScope},
		{"Groups", testGroups},
		{"APIClients", testAPIClients},
		{"Configuration", testConfiguration},
		{"DeletedAndCrossEnvironment", testDeleted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newFixture(t, factory)) })
	}
}

func testEnvironments(t *testing.T, f *fixture) {
	same(t, "no environments", f.s.Environments(), []projections.Environment{})
	wantErr(t, "unknown environment", errOf(f.s.Environment(env1)), domain.ErrNotFound)
	f.env(env2)
	f.env(env1)
	f.apply(domain.EnvironmentRenamed{EnvironmentID: env1, Name: "Renamed"},
		domain.PasswordPolicySet{EnvironmentID: env1, Policy: domain.PasswordPolicy{MinLength: 20}})
	envs := f.s.Environments()
	if len(envs) != 2 || envs[0].ID != env1 || envs[1].ID != env2 {
		t.Fatalf("environments %+v, want %s then %s", envs, env1, env2)
	}
	e := must[projections.Environment](t)(f.s.Environment(env1))
	if e.Name != "Renamed" || e.DefaultPopulationID != env1+"-pop" || e.CreatedAt.Equal(e.UpdatedAt) {
		t.Fatalf("environment %+v", e)
	}
	same(t, "environment in the list", envs[0], e)
	pp := must[domain.PasswordPolicy](t)(f.s.PasswordPolicy(env1))
	if pp.MinLength != 20 {
		t.Fatalf("password policy %+v", pp)
	}
	f.apply(domain.PopulationCreated{EnvironmentID: env1, PopulationID: "p2", Name: "Two"},
		domain.DefaultPopulationChanged{EnvironmentID: env1, PopulationID: "p2"})
	if e := must[projections.Environment](t)(f.s.Environment(env1)); e.DefaultPopulationID != "p2" {
		t.Fatalf("default population %q", e.DefaultPopulationID)
	}
	// A population created before its environment joins it at creation; one of an
	// environment never created stays invisible.
	f.apply(domain.PopulationCreated{EnvironmentID: "env-pending", PopulationID: "pp", Name: "Early"})
	wantErr(t, "environment not created yet", errOf(f.s.Populations("env-pending")), domain.ErrNotFound)
}

func errOf[T any](_ T, err error) error { return err }

func testPopulations(t *testing.T, f *fixture) {
	f.env(env1)
	f.apply(domain.PopulationCreated{EnvironmentID: env1, PopulationID: "p2", Name: "Two", Description: "second"})
	for i := range 5 {
		f.user(env1, i, nil)
	}
	f.user(env1, 5, func(e *domain.UserCreated) { e.PopulationID = "p2" })
	pops := must[[]projections.Population](t)(f.s.Populations(env1))
	if len(pops) != 2 || pops[0].ID != env1+"-pop" || pops[0].UserCount != 5 || pops[1].ID != "p2" || pops[1].UserCount != 1 {
		t.Fatalf("populations %+v", pops)
	}
	f.apply(domain.UserPopulationChanged{EnvironmentID: env1, UserID: UserID(0), From: env1 + "-pop", To: "p2"},
		domain.UserDeleted{EnvironmentID: env1, UserID: UserID(1)},
		domain.PopulationUpdated{EnvironmentID: env1, PopulationID: "p2", Name: "Deux", Description: "2"})
	p := must[projections.Population](t)(f.s.Population(env1, "p2"))
	if p.UserCount != 2 || p.Name != "Deux" || p.Description != "2" {
		t.Fatalf("population p2 %+v", p)
	}
	if p := must[projections.Population](t)(f.s.Population(env1, env1+"-pop")); p.UserCount != 3 {
		t.Fatalf("default population holds %d users, want 3", p.UserCount)
	}
	f.apply(domain.PopulationCreated{EnvironmentID: env1, PopulationID: "p3", Name: "Three"},
		domain.PopulationDeleted{EnvironmentID: env1, PopulationID: "p3"})
	wantErr(t, "deleted population", errOf(f.s.Population(env1, "p3")), domain.ErrNotFound)
	wantErr(t, "unknown population", errOf(f.s.Population(env1, "nope")), domain.ErrNotFound)
	same(t, "populations listed as fetched", must[[]projections.Population](t)(f.s.Populations(env1))[1], p)
}

func testUsersLifecycle(t *testing.T, f *fixture) {
	f.env(env1)
	f.apply(domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "badge", Type: domain.AttributeString}})
	id := f.user(env1, 1, func(e *domain.UserCreated) {
		e.Custom = domain.CustomValues{"badge": json.RawMessage(`"B-1"`)}
		e.Profile.ExternalID = "ext-1"
	})
	u := must[*projections.User](t)(f.s.User(env1, id))
	if u.Profile.Username != "user1" || !u.Enabled || u.PopulationID != env1+"-pop" || u.EnvironmentID != env1 || len(u.Custom) != 1 {
		t.Fatalf("user %+v", u)
	}
	f.apply(domain.UserUpdated{EnvironmentID: env1, UserID: id, Profile: domain.Profile{Username: "renamed", Email: "r@example.com"},
		Custom: domain.CustomValues{"badge": json.RawMessage(`"B-2"`)}},
		domain.UserDisabled{EnvironmentID: env1, UserID: id},
		domain.UserLocked{EnvironmentID: env1, UserID: id, Reason: domain.LockReason("ADMIN")},
		domain.UserRoleAssigned{EnvironmentID: env1, UserID: id, Assignment: domain.RoleAssignment{ID: "ra1", Role: domain.RoleAuditor}},
		domain.UserMFADeviceEnrolled{EnvironmentID: env1, UserID: id, DeviceID: "d1", Type: domain.MFADeviceType("EMAIL"), Email: "r@example.com"},
		domain.UserMFADeviceActivated{EnvironmentID: env1, UserID: id, DeviceID: "d1"},
		domain.UserPasswordSet{EnvironmentID: env1, UserID: id, Hash: "$argon2id$x", MustChange: true})
	u2 := must[*projections.User](t)(f.s.User(env1, id))
	if u2.Profile.Username != "renamed" || u2.Enabled || !u2.Locked || len(u2.Roles) != 1 || len(u2.MFADevices) != 1 ||
		!u2.MFADevices[0].Active || !u2.HasPassword || !u2.MustChangePassword || string(u2.Custom[0].Value) != `"B-2"` {
		t.Fatalf("updated user %+v", u2)
	}
	if !u2.UpdatedAt.After(u2.CreatedAt) || !u2.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("times created %v updated %v", u2.CreatedAt, u2.UpdatedAt)
	}
	// The old username no longer finds the user; the new one does.
	if p := must[projections.UserPage](t)(f.s.Users(env1, projections.UserQuery{Filter: `userName eq "user1"`})); p.TotalCount != 0 {
		t.Fatalf("old username still matches %v", ids(p.Users))
	}
	if p := must[projections.UserPage](t)(f.s.Users(env1, projections.UserQuery{Filter: `userName eq "RENAMED"`})); p.TotalCount != 1 {
		t.Fatalf("new username matches %d", p.TotalCount)
	}
	id2 := f.user(env1, 2, nil)
	got := must[[]*projections.User](t)(f.s.UsersByIDs(env1, []string{id2, "missing", id}))
	if len(got) != 3 || got[0] == nil || got[0].ID != id2 || got[1] != nil || got[2] == nil || got[2].ID != id {
		t.Fatalf("UsersByIDs %v", got)
	}
	same(t, "UsersByIDs holds what User answers", got[2], u2)
	// Removing an attribute drops every user's value of it.
	f.apply(domain.SchemaAttributeRemoved{EnvironmentID: env1, Name: "badge"})
	if u := must[*projections.User](t)(f.s.User(env1, id)); len(u.Custom) != 0 {
		t.Fatalf("custom values after the attribute's removal: %+v", u.Custom)
	}
	if s := must[[]domain.AttributeDef](t)(f.s.Schema(env1)); len(s) != 0 {
		t.Fatalf("schema after removal %+v", s)
	}
	f.apply(domain.UserDeleted{EnvironmentID: env1, UserID: id})
	wantErr(t, "deleted user", errOf(f.s.User(env1, id)), domain.ErrNotFound)
	if p := must[projections.UserPage](t)(f.s.Users(env1, projections.UserQuery{})); p.TotalCount != 1 || p.Users[0].ID != id2 {
		t.Fatalf("users after deletion %v", ids(p.Users))
	}
}

func testFilters(t *testing.T, f *fixture) {
	f.env(env1)
	f.apply(domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "site", Type: domain.AttributeString}},
		domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "tags", Type: domain.AttributeString, MultiValued: true}},
		domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "vip", Type: domain.AttributeBoolean}},
		domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "extra", Type: domain.AttributeJSON}})
	f.user(env1, 1, func(e *domain.UserCreated) {
		e.Profile.Email = "Alice@Example.com"
		e.Profile.Username = "alice"
		e.Custom = domain.CustomValues{"site": json.RawMessage(`"Paris"`), "tags": json.RawMessage(`["red","Blue"]`),
			"vip": json.RawMessage(`true`), "extra": json.RawMessage(`{"b": 1, "a": [2]}`)}
	})
	f.user(env1, 2, func(e *domain.UserCreated) {
		e.Profile.Username = "bob"
		e.Profile.Email = ""
		e.Enabled = false
		e.Custom = domain.CustomValues{"site": json.RawMessage(`"London"`), "tags": json.RawMessage(`["green"]`)}
	})
	f.user(env1, 3, func(e *domain.UserCreated) {
		e.Profile.Username = "carol"
		e.Profile.Title = "CTO"
		e.Custom = domain.CustomValues{"vip": json.RawMessage(`false`), "extra": json.RawMessage(`[1, 2]`)}
	})
	for _, c := range []struct {
		filter string
		want   []int
	}{
		{`userName eq "ALICE"`, []int{1}},
		{`userName ne "alice"`, []int{2, 3}},
		{`emails co "example"`, []int{1, 3}},
		{`userName sw "ca"`, []int{3}},
		{`userName ew "OB"`, []int{2}},
		{`title pr`, []int{3}},
		{`email eq null`, []int{2}},
		{`userName gt "b"`, []int{2, 3}},
		{`userName lt "bob"`, []int{1}},
		{`userName eq "alice" or userName eq "carol"`, []int{1, 3}},
		{`enabled eq true and not (userName eq "alice")`, []int{3}},
		{`site eq "paris"`, []int{1}},
		{`site pr`, []int{1, 2}},
		{`tags eq "blue"`, []int{1}},
		{`tags eq "green" or tags eq "red"`, []int{1, 2}},
		{`vip eq true`, []int{1}},
		{`vip eq false`, []int{3}},
		{`extra pr`, []int{1, 3}},
		{`extra eq "[1,2]"`, []int{3}},
		{`site eq null`, []int{3}},
		{`enabled eq false`, []int{2}},
		{`id eq "` + UserID(2) + `"`, []int{2}},
		{`populationId eq "` + env1 + `-pop" and userName sw "a"`, []int{1}},
	} {
		p, err := f.s.Users(env1, projections.UserQuery{Filter: c.filter})
		if err != nil {
			t.Fatalf("filter %s: %v", c.filter, err)
		}
		want := []string{}
		for _, n := range c.want {
			want = append(want, UserID(n))
		}
		same(t, "filter "+c.filter, ids(p.Users), want)
		if p.TotalCount != len(want) {
			t.Fatalf("filter %s: TotalCount %d, want %d", c.filter, p.TotalCount, len(want))
		}
	}
	for _, bad := range []string{`nosuch eq "x"`, `userName eq`, `vip gt true`, `((`} {
		_, err := f.s.Users(env1, projections.UserQuery{Filter: bad})
		wantField(t, "filter "+bad, err, "filter")
	}
}

func testPaging(t *testing.T, f *fixture) {
	f.env(env1)
	var payloads []any
	for i := range 25 {
		payloads = append(payloads, userCreated(env1, 100-i, nil)) // created out of ID order
	}
	f.apply(payloads...)
	var all []string
	after := ""
	for pages := 0; ; pages++ {
		p := must[projections.UserPage](t)(f.s.Users(env1, projections.UserQuery{First: 10, After: after}))
		if p.TotalCount != 25 {
			t.Fatalf("TotalCount %d", p.TotalCount)
		}
		all = append(all, ids(p.Users)...)
		if pages < 2 != p.HasNextPage || (len(p.Users) > 0 && p.EndCursor == "") {
			t.Fatalf("page %d: %d users, HasNextPage %v, EndCursor %q", pages, len(p.Users), p.HasNextPage, p.EndCursor)
		}
		if !p.HasNextPage {
			break
		}
		after = p.EndCursor
	}
	want := []string{}
	for i := 76; i <= 100; i++ {
		want = append(want, UserID(i))
	}
	same(t, "every page in ID order", all, want)
	// Filtered pages page the same way.
	p := must[projections.UserPage](t)(f.s.Users(env1, projections.UserQuery{Filter: `name.familyName eq "family7"`, First: 1}))
	if p.TotalCount != 3 || !p.HasNextPage || len(p.Users) != 1 || p.Users[0].ID != UserID(77) {
		t.Fatalf("filtered page %+v", p)
	}
	p = must[projections.UserPage](t)(f.s.Users(env1, projections.UserQuery{Filter: `name.familyName eq "family7"`, First: 5, After: p.EndCursor}))
	same(t, "second filtered page", ids(p.Users), []string{UserID(87), UserID(97)})
	if p.HasNextPage || p.TotalCount != 3 {
		t.Fatalf("second filtered page %+v", p)
	}
	if p := must[projections.UserPage](t)(f.s.Users(env1, projections.UserQuery{})); len(p.Users) != 25 || p.HasNextPage {
		t.Fatalf("default page size: %d users", len(p.Users))
	}
	end := must[projections.UserPage](t)(f.s.Users(env1, projections.UserQuery{After: projections.Cursor(UserID(100))}))
	if len(end.Users) != 0 || end.EndCursor != "" || end.HasNextPage || end.TotalCount != 25 {
		t.Fatalf("past the end %+v", end)
	}
	_, err := f.s.Users(env1, projections.UserQuery{After: "!!not base64"})
	wantField(t, "bad cursor", err, "after")
}

func testScope(t *testing.T, f *fixture) {
	f.env(env1)
	f.apply(domain.PopulationCreated{EnvironmentID: env1, PopulationID: "p2", Name: "Two"},
		domain.PopulationCreated{EnvironmentID: env1, PopulationID: "p3", Name: "Three"})
	for i := range 9 {
		f.user(env1, i, func(e *domain.UserCreated) { e.PopulationID = []string{env1 + "-pop", "p2", "p3"}[i%3] })
	}
	count := func(q projections.UserQuery) int {
		return must[projections.UserPage](t)(f.s.Users(env1, q)).TotalCount
	}
	if n := count(projections.UserQuery{}); n != 9 {
		t.Fatalf("nil scope: %d", n)
	}
	if n := count(projections.UserQuery{PopulationIDs: []string{}}); n != 0 {
		t.Fatalf("empty scope: %d", n)
	}
	if n := count(projections.UserQuery{PopulationIDs: []string{"p2"}}); n != 3 {
		t.Fatalf("one population: %d", n)
	}
	if n := count(projections.UserQuery{PopulationIDs: []string{"p2", "p3", "gone"}}); n != 6 {
		t.Fatalf("two populations: %d", n)
	}
	if n := count(projections.UserQuery{PopulationIDs: []string{"p2"}, Filter: `userName eq "user1"`}); n != 1 {
		t.Fatalf("filter in scope: %d", n)
	}
	if n := count(projections.UserQuery{PopulationIDs: []string{"p3"}, Filter: `userName eq "user1"`}); n != 0 {
		t.Fatalf("filter out of scope: %d", n)
	}
	if n := count(projections.UserQuery{PopulationIDs: []string{"p3"}, Filter: `populationId eq "p2"`}); n != 0 {
		t.Fatalf("population filter out of scope: %d", n)
	}
	p := must[projections.UserPage](t)(f.s.Users(env1, projections.UserQuery{PopulationIDs: []string{"p2", "p3"}, First: 2}))
	same(t, "scoped page", ids(p.Users), []string{UserID(1), UserID(2)})
	if !p.HasNextPage {
		t.Fatal("scoped page: want a next page")
	}
}

func testGroups(t *testing.T, f *fixture) {
	f.env(env1)
	f.apply(domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "site", Type: domain.AttributeString}})
	u1 := f.user(env1, 1, func(e *domain.UserCreated) { e.Custom = domain.CustomValues{"site": json.RawMessage(`"paris"`)} })
	u2 := f.user(env1, 2, nil)
	u3 := f.user(env1, 3, nil)
	f.apply(domain.GroupCreated{EnvironmentID: env1, GroupID: "g-a", Name: "A", Kind: domain.GroupDirect},
		domain.GroupCreated{EnvironmentID: env1, GroupID: "g-b", Name: "B", Description: "bee", Kind: domain.GroupDirect},
		domain.GroupCreated{EnvironmentID: env1, GroupID: "g-c", Name: "C", Kind: domain.GroupDirect},
		domain.GroupCreated{EnvironmentID: env1, GroupID: "g-paris", Name: "Paris", Kind: domain.GroupDynamic, Filter: `site eq "Paris"`},
		domain.GroupMemberAdded{EnvironmentID: env1, GroupID: "g-a", UserID: u2},
		domain.GroupMemberAdded{EnvironmentID: env1, GroupID: "g-b", UserID: u3},
		domain.GroupMemberAdded{EnvironmentID: env1, GroupID: "g-b", UserID: "unknown-user"},
		domain.GroupNested{EnvironmentID: env1, ParentID: "g-a", ChildID: "g-b"},
		domain.GroupNested{EnvironmentID: env1, ParentID: "g-b", ChildID: "g-paris"},
		domain.GroupNested{EnvironmentID: env1, ParentID: "g-c", ChildID: "g-a"},
		domain.GroupRoleAssigned{EnvironmentID: env1, GroupID: "g-a", Assignment: domain.RoleAssignment{ID: "r1", Role: domain.RoleAuditor}})
	members := func(g string, tr bool) (users, groups []string) {
		m := must[projections.GroupMembers](t)(f.s.GroupMembers(env1, g, tr))
		return ids(m.Users), groupIDs(m.Groups)
	}
	check := func(what string, got, want []string) { t.Helper(); same(t, what, got, want) }
	us, gs := members("g-a", false)
	check("g-a direct users", us, []string{u2})
	check("g-a direct groups", gs, []string{"g-b"})
	us, gs = members("g-a", true)
	check("g-a transitive users", us, []string{u1, u2, u3})
	check("g-a transitive groups", gs, []string{"g-b", "g-paris"})
	us, _ = members("g-paris", false)
	check("dynamic members", us, []string{u1})
	ug := must[[]projections.Group](t)(f.s.UserGroups(env1, u1, false))
	check("u1 direct groups", groupIDs(ug), []string{"g-paris"})
	ug = must[[]projections.Group](t)(f.s.UserGroups(env1, u1, true))
	check("u1 transitive groups", groupIDs(ug), []string{"g-a", "g-b", "g-c", "g-paris"})
	// A cycle is walked once.
	f.apply(domain.GroupNested{EnvironmentID: env1, ParentID: "g-paris", ChildID: "g-c"})
	us, gs = members("g-a", true)
	check("cycle users", us, []string{u1, u2, u3})
	check("cycle groups", gs, []string{"g-b", "g-c", "g-paris"})
	f.apply(domain.GroupUnnested{EnvironmentID: env1, ParentID: "g-paris", ChildID: "g-c"})
	// Users changing move in and out of dynamic groups.
	f.apply(domain.UserUpdated{EnvironmentID: env1, UserID: u2, Profile: domain.Profile{Username: "user2"},
		Custom: domain.CustomValues{"site": json.RawMessage(`"PARIS"`)}},
		domain.UserUpdated{EnvironmentID: env1, UserID: u1, Profile: domain.Profile{Username: "user1"}})
	us, _ = members("g-paris", false)
	check("dynamic members after updates", us, []string{u2})
	// A filter change recomputes; a removed attribute breaks the filter.
	f.apply(domain.GroupUpdated{EnvironmentID: env1, GroupID: "g-paris", Name: "Paris", Filter: `userName sw "user"`})
	us, _ = members("g-paris", false)
	check("members after the filter changed", us, []string{u1, u2, u3})
	f.apply(domain.GroupUpdated{EnvironmentID: env1, GroupID: "g-paris", Name: "Paris", Filter: `site pr`},
		domain.SchemaAttributeRemoved{EnvironmentID: env1, Name: "site"})
	g := must[projections.Group](t)(f.s.Group(env1, "g-paris"))
	if g.FilterError == "" {
		t.Fatal("a filter naming a removed attribute: want FilterError")
	}
	us, _ = members("g-paris", false)
	check("members of a broken filter", us, []string{})
	// Removing a member, deleting a user, deleting a nested group.
	f.apply(domain.GroupMemberRemoved{EnvironmentID: env1, GroupID: "g-a", UserID: u2},
		domain.UserDeleted{EnvironmentID: env1, UserID: u3},
		domain.GroupDeleted{EnvironmentID: env1, GroupID: "g-b"})
	us, gs = members("g-a", true)
	check("after removals users", us, []string{})
	check("after removals groups", gs, []string{})
	wantErr(t, "deleted group", errOf(f.s.Group(env1, "g-b")), domain.ErrNotFound)
	wantErr(t, "members of a deleted group", errOf(f.s.GroupMembers(env1, "g-b", false)), domain.ErrNotFound)
	wantErr(t, "groups of a deleted user", errOf(f.s.UserGroups(env1, u3, false)), domain.ErrNotFound)
	ga := must[projections.Group](t)(f.s.Group(env1, "g-a"))
	if len(ga.Roles) != 1 || ga.Name != "A" {
		t.Fatalf("group g-a %+v", ga)
	}
	// Groups pages and filters.
	page := must[projections.GroupPage](t)(f.s.Groups(env1, projections.GroupQuery{First: 2}))
	check("group page", groupIDs(page.Groups), []string{"g-a", "g-c"})
	if page.TotalCount != 3 || !page.HasNextPage {
		t.Fatalf("group page %+v", page)
	}
	page = must[projections.GroupPage](t)(f.s.Groups(env1, projections.GroupQuery{After: page.EndCursor}))
	check("second group page", groupIDs(page.Groups), []string{"g-paris"})
	page = must[projections.GroupPage](t)(f.s.Groups(env1, projections.GroupQuery{Filter: `kind eq "dynamic"`}))
	check("filtered groups", groupIDs(page.Groups), []string{"g-paris"})
	_, err := f.s.Groups(env1, projections.GroupQuery{Filter: `size gt 3`})
	wantField(t, "bad group filter", err, "filter")
	same(t, "group in the page", page.Groups[0], must[projections.Group](t)(f.s.Group(env1, "g-paris")))
}

func testAPIClients(t *testing.T, f *fixture) {
	f.env(env1)
	now := f.now
	f.apply(domain.APIClientCreated{ClientID: "c-org", Name: "Org", Roles: []domain.RoleAssignment{{ID: "r", Role: domain.RoleEnvironmentAdmin}}},
		domain.APIClientCreated{EnvironmentID: env1, ClientID: "c-env", Name: "Env"},
		domain.APIClientCreated{EnvironmentID: "env-unknown", ClientID: "c-lost", Name: "Lost"},
		domain.APIClientTokenIssued{ClientID: "c-org", TokenID: "t1", SHA256: "AAAA01"},
		domain.APIClientTokenIssued{EnvironmentID: env1, ClientID: "c-env", TokenID: "t2", SHA256: "bbbb02"},
		domain.APIClientTokenIssued{EnvironmentID: env1, ClientID: "c-env", TokenID: "t3", SHA256: "cccc03", ExpiresAt: now.Add(time.Hour)},
		domain.APIClientTokenRevoked{EnvironmentID: env1, ClientID: "c-env", TokenID: "t2"},
		domain.APIClientRoleAssigned{EnvironmentID: env1, ClientID: "c-env", Assignment: domain.RoleAssignment{ID: "r2", Role: domain.RoleAuditor, EnvironmentID: env1}})
	c, tok, ok := f.s.APIClientByTokenHash("aaaa01", now)
	if !ok || c.ID != "c-org" || tok.ID != "t1" {
		t.Fatalf("valid token: %v %+v %+v", ok, c, tok)
	}
	if _, _, ok := f.s.APIClientByTokenHash("BBBB02", now); ok {
		t.Fatal("a revoked token authenticates")
	}
	if _, tok, ok := f.s.APIClientByTokenHash("CCCC03", now); !ok || tok.ID != "t3" {
		t.Fatal("a token before its expiry does not authenticate")
	}
	if _, _, ok := f.s.APIClientByTokenHash("cccc03", now.Add(2*time.Hour)); ok {
		t.Fatal("an expired token authenticates")
	}
	if _, _, ok := f.s.APIClientByTokenHash("dddd04", now); ok {
		t.Fatal("an unknown token authenticates")
	}
	same(t, "org clients", clientIDs(must[[]projections.APIClient](t)(f.s.APIClients(""))), []string{"c-org"})
	envClients := must[[]projections.APIClient](t)(f.s.APIClients(env1))
	same(t, "env clients", clientIDs(envClients), []string{"c-env"})
	ce := must[projections.APIClient](t)(f.s.APIClient("c-env"))
	if len(ce.Tokens) != 2 || !ce.Tokens[0].Revoked || len(ce.Roles) != 1 {
		t.Fatalf("client %+v", ce)
	}
	same(t, "client listed as fetched", envClients[0], ce)
	wantErr(t, "client of an unknown environment", errOf(f.s.APIClient("c-lost")), domain.ErrNotFound)
	f.apply(domain.APIClientDeleted{ClientID: "c-org"})
	wantErr(t, "deleted client", errOf(f.s.APIClient("c-org")), domain.ErrNotFound)
	if _, _, ok := f.s.APIClientByTokenHash("aaaa01", now); ok {
		t.Fatal("a deleted client's token authenticates")
	}
	f.apply(domain.APIClientRoleUnassigned{EnvironmentID: env1, ClientID: "c-env", AssignmentID: "r2"})
	if c := must[projections.APIClient](t)(f.s.APIClient("c-env")); len(c.Roles) != 0 {
		t.Fatalf("roles after unassignment %+v", c.Roles)
	}
}

func clientIDs(cs []projections.APIClient) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func testConfiguration(t *testing.T, f *fixture) {
	f.env(env1)
	f.apply(domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "site", Type: domain.AttributeString, Enum: []string{"a", "b"}}},
		domain.PopulationCreated{EnvironmentID: env1, PopulationID: "p2", Name: "Two"},
		domain.GroupCreated{EnvironmentID: env1, GroupID: "g1", Name: "G1", Kind: domain.GroupDirect},
		domain.GroupCreated{EnvironmentID: env1, GroupID: "g2", Name: "G2", Kind: domain.GroupDynamic, Filter: `site eq "a"`},
		domain.GroupNested{EnvironmentID: env1, ParentID: "g1", ChildID: "g2"},
		domain.GroupRoleAssigned{EnvironmentID: env1, GroupID: "g1", Assignment: domain.RoleAssignment{ID: "r", Role: domain.RoleAuditor}})
	f.user(env1, 1, nil)
	c := must[domain.Configuration](t)(f.s.Configuration(env1))
	if c.EnvironmentID != env1 || len(c.Attributes) != 1 || len(c.Populations) != 2 || len(c.Groups) != 2 {
		t.Fatalf("configuration %+v", c)
	}
	var g1 *domain.ConfigGroup
	for i := range c.Groups {
		if c.Groups[i].ID == "g1" {
			g1 = &c.Groups[i]
		}
	}
	if g1 == nil || len(g1.Children) != 1 || g1.Children[0] != "g2" || len(g1.Roles) != 1 {
		t.Fatalf("configuration group g1 %+v", g1)
	}
	f.apply(domain.EnvironmentRenamed{EnvironmentID: env1, Name: "New name"})
	if c := must[domain.Configuration](t)(f.s.Configuration(env1)); c.Name != "New name" {
		t.Fatalf("configuration name %q", c.Name)
	}
	wantErr(t, "configuration of an unknown environment", errOf(f.s.Configuration("nope")), domain.ErrNotFound)
}

func testDeleted(t *testing.T, f *fixture) {
	f.env(env1)
	f.env(env2)
	u1 := f.user(env1, 1, nil)
	u2 := f.user(env2, 2, nil)
	f.apply(domain.GroupCreated{EnvironmentID: env1, GroupID: "g1", Name: "G1", Kind: domain.GroupDirect},
		domain.GroupMemberAdded{EnvironmentID: env1, GroupID: "g1", UserID: u1},
		domain.APIClientCreated{EnvironmentID: env1, ClientID: "c1", Name: "C1"},
		domain.APIClientTokenIssued{EnvironmentID: env1, ClientID: "c1", TokenID: "t1", SHA256: "ab01"})
	// Cross-environment reads are NOT_FOUND.
	wantErr(t, "user of another environment", errOf(f.s.User(env2, u1)), domain.ErrNotFound)
	wantErr(t, "group of another environment", errOf(f.s.Group(env2, "g1")), domain.ErrNotFound)
	wantErr(t, "population of another environment", errOf(f.s.Population(env2, env1+"-pop")), domain.ErrNotFound)
	wantErr(t, "members of another environment's group", errOf(f.s.GroupMembers(env2, "g1", true)), domain.ErrNotFound)
	wantErr(t, "groups of another environment's user", errOf(f.s.UserGroups(env2, u1, true)), domain.ErrNotFound)
	if got := must[[]*projections.User](t)(f.s.UsersByIDs(env2, []string{u1, u2})); got[0] != nil || got[1] == nil {
		t.Fatalf("UsersByIDs across environments %v", got)
	}
	// A deleted environment answers NOT_FOUND everywhere, and its clients are gone.
	f.apply(domain.EnvironmentDeleted{EnvironmentID: env1})
	for what, err := range map[string]error{
		"environment":     errOf(f.s.Environment(env1)),
		"password policy": errOf(f.s.PasswordPolicy(env1)),
		"schema":          errOf(f.s.Schema(env1)),
		"population":      errOf(f.s.Population(env1, env1+"-pop")),
		"populations":     errOf(f.s.Populations(env1)),
		"user":            errOf(f.s.User(env1, u1)),
		"users by IDs":    errOf(f.s.UsersByIDs(env1, []string{u1})),
		"users":           errOf(f.s.Users(env1, projections.UserQuery{})),
		"group":           errOf(f.s.Group(env1, "g1")),
		"groups":          errOf(f.s.Groups(env1, projections.GroupQuery{})),
		"group members":   errOf(f.s.GroupMembers(env1, "g1", false)),
		"user groups":     errOf(f.s.UserGroups(env1, u1, false)),
		"API clients":     errOf(f.s.APIClients(env1)),
		"API client":      errOf(f.s.APIClient("c1")),
		"configuration":   errOf(f.s.Configuration(env1)),
	} {
		wantErr(t, "deleted environment: "+what, err, domain.ErrNotFound)
	}
	if _, _, ok := f.s.APIClientByTokenHash("ab01", f.now); ok {
		t.Fatal("a token of a deleted environment's client authenticates")
	}
	same(t, "environments after the deletion", len(f.s.Environments()), 1)
	// Re-creating a deleted environment's ID is ignored.
	f.env(env1)
	wantErr(t, "re-created environment", errOf(f.s.Environment(env1)), domain.ErrNotFound)
	if _, err := f.s.User(env2, u2); err != nil {
		t.Fatalf("the other environment's user: %v", err)
	}
}
