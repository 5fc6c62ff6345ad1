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
// (implemented by projections), password hashing (commands/password) and the credential
// commands' ports.
type DirectoryPorts struct {
	AttributeUsage AttributeUsage
	// Configurations computes configurations at past positions (the revision commands).
	Configurations  ConfigurationAt
	Credentials     CredentialPorts
	PasswordHasher  PasswordHasher
	PopulationUsage PopulationUsage
}

// Directory holds one handler per command of the directory, built once at wiring. Fields are
// alphabetized.
type Directory struct {
	AddGroupMember        *AddGroupMemberHandler
	AssignRole            *AssignRoleHandler
	Bootstrap             *BootstrapHandler
	CreateAPIClient       *CreateAPIClientHandler
	CreateConfigRevision  *CreateConfigRevisionHandler
	CreateEnvironment     *CreateEnvironmentHandler
	CreateGroup           *CreateGroupHandler
	CreatePopulation      *CreatePopulationHandler
	CreateSchemaAttribute *CreateSchemaAttributeHandler
	CreateUser            *CreateUserHandler
	Credentials           *Credentials
	DeleteAPIClient       *DeleteAPIClientHandler
	DeleteEnvironment     *DeleteEnvironmentHandler
	DeleteGroup           *DeleteGroupHandler
	DeletePopulation      *DeletePopulationHandler
	DeleteSchemaAttribute *DeleteSchemaAttributeHandler
	DeleteUser            *DeleteUserHandler
	DisableUser           *DisableUserHandler
	EnableUser            *EnableUserHandler
	ForgetUser            *ForgetUserHandler
	ImportUsers           *ImportUsersHandler
	IssueToken            *IssueTokenHandler
	LockUser              *LockUserHandler
	MoveUser              *MoveUserHandler
	PatchUser             *PatchUserHandler
	RemoveGroupMember     *RemoveGroupMemberHandler
	RenameEnvironment     *RenameEnvironmentHandler
	RestoreConfigRevision *RestoreConfigRevisionHandler
	RevokeToken           *RevokeTokenHandler
	SetDefaultPopulation  *SetDefaultPopulationHandler
	UnassignRole          *UnassignRoleHandler
	UnlockUser            *UnlockUserHandler
	UpdateGroup           *UpdateGroupHandler
	UpdatePopulation      *UpdatePopulationHandler
	UpdateSchemaAttribute *UpdateSchemaAttributeHandler
	UpdateUser            *UpdateUserHandler
}

// NewDirectory builds every handler on d and ports.
func NewDirectory(d *Deps, ports DirectoryPorts) *Directory {
	return &Directory{
		AddGroupMember:        NewAddGroupMember(d),
		AssignRole:            NewAssignRole(d),
		Bootstrap:             NewBootstrap(d),
		CreateAPIClient:       NewCreateAPIClient(d),
		CreateConfigRevision:  NewCreateConfigRevision(d, ports.Configurations),
		CreateEnvironment:     NewCreateEnvironment(d),
		CreateGroup:           NewCreateGroup(d),
		CreatePopulation:      NewCreatePopulation(d),
		CreateSchemaAttribute: NewCreateSchemaAttribute(d),
		CreateUser:            NewCreateUser(d, ports.PasswordHasher),
		Credentials:           NewCredentials(d, ports.Credentials),
		DeleteAPIClient:       NewDeleteAPIClient(d),
		DeleteEnvironment:     NewDeleteEnvironment(d),
		DeleteGroup:           NewDeleteGroup(d),
		DeletePopulation:      NewDeletePopulation(d, ports.PopulationUsage),
		DeleteSchemaAttribute: NewDeleteSchemaAttribute(d, ports.AttributeUsage),
		DeleteUser:            NewDeleteUser(d),
		DisableUser:           NewDisableUser(d),
		EnableUser:            NewEnableUser(d),
		ForgetUser:            NewForgetUser(d),
		ImportUsers:           NewImportUsers(d, ports.PasswordHasher),
		IssueToken:            NewIssueToken(d),
		LockUser:              NewLockUser(d),
		MoveUser:              NewMoveUser(d),
		PatchUser:             NewPatchUser(d),
		RemoveGroupMember:     NewRemoveGroupMember(d),
		RenameEnvironment:     NewRenameEnvironment(d),
		RestoreConfigRevision: NewRestoreConfigRevision(d, RevisionPorts{Configurations: ports.Configurations,
			AttributeUsage: ports.AttributeUsage, PopulationUsage: ports.PopulationUsage}),
		RevokeToken:           NewRevokeToken(d),
		SetDefaultPopulation:  NewSetDefaultPopulation(d),
		UnassignRole:          NewUnassignRole(d),
		UnlockUser:            NewUnlockUser(d),
		UpdateGroup:           NewUpdateGroup(d),
		UpdatePopulation:      NewUpdatePopulation(d),
		UpdateSchemaAttribute: NewUpdateSchemaAttribute(d, ports.AttributeUsage),
		UpdateUser:            NewUpdateUser(d),
	}
}
