package domain

import (
	"encoding/json"
	"errors"
	"maps"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Profile and lifecycle behaviours of User. Passwords, MFA devices, consents and linked accounts
// are decided in user_password.go, user_mfa.go, user_consent.go and user_link.go.

const (
	maxUsername     = 128
	maxProfileField = 256
)

var (
	localeRE   = regexp.MustCompile(`^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$`)
	timezoneRE = regexp.MustCompile(`^(?:UTC|GMT|[A-Za-z][A-Za-z_+\-]*(?:/[A-Za-z0-9][A-Za-z0-9_+\-]*){1,2})$`)
	countryRE  = regexp.MustCompile(`^[A-Za-z]{2}$`)
)

// NormalizeProfile trims surrounding space from every field of p.
func NormalizeProfile(p Profile) Profile {
	for _, f := range profileFields(&p) {
		*f.v = strings.TrimSpace(*f.v)
	}
	return p
}

type profileField struct {
	path string
	v    *string
}

func profileFields(p *Profile) []profileField {
	return []profileField{
		{"username", &p.Username}, {"email", &p.Email},
		{"name.formatted", &p.Name.Formatted}, {"name.given", &p.Name.Given}, {"name.middle", &p.Name.Middle},
		{"name.family", &p.Name.Family}, {"name.honorificPrefix", &p.Name.HonorificPrefix}, {"name.honorificSuffix", &p.Name.HonorificSuffix},
		{"nickname", &p.Nickname}, {"title", &p.Title}, {"preferredLanguage", &p.PreferredLanguage}, {"locale", &p.Locale},
		{"timezone", &p.Timezone}, {"primaryPhone", &p.PrimaryPhone}, {"mobilePhone", &p.MobilePhone},
		{"address.streetAddress", &p.Address.StreetAddress}, {"address.locality", &p.Address.Locality},
		{"address.region", &p.Address.Region}, {"address.postalCode", &p.Address.PostalCode},
		{"address.countryCode", &p.Address.CountryCode},
		{"externalId", &p.ExternalID}, {"accountId", &p.AccountID}, {"type", &p.Type}, {"photo", &p.Photo},
	}
}

// ValidateProfile checks a (normalized) profile and returns every problem joined, each a
// *FieldError named by the attribute's path ("username", "name.given", "address.countryCode").
// The checks are pure: a timezone is checked for shape (Area/City), not looked up.
func ValidateProfile(p Profile) error {
	var errs []error
	for _, f := range profileFields(&p) {
		v := *f.v
		limit := maxProfileField
		if f.path == "username" {
			limit = maxUsername
		}
		switch n := utf8.RuneCountInString(v); {
		case !utf8.ValidString(v):
			errs = append(errs, Invalidf(f.path, "must be valid UTF-8"))
			continue
		case n > limit:
			errs = append(errs, Invalidf(f.path, "must be at most %d characters, got %d", limit, n))
			continue
		case strings.IndexFunc(v, unicode.IsControl) >= 0:
			errs = append(errs, Invalidf(f.path, "must not contain control characters"))
			continue
		}
		if err := checkProfileValue(f.path, v); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkProfileValue(path, v string) error {
	if v == "" {
		if path == "username" {
			return Invalidf(path, "is required")
		}
		return nil
	}
	switch path {
	case "username":
		if strings.IndexFunc(v, unicode.IsSpace) >= 0 {
			return Invalidf(path, "must not contain spaces")
		}
	case "email":
		a, err := mail.ParseAddress(v)
		if err != nil || a.Name != "" || a.Address != v || !strings.Contains(v[strings.LastIndex(v, "@")+1:], ".") {
			return Invalidf(path, "must be an email address such as name@example.com (no display name)")
		}
	case "locale", "preferredLanguage":
		if !localeRE.MatchString(v) {
			return Invalidf(path, "must be a language tag such as en or en-US")
		}
	case "timezone":
		if !timezoneRE.MatchString(v) {
			return Invalidf(path, "must be an IANA time zone name such as Europe/Paris")
		}
	case "photo":
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Invalidf(path, "must be an http or https URL")
		}
	case "address.countryCode":
		if !countryRE.MatchString(v) {
			return Invalidf(path, "must be a two-letter country code")
		}
	}
	return nil
}

// NewUser decides the creation of user id in population pop of environment env, with its profile
// and custom values checked against schema; every problem comes back at once. Uniqueness is the
// caller's (reservations). The caller normalizes profile (NormalizeProfile) and custom
// (NormalizeCustom) first.
func NewUser(env, id, pop string, profile Profile, custom CustomValues, enabled bool, schema *Schema) (UserCreated, error) {
	if err := errors.Join(ValidateProfile(profile), schema.ValidateCustom(custom, nil)); err != nil {
		return UserCreated{}, err
	}
	if len(custom) == 0 {
		custom = nil
	}
	return UserCreated{EnvironmentID: env, UserID: id, PopulationID: pop, Profile: profile, Custom: custom, Enabled: enabled}, nil
}

// Update decides replacing the user's whole profile and custom values (normalized). Custom values
// equal to the stored ones are grandfathered (see Schema.ValidateCustom). No change records
// nothing.
func (u *User) Update(profile Profile, custom CustomValues, schema *Schema) ([]any, error) {
	if !u.Exists {
		return nil, NotFoundf("user %s", u.ID)
	}
	previous := schema.KnownOnly(u.Custom)
	if err := errors.Join(ValidateProfile(profile), schema.ValidateCustom(custom, previous)); err != nil {
		return nil, err
	}
	if len(custom) == 0 {
		custom = nil
	}
	if profile == u.Profile && maps.EqualFunc(custom, u.Custom, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
		return nil, nil
	}
	return []any{UserUpdated{EnvironmentID: u.EnvironmentID, UserID: u.ID, Profile: profile, Custom: custom}}, nil
}

// Forget decides the erasure of the user's personal data: it records user.forgotten (which
// deletes the user too) for a user that exists or was deleted; a user already forgotten records
// nothing (the caller still makes sure its key is destroyed).
func (u *User) Forget() ([]any, error) {
	switch {
	case u.Forgotten:
		return nil, nil
	case !u.Exists && !u.Deleted:
		return nil, NotFoundf("user %s", u.ID)
	}
	return []any{UserForgotten{EnvironmentID: u.EnvironmentID, UserID: u.ID, WasDeleted: u.Deleted}}, nil
}

// Delete decides the deletion of the user.
func (u *User) Delete() ([]any, error) {
	if !u.Exists {
		return nil, NotFoundf("user %s", u.ID)
	}
	return []any{UserDeleted{EnvironmentID: u.EnvironmentID, UserID: u.ID}}, nil
}

// Enable decides enabling the user; an enabled user records nothing.
func (u *User) Enable() ([]any, error) {
	if !u.Exists {
		return nil, NotFoundf("user %s", u.ID)
	}
	if u.Enabled {
		return nil, nil
	}
	return []any{UserEnabled{EnvironmentID: u.EnvironmentID, UserID: u.ID}}, nil
}

// Disable decides disabling the user; a disabled user records nothing.
func (u *User) Disable() ([]any, error) {
	if !u.Exists {
		return nil, NotFoundf("user %s", u.ID)
	}
	if !u.Enabled {
		return nil, nil
	}
	return []any{UserDisabled{EnvironmentID: u.EnvironmentID, UserID: u.ID}}, nil
}

// LockByAdmin decides an administrator's lock: until an administrator unlocks when until is
// zero, else until that instant (which must be after now; the next password check after it
// unlocks, like an expired lockout). Locking again with the same expiry records nothing; a
// lockout after failures becomes an administrator's lock.
func (u *User) LockByAdmin(until, now time.Time) ([]any, error) {
	if !u.Exists {
		return nil, NotFoundf("user %s", u.ID)
	}
	if !until.IsZero() && !until.After(now) {
		return nil, Invalidf("until", "must be in the future")
	}
	if u.Locked && u.LockReason == LockAdmin && u.LockedUntil.Equal(until) {
		return nil, nil
	}
	return []any{UserLocked{EnvironmentID: u.EnvironmentID, UserID: u.ID, Reason: LockAdmin, Until: until.UTC()}}, nil
}

// UnlockByAdmin decides an administrator's unlock (reason "ADMIN"), which also clears the count
// of failed password checks. A user not locked records nothing.
func (u *User) UnlockByAdmin() ([]any, error) {
	if !u.Exists {
		return nil, NotFoundf("user %s", u.ID)
	}
	if !u.Locked {
		return nil, nil
	}
	return []any{UserUnlocked{EnvironmentID: u.EnvironmentID, UserID: u.ID, Reason: string(LockAdmin)}}, nil
}

// MoveTo decides moving the user into population pop, which must exist in the user's
// environment (else ErrNotFound on "populationId"). Its current population records nothing.
func (u *User) MoveTo(pop *Population) ([]any, error) {
	if !u.Exists {
		return nil, NotFoundf("user %s", u.ID)
	}
	if pop == nil || !pop.Exists || pop.EnvironmentID != u.EnvironmentID {
		return nil, &FieldError{Field: "populationId", Reason: "no such population in this environment", Kind: ErrNotFound}
	}
	if pop.ID == u.PopulationID {
		return nil, nil
	}
	return []any{UserPopulationChanged{EnvironmentID: u.EnvironmentID, UserID: u.ID, From: u.PopulationID, To: pop.ID}}, nil
}

// AssignRole decides granting a (validated, see ValidateRoleAssignment) role assignment.
func (u *User) AssignRole(a RoleAssignment) ([]any, error) {
	if !u.Exists {
		return nil, NotFoundf("user %s", u.ID)
	}
	return []any{UserRoleAssigned{EnvironmentID: u.EnvironmentID, UserID: u.ID, Assignment: a}}, nil
}

// UnassignRole decides withdrawing the assignment id (ErrNotFound on "assignmentId" when the
// user has none such).
func (u *User) UnassignRole(id string) ([]any, error) {
	if !u.Exists {
		return nil, NotFoundf("user %s", u.ID)
	}
	if !hasAssignment(u.Roles, id) {
		return nil, &FieldError{Field: "assignmentId", Reason: "no such role assignment", Kind: ErrNotFound}
	}
	return []any{UserRoleUnassigned{EnvironmentID: u.EnvironmentID, UserID: u.ID, AssignmentID: id}}, nil
}

func hasAssignment(roles []RoleAssignment, id string) bool {
	for _, r := range roles {
		if r.ID == id {
			return true
		}
	}
	return false
}

// SetCoreValue sets the core attribute at canonical path (see CoreAttributePaths) to v; it
// reports false, changing nothing, for any other path.
func (p *Profile) SetCoreValue(path, v string) bool {
	for _, f := range profileFields(p) {
		if f.path == path {
			*f.v = v
			return true
		}
	}
	return false
}
