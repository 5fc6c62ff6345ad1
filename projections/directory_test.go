package projections

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
)

func TestFoldEnvironmentAndPopulations(t *testing.T) {
	f := newFixture(t)
	f.env(env1)
	created := f.now
	f.apply(domain.EnvironmentRenamed{EnvironmentID: env1, Name: "Renamed"},
		domain.PasswordPolicySet{EnvironmentID: env1, Policy: domain.PasswordPolicy{MinLength: 20}},
		domain.PopulationCreated{EnvironmentID: env1, PopulationID: "p2", Name: "Staff"},
		domain.DefaultPopulationChanged{EnvironmentID: env1, PopulationID: "p2"},
		domain.PopulationUpdated{EnvironmentID: env1, PopulationID: "p2", Name: "Employees", Description: "all"})
	e, err := f.d.Environment(env1)
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "Renamed" || e.DefaultPopulationID != "p2" || e.PasswordPolicy.MinLength != 20 {
		t.Fatalf("environment = %+v", e)
	}
	if !e.CreatedAt.Equal(created.Add(-time.Second)) || !e.UpdatedAt.After(e.CreatedAt) {
		t.Fatalf("created %v updated %v", e.CreatedAt, e.UpdatedAt)
	}
	if pol, _ := f.d.PasswordPolicy(env1); pol.MinLength != 20 {
		t.Fatalf("policy = %+v", pol)
	}
	f.user(env1, 1, func(u *domain.UserCreated) { u.PopulationID = "p2" })
	f.user(env1, 2, nil)
	f.user(env1, 3, func(u *domain.UserCreated) { u.PopulationID = "p2" })
	p, err := f.d.Population(env1, "p2")
	if err != nil || p.Name != "Employees" || p.Description != "all" || p.UserCount != 2 {
		t.Fatalf("population = %+v, %v", p, err)
	}
	f.apply(domain.UserPopulationChanged{EnvironmentID: env1, UserID: userID(1), From: "p2", To: env1 + "-pop"})
	if n, _ := f.d.PopulationUserCount(context.Background(), env1, "p2"); n != 1 {
		t.Fatalf("p2 count after move = %d, want 1", n)
	}
	if n, _ := f.d.PopulationUserCount(context.Background(), env1, env1+"-pop"); n != 2 {
		t.Fatalf("default count after move = %d, want 2", n)
	}
	pops, _ := f.d.Populations(env1)
	if len(pops) != 2 {
		t.Fatalf("populations = %+v", pops)
	}
	f.apply(domain.PopulationCreated{EnvironmentID: env1, PopulationID: "p3", Name: "Gone"},
		domain.PopulationDeleted{EnvironmentID: env1, PopulationID: "p3"})
	if _, err := f.d.Population(env1, "p3"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("deleted population: %v", err)
	}
	f.env(env2)
	if _, err := f.d.Population(env2, "p2"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("population of another environment: %v", err)
	}
	if envs := f.d.Environments(); len(envs) != 2 || envs[0].ID != env1 {
		t.Fatalf("environments = %+v", envs)
	}
}

func TestFoldUserLifecycle(t *testing.T) {
	f := newFixture(t)
	f.env(env1)
	id := f.user(env1, 1, nil)
	before := f.mustUser(env1, id)
	f.apply(
		domain.UserUpdated{EnvironmentID: env1, UserID: id, Profile: domain.Profile{Username: "renamed", Email: "r@example.com"}},
		domain.UserDisabled{EnvironmentID: env1, UserID: id},
		domain.UserLocked{EnvironmentID: env1, UserID: id, Reason: domain.LockTooManyFailures, Until: f.now.Add(time.Hour)},
		domain.UserPasswordSet{EnvironmentID: env1, UserID: id, Hash: "$argon2id$secret", MustChange: true},
		domain.UserPasswordCheckFailed{EnvironmentID: env1, UserID: id, Failures: 3},
		domain.UserMFADeviceEnrolled{EnvironmentID: env1, UserID: id, DeviceID: "d1", Type: domain.MFATOTP, Name: "phone", SealedSecret: "sealed"},
		domain.UserMFADeviceEnrolled{EnvironmentID: env1, UserID: id, DeviceID: "d2", Type: domain.MFAEmail, Email: "x@example.com"},
		domain.UserMFADeviceActivated{EnvironmentID: env1, UserID: id, DeviceID: "d1"},
		domain.UserMFADeviceRemoved{EnvironmentID: env1, UserID: id, DeviceID: "d2"},
		domain.UserConsentRecorded{EnvironmentID: env1, UserID: id, ConsentID: "c1", Purpose: "marketing"},
		domain.UserConsentRevoked{EnvironmentID: env1, UserID: id, ConsentID: "c1"},
		domain.UserAccountLinked{EnvironmentID: env1, UserID: id, LinkID: "l1", IdentityProvider: "google", Subject: "s"},
		domain.UserRoleAssigned{EnvironmentID: env1, UserID: id, Assignment: domain.RoleAssignment{ID: "r1", Role: domain.RoleAuditor, EnvironmentID: env1}},
		domain.UserRoleAssigned{EnvironmentID: env1, UserID: id, Assignment: domain.RoleAssignment{ID: "r2", Role: domain.RoleIdentityDataAdmin, EnvironmentID: env1}},
		domain.UserRoleUnassigned{EnvironmentID: env1, UserID: id, AssignmentID: "r1"},
	)
	u := f.mustUser(env1, id)
	switch {
	case u.Profile.Username != "renamed" || u.Enabled || !u.Locked || u.LockReason != domain.LockTooManyFailures || u.LockedUntil.IsZero():
		t.Fatalf("profile/lock: %+v", u)
	case !u.HasPassword || !u.MustChangePassword || u.PasswordFailures != 3:
		t.Fatalf("password state: %+v", u)
	case len(u.MFADevices) != 1 || u.MFADevices[0] != (MFADevice{ID: "d1", Type: domain.MFATOTP, Name: "phone", Active: true}):
		t.Fatalf("mfa = %+v", u.MFADevices)
	case len(u.Consents) != 1 || !u.Consents[0].Revoked || len(u.LinkedAccounts) != 1:
		t.Fatalf("consents/links = %+v %+v", u.Consents, u.LinkedAccounts)
	case len(u.Roles) != 1 || u.Roles[0].ID != "r2":
		t.Fatalf("roles = %+v", u.Roles)
	case !u.UpdatedAt.After(u.CreatedAt):
		t.Fatalf("times %v %v", u.CreatedAt, u.UpdatedAt)
	}
	// Snapshots handed out earlier never change.
	if before.Profile.Username != "user1" || !before.Enabled || len(before.MFADevices) != 0 {
		t.Fatalf("earlier snapshot changed: %+v", before)
	}
	page, _ := f.d.Users(env1, UserQuery{Filter: `userName eq "user1"`})
	if page.TotalCount != 0 {
		t.Fatal("the old username still finds the user")
	}
	page, _ = f.d.Users(env1, UserQuery{Filter: `userName eq "RENAMED"`})
	if page.TotalCount != 1 {
		t.Fatal("the new username does not find the user")
	}
	f.apply(domain.UserUnlocked{EnvironmentID: env1, UserID: id, Reason: "ADMIN"},
		domain.UserPasswordCheckPassed{EnvironmentID: env1, UserID: id})
	if u := f.mustUser(env1, id); u.Locked || u.LockReason != "" || u.PasswordFailures != 0 {
		t.Fatalf("after unlock: %+v", u)
	}
	f.apply(domain.UserDeleted{EnvironmentID: env1, UserID: id})
	if _, err := f.d.User(env1, id); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("deleted user: %v", err)
	}
	if p, _ := f.d.Population(env1, env1+"-pop"); p.UserCount != 0 {
		t.Fatalf("population count after delete = %d", p.UserCount)
	}
}

func TestUserOfAnotherEnvironmentIsNotFound(t *testing.T) {
	f := newFixture(t)
	f.env(env1)
	f.env(env2)
	id := f.user(env1, 1, nil)
	if _, err := f.d.User(env2, id); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("User(env2, user of env1): %v", err)
	}
	if _, err := f.d.User("nowhere", id); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("User(unknown env): %v", err)
	}
	us, err := f.d.UsersByIDs(env2, []string{id})
	if err != nil || us[0] != nil {
		t.Fatalf("UsersByIDs across environments = %v, %v", us, err)
	}
	us, _ = f.d.UsersByIDs(env1, []string{"missing", id})
	if us[0] != nil || us[1] == nil || us[1].ID != id {
		t.Fatalf("UsersByIDs = %v", us)
	}
}

func TestSchemaRemovalDropsValues(t *testing.T) {
	f := newFixture(t)
	f.env(env1)
	f.apply(domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "badge", Type: domain.AttributeString}},
		domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "vip", Type: domain.AttributeBoolean}})
	a := f.user(env1, 1, func(u *domain.UserCreated) {
		u.Custom = domain.CustomValues{"badge": raw(`"B-1"`), "vip": raw(`true`)}
	})
	f.user(env1, 2, func(u *domain.UserCreated) { u.Custom = domain.CustomValues{"badge": raw(`"B-2"`)} })
	ctx := context.Background()
	if n, _ := f.d.UsersWithAttribute(ctx, env1, "BADGE"); n != 2 {
		t.Fatalf("users with badge = %d", n)
	}
	if n, _ := f.d.UsersWithAttribute(ctx, env1, "vip"); n != 1 {
		t.Fatalf("users with vip = %d", n)
	}
	f.apply(domain.SchemaAttributeRemoved{EnvironmentID: env1, Name: "badge", Forced: true})
	u := f.mustUser(env1, a)
	if _, ok := u.CustomValue("badge"); ok || len(u.Custom) != 1 {
		t.Fatalf("custom after removal = %+v", u.Custom)
	}
	if n, _ := f.d.UsersWithAttribute(ctx, env1, "badge"); n != 0 {
		t.Fatalf("users with badge after removal = %d", n)
	}
	schema, _ := f.d.Schema(env1)
	if len(schema) != 1 || schema[0].Name != "vip" {
		t.Fatalf("schema = %+v", schema)
	}
	if _, err := f.d.Users(env1, UserQuery{Filter: `badge pr`}); !isFilterErr(err) {
		t.Fatalf("filter on a removed attribute: %v", err)
	}
}

func TestEnvironmentDeletionHidesEverything(t *testing.T) {
	f := newFixture(t)
	f.env(env1)
	f.env(env2)
	u := f.user(env1, 1, nil)
	f.apply(domain.GroupCreated{EnvironmentID: env1, GroupID: "g1", Name: "G", Kind: domain.GroupDirect},
		domain.APIClientCreated{EnvironmentID: env1, ClientID: "c1", Name: "ci"},
		domain.APIClientTokenIssued{EnvironmentID: env1, ClientID: "c1", TokenID: "t1", SHA256: "ab12"},
		domain.APIClientCreated{EnvironmentID: env2, ClientID: "c2", Name: "other"},
		domain.EnvironmentDeleted{EnvironmentID: env1},
		// Events after the deletion (none should come) change nothing.
		domain.UserCreated{EnvironmentID: env1, UserID: "late", PopulationID: env1 + "-pop"})
	checks := map[string]error{}
	_, checks["Environment"] = f.d.Environment(env1)
	_, checks["User"] = f.d.User(env1, u)
	_, checks["Users"] = f.d.Users(env1, UserQuery{})
	_, checks["Group"] = f.d.Group(env1, "g1")
	_, checks["Groups"] = f.d.Groups(env1, GroupQuery{})
	_, checks["Populations"] = f.d.Populations(env1)
	_, checks["Schema"] = f.d.Schema(env1)
	_, checks["APIClient"] = f.d.APIClient("c1")
	_, checks["APIClients"] = f.d.APIClients(env1)
	_, checks["UserGroups"] = f.d.UserGroups(env1, u, true)
	for name, err := range checks {
		if !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s after environment deletion: %v, want not found", name, err)
		}
	}
	if _, _, ok := f.d.APIClientByTokenHash("AB12", f.now); ok {
		t.Error("a token of a deleted environment's client authenticates")
	}
	if len(f.d.Environments()) != 1 {
		t.Errorf("environments = %+v", f.d.Environments())
	}
	if _, err := f.d.APIClient("c2"); err != nil {
		t.Errorf("client of another environment: %v", err)
	}
	f.apply(domain.EnvironmentCreated{EnvironmentID: env1, Name: "revived?"})
	if _, err := f.d.Environment(env1); !errors.Is(err, domain.ErrNotFound) {
		t.Error("a deleted environment came back")
	}
}

func TestAPIClientTokens(t *testing.T) {
	f := newFixture(t)
	f.env(env1)
	exp := f.now.Add(time.Hour)
	f.apply(domain.APIClientCreated{ClientID: "admin", Name: "bootstrap",
		Roles: []domain.RoleAssignment{{ID: "a1", Role: domain.RoleEnvironmentAdmin}}},
		domain.APIClientTokenIssued{ClientID: "admin", TokenID: "t1", SHA256: "aa"},
		domain.APIClientTokenIssued{ClientID: "admin", TokenID: "t2", SHA256: "bb", ExpiresAt: exp},
		domain.APIClientTokenIssued{ClientID: "admin", TokenID: "t3", SHA256: "cc"},
		domain.APIClientTokenRevoked{ClientID: "admin", TokenID: "t3"},
		domain.APIClientRoleAssigned{ClientID: "admin", Assignment: domain.RoleAssignment{ID: "a2", Role: domain.RoleAuditor, EnvironmentID: env1}},
		domain.APIClientRoleUnassigned{ClientID: "admin", AssignmentID: "a1"})
	c, tok, ok := f.d.APIClientByTokenHash("aa", f.now)
	if !ok || c.ID != "admin" || tok.ID != "t1" || len(c.Roles) != 1 || c.Roles[0].ID != "a2" {
		t.Fatalf("by token aa = %+v %+v %v", c, tok, ok)
	}
	if _, _, ok := f.d.APIClientByTokenHash("bb", exp.Add(-time.Second)); !ok {
		t.Fatal("token before expiry does not authenticate")
	}
	if _, _, ok := f.d.APIClientByTokenHash("bb", exp); ok {
		t.Fatal("expired token authenticates")
	}
	if _, _, ok := f.d.APIClientByTokenHash("cc", f.now); ok {
		t.Fatal("revoked token authenticates")
	}
	if cs, _ := f.d.APIClients(""); len(cs) != 1 || len(cs[0].Tokens) != 3 {
		t.Fatalf("organization clients = %+v", cs)
	}
	f.apply(domain.APIClientDeleted{ClientID: "admin"})
	if _, _, ok := f.d.APIClientByTokenHash("aa", f.now); ok {
		t.Fatal("token of a deleted client authenticates")
	}
}

func TestGroupsDynamicAndNested(t *testing.T) {
	f := newFixture(t)
	f.env(env1)
	f.apply(domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "dept", Type: domain.AttributeString}})
	alice := f.user(env1, 1, func(u *domain.UserCreated) { u.Custom = domain.CustomValues{"dept": raw(`"eng"`)} })
	bob := f.user(env1, 2, nil)
	f.apply(
		domain.GroupCreated{EnvironmentID: env1, GroupID: "g-eng", Name: "Engineers", Kind: domain.GroupDynamic, Filter: `dept eq "ENG"`},
		domain.GroupCreated{EnvironmentID: env1, GroupID: "g-all", Name: "All", Kind: domain.GroupDirect},
		domain.GroupCreated{EnvironmentID: env1, GroupID: "g-top", Name: "Top", Kind: domain.GroupDirect},
		domain.GroupMemberAdded{EnvironmentID: env1, GroupID: "g-all", UserID: bob},
		domain.GroupNested{EnvironmentID: env1, ParentID: "g-all", ChildID: "g-eng"},
		domain.GroupNested{EnvironmentID: env1, ParentID: "g-top", ChildID: "g-all"},
		// A cycle in the data must not hang the walks.
		domain.GroupNested{EnvironmentID: env1, ParentID: "g-eng", ChildID: "g-top"},
	)
	ids := func(us []*User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.ID)
		}
		return out
	}
	gids := func(gs []Group) []string {
		var out []string
		for _, g := range gs {
			out = append(out, g.ID)
		}
		return out
	}
	m, err := f.d.GroupMembers(env1, "g-eng", false)
	if err != nil || !equal(ids(m.Users), []string{alice}) || !equal(gids(m.Groups), []string{"g-top"}) {
		t.Fatalf("direct members of g-eng = %v %v, %v", ids(m.Users), gids(m.Groups), err)
	}
	m, _ = f.d.GroupMembers(env1, "g-top", true)
	if !equal(ids(m.Users), []string{alice, bob}) || !equal(gids(m.Groups), []string{"g-all", "g-eng"}) {
		t.Fatalf("transitive members of g-top = %v %v", ids(m.Users), gids(m.Groups))
	}
	gs, _ := f.d.UserGroups(env1, alice, false)
	if !equal(gids(gs), []string{"g-eng"}) {
		t.Fatalf("direct groups of alice = %v", gids(gs))
	}
	gs, _ = f.d.UserGroups(env1, alice, true)
	if !equal(gids(gs), []string{"g-all", "g-eng", "g-top"}) {
		t.Fatalf("transitive groups of alice = %v", gids(gs))
	}
	// Dynamic membership follows user changes and filter changes.
	f.apply(domain.UserUpdated{EnvironmentID: env1, UserID: bob, Profile: f.mustUser(env1, bob).Profile,
		Custom: domain.CustomValues{"dept": raw(`"eng"`)}})
	if m, _ := f.d.GroupMembers(env1, "g-eng", false); len(m.Users) != 2 {
		t.Fatalf("bob did not join g-eng: %v", ids(m.Users))
	}
	f.apply(domain.GroupUpdated{EnvironmentID: env1, GroupID: "g-eng", Name: "Engineers", Filter: `username eq "user1"`})
	if m, _ := f.d.GroupMembers(env1, "g-eng", false); !equal(ids(m.Users), []string{alice}) {
		t.Fatalf("after filter change: %v", ids(m.Users))
	}
	f.apply(domain.UserDisabled{EnvironmentID: env1, UserID: alice},
		domain.GroupUpdated{EnvironmentID: env1, GroupID: "g-eng", Name: "Engineers", Filter: `active eq true`})
	if m, _ := f.d.GroupMembers(env1, "g-eng", false); !equal(ids(m.Users), []string{bob}) {
		t.Fatalf("active members: %v", ids(m.Users))
	}
	// Groups page and filter.
	page, err := f.d.Groups(env1, GroupQuery{Filter: `kind eq "direct"`, First: 1})
	if err != nil || page.TotalCount != 2 || !page.HasNextPage || page.Groups[0].ID != "g-all" {
		t.Fatalf("groups page = %+v, %v", page, err)
	}
	page, _ = f.d.Groups(env1, GroupQuery{Filter: `kind eq "direct"`, First: 1, After: page.EndCursor})
	if len(page.Groups) != 1 || page.Groups[0].ID != "g-top" || page.HasNextPage {
		t.Fatalf("second groups page = %+v", page)
	}
	// Deleting a group drops it and the edges to it.
	f.apply(domain.GroupDeleted{EnvironmentID: env1, GroupID: "g-all"})
	if _, err := f.d.Group(env1, "g-all"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("deleted group: %v", err)
	}
	m, _ = f.d.GroupMembers(env1, "g-top", true)
	if len(m.Groups) != 0 || len(m.Users) != 0 {
		t.Fatalf("g-top after g-all deleted = %v %v", ids(m.Users), gids(m.Groups))
	}
	gs, _ = f.d.UserGroups(env1, bob, true)
	if !equal(gids(gs), []string{"g-eng"}) {
		t.Fatalf("bob's groups after deletion = %v", gids(gs))
	}
	// A removed attribute breaks the filter that names it: no dynamic members, a reason given.
	f.apply(domain.GroupUpdated{EnvironmentID: env1, GroupID: "g-eng", Name: "Engineers", Filter: `dept pr`},
		domain.SchemaAttributeRemoved{EnvironmentID: env1, Name: "dept"})
	g, _ := f.d.Group(env1, "g-eng")
	if m, _ := f.d.GroupMembers(env1, "g-eng", false); len(m.Users) != 0 || g.FilterError == "" {
		t.Fatalf("broken filter: members %v, error %q", ids(m.Users), g.FilterError)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
