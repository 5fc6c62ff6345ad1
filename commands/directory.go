package commands

import (
	"github.com/idstream/idstream/eventstore"
)

// Committed is the result of a command that creates nothing: the commit position of its events,
// zero when the command changed nothing (a no-op appends nothing).
type Committed struct {
	Position eventstore.Position
}

// DirectoryPorts are what the directory's commands need from outside the log: read-model counts
// (implemented by projections) and password hashing (commands/password).
type DirectoryPorts struct {
	PopulationUsage PopulationUsage
}

// Directory holds one handler per command of the directory, built once at wiring. Fields are
// alphabetized.
type Directory struct {
	CreateEnvironment    *CreateEnvironmentHandler
	DeleteEnvironment    *DeleteEnvironmentHandler
	RenameEnvironment    *RenameEnvironmentHandler
	SetDefaultPopulation *SetDefaultPopulationHandler
}

// NewDirectory builds every handler on d and ports.
func NewDirectory(d *Deps, ports DirectoryPorts) *Directory {
	return &Directory{
		CreateEnvironment:    NewCreateEnvironment(d),
		DeleteEnvironment:    NewDeleteEnvironment(d),
		RenameEnvironment:    NewRenameEnvironment(d),
		SetDefaultPopulation: NewSetDefaultPopulation(d),
	}
}
