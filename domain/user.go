package domain

import "time"

// User is the user aggregate, folded from the events of its stream user-<id>. Behaviour methods
// (in user_*.go) validate against this state and return new event payloads; Apply is the only
// place the state changes.
type User struct {
	ID            string
	EnvironmentID string
	PopulationID  string
	Profile       Profile
	Custom        CustomValues
	Exists        bool // created and not deleted
	Deleted       bool
	// Forgotten: the user's personal data was erased (user.forgotten); it no longer exists.
	Forgotten bool
	Enabled   bool

	Locked      bool
	LockReason  LockReason
	LockedUntil time.Time // zero: until an administrator unlocks

	PasswordHash       string   // PHC string; empty: no password
	PasswordImported   bool     // the hash came from another system and is rehashed at next success
	MustChangePassword bool     //
	PasswordHistory    []string // previous hashes, newest first (bounded by the caller's policy)
	PasswordFailures   int      // consecutive failed checks

	MFADevices []MFADevice
	Consents   []Consent
	Links      []LinkedAccount
	Roles      []RoleAssignment
}

// MFADevice is an MFA device record of a user.
type MFADevice struct {
	ID           string
	Type         MFADeviceType
	Name         string
	Email        string
	Phone        string
	SealedSecret string
	Active       bool
}

// Consent is a user's recorded consent to a purpose.
type Consent struct {
	ID      string
	Purpose string
	Version string
	Text    string
	Revoked bool
}

// LinkedAccount links a user to a subject of an external identity provider.
type LinkedAccount struct {
	ID               string
	IdentityProvider string
	Subject          string
}

// maxPasswordHistory bounds the hashes a user aggregate keeps (policies may ask for fewer).
const maxPasswordHistory = 24

// Apply folds one event payload into the state. Payloads of other aggregates are ignored.
func (u *User) Apply(event any) {
	switch e := event.(type) {
	case UserCreated:
		u.ID, u.EnvironmentID, u.PopulationID = e.UserID, e.EnvironmentID, e.PopulationID
		u.Profile, u.Custom, u.Enabled, u.Exists = e.Profile, e.Custom, e.Enabled, true
	case UserUpdated:
		u.Profile, u.Custom = e.Profile, e.Custom
	case UserDeleted:
		u.Exists, u.Deleted = false, true
	case UserForgotten:
		// Personal data decodes as zero values once the key is gone; drop what this state
		// still holds of it, as a replay after the erasure would.
		*u = User{ID: u.ID, EnvironmentID: u.EnvironmentID, PopulationID: u.PopulationID, Deleted: true, Forgotten: true, Roles: u.Roles}
	case UserEnabled:
		u.Enabled = true
	case UserDisabled:
		u.Enabled = false
	case UserLocked:
		u.Locked, u.LockReason, u.LockedUntil = true, e.Reason, e.Until
	case UserUnlocked:
		u.Locked, u.LockReason, u.LockedUntil, u.PasswordFailures = false, "", time.Time{}, 0
	case UserPopulationChanged:
		u.PopulationID = e.To
	case UserPasswordSet:
		if u.PasswordHash != "" {
			u.PasswordHistory = append([]string{u.PasswordHash}, u.PasswordHistory...)
			if len(u.PasswordHistory) > maxPasswordHistory {
				u.PasswordHistory = u.PasswordHistory[:maxPasswordHistory]
			}
		}
		u.PasswordHash, u.PasswordImported, u.MustChangePassword = e.Hash, e.Imported, e.MustChange
		u.PasswordFailures = 0
	case UserPasswordCheckFailed:
		u.PasswordFailures = e.Failures
	case UserPasswordCheckPassed:
		u.PasswordFailures = 0
	case UserPasswordRehashed:
		u.PasswordHash, u.PasswordImported = e.Hash, false
	case UserMFADeviceEnrolled:
		u.MFADevices = append(u.MFADevices, MFADevice{ID: e.DeviceID, Type: e.Type, Name: e.Name,
			Email: e.Email, Phone: e.Phone, SealedSecret: e.SealedSecret})
	case UserMFADeviceActivated:
		for i := range u.MFADevices {
			if u.MFADevices[i].ID == e.DeviceID {
				u.MFADevices[i].Active = true
			}
		}
	case UserMFADeviceRemoved:
		u.MFADevices = removeWhere(u.MFADevices, func(d MFADevice) bool { return d.ID == e.DeviceID })
	case UserConsentRecorded:
		u.Consents = append(u.Consents, Consent{ID: e.ConsentID, Purpose: e.Purpose, Version: e.Version, Text: e.Text})
	case UserConsentRevoked:
		for i := range u.Consents {
			if u.Consents[i].ID == e.ConsentID {
				u.Consents[i].Revoked = true
			}
		}
	case UserAccountLinked:
		u.Links = append(u.Links, LinkedAccount{ID: e.LinkID, IdentityProvider: e.IdentityProvider, Subject: e.Subject})
	case UserAccountUnlinked:
		u.Links = removeWhere(u.Links, func(l LinkedAccount) bool { return l.ID == e.LinkID })
	case UserRoleAssigned:
		u.Roles = append(u.Roles, e.Assignment)
	case UserRoleUnassigned:
		u.Roles = removeWhere(u.Roles, func(r RoleAssignment) bool { return r.ID == e.AssignmentID })
	}
}

// removeWhere returns s without the elements for which drop holds (s is reused).
func removeWhere[T any](s []T, drop func(T) bool) []T {
	out := s[:0]
	for _, v := range s {
		if !drop(v) {
			out = append(out, v)
		}
	}
	return out
}
