package domain

// Environment is the environment (tenant) aggregate, folded from environment-<id>.
type Environment struct {
	ID                  string
	Name                string
	DefaultPopulationID string
	PasswordPolicy      PasswordPolicy
	Exists              bool // created and not deleted
	Deleted             bool
}

// Apply folds one event payload into the state.
func (e *Environment) Apply(event any) {
	switch ev := event.(type) {
	case EnvironmentCreated:
		e.ID, e.Name, e.DefaultPopulationID, e.PasswordPolicy, e.Exists = ev.EnvironmentID, ev.Name, ev.DefaultPopulationID, ev.PasswordPolicy, true
	case EnvironmentRenamed:
		e.Name = ev.Name
	case EnvironmentDeleted:
		e.Exists, e.Deleted = false, true
	case PasswordPolicySet:
		e.PasswordPolicy = ev.Policy
	case DefaultPopulationChanged:
		e.DefaultPopulationID = ev.PopulationID
	}
}
