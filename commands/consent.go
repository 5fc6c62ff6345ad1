package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// RecordConsent records a user's consent to Purpose at Version, with the Text agreed to.
type RecordConsent struct {
	EnvironmentID string
	UserID        string
	Purpose       string
	Version       string
	Text          string
}

// ConsentResult is a consent after a command.
type ConsentResult struct {
	Consent  domain.Consent
	Position eventstore.Position
}

// RecordConsentHandler handles RecordConsent.
type RecordConsentHandler struct{ d *Deps }

// NewRecordConsent returns the handler of RecordConsent.
func NewRecordConsent(d *Deps) *RecordConsentHandler { return &RecordConsentHandler{d: d} }

// Handle appends user.consent_recorded. A purpose and version the user has an active consent
// for appends nothing and returns that consent (zero Position).
func (h *RecordConsentHandler) Handle(ctx context.Context, in RecordConsent) (ConsentResult, error) {
	var out ConsentResult
	consentID := h.d.NewID()
	err := retryOnConflict(ctx, func() error {
		u, expected, err := h.d.loadUser(ctx, in.EnvironmentID, in.UserID)
		if err != nil {
			return err
		}
		ev, id, changed, err := u.RecordConsent(consentID, in.Purpose, in.Version, in.Text)
		if err != nil {
			return err
		}
		if changed {
			if out.Position, err = h.d.appendEvents(ctx, domain.StreamName(domain.CategoryUser, u.ID), expected, u.EnvironmentID, u, ev); err != nil {
				return err
			}
		}
		out.Consent = consentOf(u, id)
		return nil
	})
	if err != nil {
		return ConsentResult{}, fmt.Errorf("record consent of user %s: %w", in.UserID, err)
	}
	return out, nil
}

// RevokeConsent revokes a consent.
type RevokeConsent struct {
	EnvironmentID string
	UserID        string
	ConsentID     string
}

// RevokeConsentHandler handles RevokeConsent.
type RevokeConsentHandler struct{ d *Deps }

// NewRevokeConsent returns the handler of RevokeConsent.
func NewRevokeConsent(d *Deps) *RevokeConsentHandler { return &RevokeConsentHandler{d: d} }

// Handle appends user.consent_revoked; a revoked consent appends nothing (zero Position), an
// unknown one is ErrNotFound.
func (h *RevokeConsentHandler) Handle(ctx context.Context, in RevokeConsent) (ConsentResult, error) {
	var out ConsentResult
	err := retryOnConflict(ctx, func() error {
		u, expected, err := h.d.loadUser(ctx, in.EnvironmentID, in.UserID)
		if err != nil {
			return err
		}
		ev, changed, err := u.RevokeConsent(in.ConsentID)
		if err != nil {
			return err
		}
		if changed {
			if out.Position, err = h.d.appendEvents(ctx, domain.StreamName(domain.CategoryUser, u.ID), expected, u.EnvironmentID, u, ev); err != nil {
				return err
			}
		}
		out.Consent = consentOf(u, in.ConsentID)
		return nil
	})
	if err != nil {
		return ConsentResult{}, fmt.Errorf("revoke consent %s: %w", in.ConsentID, err)
	}
	return out, nil
}

func consentOf(u *domain.User, id string) domain.Consent {
	for _, c := range u.Consents {
		if c.ID == id {
			return c
		}
	}
	return domain.Consent{}
}
