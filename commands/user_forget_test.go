package commands

import (
	"bytes"
	"testing"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// rawLogContains reports whether any event's data or metadata in the log holds s in plain text.
func (f *fixture) rawLogContains(s string) bool {
	f.t.Helper()
	for e, err := range f.d.Store.ReadAll(f.ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			f.t.Fatal(err)
		}
		if bytes.Contains(e.Data, []byte(s)) || bytes.Contains([]byte(e.Stream), []byte(s)) {
			return true
		}
	}
	return false
}

func TestForgetUser(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	pw := "Correct horse battery staple 42!"
	res, err := f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, Password: &pw, Profile: domain.Profile{
		Username: "ann.smith", Email: "ann.smith@example.com", ExternalID: "HR-4711",
		Name: domain.Name{Given: "Annabelle", Family: "Smithers"}, MobilePhone: "+15550101"}})
	if err != nil {
		t.Fatal(err)
	}
	u := res.UserID
	keep := f.user(env, "bob.jones", nil)
	stream := domain.StreamName(domain.CategoryUser, u)

	// Personal data is never in the log in plain text, before forgetting either.
	for _, s := range []string{"ann.smith", "Annabelle", "Smithers", "+15550101", "HR-4711", "$argon2id"} {
		if f.rawLogContains(s) {
			t.Fatalf("the log holds %q in plain text", s)
		}
	}
	if created := f.events(stream)[0].(domain.UserCreated); created.Profile.Email != "ann.smith@example.com" {
		t.Fatalf("before forgetting, the data decodes: %+v", created.Profile)
	}

	out, err := f.dir.ForgetUser.Handle(f.ctx, ForgetUser{EnvironmentID: env, UserID: u})
	if err != nil || out.Position.IsZero() {
		t.Fatalf("forget: %v (position %v)", err, out.Position)
	}
	events := f.events(stream)
	if last, ok := events[len(events)-1].(domain.UserForgotten); !ok || last.UserID != u || last.WasDeleted {
		t.Fatalf("last event %#v, want user.forgotten", events[len(events)-1])
	}
	for _, e := range events {
		switch p := e.(type) {
		case domain.UserCreated:
			if p.Profile != (domain.Profile{}) || p.UserID != u || p.EnvironmentID != env || !p.Enabled {
				t.Fatalf("user.created after forgetting: %+v (personal fields zero, the rest intact)", p)
			}
		case domain.UserPasswordSet:
			if p.Hash != "" {
				t.Fatal("the password hash still decodes")
			}
		}
	}
	for e, err := range f.d.Store.ReadStream(f.ctx, stream, eventstore.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if d, err := f.d.Registry.DecodeEvent(e); err != nil || (e.Type == domain.EvUserCreated && !d.Erased) {
			t.Fatalf("decode %s: erased %v, %v", e.Type, d.Erased, err)
		}
	}
	// The user is gone for every command; its unique values are free again.
	_, err = f.dir.EnableUser.Handle(f.ctx, EnableUser{EnvironmentID: env, UserID: u})
	wantKind(t, err, domain.ErrNotFound, "")
	if _, err := f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, Profile: domain.Profile{
		Username: "ann.smith", Email: "ann.smith@example.com", ExternalID: "HR-4711"}}); err != nil {
		t.Fatalf("the forgotten user's username, email and external ID are not free: %v", err)
	}
	// Forgetting again appends nothing; other users are untouched.
	again, err := f.dir.ForgetUser.Handle(f.ctx, ForgetUser{EnvironmentID: env, UserID: u})
	if err != nil || !again.Position.IsZero() {
		t.Fatalf("forget again: %v, position %v", err, again.Position)
	}
	if p := f.events(domain.StreamName(domain.CategoryUser, keep))[0].(domain.UserCreated); p.Profile.Username != "bob.jones" {
		t.Fatalf("another user's data was lost: %+v", p.Profile)
	}

	// A deleted user can be forgotten too.
	gone := f.user(env, "carol", nil)
	if _, err := f.dir.DeleteUser.Handle(f.ctx, DeleteUser{EnvironmentID: env, UserID: gone}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dir.ForgetUser.Handle(f.ctx, ForgetUser{EnvironmentID: env, UserID: gone}); err != nil {
		t.Fatal(err)
	}
	if last := f.last(domain.StreamName(domain.CategoryUser, gone)); last != (domain.UserForgotten{EnvironmentID: env, UserID: gone, WasDeleted: true}) {
		t.Fatalf("forget a deleted user: %#v", last)
	}

	// Unknown users and other environments' users are NOT_FOUND; a bad ID is INVALID.
	other, _ := f.env()
	_, err = f.dir.ForgetUser.Handle(f.ctx, ForgetUser{EnvironmentID: other, UserID: keep})
	wantKind(t, err, domain.ErrNotFound, "")
	_, err = f.dir.ForgetUser.Handle(f.ctx, ForgetUser{EnvironmentID: env, UserID: "01900000-0000-7000-8000-00000000ffff"})
	wantKind(t, err, domain.ErrNotFound, "")
	_, err = f.dir.ForgetUser.Handle(f.ctx, ForgetUser{EnvironmentID: env, UserID: "nope"})
	wantKind(t, err, domain.ErrInvalid, "userId")
}

func TestForgetUserNeedsAKeyStore(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	u := f.user(env, "ann", nil)
	clear, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	f.d.Registry = clear // a server wired without subject keys
	_, err = f.dir.ForgetUser.Handle(f.ctx, ForgetUser{EnvironmentID: env, UserID: u})
	wantKind(t, err, domain.ErrUnavailable, "")
	if _, ok := f.last(domain.StreamName(domain.CategoryUser, u)).(domain.UserCreated); !ok {
		t.Fatal("a refused erasure appended something")
	}
}
