package commands

import (
	"testing"

	"github.com/idstream/idstream/domain"
)

func TestAssignAndUnassignRole(t *testing.T) {
	f := newFixture(t)
	env, pop := f.env()
	other, otherPop := f.env()
	u := f.user(env, "ann", nil)
	g, err := f.dir.CreateGroup.Handle(f.ctx, CreateGroup{EnvironmentID: env, Name: "Admins", Kind: domain.GroupDirect})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.dir.CreateAPIClient.Handle(f.ctx, CreateAPIClient{EnvironmentID: env, Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	subjects := []struct {
		typ    SubjectType
		id     string
		stream string
	}{{SubjectUser, u, "user-" + u}, {SubjectGroup, g.GroupID, "group-" + g.GroupID}, {SubjectAPIClient, c.ClientID, "apiclient-" + c.ClientID}}
	for _, s := range subjects {
		res, err := f.dir.AssignRole.Handle(f.ctx, AssignRole{EnvironmentID: env, SubjectType: s.typ, SubjectID: s.id,
			Role: domain.RoleIdentityDataAdmin, PopulationID: pop})
		if err != nil {
			t.Fatalf("%s: %v", s.typ, err)
		}
		want := domain.RoleAssignment{ID: res.AssignmentID, Role: domain.RoleIdentityDataAdmin, EnvironmentID: env, PopulationID: pop}
		var got domain.RoleAssignment
		switch ev := f.last(s.stream).(type) {
		case domain.UserRoleAssigned:
			got = ev.Assignment
		case domain.GroupRoleAssigned:
			got = ev.Assignment
		case domain.APIClientRoleAssigned:
			got = ev.Assignment
		}
		if got != want || res.Position.IsZero() {
			t.Fatalf("%s: assigned %+v, want %+v", s.typ, got, want)
		}
		un, err := f.dir.UnassignRole.Handle(f.ctx, UnassignRole{EnvironmentID: env, SubjectType: s.typ, SubjectID: s.id, AssignmentID: res.AssignmentID})
		if err != nil || un.Position.IsZero() {
			t.Fatalf("%s: unassign: %v", s.typ, err)
		}
		_, err = f.dir.UnassignRole.Handle(f.ctx, UnassignRole{EnvironmentID: env, SubjectType: s.typ, SubjectID: s.id, AssignmentID: res.AssignmentID})
		wantKind(t, err, domain.ErrNotFound, "assignmentId")
	}
	bad := []struct {
		name  string
		in    AssignRole
		kind  error
		field string
	}{
		{"unknown role", AssignRole{EnvironmentID: env, SubjectType: SubjectUser, SubjectID: u, Role: "ROOT"}, domain.ErrInvalid, "role"},
		{"population of another environment", AssignRole{EnvironmentID: env, SubjectType: SubjectUser, SubjectID: u, Role: domain.RoleAuditor, PopulationID: otherPop}, domain.ErrNotFound, "populationId"},
		{"subject of another environment", AssignRole{EnvironmentID: other, SubjectType: SubjectUser, SubjectID: u, Role: domain.RoleAuditor}, domain.ErrNotFound, ""},
		{"unknown subject type", AssignRole{EnvironmentID: env, SubjectType: "ROBOT", SubjectID: u, Role: domain.RoleAuditor}, domain.ErrInvalid, "subjectType"},
	}
	for _, tt := range bad {
		_, err := f.dir.AssignRole.Handle(f.ctx, tt.in)
		wantKind(t, err, tt.kind, tt.field)
	}
}
