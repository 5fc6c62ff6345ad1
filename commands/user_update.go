package commands

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/idstream/idstream/domain"
)

// UpdateUser replaces a user's whole profile and custom attributes.
type UpdateUser struct {
	EnvironmentID string
	UserID        string
	Profile       domain.Profile
	Custom        domain.CustomValues
}

// UpdateUserHandler handles UpdateUser.
type UpdateUserHandler struct{ d *Deps }

// NewUpdateUser returns the handler of UpdateUser.
func NewUpdateUser(d *Deps) *UpdateUserHandler { return &UpdateUserHandler{d: d} }

// Handle validates the new profile and custom values (stored custom values left as they are are
// grandfathered), claims changed unique values, appends user.updated and releases the values
// given up. No change appends nothing (zero Position); a concurrent change of the user is
// ErrConflict.
func (h *UpdateUserHandler) Handle(ctx context.Context, in UpdateUser) (Committed, error) {
	return h.d.updateUser(ctx, in.EnvironmentID, in.UserID, func(*domain.User, *domain.Schema) (domain.Profile, domain.CustomValues, error) {
		return in.Profile, in.Custom, nil
	})
}

// PatchUser changes only the attributes it names. Profile maps canonical core attribute paths
// ("email", "name.given", "address.countryCode"; see domain.CoreAttributePaths) to their new
// value, "" clearing one; Custom maps custom attribute names to their new JSON value, a JSON
// null removing one.
type PatchUser struct {
	EnvironmentID string
	UserID        string
	Profile       map[string]string
	Custom        domain.CustomValues
}

// PatchUserHandler handles PatchUser.
type PatchUserHandler struct{ d *Deps }

// NewPatchUser returns the handler of PatchUser.
func NewPatchUser(d *Deps) *PatchUserHandler { return &PatchUserHandler{d: d} }

// Handle applies the patch to the stored user and proceeds as UpdateUser. An unknown profile
// path is ErrInvalid on "profile.<path>".
func (h *PatchUserHandler) Handle(ctx context.Context, in PatchUser) (Committed, error) {
	return h.d.updateUser(ctx, in.EnvironmentID, in.UserID, func(u *domain.User, s *domain.Schema) (domain.Profile, domain.CustomValues, error) {
		p := u.Profile
		var errs []error
		for _, path := range slices.Sorted(maps.Keys(in.Profile)) {
			if !p.SetCoreValue(path, in.Profile[path]) {
				errs = append(errs, domain.Invalidf("profile."+path, "is not a core attribute path"))
			}
		}
		custom := s.KnownOnly(u.Custom) // values of removed attributes are gone
		maps.Copy(custom, in.Custom)    // nulls are dropped by normalization
		return p, custom, errors.Join(errs...)
	})
}

// updateUser loads the user, asks change for the new profile and custom values, decides, and
// appends with the user's expected revision, moving reservations of changed unique values.
func (d *Deps) updateUser(ctx context.Context, envID, userID string,
	change func(*domain.User, *domain.Schema) (domain.Profile, domain.CustomValues, error)) (Committed, error) {
	env, _, err := d.loadEnvironment(ctx, envID)
	if err != nil {
		return Committed{}, fmt.Errorf("update user: %w", err)
	}
	schema, _, err := d.loadSchema(ctx, env.ID)
	if err != nil {
		return Committed{}, fmt.Errorf("update user: %w", err)
	}
	u, expected, err := d.loadUser(ctx, env.ID, userID)
	if err != nil {
		return Committed{}, fmt.Errorf("update user: %w", err)
	}
	profile, custom, perr := change(u, schema)
	profile = domain.NormalizeProfile(profile)
	custom, cerr := domain.NormalizeCustom(custom)
	events, err := u.Update(profile, custom, schema)
	if err := errors.Join(perr, cerr, err); err != nil || len(events) == 0 {
		return Committed{}, wrapOp("update user "+userID, err)
	}
	oldClaims := userClaims(u.Profile, u.Custom, schema)
	newClaims := userClaims(profile, custom, schema)
	gained, lost := diffClaims(oldClaims, newClaims), diffClaims(newClaims, oldClaims)
	stream := domain.StreamName(domain.CategoryUser, u.ID)
	if len(gained) > 0 {
		if err := d.claimAll(ctx, env.ID, stream, gained); err != nil {
			return Committed{}, fmt.Errorf("update user %s: %w", userID, err)
		}
	}
	pos, err := d.appendEvents(ctx, stream, expected, env.ID, u, events...)
	if err != nil {
		d.releaseAll(context.WithoutCancel(ctx), env.ID, stream, gained)
		return Committed{}, fmt.Errorf("update user %s: %w", userID, err)
	}
	if err := d.releaseAll(ctx, env.ID, stream, lost); err != nil {
		return Committed{Position: pos}, fmt.Errorf("update user %s: committed, but releasing values given up: %w", userID, err)
	}
	return Committed{Position: pos}, nil
}

// diffClaims returns the claims of b that a does not hold (same kind, same normalized value).
func diffClaims(a, b []uniqueClaim) []uniqueClaim {
	held := map[string]string{}
	for _, c := range a {
		held[c.kind] = NormalizeUnique(c.value)
	}
	var out []uniqueClaim
	for _, c := range b {
		if v, ok := held[c.kind]; !ok || v != NormalizeUnique(c.value) {
			out = append(out, c)
		}
	}
	return out
}
