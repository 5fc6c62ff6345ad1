package projections

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/idstream/idstream/domain"
)

// The values the Directory returns. They are snapshots: the Directory never mutates a value
// after handing it out (a change replaces it), so callers read them without locks. Callers must
// not modify them either, slices included.

// Environment is an environment (tenant) of the directory.
type Environment struct {
	ID                  string
	Name                string
	DefaultPopulationID string
	PasswordPolicy      domain.PasswordPolicy
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// Population is a population of an environment with its current number of users.
type Population struct {
	ID            string
	EnvironmentID string
	Name          string
	Description   string
	UserCount     int
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// User is a user of the directory, without secrets (no password hash, no MFA secret).
type User struct {
	ID            string
	EnvironmentID string
	PopulationID  string
	Profile       domain.Profile
	// Custom holds the custom attribute values, sorted by name.
	Custom []CustomValue

	Enabled     bool
	Locked      bool
	LockReason  domain.LockReason
	LockedUntil time.Time // zero: until an administrator unlocks

	HasPassword        bool
	MustChangePassword bool
	PasswordFailures   int

	MFADevices     []MFADevice
	Consents       []domain.Consent
	LinkedAccounts []domain.LinkedAccount
	Roles          []domain.RoleAssignment

	CreatedAt time.Time
	UpdatedAt time.Time

	// Erased: the user was forgotten (its personal data erased). A forgotten user is answered
	// by ID only, with nothing personal; in the past, before it was forgotten, it appears with
	// its personal fields empty.
	Erased bool
}

// CustomValue is the value of one custom attribute: JSON as the attribute's type says (a string,
// a boolean, any JSON value, or an array of those when multi-valued).
type CustomValue struct {
	Name  string
	Value json.RawMessage
}

// CustomValue returns the value of the custom attribute name (case-insensitive) and whether the
// user has one.
func (u *User) CustomValue(name string) (json.RawMessage, bool) {
	for _, c := range u.Custom {
		if strings.EqualFold(c.Name, name) {
			return c.Value, true
		}
	}
	return nil, false
}

// CustomValues returns the custom attribute values as a fresh map (nil when there are none).
func (u *User) CustomValues() domain.CustomValues {
	if len(u.Custom) == 0 {
		return nil
	}
	m := make(domain.CustomValues, len(u.Custom))
	for _, c := range u.Custom {
		m[c.Name] = c.Value
	}
	return m
}

// MFADevice is a user's MFA device, without its secret.
type MFADevice struct {
	ID     string
	Type   domain.MFADeviceType
	Name   string
	Email  string
	Phone  string
	Active bool
}

// Group is a group of an environment. Members are answered by Directory.GroupMembers.
type Group struct {
	ID            string
	EnvironmentID string
	Name          string
	Description   string
	Kind          domain.GroupKind
	// Filter is a dynamic group's SCIM filter.
	Filter string
	// FilterError says why a dynamic group's filter no longer compiles (say, an attribute it
	// names was removed from the schema); such a group has no dynamic members. Empty when fine.
	FilterError string
	Roles       []domain.RoleAssignment
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// APIClient is an API client with its tokens (never the tokens themselves).
type APIClient struct {
	ID string
	// EnvironmentID is empty for an organization-wide client.
	EnvironmentID string
	Name          string
	Roles         []domain.RoleAssignment
	Tokens        []APIToken
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// APIToken describes an issued bearer token.
type APIToken struct {
	ID        string
	IssuedAt  time.Time
	ExpiresAt time.Time // zero: never expires
	Revoked   bool
}

// ValidAt reports whether the token authenticates at instant now: not revoked, not expired.
func (t APIToken) ValidAt(now time.Time) bool {
	return !t.Revoked && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// UserQuery selects a page of an environment's users.
type UserQuery struct {
	// Filter is a SCIM filter (RFC 7644 §3.4.2.2); empty matches every user.
	Filter string
	// PopulationIDs, when non-nil, restricts the answer to users of these populations (the
	// caller's authorization scope); an empty non-nil slice matches nobody.
	PopulationIDs []string
	// First is the page size: 0 means 50, above 1000 means 1000.
	First int
	// After is the EndCursor of the previous page ("" for the first page).
	After string
}

// UserPage is a page of users in ID order (UUIDv7: creation order).
type UserPage struct {
	Users       []*User
	TotalCount  int // every match, on all pages
	HasNextPage bool
	EndCursor   string // cursor of the last user of the page ("" when the page is empty)
}

// GroupQuery selects a page of an environment's groups.
type GroupQuery struct {
	// Filter is a SCIM filter on the attributes id, name (alias displayName), description, kind.
	Filter string
	First  int
	After  string
}

// GroupPage is a page of groups in ID order.
type GroupPage struct {
	Groups      []Group
	TotalCount  int
	HasNextPage bool
	EndCursor   string
}

// GroupMembers lists a group's members: users and nested groups, each sorted by ID.
type GroupMembers struct {
	Users  []*User
	Groups []Group
}

func sortGroups(gs []Group) {
	sort.Slice(gs, func(i, j int) bool { return gs[i].ID < gs[j].ID })
}

// Queries is everything the API reads of the directory's read models; the memory Directory and
// the PostgreSQL store (projections/pgstore) answer it alike (projections/readmodeltest).
type Queries interface {
	Environment(id string) (Environment, error)
	Environments() []Environment
	PasswordPolicy(env string) (domain.PasswordPolicy, error)
	Schema(env string) ([]domain.AttributeDef, error)
	Population(env, id string) (Population, error)
	Populations(env string) ([]Population, error)
	User(env, id string) (*User, error)
	UsersByIDs(env string, ids []string) ([]*User, error)
	Users(env string, q UserQuery) (UserPage, error)
	Group(env, id string) (Group, error)
	Groups(env string, q GroupQuery) (GroupPage, error)
	GroupMembers(env, groupID string, transitive bool) (GroupMembers, error)
	UserGroups(env, userID string, transitive bool) ([]Group, error)
	APIClient(id string) (APIClient, error)
	APIClients(env string) ([]APIClient, error)
	APIClientByTokenHash(sha256hex string, now time.Time) (APIClient, APIToken, bool)
	Configuration(env string) (domain.Configuration, error)
}
