package domain

import (
	"errors"
	"testing"
)

func TestGroupDecisions(t *testing.T) {
	if _, err := NewGroup("e", "g", "Ops", "", GroupDirect, `userName eq "x"`); !errors.Is(err, ErrInvalid) {
		t.Fatalf("direct group with a filter: %v", err)
	}
	if _, err := NewGroup("e", "g", "", "", "OTHER", ""); len(fields(err)) != 2 {
		t.Fatalf("want name and kind errors: %v", err)
	}
	g := &Group{}
	created, err := NewGroup("e", "g", "Ops", "", GroupDirect, "")
	if err != nil {
		t.Fatal(err)
	}
	g.Apply(created)
	u := &User{ID: "u", EnvironmentID: "e", Exists: true}
	evs, err := g.AddMember(u)
	if err != nil || evs[0] != (GroupMemberAdded{EnvironmentID: "e", GroupID: "g", UserID: "u"}) {
		t.Fatalf("add: %v, %v", evs, err)
	}
	g.Apply(evs[0])
	if evs, err := g.AddMember(u); err != nil || evs != nil {
		t.Fatalf("add twice: %v, %v", evs, err)
	}
	if _, err := g.AddMember(&User{ID: "v", EnvironmentID: "other", Exists: true}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("user of another environment: %v", err)
	}
	if _, err := g.RemoveMember("v"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove a non-member: %v", err)
	}
	dyn := &Group{}
	dc, _ := NewGroup("e", "d", "Paris", "", GroupDynamic, `locale eq "fr"`)
	dyn.Apply(dc)
	if _, err := dyn.AddMember(u); !errors.Is(err, ErrConflict) {
		t.Fatalf("direct member of a dynamic group: %v", err)
	}
	if _, err := dyn.Update("Paris", "", ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("dynamic group without filter: %v", err)
	}
}
