package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateProfile(t *testing.T) {
	tests := []struct {
		name string
		p    Profile
		want string
	}{
		{"minimal", Profile{Username: "ann"}, ""},
		{"full", Profile{Username: "ann.lee@acme", Email: "ann@example.com", Name: Name{Given: "Ann"}, Locale: "en-US",
			PreferredLanguage: "fr", Timezone: "America/Argentina/Buenos_Aires", Photo: "https://cdn.example.com/a.png",
			Address: Address{CountryCode: "fr"}}, ""},
		{"UTC timezone", Profile{Username: "a", Timezone: "UTC"}, ""},
		{"username required", Profile{}, "username"},
		{"username with space", Profile{Username: "ann lee"}, "username"},
		{"username too long", Profile{Username: strings.Repeat("a", 129)}, "username"},
		{"control character", Profile{Username: "a", Title: "x\ny"}, "title"},
		{"field too long", Profile{Username: "a", Nickname: strings.Repeat("é", 257)}, "nickname"},
		{"email display name", Profile{Username: "a", Email: "Ann <ann@example.com>"}, "email"},
		{"email without domain dot", Profile{Username: "a", Email: "ann@localhost"}, "email"},
		{"email garbage", Profile{Username: "a", Email: "ann"}, "email"},
		{"locale", Profile{Username: "a", Locale: "english"}, "locale"},
		{"timezone", Profile{Username: "a", Timezone: "Paris"}, "timezone"},
		{"photo scheme", Profile{Username: "a", Photo: "javascript:alert(1)"}, "photo"},
		{"country", Profile{Username: "a", Address: Address{CountryCode: "FRA"}}, "address.countryCode"},
		{"several", Profile{Username: "", Email: "x", Address: Address{CountryCode: "1"}}, "username,email,address.countryCode"},
	}
	for _, tt := range tests {
		err := ValidateProfile(NormalizeProfile(tt.p))
		if got := strings.Join(fields(err), ","); got != tt.want {
			t.Errorf("%s: fields %q, want %q (%v)", tt.name, got, tt.want, err)
		}
	}
}

func TestUserDecisions(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	u := &User{}
	created, err := NewUser("e", "u1", "p1", Profile{Username: "ann"}, nil, true, &Schema{})
	if err != nil {
		t.Fatal(err)
	}
	u.Apply(created)
	pop := &Population{ID: "p2", EnvironmentID: "e", Exists: true}
	steps := []struct {
		name   string
		decide func() ([]any, error)
		want   any
	}{
		{"enable enabled", u.Enable, nil},
		{"disable", u.Disable, UserDisabled{EnvironmentID: "e", UserID: "u1"}},
		{"lock", func() ([]any, error) { return u.LockByAdmin(time.Time{}, now) }, UserLocked{EnvironmentID: "e", UserID: "u1", Reason: LockAdmin}},
		{"lock locked", func() ([]any, error) { return u.LockByAdmin(time.Time{}, now) }, nil},
		{"lock until later", func() ([]any, error) { return u.LockByAdmin(now.Add(time.Hour), now) },
			UserLocked{EnvironmentID: "e", UserID: "u1", Reason: LockAdmin, Until: now.Add(time.Hour)}},
		{"unlock", u.UnlockByAdmin, UserUnlocked{EnvironmentID: "e", UserID: "u1", Reason: "ADMIN"}},
		{"move", func() ([]any, error) { return u.MoveTo(pop) }, UserPopulationChanged{EnvironmentID: "e", UserID: "u1", From: "p1", To: "p2"}},
		{"move same", func() ([]any, error) { return u.MoveTo(pop) }, nil},
		{"update same", func() ([]any, error) { return u.Update(Profile{Username: "ann"}, nil, &Schema{}) }, nil},
		{"delete", u.Delete, UserDeleted{EnvironmentID: "e", UserID: "u1"}},
	}
	if _, err := u.LockByAdmin(now.Add(-time.Second), now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a lock that ends in the past: %v, want ErrInvalid", err)
	}
	for _, s := range steps {
		evs, err := s.decide()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if (s.want == nil) != (len(evs) == 0) || (s.want != nil && evs[0] != s.want) {
			t.Fatalf("%s: %v, want %v", s.name, evs, s.want)
		}
		for _, e := range evs {
			u.Apply(e)
		}
	}
	if _, err := u.Enable(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted user: %v", err)
	}
	if _, err := (&User{ID: "u", EnvironmentID: "e", Exists: true}).MoveTo(&Population{ID: "p", EnvironmentID: "other", Exists: true}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("population of another environment: %v", err)
	}
}
