package commands

import (
	"strings"
	"testing"

	"github.com/idstream/idstream/domain"
)

func TestGroupCommands(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	if _, err := f.dir.CreateSchemaAttribute.Handle(f.ctx, CreateSchemaAttribute{EnvironmentID: env,
		Attribute: domain.AttributeDef{Name: "costCenter", Type: domain.AttributeString}}); err != nil {
		t.Fatal(err)
	}
	create := func(name string, kind domain.GroupKind, filter string) (string, error) {
		res, err := f.dir.CreateGroup.Handle(f.ctx, CreateGroup{EnvironmentID: env, Name: name, Kind: kind, Filter: filter})
		return res.GroupID, err
	}
	eng, err := create("Engineering", domain.GroupDirect, "")
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := create("Paris", domain.GroupDynamic, `address.locality eq "Paris" and costCenter sw "42" and emails[value co "@acme"]`)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.last("group-" + dyn).(domain.GroupCreated); got.Kind != domain.GroupDynamic || !strings.Contains(got.Filter, "costCenter") {
		t.Fatalf("group.created %+v", got)
	}
	bad := []struct {
		name, filter string
		kind         domain.GroupKind
		field, says  string
		err          error
	}{
		{"unparsable filter", `userName eq`, domain.GroupDynamic, "filter", "SCIM", domain.ErrInvalid},
		{"unknown attribute", `shoeSize gt 40 or userName eq "x"`, domain.GroupDynamic, "filter", "shoeSize", domain.ErrInvalid},
		{"dynamic without filter", ``, domain.GroupDynamic, "filter", "", domain.ErrInvalid},
		{"direct with filter", `userName eq "x"`, domain.GroupDirect, "filter", "", domain.ErrInvalid},
		{"bad kind", ``, "NESTED", "kind", "", domain.ErrInvalid},
	}
	for i, tt := range bad {
		_, err := create("g"+string(rune('a'+i)), tt.kind, tt.filter)
		wantKind(t, err, tt.err, tt.field)
		if !strings.Contains(err.Error(), tt.says) {
			t.Fatalf("%s: %v does not say %q", tt.name, err, tt.says)
		}
	}
	_, err = create("ENGINEERING", domain.GroupDirect, "")
	wantKind(t, err, domain.ErrConflict, "name")

	// Members.
	ann := f.user(env, "ann", nil)
	add := func(group string, typ domain.MemberType, member string) (Committed, error) {
		return f.dir.AddGroupMember.Handle(f.ctx, AddGroupMember{EnvironmentID: env, GroupID: group, MemberType: typ, MemberID: member})
	}
	if _, err := add(eng, domain.MemberUser, ann); err != nil {
		t.Fatal(err)
	}
	if got := f.last("group-" + eng); got != (domain.GroupMemberAdded{EnvironmentID: env, GroupID: eng, UserID: ann}) {
		t.Fatalf("group.member_added %+v", got)
	}
	if res, err := add(eng, domain.MemberUser, ann); err != nil || !res.Position.IsZero() {
		t.Fatalf("adding a member twice: %+v, %v", res, err)
	}
	_, err = add(dyn, domain.MemberUser, ann)
	wantKind(t, err, domain.ErrConflict, "")
	_, err = add(eng, domain.MemberUser, "01900000-0000-7000-8000-ffffffffffff")
	wantKind(t, err, domain.ErrNotFound, "memberId")
	_, err = add(eng, "ROBOT", ann)
	wantKind(t, err, domain.ErrInvalid, "memberType")
	if _, err := f.dir.RemoveGroupMember.Handle(f.ctx, RemoveGroupMember{EnvironmentID: env, GroupID: eng, MemberType: domain.MemberUser, MemberID: ann}); err != nil {
		t.Fatal(err)
	}
	_, err = f.dir.RemoveGroupMember.Handle(f.ctx, RemoveGroupMember{EnvironmentID: env, GroupID: eng, MemberType: domain.MemberUser, MemberID: ann})
	wantKind(t, err, domain.ErrNotFound, "memberId")

	// Update: rename frees the old name; a dynamic group's new filter is checked.
	if _, err := f.dir.UpdateGroup.Handle(f.ctx, UpdateGroup{EnvironmentID: env, GroupID: eng, Name: "R&D"}); err != nil {
		t.Fatal(err)
	}
	if _, err := create("Engineering", domain.GroupDirect, ""); err != nil {
		t.Fatalf("old name not released: %v", err)
	}
	_, err = f.dir.UpdateGroup.Handle(f.ctx, UpdateGroup{EnvironmentID: env, GroupID: dyn, Name: "Paris", Filter: `nope eq 1`})
	wantKind(t, err, domain.ErrInvalid, "filter")
}

func TestGroupNesting(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	ids := map[string]string{}
	for _, n := range []string{"A", "B", "C", "D"} {
		res, err := f.dir.CreateGroup.Handle(f.ctx, CreateGroup{EnvironmentID: env, Name: n, Kind: domain.GroupDirect})
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = res.GroupID
	}
	nest := func(parent, child string) error {
		_, err := f.dir.AddGroupMember.Handle(f.ctx, AddGroupMember{EnvironmentID: env, GroupID: ids[parent], MemberType: domain.MemberGroup, MemberID: ids[child]})
		return err
	}
	for _, e := range [][2]string{{"A", "B"}, {"B", "C"}, {"A", "D"}} {
		if err := nest(e[0], e[1]); err != nil {
			t.Fatal(err)
		}
	}
	err := nest("C", "A")
	wantKind(t, err, domain.ErrConflict, "memberId")
	wantPath := ids["C"] + " > " + ids["A"] + " > " + ids["B"] + " > " + ids["C"]
	if !strings.Contains(err.Error(), wantPath) {
		t.Fatalf("cycle error %v does not name the path %s", err, wantPath)
	}
	wantKind(t, nest("B", "B"), domain.ErrConflict, "memberId")
	if err := nest("D", "C"); err != nil { // a diamond is no cycle
		t.Fatal(err)
	}
	other, _ := f.env()
	og, err := f.dir.CreateGroup.Handle(f.ctx, CreateGroup{EnvironmentID: other, Name: "X", Kind: domain.GroupDirect})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.dir.AddGroupMember.Handle(f.ctx, AddGroupMember{EnvironmentID: env, GroupID: ids["A"], MemberType: domain.MemberGroup, MemberID: og.GroupID})
	wantKind(t, err, domain.ErrNotFound, "memberId")

	// Deleting B unnests its edges (A>B, B>C); C>A still closes a cycle through A>D>C.
	if _, err := f.dir.DeleteGroup.Handle(f.ctx, DeleteGroup{EnvironmentID: env, GroupID: ids["B"]}); err != nil {
		t.Fatal(err)
	}
	tree := &domain.GroupTree{}
	for _, ev := range f.events("grouptree-" + env) {
		tree.Apply(ev)
	}
	if tree.Nested(ids["A"], ids["B"]) || tree.Nested(ids["B"], ids["C"]) || !tree.Nested(ids["A"], ids["D"]) || !tree.Nested(ids["D"], ids["C"]) {
		t.Fatalf("tree after deleting B: A %v, B %v, D %v", tree.Children(ids["A"]), tree.Children(ids["B"]), tree.Children(ids["D"]))
	}
	wantKind(t, nest("C", "A"), domain.ErrConflict, "memberId")
	if _, err := f.dir.RemoveGroupMember.Handle(f.ctx, RemoveGroupMember{EnvironmentID: env, GroupID: ids["D"], MemberType: domain.MemberGroup, MemberID: ids["C"]}); err != nil {
		t.Fatal(err)
	}
	if err := nest("C", "A"); err != nil {
		t.Fatalf("no cycle left, yet: %v", err)
	}
	if _, err := f.dir.CreateGroup.Handle(f.ctx, CreateGroup{EnvironmentID: env, Name: "b", Kind: domain.GroupDirect}); err != nil {
		t.Fatalf("deleted group's name not released: %v", err)
	}
}
