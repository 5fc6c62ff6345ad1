package domain

// Action is what an API caller asks to do; roles are sets of actions.
type Action string

const (
	// ActCreateEnvironment creates environments: only an organization-wide ENVIRONMENT_ADMIN.
	ActCreateEnvironment Action = "environment:create"
	// ActManageEnvironment renames and deletes the environment, sets its password policy and
	// schema, assigns roles, and manages its API clients.
	ActManageEnvironment Action = "environment:manage"
	// ActReadEnvironment reads the environment, its schema and password policy.
	ActReadEnvironment Action = "environment:read"
	// ActReadIdentities reads users, groups and populations.
	ActReadIdentities Action = "identities:read"
	// ActWriteIdentities changes users (profile, lifecycle, passwords, MFA devices, consents,
	// linked accounts), groups and populations.
	ActWriteIdentities Action = "identities:write"
	// ActReadAudit reads the audit trail.
	ActReadAudit Action = "audit:read"
)

var roleActions = map[Role][]Action{
	RoleEnvironmentAdmin:     {ActCreateEnvironment, ActManageEnvironment, ActReadEnvironment, ActReadIdentities, ActWriteIdentities, ActReadAudit},
	RoleIdentityDataAdmin:    {ActReadEnvironment, ActReadIdentities, ActWriteIdentities},
	RoleIdentityDataReadOnly: {ActReadEnvironment, ActReadIdentities},
	RoleAuditor:              {ActReadEnvironment, ActReadIdentities, ActReadAudit},
}

// IsRole reports whether r is a built-in role.
func IsRole(r Role) bool { _, ok := roleActions[r]; return ok }

// grants reports whether a's role includes act.
func (a RoleAssignment) grants(act Action) bool {
	for _, x := range roleActions[a.Role] {
		if x == act {
			return true
		}
	}
	return false
}

// Allowed reports whether assignments permit act on a resource of environment env that belongs
// to population pop ("" for a resource of the whole environment, such as a group or the schema;
// env "" for the organization itself, which only creating environments uses).
//
//   - An organization-wide assignment (no EnvironmentID) covers every environment.
//   - An environment-wide assignment covers its environment.
//   - A population-scoped assignment covers only resources of that population, plus reading the
//     environment itself; it never covers environment-wide resources or creating environments.
func Allowed(assignments []RoleAssignment, act Action, env, pop string) bool {
	for _, a := range assignments {
		if !a.grants(act) {
			continue
		}
		switch {
		case a.EnvironmentID == "":
			return true
		case env == "" || a.EnvironmentID != env || act == ActCreateEnvironment:
			continue
		case a.PopulationID == "":
			return true
		case pop != "" && a.PopulationID == pop:
			return true
		case pop == "" && act == ActReadEnvironment:
			return true
		}
	}
	return false
}

// Sees reports whether assignments reach environment env at all. An environment a caller does
// not see is answered exactly like one that does not exist.
func Sees(assignments []RoleAssignment, env string) bool {
	for _, a := range assignments {
		if a.EnvironmentID == "" || a.EnvironmentID == env {
			return true
		}
	}
	return false
}

// PopulationScope returns which populations of env assignments may act on with act: all of them
// (all true), or only those listed.
func PopulationScope(assignments []RoleAssignment, act Action, env string) (all bool, pops []string) {
	for _, a := range assignments {
		if !a.grants(act) || (a.EnvironmentID != "" && a.EnvironmentID != env) {
			continue
		}
		if a.EnvironmentID == "" || a.PopulationID == "" {
			return true, nil
		}
		pops = append(pops, a.PopulationID)
	}
	return false, pops
}
