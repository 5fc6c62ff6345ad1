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

func TestAPIClientDecisions(t *testing.T) {
	if _, err := NewAPIClient("e", "c", "ci", []RoleAssignment{{Role: RoleAuditor}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("organization-wide role on an environment's client: %v", err)
	}
	if _, err := NewAPIClient("", "c", "ci", []RoleAssignment{{Role: RoleAuditor, PopulationID: "p"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("population scope without environment: %v", err)
	}
	c := &APIClient{}
	created, err := NewAPIClient("e", "c", "ci", []RoleAssignment{{ID: "r", Role: RoleAuditor, EnvironmentID: "e"}})
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(created)
	if _, err := c.AssignRole(RoleAssignment{ID: "r2", Role: RoleAuditor, EnvironmentID: "f"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("role of another environment: %v", err)
	}
	evs, err := c.UnassignRole("r")
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(evs[0])
	if len(c.Roles) != 0 {
		t.Fatalf("roles %v", c.Roles)
	}
}
