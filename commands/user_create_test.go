package commands

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
)

func TestCreateUser(t *testing.T) {
	f := newFixture(t)
	env, defPop := f.env()
	if _, err := f.dir.CreateSchemaAttribute.Handle(f.ctx, CreateSchemaAttribute{EnvironmentID: env,
		Attribute: domain.AttributeDef{Name: "badge", Type: domain.AttributeString, Unique: true}}); err != nil {
		t.Fatal(err)
	}
	plain := "Correct-Horse-9"
	res, err := f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env,
		Profile: domain.Profile{Username: " ann ", Email: "ann@example.com", ExternalID: "E1"},
		Custom:  domain.CustomValues{"badge": json.RawMessage(` "B-1" `)}, Password: &plain, MustChangePassword: true})
	if err != nil {
		t.Fatal(err)
	}
	evs := f.events("user-" + res.UserID)
	if len(evs) != 2 {
		t.Fatalf("want user.created and user.password_set in one batch, got %v", evs)
	}
	created := evs[0].(domain.UserCreated)
	if created.PopulationID != defPop || !created.Enabled || created.Profile.Username != "ann" || string(created.Custom["badge"]) != `"B-1"` {
		t.Fatalf("user.created %+v", created)
	}
	set := evs[1].(domain.UserPasswordSet)
	if !strings.HasPrefix(set.Hash, "$argon2id$") || !set.MustChange || set.Imported || strings.Contains(set.Hash, plain) {
		t.Fatalf("user.password_set %+v", set)
	}

	tests := []struct {
		name  string
		in    CreateUser
		kind  error
		field string
	}{
		{"username taken, any case", CreateUser{Profile: domain.Profile{Username: "ANN"}}, domain.ErrConflict, "username"},
		{"email taken", CreateUser{Profile: domain.Profile{Username: "a2", Email: "Ann@Example.com"}}, domain.ErrConflict, "email"},
		{"externalId taken", CreateUser{Profile: domain.Profile{Username: "a3", ExternalID: "e1"}}, domain.ErrConflict, "externalId"},
		{"unique custom taken", CreateUser{Profile: domain.Profile{Username: "a4"}, Custom: domain.CustomValues{"badge": json.RawMessage(`"b-1"`)}}, domain.ErrConflict, "customAttributes.badge"},
		{"weak password", CreateUser{Profile: domain.Profile{Username: "a5"}, Password: ptr("short")}, domain.ErrInvalid, "password"},
		{"bad imported hash", CreateUser{Profile: domain.Profile{Username: "a6"}, PasswordHash: ptr("plaintext")}, domain.ErrInvalid, "passwordHash"},
		{"both passwords", CreateUser{Profile: domain.Profile{Username: "a7"}, Password: &plain, PasswordHash: ptr("x")}, domain.ErrInvalid, "passwordHash"},
		{"unknown population", CreateUser{PopulationID: "01900000-0000-7000-8000-ffffffffffff", Profile: domain.Profile{Username: "a8"}}, domain.ErrNotFound, "populationId"},
	}
	for _, tt := range tests {
		tt.in.EnvironmentID = env
		_, err := f.dir.CreateUser.Handle(f.ctx, tt.in)
		if !errors.Is(err, tt.kind) || !hasField(err, tt.field) {
			t.Fatalf("%s: %v, want %v on %s", tt.name, err, tt.kind, tt.field)
		}
	}
	// A refused user released what it had claimed: its username is free.
	if _, err := f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "a2"}}); err != nil {
		t.Fatalf("claims of a refused user were kept: %v", err)
	}
	// An imported hash is stored as is and marked imported.
	bcrypt := "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
	res, err = f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "imp"}, PasswordHash: &bcrypt, Enabled: ptr(false)})
	if err != nil {
		t.Fatal(err)
	}
	evs = f.events("user-" + res.UserID)
	if evs[0].(domain.UserCreated).Enabled || evs[1] != (domain.UserPasswordSet{EnvironmentID: env, UserID: res.UserID, Hash: bcrypt, Imported: true}) {
		t.Fatalf("imported: %+v", evs)
	}
}

func ptr[T any](v T) *T { return &v }

func TestCreateUserReportsEveryProblemAtOnce(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	if _, err := f.dir.CreateSchemaAttribute.Handle(f.ctx, CreateSchemaAttribute{EnvironmentID: env,
		Attribute: domain.AttributeDef{Name: "level", Type: domain.AttributeString, Enum: []string{"junior", "senior"}, MultiValued: true}}); err != nil {
		t.Fatal(err)
	}
	_, err := f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env,
		Profile: domain.Profile{Username: "two words", Email: "Ann <ann@example.com>", Locale: "english!", Timezone: "Paris",
			Photo: "ftp://example.com/a.png", Address: domain.Address{CountryCode: "USA"}, Name: domain.Name{Given: strings.Repeat("g", 257)}},
		Custom:   domain.CustomValues{"level": json.RawMessage(`["junior","boss"]`), "shoeSize": json.RawMessage(`42`)},
		Password: ptr("x")})
	want := []string{"username", "email", "locale", "timezone", "photo", "address.countryCode", "name.given",
		"customAttributes.level[1]", "customAttributes.shoeSize", "password"}
	for _, field := range want {
		if !hasField(err, field) {
			t.Errorf("no error on %s in %v", field, err)
		}
	}
	if !errors.Is(err, domain.ErrInvalid) || strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("error %v", err)
	}
}

func TestCreateUserConcurrentSameUsername(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "Same"}})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, domain.ErrConflict) || !hasField(err, "username"):
			t.Fatalf("loser got %v, want a conflict on username", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creations succeeded, want exactly 1", ok)
	}
}

func TestOrphanedReservationTakenOverAfterGrace(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	// A crash after the claim and before user.created leaves a claim whose owner never existed.
	if err := f.d.claim(f.ctx, env, domain.UniqueUsername, "username", "ghost", "user-01900000-0000-7000-8000-0000000000ff",
		f.d.userHolds(domain.UniqueUsername, "ghost")); err != nil {
		t.Fatal(err)
	}
	_, err := f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "ghost"}})
	wantKind(t, err, domain.ErrConflict, "username")
	f.clock.Advance(orphanGrace + time.Second)
	if _, err := f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "ghost"}}); err != nil {
		t.Fatalf("orphaned reservation not taken over after the grace period: %v", err)
	}
	// A live owner's claim is never taken over, however old.
	f.clock.Advance(time.Hour)
	_, err = f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "ghost"}})
	wantKind(t, err, domain.ErrConflict, "username")
}
