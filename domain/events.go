package domain

import "time"

// Event type names: stable strings chosen once, never derived from Go names. The payload types
// below are the current shapes; an older shape is upcast at the codec boundary, never seen here.
const (
	EvEnvironmentCreated       = "environment.created"
	EvEnvironmentRenamed       = "environment.renamed"
	EvEnvironmentDeleted       = "environment.deleted"
	EvPasswordPolicySet        = "environment.password_policy_set"
	EvDefaultPopulationChanged = "environment.default_population_changed"

	EvPopulationCreated = "population.created"
	EvPopulationUpdated = "population.updated"
	EvPopulationDeleted = "population.deleted"

	EvSchemaAttributeAdded   = "schema.attribute_added"
	EvSchemaAttributeUpdated = "schema.attribute_updated"
	EvSchemaAttributeRemoved = "schema.attribute_removed"

	EvUserCreated             = "user.created"
	EvUserUpdated             = "user.updated"
	EvUserDeleted             = "user.deleted"
	EvUserEnabled             = "user.enabled"
	EvUserDisabled            = "user.disabled"
	EvUserLocked              = "user.locked"
	EvUserUnlocked            = "user.unlocked"
	EvUserPopulationChanged   = "user.population_changed"
	EvUserPasswordSet         = "user.password_set"
	EvUserPasswordCheckFailed = "user.password_check_failed"
	EvUserPasswordCheckPassed = "user.password_check_passed"
	EvUserPasswordRehashed    = "user.password_rehashed"
	EvUserMFAEnrolled         = "user.mfa_device_enrolled"
	EvUserMFAActivated        = "user.mfa_device_activated"
	EvUserMFARemoved          = "user.mfa_device_removed"
	EvUserConsentRecorded     = "user.consent_recorded"
	EvUserConsentRevoked      = "user.consent_revoked"
	EvUserAccountLinked       = "user.account_linked"
	EvUserAccountUnlinked     = "user.account_unlinked"
	EvUserRoleAssigned        = "user.role_assigned"
	EvUserRoleUnassigned      = "user.role_unassigned"
	EvUserForgotten           = "user.forgotten"

	EvGroupCreated        = "group.created"
	EvGroupUpdated        = "group.updated"
	EvGroupDeleted        = "group.deleted"
	EvGroupMemberAdded    = "group.member_added"
	EvGroupMemberRemoved  = "group.member_removed"
	EvGroupRoleAssigned   = "group.role_assigned"
	EvGroupRoleUnassigned = "group.role_unassigned"
	EvGroupNested         = "grouptree.nested"
	EvGroupUnnested       = "grouptree.unnested"

	EvAPIClientCreated        = "apiclient.created"
	EvAPIClientDeleted        = "apiclient.deleted"
	EvAPIClientTokenIssued    = "apiclient.token_issued"
	EvAPIClientTokenRevoked   = "apiclient.token_revoked"
	EvAPIClientRoleAssigned   = "apiclient.role_assigned"
	EvAPIClientRoleUnassigned = "apiclient.role_unassigned"

	EvReservationClaimed = "reservation.claimed"
)

// Every payload of a resource inside an environment carries EnvironmentID (and so does every
// event's metadata); the stream name carries the resource's own ID.

type EnvironmentCreated struct {
	EnvironmentID       string         `json:"environmentId"`
	Name                string         `json:"name"`
	DefaultPopulationID string         `json:"defaultPopulationId"`
	PasswordPolicy      PasswordPolicy `json:"passwordPolicy"`
}
type EnvironmentRenamed struct {
	EnvironmentID string `json:"environmentId"`
	Name          string `json:"name"`
}
type EnvironmentDeleted struct {
	EnvironmentID string `json:"environmentId"`
}
type PasswordPolicySet struct {
	EnvironmentID string         `json:"environmentId"`
	Policy        PasswordPolicy `json:"policy"`
}
type DefaultPopulationChanged struct {
	EnvironmentID string `json:"environmentId"`
	PopulationID  string `json:"populationId"`
}

type PopulationCreated struct {
	EnvironmentID string `json:"environmentId"`
	PopulationID  string `json:"populationId"`
	Name          string `json:"name"`
	Description   string `json:"description,omitempty"`
}
type PopulationUpdated struct {
	EnvironmentID string `json:"environmentId"`
	PopulationID  string `json:"populationId"`
	Name          string `json:"name"`
	Description   string `json:"description,omitempty"`
}
type PopulationDeleted struct {
	EnvironmentID string `json:"environmentId"`
	PopulationID  string `json:"populationId"`
}

type SchemaAttributeAdded struct {
	EnvironmentID string       `json:"environmentId"`
	Attribute     AttributeDef `json:"attribute"`
}
type SchemaAttributeUpdated struct {
	EnvironmentID string       `json:"environmentId"`
	Attribute     AttributeDef `json:"attribute"`
}

// SchemaAttributeRemoved removes a custom attribute; every user's value of it goes with it
// (Forced records that values existed and the caller accepted their loss).
type SchemaAttributeRemoved struct {
	EnvironmentID string `json:"environmentId"`
	Name          string `json:"name"`
	Forced        bool   `json:"forced,omitempty"`
}

type UserCreated struct {
	EnvironmentID string       `json:"environmentId"`
	UserID        string       `json:"userId" personal:"subject"`
	PopulationID  string       `json:"populationId"`
	Profile       Profile      `json:"profile" personal:"data"`
	Custom        CustomValues `json:"custom,omitempty" personal:"data"`
	Enabled       bool         `json:"enabled"`
}

// UserUpdated carries the user's whole profile and custom attributes after the change.
type UserUpdated struct {
	EnvironmentID string       `json:"environmentId"`
	UserID        string       `json:"userId" personal:"subject"`
	Profile       Profile      `json:"profile" personal:"data"`
	Custom        CustomValues `json:"custom,omitempty" personal:"data"`
}
type UserDeleted struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId"`
}
type UserEnabled struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId"`
}
type UserDisabled struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId"`
}

// UserLocked: Until is zero when only an administrator can unlock.
type UserLocked struct {
	EnvironmentID string     `json:"environmentId"`
	UserID        string     `json:"userId"`
	Reason        LockReason `json:"reason"`
	Until         time.Time  `json:"until,omitzero"`
}

// UserUnlocked: Reason is "ADMIN" or "LOCKOUT_EXPIRED".
type UserUnlocked struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId"`
	Reason        string `json:"reason"`
}
type UserPopulationChanged struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId"`
	From          string `json:"from"`
	To            string `json:"to"`
}

// UserPasswordSet carries a password hash in PHC string format ($argon2id$..., $2b$...,
// $pbkdf2-sha256$..., {SSHA}...). The plain password never exists in the log.
type UserPasswordSet struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId" personal:"subject"`
	Hash          string `json:"hash" audit:"redact" personal:"data"`
	// MustChange: the password was reset and must be changed at next sign-in.
	MustChange bool `json:"mustChange,omitempty"`
	// Imported: the hash came from another system as is.
	Imported bool `json:"imported,omitempty"`
}
type UserPasswordCheckFailed struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId"`
	Failures      int    `json:"failures"` // consecutive failures including this one
}

// UserPasswordCheckPassed is recorded only when it changes state (it resets a failure count).
type UserPasswordCheckPassed struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId"`
}

// UserPasswordRehashed replaces an imported hash by an argon2id one after a successful check.
type UserPasswordRehashed struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId" personal:"subject"`
	Hash          string `json:"hash" audit:"redact" personal:"data"`
}

type UserMFADeviceEnrolled struct {
	EnvironmentID string        `json:"environmentId"`
	UserID        string        `json:"userId" personal:"subject"`
	DeviceID      string        `json:"deviceId"`
	Type          MFADeviceType `json:"type"`
	Name          string        `json:"name,omitempty" personal:"data"`
	Email         string        `json:"email,omitempty" personal:"data"`
	Phone         string        `json:"phone,omitempty" personal:"data"`
	// SealedSecret is a TOTP secret encrypted with the operator's key (never plain).
	SealedSecret string `json:"sealedSecret,omitempty" audit:"redact" personal:"data"`
}
type UserMFADeviceActivated struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId"`
	DeviceID      string `json:"deviceId"`
}
type UserMFADeviceRemoved struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId"`
	DeviceID      string `json:"deviceId"`
}
type UserConsentRecorded struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId" personal:"subject"`
	ConsentID     string `json:"consentId"`
	Purpose       string `json:"purpose"`
	Version       string `json:"version,omitempty"`
	Text          string `json:"text,omitempty" personal:"data"`
}
type UserConsentRevoked struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId"`
	ConsentID     string `json:"consentId"`
}
type UserAccountLinked struct {
	EnvironmentID    string `json:"environmentId"`
	UserID           string `json:"userId" personal:"subject"`
	LinkID           string `json:"linkId"`
	IdentityProvider string `json:"identityProvider"`
	Subject          string `json:"subject" personal:"data"`
}
type UserAccountUnlinked struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId"`
	LinkID        string `json:"linkId"`
}
type UserRoleAssigned struct {
	EnvironmentID string         `json:"environmentId"`
	UserID        string         `json:"userId"`
	Assignment    RoleAssignment `json:"assignment"`
}
type UserRoleUnassigned struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId"`
	AssignmentID  string `json:"assignmentId"`
}

// UserForgotten records the erasure of a user's personal data (GDPR art. 17): the user's
// subject key is destroyed right after it is appended, so every personal field of the user's
// events (tagged personal:"data") decodes as its zero value from then on, in every replay.
// The user is deleted by it too, if it was not already.
type UserForgotten struct {
	EnvironmentID string `json:"environmentId"`
	UserID        string `json:"userId"`
	// WasDeleted: the user had been deleted before it was forgotten.
	WasDeleted bool `json:"wasDeleted,omitempty"`
}

// ForgottenSubject names the subject whose key the event destroys (eventstore.Forgetting).
func (e UserForgotten) ForgottenSubject() string { return e.UserID }

type GroupCreated struct {
	EnvironmentID string    `json:"environmentId"`
	GroupID       string    `json:"groupId"`
	Name          string    `json:"name"`
	Description   string    `json:"description,omitempty"`
	Kind          GroupKind `json:"kind"`
	// Filter is the SCIM filter of a dynamic group's members.
	Filter string `json:"filter,omitempty"`
}
type GroupUpdated struct {
	EnvironmentID string `json:"environmentId"`
	GroupID       string `json:"groupId"`
	Name          string `json:"name"`
	Description   string `json:"description,omitempty"`
	Filter        string `json:"filter,omitempty"`
}
type GroupDeleted struct {
	EnvironmentID string `json:"environmentId"`
	GroupID       string `json:"groupId"`
}

// GroupMemberAdded/Removed concern user members; nested groups are GroupNested in the
// environment's grouptree stream.
type GroupMemberAdded struct {
	EnvironmentID string `json:"environmentId"`
	GroupID       string `json:"groupId"`
	UserID        string `json:"userId"`
}
type GroupMemberRemoved struct {
	EnvironmentID string `json:"environmentId"`
	GroupID       string `json:"groupId"`
	UserID        string `json:"userId"`
}
type GroupRoleAssigned struct {
	EnvironmentID string         `json:"environmentId"`
	GroupID       string         `json:"groupId"`
	Assignment    RoleAssignment `json:"assignment"`
}
type GroupRoleUnassigned struct {
	EnvironmentID string `json:"environmentId"`
	GroupID       string `json:"groupId"`
	AssignmentID  string `json:"assignmentId"`
}
type GroupNested struct {
	EnvironmentID string `json:"environmentId"`
	ParentID      string `json:"parentId"`
	ChildID       string `json:"childId"`
}
type GroupUnnested struct {
	EnvironmentID string `json:"environmentId"`
	ParentID      string `json:"parentId"`
	ChildID       string `json:"childId"`
}

// APIClientCreated: EnvironmentID is empty for an organization-wide client (the bootstrap admin).
type APIClientCreated struct {
	EnvironmentID string           `json:"environmentId,omitempty"`
	ClientID      string           `json:"clientId"`
	Name          string           `json:"name"`
	Roles         []RoleAssignment `json:"roles,omitempty"`
}
type APIClientDeleted struct {
	EnvironmentID string `json:"environmentId,omitempty"`
	ClientID      string `json:"clientId"`
}

// APIClientTokenIssued stores only the SHA-256 of the bearer token (tokens are 256-bit random,
// so a fast hash is enough), never the token.
type APIClientTokenIssued struct {
	EnvironmentID string    `json:"environmentId,omitempty"`
	ClientID      string    `json:"clientId"`
	TokenID       string    `json:"tokenId"`
	SHA256        string    `json:"sha256" audit:"redact"`
	ExpiresAt     time.Time `json:"expiresAt,omitzero"`
}
type APIClientTokenRevoked struct {
	EnvironmentID string `json:"environmentId,omitempty"`
	ClientID      string `json:"clientId"`
	TokenID       string `json:"tokenId"`
}
type APIClientRoleAssigned struct {
	EnvironmentID string         `json:"environmentId,omitempty"`
	ClientID      string         `json:"clientId"`
	Assignment    RoleAssignment `json:"assignment"`
}
type APIClientRoleUnassigned struct {
	EnvironmentID string `json:"environmentId,omitempty"`
	ClientID      string `json:"clientId"`
	AssignmentID  string `json:"assignmentId"`
}

// ReservationClaimed is the only event of a reservation stream: Owner (a stream name) holds the
// value. Releasing deletes the stream, so the value can be claimed again.
type ReservationClaimed struct {
	EnvironmentID string `json:"environmentId"`
	Kind          string `json:"kind"`
	Owner         string `json:"owner"`
}

// EventType names one registered payload: the codec registers each at Version.
type EventType struct {
	Name    string
	Version uint32
	Payload any // the zero value of the payload type
}

// EventTypes lists every event of the directory with its current payload version.
func EventTypes() []EventType {
	return append([]EventType{
		{EvEnvironmentCreated, 1, EnvironmentCreated{}},
		{EvEnvironmentRenamed, 1, EnvironmentRenamed{}},
		{EvEnvironmentDeleted, 1, EnvironmentDeleted{}},
		{EvPasswordPolicySet, 1, PasswordPolicySet{}},
		{EvDefaultPopulationChanged, 1, DefaultPopulationChanged{}},
		{EvPopulationCreated, 1, PopulationCreated{}},
		{EvPopulationUpdated, 1, PopulationUpdated{}},
		{EvPopulationDeleted, 1, PopulationDeleted{}},
		{EvSchemaAttributeAdded, 1, SchemaAttributeAdded{}},
		{EvSchemaAttributeUpdated, 1, SchemaAttributeUpdated{}},
		{EvSchemaAttributeRemoved, 1, SchemaAttributeRemoved{}},
		{EvUserCreated, 1, UserCreated{}},
		{EvUserUpdated, 1, UserUpdated{}},
		{EvUserDeleted, 1, UserDeleted{}},
		{EvUserEnabled, 1, UserEnabled{}},
		{EvUserDisabled, 1, UserDisabled{}},
		{EvUserLocked, 1, UserLocked{}},
		{EvUserUnlocked, 1, UserUnlocked{}},
		{EvUserPopulationChanged, 1, UserPopulationChanged{}},
		{EvUserPasswordSet, 1, UserPasswordSet{}},
		{EvUserPasswordCheckFailed, 1, UserPasswordCheckFailed{}},
		{EvUserPasswordCheckPassed, 1, UserPasswordCheckPassed{}},
		{EvUserPasswordRehashed, 1, UserPasswordRehashed{}},
		{EvUserMFAEnrolled, 1, UserMFADeviceEnrolled{}},
		{EvUserMFAActivated, 1, UserMFADeviceActivated{}},
		{EvUserMFARemoved, 1, UserMFADeviceRemoved{}},
		{EvUserConsentRecorded, 1, UserConsentRecorded{}},
		{EvUserConsentRevoked, 1, UserConsentRevoked{}},
		{EvUserAccountLinked, 1, UserAccountLinked{}},
		{EvUserAccountUnlinked, 1, UserAccountUnlinked{}},
		{EvUserRoleAssigned, 1, UserRoleAssigned{}},
		{EvUserRoleUnassigned, 1, UserRoleUnassigned{}},
		{EvUserForgotten, 1, UserForgotten{}},
		{EvGroupCreated, 1, GroupCreated{}},
		{EvGroupUpdated, 1, GroupUpdated{}},
		{EvGroupDeleted, 1, GroupDeleted{}},
		{EvGroupMemberAdded, 1, GroupMemberAdded{}},
		{EvGroupMemberRemoved, 1, GroupMemberRemoved{}},
		{EvGroupRoleAssigned, 1, GroupRoleAssigned{}},
		{EvGroupRoleUnassigned, 1, GroupRoleUnassigned{}},
		{EvGroupNested, 1, GroupNested{}},
		{EvGroupUnnested, 1, GroupUnnested{}},
		{EvAPIClientCreated, 1, APIClientCreated{}},
		{EvAPIClientDeleted, 1, APIClientDeleted{}},
		{EvAPIClientTokenIssued, 1, APIClientTokenIssued{}},
		{EvAPIClientTokenRevoked, 1, APIClientTokenRevoked{}},
		{EvAPIClientRoleAssigned, 1, APIClientRoleAssigned{}},
		{EvAPIClientRoleUnassigned, 1, APIClientRoleUnassigned{}},
		{EvReservationClaimed, 1, ReservationClaimed{}},
		{EvConfigRevisionCreated, 1, ConfigRevisionCreated{}},
		{EvConfigRevisionRestored, 1, ConfigRevisionRestored{}},
	}, append(propagationEventTypes(), propagationRuntimeEventTypes()...)...)
}
