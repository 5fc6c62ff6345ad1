package domain

import (
	"errors"
	"testing"
)

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
