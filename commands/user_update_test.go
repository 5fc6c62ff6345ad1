package commands

import (
	"encoding/json"
	"testing"

	"github.com/idstream/idstream/domain"
)

func TestUpdateAndPatchUser(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	for _, def := range []domain.AttributeDef{{Name: "badge", Type: domain.AttributeString, Unique: true}, {Name: "vip", Type: domain.AttributeBoolean}} {
		if _, err := f.dir.CreateSchemaAttribute.Handle(f.ctx, CreateSchemaAttribute{EnvironmentID: env, Attribute: def}); err != nil {
			t.Fatal(err)
		}
	}
	ann := f.user(env, "ann", domain.CustomValues{"badge": json.RawMessage(`"B1"`), "vip": json.RawMessage(`true`)})
	bob := f.user(env, "bob", nil)
	stream := "user-" + ann

	// Replace: the whole profile and custom values; changed unique values move.
	res, err := f.dir.UpdateUser.Handle(f.ctx, UpdateUser{EnvironmentID: env, UserID: ann,
		Profile: domain.Profile{Username: "anne", Email: "anne@example.com"}, Custom: domain.CustomValues{"badge": json.RawMessage(`"B2"`)}})
	if err != nil || res.Position.IsZero() {
		t.Fatal(res, err)
	}
	got := f.last(stream).(domain.UserUpdated)
	if got.Profile != (domain.Profile{Username: "anne", Email: "anne@example.com"}) || len(got.Custom) != 1 || string(got.Custom["badge"]) != `"B2"` {
		t.Fatalf("user.updated %+v", got)
	}
	// The old values are free, the new ones taken.
	f.user(env, "ann", domain.CustomValues{"badge": json.RawMessage(`"B1"`)})
	_, err = f.dir.PatchUser.Handle(f.ctx, PatchUser{EnvironmentID: env, UserID: bob, Profile: map[string]string{"username": "Anne"}})
	wantKind(t, err, domain.ErrConflict, "username")
	_, err = f.dir.PatchUser.Handle(f.ctx, PatchUser{EnvironmentID: env, UserID: bob, Custom: domain.CustomValues{"badge": json.RawMessage(`"b2"`)}})
	wantKind(t, err, domain.ErrConflict, "customAttributes.badge")

	// Patch: only what is named; null removes a custom value; unknown paths are invalid.
	if _, err := f.dir.PatchUser.Handle(f.ctx, PatchUser{EnvironmentID: env, UserID: ann,
		Profile: map[string]string{"name.given": "Anne", "email": ""}, Custom: domain.CustomValues{"badge": json.RawMessage(`null`)}}); err != nil {
		t.Fatal(err)
	}
	got = f.last(stream).(domain.UserUpdated)
	if got.Profile != (domain.Profile{Username: "anne", Name: domain.Name{Given: "Anne"}}) || len(got.Custom) != 0 {
		t.Fatalf("patched %+v", got)
	}
	f.user(env, "carl", domain.CustomValues{"badge": json.RawMessage(`"B2"`)}) // released by the patch
	_, err = f.dir.PatchUser.Handle(f.ctx, PatchUser{EnvironmentID: env, UserID: ann, Profile: map[string]string{"shoe": "42", "username": ""}})
	wantKind(t, err, domain.ErrInvalid, "profile.shoe")
	if !hasField(err, "username") {
		t.Fatalf("want every problem: %v", err)
	}
	// No change appends nothing and returns a zero Position.
	before := len(f.events(stream))
	res, err = f.dir.PatchUser.Handle(f.ctx, PatchUser{EnvironmentID: env, UserID: ann, Profile: map[string]string{"name.given": "Anne"}})
	if err != nil || !res.Position.IsZero() || len(f.events(stream)) != before {
		t.Fatalf("no-op patch: %+v, %v", res, err)
	}
	_, err = f.dir.UpdateUser.Handle(f.ctx, UpdateUser{EnvironmentID: env, UserID: "01900000-0000-7000-8000-ffffffffffff", Profile: domain.Profile{Username: "x"}})
	wantKind(t, err, domain.ErrNotFound, "")
	other, _ := f.env()
	_, err = f.dir.UpdateUser.Handle(f.ctx, UpdateUser{EnvironmentID: other, UserID: ann, Profile: domain.Profile{Username: "x"}})
	wantKind(t, err, domain.ErrNotFound, "")
}
