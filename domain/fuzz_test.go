package domain

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// fieldErrorsOnly fails unless every error joined in err is a *FieldError of kind ErrInvalid.
func fieldErrorsOnly(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var leaves []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		leaves = append(leaves, e)
	}
	walk(err)
	for _, e := range leaves {
		var fe *FieldError
		if !errors.As(e, &fe) || fe.Field == "" || !errors.Is(e, ErrInvalid) {
			t.Fatalf("error %v (%T) is not a field-named INVALID error", e, e)
		}
	}
}

// FuzzCustomValues feeds arbitrary JSON to every kind of custom attribute: validation never
// panics, and every problem it finds names its field.
func FuzzCustomValues(f *testing.F) {
	for _, seed := range []string{`"eng"`, `["a","b"]`, `true`, `{"k":[1,2]}`, `null`, `"123456"`, `[`, `"\u0000"`, `[[[]]]`, `1e999`} {
		f.Add("badge", seed)
	}
	schema := &Schema{}
	for _, def := range []AttributeDef{
		{Name: "dept", Type: AttributeString, Enum: []string{"eng", "sales"}},
		{Name: "badge", Type: AttributeString, Regex: "[0-9]{6}", MaxLength: 6, Unique: true},
		{Name: "tags", Type: AttributeString, MultiValued: true, MaxLength: 10},
		{Name: "vip", Type: AttributeBoolean},
		{Name: "extra", Type: AttributeJSON, Required: true},
	} {
		if err := ValidateAttributeDef(def); err != nil {
			f.Fatal(err)
		}
		schema.Apply(SchemaAttributeAdded{EnvironmentID: "e", Attribute: def})
	}
	f.Fuzz(func(t *testing.T, name, raw string) {
		values := CustomValues{name: json.RawMessage(raw), "extra": json.RawMessage(`{}`)}
		normalized, err := NormalizeCustom(values)
		if err != nil {
			fieldErrorsOnly(t, err)
			return
		}
		fieldErrorsOnly(t, schema.ValidateCustom(normalized, nil))
		fieldErrorsOnly(t, schema.ValidateCustom(normalized, normalized))
	})
}

// FuzzProfile feeds arbitrary text to the core attributes: normalization and validation never
// panic, and every problem names its field.
func FuzzProfile(f *testing.F) {
	f.Add("alice", "alice@example.com", "Alice", "en-US", "Europe/Paris", "https://x.test/a.png", "FR", "+33123456789")
	f.Add(" ", "not an email", "\x00", "xx_YY", "../etc", "javascript:alert(1)", "1", "phone")
	f.Fuzz(func(t *testing.T, username, email, given, locale, tz, photo, country, phone string) {
		p := NormalizeProfile(Profile{Username: username, Email: email, Name: Name{Given: given}, Locale: locale,
			PreferredLanguage: locale, Timezone: tz, Photo: photo, Address: Address{CountryCode: country},
			PrimaryPhone: phone, MobilePhone: phone})
		fieldErrorsOnly(t, ValidateProfile(p))
	})
}

// FuzzAttributeDef feeds arbitrary definitions: validation never panics (a bad regex is a field
// error, never a compile panic) and names its field.
func FuzzAttributeDef(f *testing.F) {
	f.Add("badge", "STRING", "[0-9]{6}", "a", 6, true, false)
	f.Add("name", "JSON", "(", "", -1, false, true)
	f.Add("x", "BOOLEAN", "a{1001}", "b", 70000, true, true)
	f.Fuzz(func(t *testing.T, name, typ, regex, enum string, maxLen int, unique, multi bool) {
		def := AttributeDef{Name: name, Type: AttributeType(typ), Regex: regex, MaxLength: maxLen, Unique: unique, MultiValued: multi}
		if enum != "" {
			def.Enum = []string{enum}
		}
		fieldErrorsOnly(t, ValidateAttributeDef(def))
	})
}

func TestFilterSyntaxError(t *testing.T) {
	err := FilterSyntaxError("filter", `username eq "a" and`, "parse conflict [00:015]: expected int32 '\uFFFD' but got ' '")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "filter" || !errors.Is(err, ErrInvalid) {
		t.Fatalf("%v is not an INVALID error on filter", err)
	}
	if want := `cannot parse from character 15 ("\" and")`; !strings.Contains(fe.Reason, want) || strings.Contains(fe.Reason, "int32") {
		t.Errorf("reason %q: want %q and none of the parser's internals", fe.Reason, want)
	}
	if err := FilterSyntaxError("filter", "x", "parse conflict [00:099]: nonsense"); !strings.Contains(err.Error(), "not a valid SCIM filter; want") {
		t.Errorf("an out-of-range position: %v", err)
	}
}
