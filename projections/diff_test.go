package projections

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// TestGroupPopulationEnvironmentAtEveryPosition compares GroupAt, PopulationAt and
// EnvironmentAt with the whole log's fold at every position.
func TestGroupPopulationEnvironmentAtEveryPosition(t *testing.T) {
	f := newHistFixture(t)
	ctx, d, c := f.ctx, f.dir, f.creds
	e := must(d.CreateEnvironment.Handle(ctx, commands.CreateEnvironment{Name: "Acme"}))
	env := e.EnvironmentID
	f.ok(d.CreateSchemaAttribute.Handle(ctx, commands.CreateSchemaAttribute{EnvironmentID: env, Attribute: domain.AttributeDef{Name: "costCenter", Type: domain.AttributeString}}))
	pop := must(d.CreatePopulation.Handle(ctx, commands.CreatePopulation{EnvironmentID: env, Name: "Staff"})).PopulationID
	ann := must(d.CreateUser.Handle(ctx, commands.CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "ann"}})).UserID
	bob := must(d.CreateUser.Handle(ctx, commands.CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "bob"}})).UserID
	eng := must(d.CreateGroup.Handle(ctx, commands.CreateGroup{EnvironmentID: env, Name: "Engineering", Kind: domain.GroupDirect})).GroupID
	ops := must(d.CreateGroup.Handle(ctx, commands.CreateGroup{EnvironmentID: env, Name: "Ops", Kind: domain.GroupDirect})).GroupID
	dyn := must(d.CreateGroup.Handle(ctx, commands.CreateGroup{EnvironmentID: env, Name: "CC42", Kind: domain.GroupDynamic, Filter: `costCenter eq "42"`})).GroupID
	f.ok(d.AddGroupMember.Handle(ctx, commands.AddGroupMember{EnvironmentID: env, GroupID: eng, MemberType: domain.MemberUser, MemberID: ann}))
	f.ok(d.AddGroupMember.Handle(ctx, commands.AddGroupMember{EnvironmentID: env, GroupID: eng, MemberType: domain.MemberUser, MemberID: bob}))
	f.ok(d.AddGroupMember.Handle(ctx, commands.AddGroupMember{EnvironmentID: env, GroupID: eng, MemberType: domain.MemberGroup, MemberID: ops}))
	f.ok(d.UpdateGroup.Handle(ctx, commands.UpdateGroup{EnvironmentID: env, GroupID: eng, Name: "Engineering", Description: "builders"}))
	f.ok(d.UpdateUser.Handle(ctx, commands.UpdateUser{EnvironmentID: env, UserID: ann, Profile: domain.Profile{Username: "ann", Title: "Dev"}}))
	f.ok(d.RemoveGroupMember.Handle(ctx, commands.RemoveGroupMember{EnvironmentID: env, GroupID: eng, MemberType: domain.MemberUser, MemberID: bob}))
	f.ok(d.UpdateGroup.Handle(ctx, commands.UpdateGroup{EnvironmentID: env, GroupID: ops, Name: "Operations"}))
	f.ok(d.DeleteSchemaAttribute.Handle(ctx, commands.DeleteSchemaAttribute{EnvironmentID: env, Name: "costCenter", Force: true}))
	f.ok(d.UpdatePopulation.Handle(ctx, commands.UpdatePopulation{EnvironmentID: env, PopulationID: pop, Name: "Staff", Description: "employees"}))
	f.ok(d.RenameEnvironment.Handle(ctx, commands.RenameEnvironment{EnvironmentID: env, Name: "Acme Corp"}))
	policy := domain.DefaultPasswordPolicy()
	policy.MinLength = 12
	f.ok(c.SetPasswordPolicy.Handle(ctx, commands.SetPasswordPolicy{EnvironmentID: env, Policy: policy}))
	f.ok(d.DeleteUser.Handle(ctx, commands.DeleteUser{EnvironmentID: env, UserID: ann}))
	f.ok(d.DeleteGroup.Handle(ctx, commands.DeleteGroup{EnvironmentID: env, GroupID: ops}))
	f.ok(d.DeletePopulation.Handle(ctx, commands.DeletePopulation{EnvironmentID: env, PopulationID: pop}))
	f.ok(d.DeleteEnvironment.Handle(ctx, commands.DeleteEnvironment{EnvironmentID: env}))

	sameErr := func(what string, pos eventstore.Position, got, want error) bool {
		t.Helper()
		if (got == nil) != (want == nil) || (want != nil && !errors.Is(got, domain.ErrNotFound)) {
			t.Fatalf("%s at %s: error %v, want %v", what, pos, got, want)
		}
		if want != nil && !strings.Contains(got.Error(), "as of position "+pos.String()) {
			t.Fatalf("%s at %s: %v does not say as of which position", what, pos, got)
		}
		return want == nil
	}
	var groups, members int
	for n := uint64(1); n <= f.head().Commit; n++ {
		pos := eventstore.Position{Commit: n, Prepare: n}
		live := f.foldUpTo(pos)
		for _, id := range []string{eng, ops, dyn} {
			want, wantErr := live.Group(env, id)
			got, err := f.hist.GroupAt(ctx, env, id, pos)
			if !sameErr("group "+id, pos, err, wantErr) {
				continue
			}
			groups++
			if !reflect.DeepEqual(got.Group, want) {
				t.Fatalf("group %s at %s:\n got %+v\nwant %+v", id, pos, got.Group, want)
			}
			if id == dyn {
				continue
			}
			wantM := must(live.GroupMembers(env, id, false))
			if !reflect.DeepEqual(got.Members, wantM) {
				t.Fatalf("members of %s at %s:\n got %+v\nwant %+v", id, pos, got.Members, wantM)
			}
			members += len(wantM.Users) + len(wantM.Groups)
		}
		wantP, wantErr := live.Population(env, pop)
		gotP, err := f.hist.PopulationAt(ctx, env, pop, pos)
		if sameErr("population", pos, err, wantErr) {
			wantP.UserCount = 0 // not counted by PopulationAt
			if gotP != wantP {
				t.Fatalf("population at %s: got %+v, want %+v", pos, gotP, wantP)
			}
		}
		wantE, wantErr := live.Environment(env)
		gotE, err := f.hist.EnvironmentAt(ctx, env, pos)
		if sameErr("environment", pos, err, wantErr) {
			if !reflect.DeepEqual(gotE.Environment, wantE) || !reflect.DeepEqual(gotE.Schema, must(live.Schema(env))) {
				t.Fatalf("environment at %s: got %+v, want %+v", pos, gotE, wantE)
			}
		}
	}
	if groups < 30 || members < 20 {
		t.Fatalf("compared %d group states and %d memberships: too few", groups, members)
	}
}

// TestDiffOfUser checks that diffs name exactly the changed attributes, with before and after
// values and the change's event, and never show a secret.
func TestDiffOfUser(t *testing.T) {
	f := newHistFixture(t)
	env, ann, steps := f.story()
	diff := func(from, to string) ResourceDiff {
		t.Helper()
		d, err := f.hist.Diff(f.ctx, env, ann, steps[from], steps[to])
		if err != nil {
			t.Fatalf("diff %s..%s: %v", from, to, err)
		}
		if d.ResourceType != ResourceUser {
			t.Fatalf("type %q", d.ResourceType)
		}
		return d
	}
	type ch struct {
		path          string
		op            ChangeKind
		before, after string
	}
	flat := func(d ResourceDiff) []ch {
		var out []ch
		for _, c := range d.Changes {
			out = append(out, ch{c.Path, c.Op, c.Before, c.After})
		}
		return out
	}
	upd := diff("created", "updated")
	want := []ch{{"address.locality", ChangeAdded, "", "Lyon"}, {"customAttributes.badge", ChangeChanged, `"B-1"`, `"B-2"`},
		{"customAttributes.vip", ChangeAdded, "", "true"}, {"email", ChangeChanged, "ann@example.com", "ann@acme.example"}, {"name.given", ChangeAdded, "", "Ann"}}
	if got := flat(upd); upd.Status != DiffChanged || !reflect.DeepEqual(got, want) {
		t.Fatalf("update: %s %+v\nwant %+v", upd.Status, got, want)
	}
	for _, c := range upd.Changes {
		if c.EventType != domain.EvUserUpdated || c.Actor != "apiclient:admin" || c.Position != steps["updated"] || c.RecordedAt.IsZero() {
			t.Fatalf("change %+v: want the update's event at %s", c, steps["updated"])
		}
	}
	// Changes within the range that cancel out are not changes; each attribute names its last change.
	life := diff("updated", "moved")
	if got := flat(life); !reflect.DeepEqual(got, []ch{{"populationId", ChangeChanged, must(f.hist.UserAt(f.ctx, env, ann, steps["updated"])).PopulationID,
		must(f.hist.UserAt(f.ctx, env, ann, steps["moved"])).PopulationID}}) {
		t.Fatalf("disable, enable, lock, unlock, move: %+v", got)
	}
	if c := diff("created", "disabled"); c.Changes[slices.IndexFunc(c.Changes, func(c AttributeChange) bool { return c.Path == "enabled" })].Position != steps["disabled"] {
		t.Fatalf("enabled changed at %+v", c.Changes)
	}
	pw := diff("moved", "password")
	if len(pw.Changes) != 1 || pw.Changes[0].Path != "password" || pw.Changes[0].Op != ChangeAdded || !strings.HasPrefix(pw.Changes[0].After, "set at 2026-") {
		t.Fatalf("password: %+v", pw.Changes)
	}
	cred := diff("password", "credentials")
	var paths []string
	for _, c := range cred.Changes {
		paths = append(paths, c.Path[:strings.IndexByte(c.Path+".", '.')])
	}
	if !reflect.DeepEqual(paths, []string{"consents", "linkedAccounts", "mfaDevices"}) {
		t.Fatalf("credentials: %+v", cred.Changes)
	}
	rm := diff("credentials", "badge removed")
	if got := flat(rm); !reflect.DeepEqual(got, []ch{{"customAttributes.badge", ChangeRemoved, `"B-2"`, ""}}) || rm.Changes[0].EventType != domain.EvSchemaAttributeRemoved {
		t.Fatalf("forced removal: %+v", rm.Changes)
	}
	created := diff("before", "created")
	if created.Status != DiffCreated || len(created.Changes) < 5 {
		t.Fatalf("creation: %+v", created)
	}
	for _, c := range created.Changes {
		if c.Op != ChangeAdded {
			t.Fatalf("creation: %+v", c)
		}
	}
	deleted := diff("badge removed", "deleted")
	if deleted.Status != DiffDeleted || len(deleted.Changes) < 10 {
		t.Fatalf("deletion: %+v", deleted)
	}
	for _, c := range deleted.Changes {
		if c.Op != ChangeRemoved || c.EventType != domain.EvUserDeleted {
			t.Fatalf("deletion: %+v", c)
		}
	}
	if _, err := f.hist.Diff(f.ctx, env, ann, steps["deleted"], steps["created"]); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("from after to: %v", err)
	}
	if _, err := f.hist.Diff(f.ctx, env, ann, eventstore.Position{}, steps["before"]); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("before creation: %v", err)
	}
	if _, err := f.hist.Diff(f.ctx, env, "01900000-0000-7000-8000-ffffffffffff", steps["before"], steps["deleted"]); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown resource: %v", err)
	}

	// No secret of the log appears in any diff or version.
	var secrets []string
	for e, err := range f.deps.Store.ReadStream(f.ctx, "user-"+ann, eventstore.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		switch p := must(f.deps.Registry.Decode(e)).(type) {
		case domain.UserPasswordSet:
			secrets = append(secrets, p.Hash)
		case domain.UserMFADeviceEnrolled:
			secrets = append(secrets, p.SealedSecret)
		}
	}
	if len(secrets) != 2 || slices.Contains(secrets, "") {
		t.Fatalf("secrets in the log: %q", secrets)
	}
	whole, err := f.hist.Diff(f.ctx, env, ann, steps["created"], steps["badge removed"])
	if err != nil {
		t.Fatal(err)
	}
	text := ""
	for _, d := range []ResourceDiff{whole, pw, cred, deleted} {
		for _, c := range d.Changes {
			text += c.Path + "=" + c.Before + "→" + c.After + "\n"
		}
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Fatalf("a secret appears in diffs:\n%s", text)
		}
	}
	if strings.Contains(text, "argon2") || strings.Contains(text, "ealed") {
		t.Fatalf("secret material in diffs:\n%s", text)
	}
}

// TestVersionsAndResourcePositionAt lists a user's versions and finds each state again by the
// time it was recorded.
func TestVersionsAndResourcePositionAt(t *testing.T) {
	f := newHistFixture(t)
	env, ann, steps := f.story()
	vs, err := f.hist.Versions(f.ctx, env, ann)
	if err != nil {
		t.Fatal(err)
	}
	own, err := eventstore.Collect(f.deps.Store.ReadStream(f.ctx, "user-"+ann, eventstore.ReadStreamOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	// Its own events, and the forced schema removal that changed its custom values.
	if len(vs) != len(own)+1 {
		t.Fatalf("%d versions, %d events in the user's stream: %+v", len(vs), len(own), vs)
	}
	j := 0
	for i, v := range vs {
		if i > 0 && !vs[i-1].Position.Less(v.Position) {
			t.Fatalf("versions out of order: %+v", vs)
		}
		if v.Actor != "apiclient:admin" || v.RecordedAt.IsZero() || v.OccurredAt.IsZero() {
			t.Fatalf("version %+v", v)
		}
		if v.EventType == domain.EvSchemaAttributeRemoved {
			if v.Position != steps["badge removed"] {
				t.Fatalf("schema version %+v", v)
			}
			continue
		}
		if v.Position != own[j].Position || v.EventType != own[j].Type {
			t.Fatalf("version %d: %+v, want event %+v", i, v, own[j])
		}
		j++
	}
	// The store's clock is real: events share instants. ResourcePositionAt(t) is the last
	// relevant position recorded at or before t, so the state there is the last recorded by t.
	for _, v := range vs {
		pos, err := f.hist.ResourcePositionAt(f.ctx, env, ann, v.RecordedAt)
		if err != nil {
			t.Fatal(err)
		}
		if pos.Less(v.Position) {
			t.Fatalf("position at %s: %s, before version %s", v.RecordedAt, pos, v.Position)
		}
		for _, w := range vs {
			if v.Position.Less(w.Position) && w.Position.Less(pos) && w.RecordedAt.After(v.RecordedAt) {
				t.Fatalf("position at %s: %s, after version %+v recorded later", v.RecordedAt, pos, w)
			}
		}
	}
	if _, err := f.hist.ResourcePositionAt(f.ctx, env, ann, time.Time{}); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("at the zero time: %v", err)
	}
	if _, err := f.hist.Versions(f.ctx, "01900000-0000-7000-8000-ffffffffffff", ann); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("versions in another environment: %v", err)
	}
	if _, err := f.hist.Versions(f.ctx, env, ""); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("empty ID: %v", err)
	}
}

// TestDiffOfGroupPopulationEnvironment checks the diffs of the other resource types.
func TestDiffOfGroupPopulationEnvironment(t *testing.T) {
	f := newHistFixture(t)
	ctx, d := f.ctx, f.dir
	env := must(d.CreateEnvironment.Handle(ctx, commands.CreateEnvironment{Name: "Acme"})).EnvironmentID
	ann := must(d.CreateUser.Handle(ctx, commands.CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "ann"}})).UserID
	bob := must(d.CreateUser.Handle(ctx, commands.CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "bob"}})).UserID
	eng := must(d.CreateGroup.Handle(ctx, commands.CreateGroup{EnvironmentID: env, Name: "Engineering", Kind: domain.GroupDirect}))
	pop := must(d.CreatePopulation.Handle(ctx, commands.CreatePopulation{EnvironmentID: env, Name: "Staff"}))
	f.ok(d.AddGroupMember.Handle(ctx, commands.AddGroupMember{EnvironmentID: env, GroupID: eng.GroupID, MemberType: domain.MemberUser, MemberID: bob}))
	from := f.head()
	f.ok(d.AddGroupMember.Handle(ctx, commands.AddGroupMember{EnvironmentID: env, GroupID: eng.GroupID, MemberType: domain.MemberUser, MemberID: ann}))
	f.ok(d.UpdateGroup.Handle(ctx, commands.UpdateGroup{EnvironmentID: env, GroupID: eng.GroupID, Name: "Engineering", Description: "builders"}))
	f.ok(d.DeleteUser.Handle(ctx, commands.DeleteUser{EnvironmentID: env, UserID: bob}))
	userDeleted := f.head()
	f.ok(d.UpdatePopulation.Handle(ctx, commands.UpdatePopulation{EnvironmentID: env, PopulationID: pop.PopulationID, Name: "Employees"}))
	f.ok(d.RenameEnvironment.Handle(ctx, commands.RenameEnvironment{EnvironmentID: env, Name: "Acme Corp"}))
	to := f.head()

	g := must(f.hist.Diff(ctx, env, eng.GroupID, from, to))
	type ch struct {
		path          string
		op            ChangeKind
		before, after string
	}
	var got []ch
	for _, c := range g.Changes {
		got = append(got, ch{c.Path, c.Op, c.Before, c.After})
	}
	want := []ch{{"description", ChangeAdded, "", "builders"}, {"members." + ann, ChangeAdded, "", "user"}, {"members." + bob, ChangeRemoved, "user", ""}}
	if g.ResourceType != ResourceGroup || g.Status != DiffChanged || !reflect.DeepEqual(got, want) {
		t.Fatalf("group diff %s %s: %+v\nwant %+v", g.ResourceType, g.Status, got, want)
	}
	if c := g.Changes[2]; c.EventType != domain.EvUserDeleted || c.Position != userDeleted {
		t.Fatalf("bob left the group by %+v, want the user's deletion at %s", c, userDeleted)
	}
	p := must(f.hist.Diff(ctx, env, pop.PopulationID, from, to))
	if p.ResourceType != ResourcePopulation || len(p.Changes) != 1 || p.Changes[0].Path != "name" || p.Changes[0].Before != "Staff" || p.Changes[0].After != "Employees" {
		t.Fatalf("population diff: %+v", p)
	}
	e := must(f.hist.Diff(ctx, env, env, from, to))
	if e.ResourceType != ResourceEnvironment || len(e.Changes) != 1 || e.Changes[0].Path != "name" || e.Changes[0].After != "Acme Corp" {
		t.Fatalf("environment diff: %+v", e)
	}
	if _, err := f.hist.Diff(ctx, "01900000-0000-7000-8000-ffffffffffff", eng.GroupID, from, to); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("group diff in another environment: %v", err)
	}
	vs := must(f.hist.Versions(ctx, env, eng.GroupID))
	var types []string
	for _, v := range vs {
		types = append(types, v.EventType)
	}
	if !reflect.DeepEqual(types, []string{domain.EvGroupCreated, domain.EvGroupMemberAdded, domain.EvGroupMemberAdded, domain.EvGroupUpdated, domain.EvUserDeleted}) {
		t.Fatalf("group versions: %v", types)
	}
}
