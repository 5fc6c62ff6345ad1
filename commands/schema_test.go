package commands

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/idstream/idstream/domain"
)

func TestSchemaAttributeCommands(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	badge := domain.AttributeDef{Name: "badge", Type: domain.AttributeString, MaxLength: 10}
	if _, err := f.dir.CreateSchemaAttribute.Handle(f.ctx, CreateSchemaAttribute{EnvironmentID: env, Attribute: badge}); err != nil {
		t.Fatal(err)
	}
	if got := f.last("schema-" + env).(domain.SchemaAttributeAdded); got.Attribute.Name != "badge" || got.Attribute.MaxLength != 10 {
		t.Fatalf("schema.attribute_added %+v", got)
	}
	_, err := f.dir.CreateSchemaAttribute.Handle(f.ctx, CreateSchemaAttribute{EnvironmentID: env, Attribute: domain.AttributeDef{Name: "BADGE", Type: domain.AttributeBoolean}})
	wantKind(t, err, domain.ErrConflict, "name")
	_, err = f.dir.CreateSchemaAttribute.Handle(f.ctx, CreateSchemaAttribute{EnvironmentID: env,
		Attribute: domain.AttributeDef{Name: "email", Type: "NUMBER", Regex: "("}})
	wantKind(t, err, domain.ErrInvalid, "name")
	if !hasField(err, "type") || !hasField(err, "regex") {
		t.Fatalf("want every problem at once, got %v", err)
	}

	user := f.user(env, "ann", domain.CustomValues{"badge": json.RawMessage(`"abcdef"`)})
	f.user(env, "bob", nil)

	// Narrowing: maxLength lowered below a stored value.
	narrow := badge
	narrow.MaxLength, narrow.Required = 3, true
	res, err := f.dir.UpdateSchemaAttribute.Handle(f.ctx, UpdateSchemaAttribute{EnvironmentID: env, Attribute: narrow})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Narrowed || res.UsersHoldingValues != 1 {
		t.Fatalf("narrowing result %+v: want Narrowed, 1 user holding values", res)
	}
	// The stored value is grandfathered: an update that keeps it succeeds...
	if _, err := f.dir.PatchUser.Handle(f.ctx, PatchUser{EnvironmentID: env, UserID: user, Profile: map[string]string{"title": "Engineer"}}); err != nil {
		t.Fatalf("grandfathered user not updatable: %v", err)
	}
	// ...a changed value must satisfy the new rule...
	_, err = f.dir.PatchUser.Handle(f.ctx, PatchUser{EnvironmentID: env, UserID: user, Custom: domain.CustomValues{"badge": json.RawMessage(`"abcdefg"`)}})
	wantKind(t, err, domain.ErrInvalid, "customAttributes.badge")
	// ...and a new user must have the now required value.
	_, err = f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "cy"}})
	wantKind(t, err, domain.ErrInvalid, "customAttributes.badge")

	// Type cannot change, nor unique turn on, while users hold values.
	retyped := narrow
	retyped.Type, retyped.MaxLength = domain.AttributeJSON, 0
	_, err = f.dir.UpdateSchemaAttribute.Handle(f.ctx, UpdateSchemaAttribute{EnvironmentID: env, Attribute: retyped})
	wantKind(t, err, domain.ErrConflict, "")
	unique := narrow
	unique.Unique = true
	_, err = f.dir.UpdateSchemaAttribute.Handle(f.ctx, UpdateSchemaAttribute{EnvironmentID: env, Attribute: unique})
	wantKind(t, err, domain.ErrConflict, "")
	// Widening reports no narrowing; an identical definition appends nothing.
	wide := narrow
	wide.MaxLength, wide.Required = 20, false
	if res, err := f.dir.UpdateSchemaAttribute.Handle(f.ctx, UpdateSchemaAttribute{EnvironmentID: env, Attribute: wide}); err != nil || res.Narrowed {
		t.Fatalf("widening: %+v, %v", res, err)
	}
	if res, err := f.dir.UpdateSchemaAttribute.Handle(f.ctx, UpdateSchemaAttribute{EnvironmentID: env, Attribute: wide}); err != nil || !res.Position.IsZero() {
		t.Fatalf("no-op update: %+v, %v", res, err)
	}

	// Removing an attribute that holds data needs force.
	_, err = f.dir.DeleteSchemaAttribute.Handle(f.ctx, DeleteSchemaAttribute{EnvironmentID: env, Name: "badge"})
	wantKind(t, err, domain.ErrConflict, "")
	if !strings.Contains(err.Error(), "1 users") {
		t.Fatalf("error does not say how many users: %v", err)
	}
	if _, err := f.dir.DeleteSchemaAttribute.Handle(f.ctx, DeleteSchemaAttribute{EnvironmentID: env, Name: "Badge", Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := f.last("schema-" + env); got != (domain.SchemaAttributeRemoved{EnvironmentID: env, Name: "badge", Forced: true}) {
		t.Fatalf("schema.attribute_removed %+v", got)
	}
	// The dropped value no longer stands in the way of updates.
	if _, err := f.dir.PatchUser.Handle(f.ctx, PatchUser{EnvironmentID: env, UserID: user, Profile: map[string]string{"title": "Lead"}}); err != nil {
		t.Fatalf("update after forced removal: %v", err)
	}
	_, err = f.dir.DeleteSchemaAttribute.Handle(f.ctx, DeleteSchemaAttribute{EnvironmentID: env, Name: "badge"})
	wantKind(t, err, domain.ErrNotFound, "name")
}
