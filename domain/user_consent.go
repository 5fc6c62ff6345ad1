package domain

import (
	"strings"
	"unicode/utf8"
)

const (
	maxConsentPurpose = 200
	maxConsentVersion = 64
	maxConsentText    = 10000
)

// RecordConsent records the user's consent to purpose at version, with the text they agreed
// to. Recording a purpose and version the user has an active (unrevoked) consent for changes
// nothing: ok is false and existing is that consent's ID.
func (u *User) RecordConsent(consentID, purpose, version, text string) (ev UserConsentRecorded, existing string, ok bool, err error) {
	if !u.Exists {
		return ev, "", false, NotFoundf("user %s", u.ID)
	}
	purpose, version = strings.TrimSpace(purpose), strings.TrimSpace(version)
	var errs []error
	if purpose == "" {
		errs = append(errs, Invalidf("purpose", "is required"))
	} else if utf8.RuneCountInString(purpose) > maxConsentPurpose {
		errs = append(errs, Invalidf("purpose", "must be at most %d characters", maxConsentPurpose))
	}
	if utf8.RuneCountInString(version) > maxConsentVersion {
		errs = append(errs, Invalidf("version", "must be at most %d characters", maxConsentVersion))
	}
	if utf8.RuneCountInString(text) > maxConsentText {
		errs = append(errs, Invalidf("text", "must be at most %d characters", maxConsentText))
	}
	if len(errs) > 0 {
		return ev, "", false, FieldErrors(errs...)
	}
	for _, c := range u.Consents {
		if !c.Revoked && c.Purpose == purpose && c.Version == version {
			return ev, c.ID, false, nil
		}
	}
	return UserConsentRecorded{EnvironmentID: u.EnvironmentID, UserID: u.ID, ConsentID: consentID,
		Purpose: purpose, Version: version, Text: text}, consentID, true, nil
}

// RevokeConsent revokes consent id. ok is false when it is already revoked.
func (u *User) RevokeConsent(id string) (ev UserConsentRevoked, ok bool, err error) {
	for _, c := range u.Consents {
		if c.ID != id || !u.Exists {
			continue
		}
		if c.Revoked {
			return ev, false, nil
		}
		return UserConsentRevoked{EnvironmentID: u.EnvironmentID, UserID: u.ID, ConsentID: id}, true, nil
	}
	return ev, false, NotFoundf("consent %s of user %s", id, u.ID)
}
