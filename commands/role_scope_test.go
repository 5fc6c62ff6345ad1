package commands

import (
	"testing"

	"github.com/idstream/idstream/domain"
)

// An environment's UnassignRole reaches only that environment's assignments: an
// organization-wide client's organization-wide role is out of its reach, and answered like an
// unknown assignment.
func TestUnassignRoleStaysInItsEnvironment(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	clientID, _, _, err := f.dir.Bootstrap.Handle(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := f.d.loadAPIClient(f.ctx, "clientId", "", clientID)
	if err != nil || len(c.Roles) != 1 {
		t.Fatal(c, err)
	}
	_, err = f.dir.UnassignRole.Handle(f.ctx, UnassignRole{EnvironmentID: env, SubjectType: SubjectAPIClient,
		SubjectID: clientID, AssignmentID: c.Roles[0].ID})
	wantKind(t, err, domain.ErrNotFound, "assignmentId")
	if c, _, _ := f.d.loadAPIClient(f.ctx, "clientId", "", clientID); len(c.Roles) != 1 {
		t.Fatalf("the organization-wide role was withdrawn: %+v", c.Roles)
	}
	// The environment's own assignment to that client can be withdrawn.
	res, err := f.dir.AssignRole.Handle(f.ctx, AssignRole{EnvironmentID: env, SubjectType: SubjectAPIClient, SubjectID: clientID,
		Role: domain.RoleAuditor})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.dir.UnassignRole.Handle(f.ctx, UnassignRole{EnvironmentID: env, SubjectType: SubjectAPIClient,
		SubjectID: clientID, AssignmentID: res.AssignmentID}); err != nil {
		t.Fatal(err)
	}
}
