package commands

import (
	"context"
	"errors"
	"testing"

	"github.com/idstream/idstream/domain"
)

func TestLinkAccountUniquePerEnvironment(t *testing.T) {
	f := newCredFixture(t, domain.DefaultPasswordPolicy())
	ctx := context.Background()
	bob := f.d.NewID()
	f.given(t, domain.StreamName(domain.CategoryUser, bob),
		domain.UserCreated{EnvironmentID: f.env, UserID: bob, Profile: domain.Profile{Username: "bob"}, Enabled: true})

	link := LinkAccount{EnvironmentID: f.env, UserID: f.user, IdentityProvider: "google", Subject: "1234"}
	res, err := f.creds.LinkAccount.Handle(ctx, link)
	if err != nil || res.Link.ID == "" || res.Position.IsZero() {
		t.Fatalf("link: %+v %v", res, err)
	}
	if again, err := f.creds.LinkAccount.Handle(ctx, link); err != nil || again.Link.ID != res.Link.ID || !again.Position.IsZero() {
		t.Fatalf("link again: %+v %v", again, err)
	}
	toBob := LinkAccount{EnvironmentID: f.env, UserID: bob, IdentityProvider: "google", Subject: "1234"}
	if _, err := f.creds.LinkAccount.Handle(ctx, toBob); !errors.Is(err, domain.ErrConflict) || fieldOf(err) != "subject" {
		t.Fatalf("same pair for another user: %v", err)
	}
	if _, err := f.creds.LinkAccount.Handle(ctx, LinkAccount{EnvironmentID: f.env, UserID: bob, IdentityProvider: "google"}); fieldOf(err) != "subject" {
		t.Fatalf("no subject: %v", err)
	}

	if _, err := f.creds.UnlinkAccount.Handle(ctx, UnlinkAccount{EnvironmentID: f.env, UserID: f.user, LinkID: res.Link.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.creds.UnlinkAccount.Handle(ctx, UnlinkAccount{EnvironmentID: f.env, UserID: f.user, LinkID: res.Link.ID}); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unlink twice: %v", err)
	}
	bobs, err := f.creds.LinkAccount.Handle(ctx, toBob)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}

	// releaseLinks frees the pairs of a user that goes away.
	u, _, err := f.d.loadUser(ctx, f.env, bob)
	if err != nil || len(u.Links) != 1 || u.Links[0].ID != bobs.Link.ID {
		t.Fatalf("bob %+v %v", u, err)
	}
	f.given(t, domain.StreamName(domain.CategoryUser, bob), domain.UserDeleted{EnvironmentID: f.env, UserID: bob})
	if err := f.d.releaseLinks(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := f.creds.LinkAccount.Handle(ctx, link); err != nil {
		t.Fatalf("after bob's deletion: %v", err)
	}
}

func TestConsents(t *testing.T) {
	f := newCredFixture(t, domain.DefaultPasswordPolicy())
	ctx := context.Background()
	rec := RecordConsent{EnvironmentID: f.env, UserID: f.user, Purpose: "marketing", Version: "2026-01", Text: "We may email you."}
	res, err := f.creds.RecordConsent.Handle(ctx, rec)
	if err != nil || res.Consent.ID == "" || res.Consent.Purpose != "marketing" || res.Position.IsZero() {
		t.Fatalf("record: %+v %v", res, err)
	}
	if again, err := f.creds.RecordConsent.Handle(ctx, rec); err != nil || again.Consent.ID != res.Consent.ID || !again.Position.IsZero() {
		t.Fatalf("record again: %+v %v", again, err)
	}
	rev, err := f.creds.RevokeConsent.Handle(ctx, RevokeConsent{EnvironmentID: f.env, UserID: f.user, ConsentID: res.Consent.ID})
	if err != nil || !rev.Consent.Revoked || rev.Position.IsZero() {
		t.Fatalf("revoke: %+v %v", rev, err)
	}
	if _, err := f.creds.RevokeConsent.Handle(ctx, RevokeConsent{EnvironmentID: f.env, UserID: f.user, ConsentID: f.d.NewID()}); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown consent: %v", err)
	}
	if next, err := f.creds.RecordConsent.Handle(ctx, rec); err != nil || next.Consent.ID == res.Consent.ID {
		t.Fatalf("record after revoke: %+v %v", next, err)
	}
	if _, err := f.creds.RecordConsent.Handle(ctx, RecordConsent{EnvironmentID: f.env, UserID: f.user}); fieldOf(err) != "purpose" {
		t.Fatalf("no purpose: %v", err)
	}
	var kinds []string
	for _, e := range f.userEvents(t)[1:] {
		switch e.(type) {
		case domain.UserConsentRecorded:
			kinds = append(kinds, "recorded")
		case domain.UserConsentRevoked:
			kinds = append(kinds, "revoked")
		}
	}
	if len(kinds) != 3 || kinds[0] != "recorded" || kinds[1] != "revoked" || kinds[2] != "recorded" {
		t.Fatalf("events %v", kinds)
	}
}
