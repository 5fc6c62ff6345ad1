package projections

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/idstream/idstream/domain"
)

// userEventIDs returns the environment and user of a user event; ok is false for other payloads.
func userEventIDs(payload any) (env, user string, ok bool) {
	switch e := payload.(type) {
	case domain.UserCreated:
		return e.EnvironmentID, e.UserID, true
	case *userCreated:
		return e.EnvironmentID, e.u.ID, true
	case domain.UserUpdated:
		return e.EnvironmentID, e.UserID, true
	case domain.UserDeleted:
		return e.EnvironmentID, e.UserID, true
	case domain.UserEnabled:
		return e.EnvironmentID, e.UserID, true
	case domain.UserDisabled:
		return e.EnvironmentID, e.UserID, true
	case domain.UserLocked:
		return e.EnvironmentID, e.UserID, true
	case domain.UserUnlocked:
		return e.EnvironmentID, e.UserID, true
	case domain.UserPopulationChanged:
		return e.EnvironmentID, e.UserID, true
	case domain.UserPasswordSet:
		return e.EnvironmentID, e.UserID, true
	case domain.UserPasswordCheckFailed:
		return e.EnvironmentID, e.UserID, true
	case domain.UserPasswordCheckPassed:
		return e.EnvironmentID, e.UserID, true
	case domain.UserPasswordRehashed:
		return e.EnvironmentID, e.UserID, true
	case domain.UserMFADeviceEnrolled:
		return e.EnvironmentID, e.UserID, true
	case domain.UserMFADeviceActivated:
		return e.EnvironmentID, e.UserID, true
	case domain.UserMFADeviceRemoved:
		return e.EnvironmentID, e.UserID, true
	case domain.UserConsentRecorded:
		return e.EnvironmentID, e.UserID, true
	case domain.UserConsentRevoked:
		return e.EnvironmentID, e.UserID, true
	case domain.UserAccountLinked:
		return e.EnvironmentID, e.UserID, true
	case domain.UserAccountUnlinked:
		return e.EnvironmentID, e.UserID, true
	case domain.UserRoleAssigned:
		return e.EnvironmentID, e.UserID, true
	case domain.UserRoleUnassigned:
		return e.EnvironmentID, e.UserID, true
	case domain.UserForgotten:
		return e.EnvironmentID, e.UserID, true
	}
	return "", "", false
}

// applyUser folds a user event; erased says its personal data decoded as erased.
func (d *Directory) applyUser(payload any, at time.Time, erased bool) {
	envID, userID, ok := userEventIDs(payload)
	if !ok {
		return
	}
	s := d.env(envID)
	if s == nil {
		return
	}
	switch e := payload.(type) {
	case domain.UserCreated:
		if s.users[userID] == nil && s.erased[userID] == nil {
			s.insert(&userSlot{id: e.UserID, u: &User{ID: e.UserID, Profile: e.Profile, Custom: s.customValues(e.Custom), Enabled: e.Enabled, Erased: erased}},
				e.PopulationID, at)
		}
		return
	case domain.UserForgotten:
		if s.erased[userID] != nil {
			return
		}
		stub := &User{ID: userID, EnvironmentID: envID, UpdatedAt: at, Erased: true}
		if slot := s.users[userID]; slot != nil {
			stub.PopulationID, stub.CreatedAt = slot.u.PopulationID, slot.u.CreatedAt
			s.removeUser(slot)
		}
		s.erased[userID] = stub
		return
	case *userCreated:
		if s.users[userID] == nil {
			s.insert(&userSlot{id: e.u.ID, u: e.u}, e.PopulationID, at)
		}
		return
	}
	slot := s.users[userID]
	if slot == nil {
		return
	}
	if _, ok := payload.(domain.UserDeleted); ok {
		s.removeUser(slot)
		return
	}
	nu := *slot.u
	nu.UpdatedAt = at
	switch e := payload.(type) {
	case domain.UserUpdated:
		nu.Profile, nu.Custom = e.Profile, s.customValues(e.Custom)
	case domain.UserEnabled:
		nu.Enabled = true
	case domain.UserDisabled:
		nu.Enabled = false
	case domain.UserLocked:
		nu.Locked, nu.LockReason, nu.LockedUntil = true, e.Reason, e.Until
	case domain.UserUnlocked:
		nu.Locked, nu.LockReason, nu.LockedUntil, nu.PasswordFailures = false, "", time.Time{}, 0
	case domain.UserPopulationChanged:
		nu.PopulationID = s.internPop(e.To)
	case domain.UserPasswordSet:
		nu.HasPassword, nu.MustChangePassword, nu.PasswordFailures = e.Hash != "", e.MustChange, 0
	case domain.UserPasswordCheckFailed:
		nu.PasswordFailures = e.Failures
	case domain.UserPasswordCheckPassed:
		nu.PasswordFailures = 0
	case domain.UserPasswordRehashed:
		nu.HasPassword = e.Hash != ""
	case domain.UserMFADeviceEnrolled:
		nu.MFADevices = append(cloneSlice(nu.MFADevices), MFADevice{ID: e.DeviceID, Type: e.Type, Name: e.Name, Email: e.Email, Phone: e.Phone})
	case domain.UserMFADeviceActivated:
		nu.MFADevices = cloneSlice(nu.MFADevices)
		for i := range nu.MFADevices {
			if nu.MFADevices[i].ID == e.DeviceID {
				nu.MFADevices[i].Active = true
			}
		}
	case domain.UserMFADeviceRemoved:
		nu.MFADevices = without(nu.MFADevices, func(m MFADevice) bool { return m.ID == e.DeviceID })
	case domain.UserConsentRecorded:
		nu.Consents = append(cloneSlice(nu.Consents), domain.Consent{ID: e.ConsentID, Purpose: e.Purpose, Version: e.Version, Text: e.Text})
	case domain.UserConsentRevoked:
		nu.Consents = cloneSlice(nu.Consents)
		for i := range nu.Consents {
			if nu.Consents[i].ID == e.ConsentID {
				nu.Consents[i].Revoked = true
			}
		}
	case domain.UserAccountLinked:
		nu.LinkedAccounts = append(cloneSlice(nu.LinkedAccounts), domain.LinkedAccount{ID: e.LinkID, IdentityProvider: e.IdentityProvider, Subject: e.Subject})
	case domain.UserAccountUnlinked:
		nu.LinkedAccounts = without(nu.LinkedAccounts, func(l domain.LinkedAccount) bool { return l.ID == e.LinkID })
	case domain.UserRoleAssigned:
		nu.Roles = append(cloneSlice(nu.Roles), e.Assignment)
	case domain.UserRoleUnassigned:
		nu.Roles = withoutRole(nu.Roles, e.AssignmentID)
	}
	if erased {
		nu.Erased = true
	}
	s.replace(slot, &nu)
}

func cloneSlice[T any](s []T) []T { return append([]T(nil), s...) }

func without[T any](s []T, drop func(T) bool) []T {
	var out []T
	for _, v := range s {
		if !drop(v) {
			out = append(out, v)
		}
	}
	return out
}

// internPop returns the population ID sharing the population's own string, so that a million
// users of one population hold one copy of its ID.
func (s *envState) internPop(id string) string {
	if p := s.pops[id]; p != nil {
		return p.p.ID
	}
	return id
}

// customValues converts a payload's custom values into a sorted slice, sharing the schema's
// attribute names.
func (s *envState) customValues(m domain.CustomValues) []CustomValue {
	if len(m) == 0 {
		return nil
	}
	out := make([]CustomValue, 0, len(m))
	for name, v := range m {
		for _, def := range s.schema {
			if def.Name == name {
				name = def.Name
				break
			}
		}
		out = append(out, CustomValue{Name: name, Value: json.RawMessage(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func lowerKey(v string) string { return strings.ToLower(v) }

// index adds (add true) or removes a user's entries in the username, email and external ID
// indexes, the population lists and the attribute counts.
func (s *envState) index(slot *userSlot, u *User, add bool) {
	for _, ix := range [...]struct {
		m map[string]*userSlot
		v string
	}{{s.byName, u.Profile.Username}, {s.byEmail, u.Profile.Email}, {s.byExtID, u.Profile.ExternalID}} {
		if ix.v == "" {
			continue
		}
		k := lowerKey(ix.v)
		cur, taken := ix.m[k]
		switch {
		case add && taken && cur != slot:
			s.clashes++
		case add:
			ix.m[k] = slot
		case cur == slot:
			delete(ix.m, k)
		}
	}
	if p := s.pops[u.PopulationID]; p != nil {
		if add {
			p.users.insert(slot)
		} else {
			p.users.remove(slot.id)
		}
	}
	for _, c := range u.Custom {
		if add {
			s.attrUse[lowerKey(c.Name)]++
		} else if s.attrUse[lowerKey(c.Name)]--; s.attrUse[lowerKey(c.Name)] <= 0 {
			delete(s.attrUse, lowerKey(c.Name))
		}
	}
}

// insert adds a user created at at into population pop; slot.u is not shared yet: insert sets
// its environment, population and times.
func (s *envState) insert(slot *userSlot, pop string, at time.Time) {
	u := slot.u
	u.EnvironmentID, u.PopulationID, u.CreatedAt, u.UpdatedAt = s.env.ID, s.internPop(pop), at, at
	s.users[slot.id] = slot
	s.all.insert(slot)
	s.index(slot, slot.u, true)
	for _, g := range s.dynamic {
		if g.match != nil && g.match(slot.u) {
			g.dynamic[slot.id] = struct{}{}
		}
	}
}

// replace installs nu as slot's user, keeping indexes and dynamic groups current.
func (s *envState) replace(slot *userSlot, nu *User) {
	old := slot.u
	indexed := old.Profile.Username != nu.Profile.Username || old.Profile.Email != nu.Profile.Email ||
		old.Profile.ExternalID != nu.Profile.ExternalID || old.PopulationID != nu.PopulationID ||
		!sameCustomNames(old.Custom, nu.Custom)
	if indexed {
		s.index(slot, old, false)
	}
	slot.u = nu
	if indexed {
		s.index(slot, nu, true)
	}
	for _, g := range s.dynamic {
		if g.match == nil {
			continue
		}
		if g.match(nu) {
			g.dynamic[slot.id] = struct{}{}
		} else {
			delete(g.dynamic, slot.id)
		}
	}
}

func sameCustomNames(a, b []CustomValue) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}

func (s *envState) removeUser(slot *userSlot) {
	s.index(slot, slot.u, false)
	s.all.remove(slot.id)
	delete(s.users, slot.id)
	for _, gid := range s.inGroups[slot.id] {
		if g := s.groups[gid]; g != nil {
			delete(g.direct, slot.id)
		}
	}
	delete(s.inGroups, slot.id)
	for _, g := range s.dynamic {
		delete(g.dynamic, slot.id)
	}
}
