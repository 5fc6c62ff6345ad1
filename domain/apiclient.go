package domain

import (
	"fmt"
	"time"
)

// APIClient is the API client aggregate, folded from apiclient-<id>. An API client
// authenticates with bearer tokens, of which the log keeps only SHA-256 digests.
type APIClient struct {
	ID            string
	EnvironmentID string // empty: organization-wide
	Name          string
	Roles         []RoleAssignment
	Tokens        []APIToken
	Exists        bool // created and not deleted
	Deleted       bool
}

// APIToken is a token issued to an API client.
type APIToken struct {
	ID        string
	SHA256    string // hex
	ExpiresAt time.Time
	Revoked   bool
}

// Apply folds one event payload into the state.
func (c *APIClient) Apply(event any) {
	switch ev := event.(type) {
	case APIClientCreated:
		c.ID, c.EnvironmentID, c.Name, c.Exists = ev.ClientID, ev.EnvironmentID, ev.Name, true
		c.Roles = append([]RoleAssignment(nil), ev.Roles...)
	case APIClientDeleted:
		c.Exists, c.Deleted = false, true
	case APIClientTokenIssued:
		c.Tokens = append(c.Tokens, APIToken{ID: ev.TokenID, SHA256: ev.SHA256, ExpiresAt: ev.ExpiresAt})
	case APIClientTokenRevoked:
		for i := range c.Tokens {
			if c.Tokens[i].ID == ev.TokenID {
				c.Tokens[i].Revoked = true
			}
		}
	case APIClientRoleAssigned:
		c.Roles = append(c.Roles, ev.Assignment)
	case APIClientRoleUnassigned:
		c.Roles = removeWhere(c.Roles, func(r RoleAssignment) bool { return r.ID == ev.AssignmentID })
	}
}

// ValidateRoleAssignment checks an assignment's shape: a built-in role, and a population only
// within an environment. field prefixes the error paths ("roles[0]" gives "roles[0].role").
// Whether the environment and population exist is the caller's to check.
func ValidateRoleAssignment(field string, a RoleAssignment) error {
	var errs []error
	if !IsRole(a.Role) {
		errs = append(errs, Invalidf(join(field, "role"), "%q is not a role (want one of %v)", a.Role, Roles))
	}
	if a.PopulationID != "" && a.EnvironmentID == "" {
		errs = append(errs, Invalidf(join(field, "populationId"), "a population scope needs an environment"))
	}
	return FieldErrors(errs...)
}

func join(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + "." + field
}

// NewAPIClient decides the creation of client id in environment env ("" for an
// organization-wide client) with roles (IDs assigned by the caller). An environment-scoped
// client's roles must name its environment.
func NewAPIClient(env, id, name string, roles []RoleAssignment) (APIClientCreated, error) {
	name, err := ValidateName("name", name)
	errs := []error{err}
	for i, r := range roles {
		f := fmt.Sprintf("roles[%d]", i)
		errs = append(errs, ValidateRoleAssignment(f, r))
		if env != "" && r.EnvironmentID != env {
			errs = append(errs, Invalidf(f+".environmentId", "a client of environment %s can hold roles of that environment only", env))
		}
	}
	if err := FieldErrors(errs...); err != nil {
		return APIClientCreated{}, err
	}
	return APIClientCreated{EnvironmentID: env, ClientID: id, Name: name, Roles: append([]RoleAssignment(nil), roles...)}, nil
}

// IssueToken decides issuing token tokenID whose SHA-256 digest (hex) is sha. expiresAt is zero
// (no expiry) or after now.
func (c *APIClient) IssueToken(tokenID, sha string, expiresAt, now time.Time) ([]any, error) {
	if !c.Exists {
		return nil, NotFoundf("API client %s", c.ID)
	}
	if !expiresAt.IsZero() && !expiresAt.After(now) {
		return nil, Invalidf("expiresAt", "must be in the future")
	}
	return []any{APIClientTokenIssued{EnvironmentID: c.EnvironmentID, ClientID: c.ID, TokenID: tokenID, SHA256: sha, ExpiresAt: expiresAt.UTC()}}, nil
}

// RevokeToken decides revoking token tokenID (ErrNotFound on "tokenId" when unknown); a token
// already revoked records nothing.
func (c *APIClient) RevokeToken(tokenID string) ([]any, error) {
	if !c.Exists {
		return nil, NotFoundf("API client %s", c.ID)
	}
	for _, t := range c.Tokens {
		if t.ID == tokenID {
			if t.Revoked {
				return nil, nil
			}
			return []any{APIClientTokenRevoked{EnvironmentID: c.EnvironmentID, ClientID: c.ID, TokenID: tokenID}}, nil
		}
	}
	return nil, &FieldError{Field: "tokenId", Reason: "no such token", Kind: ErrNotFound}
}

// ValidToken returns the token whose digest is sha if it is neither revoked nor expired at now.
func (c *APIClient) ValidToken(sha string, now time.Time) (APIToken, bool) {
	if !c.Exists {
		return APIToken{}, false
	}
	for _, t := range c.Tokens {
		if t.SHA256 == sha && !t.Revoked && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt)) {
			return t, true
		}
	}
	return APIToken{}, false
}

// Delete decides the deletion of the client: its tokens stop authenticating.
func (c *APIClient) Delete() ([]any, error) {
	if !c.Exists {
		return nil, NotFoundf("API client %s", c.ID)
	}
	return []any{APIClientDeleted{EnvironmentID: c.EnvironmentID, ClientID: c.ID}}, nil
}

// AssignRole decides granting a (validated) assignment; an environment-scoped client accepts
// only assignments of its environment (ErrInvalid on "environmentId").
func (c *APIClient) AssignRole(a RoleAssignment) ([]any, error) {
	if !c.Exists {
		return nil, NotFoundf("API client %s", c.ID)
	}
	if c.EnvironmentID != "" && a.EnvironmentID != c.EnvironmentID {
		return nil, Invalidf("environmentId", "a client of environment %s can hold roles of that environment only", c.EnvironmentID)
	}
	return []any{APIClientRoleAssigned{EnvironmentID: c.EnvironmentID, ClientID: c.ID, Assignment: a}}, nil
}

// UnassignRole decides withdrawing assignment id (ErrNotFound on "assignmentId" when unknown).
func (c *APIClient) UnassignRole(id string) ([]any, error) {
	if !c.Exists {
		return nil, NotFoundf("API client %s", c.ID)
	}
	if !hasAssignment(c.Roles, id) {
		return nil, &FieldError{Field: "assignmentId", Reason: "no such role assignment", Kind: ErrNotFound}
	}
	return []any{APIClientRoleUnassigned{EnvironmentID: c.EnvironmentID, ClientID: c.ID, AssignmentID: id}}, nil
}
