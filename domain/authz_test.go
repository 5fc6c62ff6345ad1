package domain

import "testing"

func TestAllowed(t *testing.T) {
	org := []RoleAssignment{{Role: RoleEnvironmentAdmin}}
	envA := []RoleAssignment{{Role: RoleIdentityDataAdmin, EnvironmentID: "A"}}
	popP := []RoleAssignment{{Role: RoleIdentityDataAdmin, EnvironmentID: "A", PopulationID: "P"}}
	readOnly := []RoleAssignment{{Role: RoleIdentityDataReadOnly, EnvironmentID: "A"}}
	envAdminA := []RoleAssignment{{Role: RoleEnvironmentAdmin, EnvironmentID: "A"}}
	cases := []struct {
		name     string
		as       []RoleAssignment
		act      Action
		env, pop string
		want     bool
	}{
		{"org admin creates environments", org, ActCreateEnvironment, "", "", true},
		{"org admin writes anywhere", org, ActWriteIdentities, "B", "Q", true},
		{"env admin may not create environments", envAdminA, ActCreateEnvironment, "", "", false},
		{"env admin manages its environment", envAdminA, ActManageEnvironment, "A", "", true},
		{"env admin not another", envAdminA, ActManageEnvironment, "B", "", false},
		{"data admin writes users of its env", envA, ActWriteIdentities, "A", "P", true},
		{"data admin writes groups of its env", envA, ActWriteIdentities, "A", "", true},
		{"data admin may not manage the env", envA, ActManageEnvironment, "A", "", false},
		{"data admin not in B", envA, ActReadIdentities, "B", "", false},
		{"population admin writes its population", popP, ActWriteIdentities, "A", "P", true},
		{"population admin not another population", popP, ActWriteIdentities, "A", "Q", false},
		{"population admin not env-wide resources", popP, ActWriteIdentities, "A", "", false},
		{"population admin reads the environment", popP, ActReadEnvironment, "A", "", true},
		{"read-only cannot write", readOnly, ActWriteIdentities, "A", "P", false},
		{"read-only reads", readOnly, ActReadIdentities, "A", "P", true},
		{"nothing grants nothing", nil, ActReadEnvironment, "A", "", false},
	}
	for _, c := range cases {
		if got := Allowed(c.as, c.act, c.env, c.pop); got != c.want {
			t.Errorf("%s: Allowed = %v, want %v", c.name, got, c.want)
		}
	}
	if !Sees(popP, "A") || Sees(popP, "B") || !Sees(org, "B") {
		t.Error("Sees is wrong")
	}
	if all, pops := PopulationScope(popP, ActReadIdentities, "A"); all || len(pops) != 1 || pops[0] != "P" {
		t.Errorf("PopulationScope(popP) = %v %v", all, pops)
	}
	if all, _ := PopulationScope(envA, ActReadIdentities, "A"); !all {
		t.Error("env-wide assignment should scope all populations")
	}
	if all, pops := PopulationScope(envA, ActReadIdentities, "B"); all || len(pops) != 0 {
		t.Error("assignment of A scopes populations of B")
	}
}
