package domain

import (
	"strings"
	"unicode/utf8"
)

const maxLinkField = 255

// LinkedAccountValue is the value reserved (kind UniqueLinkedAcct) for a link to subject of
// provider: a (provider, subject) pair is linked to at most one user per environment.
func LinkedAccountValue(provider, subject string) string { return provider + "\n" + subject }

// LinkAccount links the user to subject of identity provider provider. A pair the user already
// has changes nothing: ok is false and existing is that link's ID. The caller claims the pair's
// reservation first.
func (u *User) LinkAccount(linkID, provider, subject string) (ev UserAccountLinked, existing string, ok bool, err error) {
	if !u.Exists {
		return ev, "", false, NotFoundf("user %s", u.ID)
	}
	provider, subject = strings.TrimSpace(provider), strings.TrimSpace(subject)
	var errs []error
	for _, f := range []struct{ name, v string }{{"identityProvider", provider}, {"subject", subject}} {
		switch {
		case f.v == "":
			errs = append(errs, Invalidf(f.name, "is required"))
		case utf8.RuneCountInString(f.v) > maxLinkField || strings.ContainsAny(f.v, "\n\r"):
			errs = append(errs, Invalidf(f.name, "must be one line of at most %d characters", maxLinkField))
		}
	}
	if len(errs) > 0 {
		return ev, "", false, FieldErrors(errs...)
	}
	if l, found := u.Link(provider, subject); found {
		return ev, l.ID, false, nil
	}
	return UserAccountLinked{EnvironmentID: u.EnvironmentID, UserID: u.ID, LinkID: linkID,
		IdentityProvider: provider, Subject: subject}, linkID, true, nil
}

// Link returns the user's link to subject of provider (compared as reservations compare them:
// case-insensitively).
func (u *User) Link(provider, subject string) (LinkedAccount, bool) {
	want := strings.ToLower(LinkedAccountValue(strings.TrimSpace(provider), strings.TrimSpace(subject)))
	for _, l := range u.Links {
		if strings.ToLower(LinkedAccountValue(l.IdentityProvider, l.Subject)) == want {
			return l, true
		}
	}
	return LinkedAccount{}, false
}

// UnlinkAccount removes link id; the caller releases its reservation after appending.
func (u *User) UnlinkAccount(id string) (UserAccountUnlinked, LinkedAccount, error) {
	for _, l := range u.Links {
		if l.ID == id && u.Exists {
			return UserAccountUnlinked{EnvironmentID: u.EnvironmentID, UserID: u.ID, LinkID: id}, l, nil
		}
	}
	return UserAccountUnlinked{}, LinkedAccount{}, NotFoundf("linked account %s of user %s", id, u.ID)
}
