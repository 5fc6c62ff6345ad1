package graph

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/graph/model"
	"github.com/idstream/idstream/projections"
)

// Conversions from read-model values to GraphQL models. Empty strings become null.

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func toEnvironment(e *projections.Environment) *model.Environment {
	policy := e.PasswordPolicy
	return &model.Environment{ID: e.ID, Name: e.Name, DefaultPopulationID: e.DefaultPopulationID, PasswordPolicy: &policy}
}

func toPopulation(p *projections.Population) *model.Population {
	return &model.Population{ID: p.ID, EnvironmentID: p.EnvironmentID, Name: p.Name, Description: optString(p.Description),
		UserCount: p.UserCount}
}

func toAttribute(a domain.AttributeDef) *model.SchemaAttribute {
	out := &model.SchemaAttribute{Name: a.Name, DisplayName: optString(a.DisplayName), Description: optString(a.Description),
		Type: model.AttributeType(a.Type), Required: a.Required, Unique: a.Unique, MultiValued: a.MultiValued,
		Enum: a.Enum, Regex: optString(a.Regex)}
	if a.MaxLength > 0 {
		n := a.MaxLength
		out.MaxLength = &n
	}
	return out
}

func toRoles(rs []domain.RoleAssignment) []*model.RoleAssignment {
	out := make([]*model.RoleAssignment, len(rs))
	for i, r := range rs {
		out[i] = &model.RoleAssignment{ID: r.ID, Role: model.Role(r.Role), EnvironmentID: optString(r.EnvironmentID),
			PopulationID: optString(r.PopulationID)}
	}
	return out
}

func toUser(u *projections.User) *model.User {
	p := &u.Profile
	custom := make(map[string]json.RawMessage, len(u.Custom))
	for _, c := range u.Custom {
		custom[c.Name] = c.Value
	}
	customJSON, _ := json.Marshal(custom) // raw messages from the log are valid JSON
	out := &model.User{
		ID: u.ID, EnvironmentID: u.EnvironmentID, PopulationID: u.PopulationID,
		Username: p.Username, Email: optString(p.Email), Name: &p.Name, Nickname: optString(p.Nickname),
		Title: optString(p.Title), PreferredLanguage: optString(p.PreferredLanguage), Locale: optString(p.Locale),
		Timezone: optString(p.Timezone), PrimaryPhone: optString(p.PrimaryPhone), MobilePhone: optString(p.MobilePhone),
		Address: &p.Address, ExternalID: optString(p.ExternalID), AccountID: optString(p.AccountID),
		Type: optString(p.Type), Photo: optString(p.Photo), CustomAttributes: model.JSON(customJSON),
		Enabled: u.Enabled, Locked: u.Locked, LockedUntil: optTime(u.LockedUntil),
		HasPassword: u.HasPassword, MustChangePassword: u.MustChangePassword,
		Roles: toRoles(u.Roles), Erased: u.Erased,
	}
	if u.Locked && u.LockReason != "" {
		r := model.LockReason(u.LockReason)
		out.LockReason = &r
	}
	out.MfaDevices = make([]*model.MfaDevice, len(u.MFADevices))
	for i, d := range u.MFADevices {
		out.MfaDevices[i] = toMFADevice(d)
	}
	out.Consents = make([]*model.Consent, len(u.Consents))
	for i, c := range u.Consents {
		out.Consents[i] = toConsent(c)
	}
	out.LinkedAccounts = make([]*model.LinkedAccount, len(u.LinkedAccounts))
	for i, l := range u.LinkedAccounts {
		out.LinkedAccounts[i] = &model.LinkedAccount{ID: l.ID, IdentityProvider: l.IdentityProvider, Subject: l.Subject}
	}
	return out
}

func toMFADevice(d projections.MFADevice) *model.MfaDevice {
	return &model.MfaDevice{ID: d.ID, Type: model.MfaDeviceType(d.Type), Name: optString(d.Name), Email: optString(d.Email),
		Phone: optString(d.Phone), Active: d.Active}
}

func toConsent(c domain.Consent) *model.Consent {
	return &model.Consent{ID: c.ID, Purpose: c.Purpose, Version: optString(c.Version), Text: optString(c.Text), Revoked: c.Revoked}
}

func toGroup(g *projections.Group) *model.Group {
	return &model.Group{ID: g.ID, EnvironmentID: g.EnvironmentID, Name: g.Name, Description: optString(g.Description),
		Kind: model.GroupKind(g.Kind), Filter: optString(g.Filter), Roles: toRoles(g.Roles)}
}

func toAPIClient(c *projections.APIClient) *model.APIClient {
	return &model.APIClient{ID: c.ID, EnvironmentID: optString(c.EnvironmentID), Name: c.Name, Roles: toRoles(c.Roles)}
}

// cursorOf is the Relay cursor of a list element: the read model's page cursors are the
// unpadded URL-safe base64 of the element's ID (projections' EndCursor), so any edge's cursor
// can be passed as after.
func cursorOf(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

func toDomainMFADevice(d domain.MFADevice) *model.MfaDevice {
	return &model.MfaDevice{ID: d.ID, Type: model.MfaDeviceType(d.Type), Name: optString(d.Name), Email: optString(d.Email),
		Phone: optString(d.Phone), Active: d.Active}
}
