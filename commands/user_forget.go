package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/idstream/idstream/domain"
)

// ForgetUser erases a user's personal data (the right to erasure): it destroys the user's
// subject key, so that every personal field of every event of the user — in the log, and so in
// read models, the audit trail, time travel and snapshots rebuilt from it — reads as erased from
// then on, while the rest of the log stays replayable; then it appends user.forgotten, which
// deletes the user if it still exists and tells every read model to drop what it holds; then it
// releases the values the user reserved.
//
// The key goes first: once it is destroyed no process can read the data again or load it into a
// cache, and a change racing with the erasure cannot record new personal data. An erasure
// interrupted before its event is appended completes when run again (the user then exists with
// its data erased); forgetting a forgotten user appends nothing (zero Position).
type ForgetUser UserRef

// ForgetUserHandler handles ForgetUser.
type ForgetUserHandler struct{ d *Deps }

// NewForgetUser returns the handler of ForgetUser.
func NewForgetUser(d *Deps) *ForgetUserHandler { return &ForgetUserHandler{d: d} }

// Handle forgets the user.
func (h *ForgetUserHandler) Handle(ctx context.Context, in ForgetUser) (Committed, error) {
	d := h.d
	if !d.Registry.SealsPersonalData() {
		return Committed{}, fmt.Errorf("forget user: %w: this server has no subject key store, so personal data cannot be erased", domain.ErrUnavailable)
	}
	env, _, err := d.loadEnvironment(ctx, in.EnvironmentID)
	if err != nil {
		return Committed{}, fmt.Errorf("forget user: %w", err)
	}
	schema, _, err := d.loadSchema(ctx, env.ID)
	if err != nil {
		return Committed{}, fmt.Errorf("forget user: %w", err)
	}
	if err := validID("userId", in.UserID); err != nil {
		return Committed{}, err
	}
	// What the user reserved is read before its key goes (after, its values read as empty).
	var claims []uniqueClaim
	var links domain.User
	for attempt := 0; ; attempt++ {
		u := &domain.User{}
		stream := domain.StreamName(domain.CategoryUser, in.UserID)
		expected, err := d.load(ctx, stream, u)
		if err != nil {
			return Committed{}, fmt.Errorf("forget user %s: %w", in.UserID, err)
		}
		if u.EnvironmentID != env.ID {
			return Committed{}, domain.NotFoundf("user %s", in.UserID)
		}
		if attempt == 0 {
			if u.Exists {
				claims = userClaims(u.Profile, u.Custom, schema)
			}
			links = *u
		}
		events, err := u.Forget()
		if err != nil {
			return Committed{}, fmt.Errorf("forget user %s: %w", u.ID, err)
		}
		if err := d.Registry.DestroySubject(ctx, u.ID); err != nil {
			return Committed{}, fmt.Errorf("forget user %s: %w", u.ID, err)
		}
		pos, err := d.appendEvents(ctx, stream, expected, env.ID, u, events...)
		if errors.Is(err, domain.ErrConflict) && attempt < maxAttempts {
			continue // changed meanwhile: forget what it holds now
		}
		if err != nil {
			return Committed{}, fmt.Errorf("forget user %s: its personal data is erased, but recording it failed (forget it again to finish): %w", u.ID, err)
		}
		if err := errors.Join(d.releaseAll(ctx, env.ID, stream, claims), d.releaseLinks(ctx, &links)); err != nil {
			return Committed{Position: pos}, fmt.Errorf("forget user %s: erased, but releasing its unique values: %w", u.ID, err)
		}
		return Committed{Position: pos}, nil
	}
}
