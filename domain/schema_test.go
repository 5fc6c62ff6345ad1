package domain

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// fields returns the fields of the *FieldError in a joined error, in order.
func fields(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe.Field)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

func TestValidateAttributeDef(t *testing.T) {
	tests := []struct {
		def  AttributeDef
		want string // fields, comma-separated; "" valid
	}{
		{AttributeDef{Name: "badge", Type: AttributeString, MaxLength: 8, Enum: []string{"a", "b"}, Regex: "[a-z]+"}, ""},
		{AttributeDef{Name: "flags", Type: AttributeJSON, MultiValued: true}, ""},
		{AttributeDef{Name: "1st", Type: AttributeString}, "name"},
		{AttributeDef{Name: strings.Repeat("a", 65), Type: AttributeString}, "name"},
		{AttributeDef{Name: "userName", Type: AttributeString}, "name"},
		{AttributeDef{Name: "address", Type: AttributeString}, "name"},
		{AttributeDef{Name: "x", Type: "NUMBER"}, "type"},
		{AttributeDef{Name: "x", Type: AttributeBoolean, Enum: []string{"a"}, Regex: "a", MaxLength: 3, Unique: true}, "enum,regex,maxLength,unique"},
		{AttributeDef{Name: "x", Type: AttributeString, Regex: "(a"}, "regex"},
		{AttributeDef{Name: "x", Type: AttributeString, MaxLength: 65537}, "maxLength"},
		{AttributeDef{Name: "x", Type: AttributeString, MaxLength: -1}, "maxLength"},
		{AttributeDef{Name: "x", Type: AttributeString, MaxLength: 2, Regex: "[a-z]+", Enum: []string{"ab", "ab", "abc", "A1"}}, "enum[1],enum[2],enum[3]"},
		{AttributeDef{Name: "x", Type: AttributeString, Unique: true, MultiValued: true}, "unique"},
	}
	for _, tt := range tests {
		err := ValidateAttributeDef(tt.def)
		if got := strings.Join(fields(err), ","); got != tt.want {
			t.Errorf("%+v: fields %q, want %q (%v)", tt.def, got, tt.want, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v is not ErrInvalid", tt.def, err)
		}
	}
}

func schemaOf(defs ...AttributeDef) *Schema {
	s := &Schema{}
	for _, d := range defs {
		s.Apply(SchemaAttributeAdded{EnvironmentID: "e", Attribute: d})
	}
	return s
}

func TestValidateCustom(t *testing.T) {
	s := schemaOf(
		AttributeDef{Name: "level", Type: AttributeString, Enum: []string{"junior", "senior"}},
		AttributeDef{Name: "code", Type: AttributeString, Regex: "[A-Z]{2}[0-9]+", MaxLength: 5},
		AttributeDef{Name: "vip", Type: AttributeBoolean, Required: true},
		AttributeDef{Name: "tags", Type: AttributeString, MultiValued: true, MaxLength: 3},
		AttributeDef{Name: "extra", Type: AttributeJSON},
	)
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []struct {
		name     string
		values   CustomValues
		previous CustomValues
		want     string
	}{
		{"valid", CustomValues{"level": raw(`"junior"`), "code": raw(`"AB12"`), "vip": raw(`true`), "tags": raw(`["a","bc"]`), "extra": raw(`{"k":[1]}`)}, nil, ""},
		{"every problem", CustomValues{"level": raw(`"boss"`), "code": raw(`"ab1234"`), "vip": raw(`"yes"`), "tags": raw(`["abcd",3]`), "nope": raw(`1`), "Level": raw(`"x"`)}, nil,
			"Level,code,code,level,nope,tags[0],tags[1],vip"},
		{"multi-valued needs an array", CustomValues{"vip": raw(`false`), "tags": raw(`"a"`)}, nil, "tags"},
		{"required missing", CustomValues{}, nil, "vip"},
		{"regex matches the whole value", CustomValues{"vip": raw(`true`), "code": raw(`"xAB1"`)}, nil, "code"},
		{"maxLength counts characters", CustomValues{"vip": raw(`true`), "tags": raw(`["ééé","éééé"]`)}, nil, "tags[1]"},
		{"grandfathered value", CustomValues{"vip": raw(`true`), "level": raw(`"boss"`)}, CustomValues{"level": raw(`"boss"`)}, ""},
		{"grandfathered missing required", CustomValues{"level": raw(`"junior"`)}, CustomValues{"level": raw(`"senior"`)}, ""},
		{"changed value re-checked", CustomValues{"vip": raw(`true`), "level": raw(`"bossier"`)}, CustomValues{"level": raw(`"boss"`)}, "level"},
		{"required removed from stored user", CustomValues{}, CustomValues{"vip": raw(`true`)}, "vip"},
	}
	for _, tt := range tests {
		norm, err := NormalizeCustom(tt.values)
		if err != nil {
			t.Fatal(err)
		}
		err = s.ValidateCustom(norm, tt.previous)
		got := strings.ReplaceAll(strings.Join(fields(err), ","), "customAttributes.", "")
		if got != tt.want {
			t.Errorf("%s: fields %q, want customAttributes.* %q (%v)", tt.name, got, tt.want, err)
		}
	}
	if _, err := NormalizeCustom(CustomValues{"x": raw(`{`)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid JSON: %v", err)
	}
}

func TestSchemaUpdateRules(t *testing.T) {
	base := AttributeDef{Name: "code", Type: AttributeString, MaxLength: 10, Enum: []string{"a", "b"}}
	s := schemaOf(base)
	narrowings := []func(*AttributeDef){
		func(d *AttributeDef) { d.Required = true },
		func(d *AttributeDef) { d.MaxLength = 5 },
		func(d *AttributeDef) { d.Enum = []string{"a"} },
		func(d *AttributeDef) { d.Regex = "[a-z]" },
	}
	for i, change := range narrowings {
		def := base
		def.Enum = append([]string(nil), base.Enum...)
		change(&def)
		c, err := s.CompareAttribute(def)
		if err != nil || !c.Narrowed || !c.NeedsUsage {
			t.Errorf("narrowing %d: %+v, %v", i, c, err)
		}
		if evs, err := s.UpdateAttribute("e", def, 7); err != nil || len(evs) != 1 {
			t.Errorf("narrowing %d refused: %v", i, err)
		}
	}
	wider := base
	wider.MaxLength, wider.Enum = 0, nil
	if c, _ := s.CompareAttribute(wider); c.Narrowed {
		t.Error("widening reported as narrowing")
	}
	retyped := AttributeDef{Name: "CODE", Type: AttributeJSON}
	if _, err := s.UpdateAttribute("e", retyped, 1); !errors.Is(err, ErrConflict) {
		t.Errorf("type change with data: %v", err)
	}
	evs, err := s.UpdateAttribute("e", retyped, 0)
	if err != nil || evs[0].(SchemaAttributeUpdated).Attribute.Name != "code" {
		t.Errorf("type change without data: %v, %v", evs, err)
	}
	unique := base
	unique.Unique = true
	if _, err := s.UpdateAttribute("e", unique, 2); !errors.Is(err, ErrConflict) {
		t.Errorf("unique on with data: %v", err)
	}
	if evs, err := s.UpdateAttribute("e", base, 5); err != nil || evs != nil {
		t.Errorf("no change: %v, %v", evs, err)
	}
	if _, err := s.UpdateAttribute("e", AttributeDef{Name: "nope", Type: AttributeString}, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown attribute: %v", err)
	}
	if _, err := s.RemoveAttribute("e", "code", 3, false); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "3 users") {
		t.Errorf("removal with data: %v", err)
	}
	evs, err = s.RemoveAttribute("e", "Code", 3, true)
	if err != nil || evs[0] != (SchemaAttributeRemoved{EnvironmentID: "e", Name: "code", Forced: true}) {
		t.Errorf("forced removal: %v, %v", evs, err)
	}
	s.Apply(evs[0])
	if _, ok := s.Attribute("code"); ok || len(s.Attributes()) != 0 {
		t.Error("attribute still defined after removal")
	}
	if _, err := s.AddAttribute("e", base); !errors.Is(err, ErrConflict) {
		t.Errorf("re-adding the name of an attribute removed by force: %v, want ErrConflict", err)
	}
	// A removal of an attribute nobody held leaves its name free.
	other := AttributeDef{Name: "spare", Type: AttributeString}
	evs, _ = s.AddAttribute("e", other)
	s.Apply(evs[0])
	evs, err = s.RemoveAttribute("e", "spare", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	s.Apply(evs[0])
	if evs, err := s.AddAttribute("e", other); err != nil || len(evs) != 1 {
		t.Errorf("re-adding the name of an attribute removed while unused: %v", err)
	}
}
