package domain

import "encoding/json"

// Stream categories. A stream is named "<category>-<id>" (EventStoreDB's category convention).
const (
	CategoryEnvironment = "environment"
	CategoryPopulation  = "population"
	CategorySchema      = "schema" // one per environment: schema-<environment id>
	CategoryUser        = "user"
	CategoryGroup       = "group"
	CategoryGroupTree   = "grouptree" // one per environment: every nesting edge, so cycle checks are race-free
	CategoryAPIClient   = "apiclient"
	CategoryUnique      = "unique" // reservation streams: unique-<kind>-<environment>-<hash>
)

// StreamName returns "<category>-<id>".
func StreamName(category, id string) string { return category + "-" + id }

// Reservation kinds for uniqueness per environment.
const (
	UniqueUsername     = "username"
	UniqueEmail        = "email"
	UniqueExternalID   = "externalid"
	UniquePopulation   = "population"
	UniqueGroup        = "group"
	UniqueLinkedAcct   = "link"
	UniqueCustomPrefix = "attr." // + attribute name (lower case)
)

// Name is a user's name, after SCIM's "name" complex attribute.
type Name struct {
	Formatted       string `json:"formatted,omitempty"`
	Given           string `json:"given,omitempty"`
	Middle          string `json:"middle,omitempty"`
	Family          string `json:"family,omitempty"`
	HonorificPrefix string `json:"honorificPrefix,omitempty"`
	HonorificSuffix string `json:"honorificSuffix,omitempty"`
}

// Address is a user's postal address.
type Address struct {
	StreetAddress string `json:"streetAddress,omitempty"`
	Locality      string `json:"locality,omitempty"`
	Region        string `json:"region,omitempty"`
	PostalCode    string `json:"postalCode,omitempty"`
	CountryCode   string `json:"countryCode,omitempty"`
}

// Profile holds a user's core attributes.
type Profile struct {
	Username          string  `json:"username"`
	Email             string  `json:"email,omitempty"`
	Name              Name    `json:"name,omitzero"`
	Nickname          string  `json:"nickname,omitempty"`
	Title             string  `json:"title,omitempty"`
	PreferredLanguage string  `json:"preferredLanguage,omitempty"`
	Locale            string  `json:"locale,omitempty"`
	Timezone          string  `json:"timezone,omitempty"`
	PrimaryPhone      string  `json:"primaryPhone,omitempty"`
	MobilePhone       string  `json:"mobilePhone,omitempty"`
	Address           Address `json:"address,omitzero"`
	ExternalID        string  `json:"externalId,omitempty"`
	AccountID         string  `json:"accountId,omitempty"`
	Type              string  `json:"type,omitempty"`
	Photo             string  `json:"photo,omitempty"`
}

// CustomValues maps a custom attribute's name to its JSON value: a string, a boolean or any JSON
// value by the attribute's type, or a JSON array of those when the attribute is multi-valued.
type CustomValues map[string]json.RawMessage

// AttributeType is the type of a custom attribute.
type AttributeType string

const (
	AttributeString  AttributeType = "STRING"
	AttributeBoolean AttributeType = "BOOLEAN"
	AttributeJSON    AttributeType = "JSON"
)

// AttributeDef defines a custom attribute of an environment's user schema.
type AttributeDef struct {
	Name        string        `json:"name"`
	DisplayName string        `json:"displayName,omitempty"`
	Description string        `json:"description,omitempty"`
	Type        AttributeType `json:"type"`
	Required    bool          `json:"required,omitempty"`
	Unique      bool          `json:"unique,omitempty"`
	MultiValued bool          `json:"multiValued,omitempty"`
	Enum        []string      `json:"enum,omitempty"`
	Regex       string        `json:"regex,omitempty"`
	MaxLength   int           `json:"maxLength,omitempty"`
}

// PasswordPolicy is an environment's password policy.
type PasswordPolicy struct {
	MinLength          int  `json:"minLength"`
	MaxLength          int  `json:"maxLength"`
	MinUppercase       int  `json:"minUppercase"`
	MinLowercase       int  `json:"minLowercase"`
	MinDigits          int  `json:"minDigits"`
	MinSpecial         int  `json:"minSpecial"`
	History            int  `json:"history"`            // the last N passwords may not be reused
	NotContainUsername bool `json:"notContainUsername"` // case-insensitive
	LockoutFailures    int  `json:"lockoutFailures"`    // 0: never lock
	// LockoutSeconds is how long a lockout lasts; 0 locks until an administrator unlocks.
	LockoutSeconds int `json:"lockoutSeconds"`
}

// DefaultPasswordPolicy is the policy of a new environment.
func DefaultPasswordPolicy() PasswordPolicy {
	return PasswordPolicy{MinLength: 8, MaxLength: 255, MinUppercase: 1, MinLowercase: 1, MinDigits: 1,
		History: 6, NotContainUsername: true, LockoutFailures: 5, LockoutSeconds: 900}
}

// Role is a built-in role.
type Role string

const (
	RoleEnvironmentAdmin     Role = "ENVIRONMENT_ADMIN"
	RoleIdentityDataAdmin    Role = "IDENTITY_DATA_ADMIN"
	RoleIdentityDataReadOnly Role = "IDENTITY_DATA_READ_ONLY"
	RoleAuditor              Role = "AUDITOR"
)

// Roles lists the built-in roles.
var Roles = []Role{RoleEnvironmentAdmin, RoleIdentityDataAdmin, RoleIdentityDataReadOnly, RoleAuditor}

// RoleAssignment grants Role within Scope. An empty EnvironmentID is the whole organization
// (every environment, and creating environments); a PopulationID narrows it to one population.
type RoleAssignment struct {
	ID            string `json:"id"`
	Role          Role   `json:"role"`
	EnvironmentID string `json:"environmentId,omitempty"`
	PopulationID  string `json:"populationId,omitempty"`
}

// LockReason says why a user is locked.
type LockReason string

const (
	LockAdmin           LockReason = "ADMIN"
	LockTooManyFailures LockReason = "TOO_MANY_FAILURES"
)

// MFADeviceType is the kind of an MFA device.
type MFADeviceType string

const (
	MFATOTP  MFADeviceType = "TOTP"
	MFAEmail MFADeviceType = "EMAIL"
	MFASMS   MFADeviceType = "SMS"
)

// GroupKind tells direct groups (members added one by one) from dynamic ones (members are the
// users matching a SCIM filter).
type GroupKind string

const (
	GroupDirect  GroupKind = "DIRECT"
	GroupDynamic GroupKind = "DYNAMIC"
)

// MemberType is the type of a group member.
type MemberType string

const (
	MemberUser  MemberType = "USER"
	MemberGroup MemberType = "GROUP"
)
