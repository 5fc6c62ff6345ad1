package mapping

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

func attrMap(target, value string) domain.AttributeMapping {
	return domain.AttributeMapping{Target: target, Source: domain.MapAttribute, Value: value, ApplyOn: domain.ApplyAlways}
}

func exprMap(target, value string) domain.AttributeMapping {
	return domain.AttributeMapping{Target: target, Source: domain.MapExpression, Value: value, ApplyOn: domain.ApplyAlways}
}

func constMap(target, value string) domain.AttributeMapping {
	return domain.AttributeMapping{Target: target, Source: domain.MapConstant, Value: value, ApplyOn: domain.ApplyAlways}
}

// userMappings are ten mappings of a typical SCIM user rule, two of them expressions.
func userMappings() []domain.AttributeMapping {
	created := constMap("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization", "idstream")
	created.ApplyOn = domain.ApplyOnCreate
	return []domain.AttributeMapping{
		attrMap("userName", "username"),
		attrMap("externalId", "id"),
		attrMap("name.givenName", "name.given"),
		attrMap("name.familyName", "name.family"),
		exprMap("displayName", `concat(title(name.given), " ", upper(name.family))`),
		attrMap(`emails[type eq "work"].value`, "email"),
		exprMap(`phoneNumbers[type eq "work"].value`, `regexReplace(primaryPhone, "[^+0-9]", "")`),
		attrMap("active", "enabled"),
		attrMap("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", "Cost Center"),
		created,
	}
}

func fieldOf(t *testing.T, err error) []string {
	t.Helper()
	var out []string
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		var fe *domain.FieldError
		require.True(t, errors.As(e, &fe), "not a field error: %v", e)
		out = append(out, fe.Field)
	}
	return out
}

func TestCheck(t *testing.T) {
	good := []domain.AttributeMapping{
		attrMap("userName", "username"),
		attrMap("userName", "Cost Center"),
		exprMap(`emails[type eq "work"].value`, `lower(email)`),
		constMap("title", "Employee"),
		constMap("title", ""),
		{Target: "active", Source: domain.MapAttribute, Value: "enabled"}, // ApplyOn empty = ALWAYS
		{Target: "nickName", Source: domain.MapAttribute, Value: "nickname", ApplyOn: domain.ApplyOnCreate, Default: "none"},
	}
	for _, m := range good {
		assert.NoError(t, Check(m), "%+v", m)
	}
	bad := []struct {
		m      domain.AttributeMapping
		fields []string
		reason string
	}{
		{attrMap("", "username"), []string{"target"}, "empty"},
		{attrMap("a.b.c", "username"), []string{"target"}, `"a.b.c"`},
		{attrMap("userName", ""), []string{"value"}, "empty"},
		{attrMap("userName", "name..given"), []string{"value"}, "empty name between dots"},
		{attrMap("userName", "bad\x00name"), []string{"value"}, "control"},
		{attrMap("userName", strings.Repeat("a", maxSourcePathLen+1)), []string{"value"}, "longer"},
		{exprMap("userName", "lower("), []string{"value"}, "does not compile"},
		{exprMap("userName", `regexMatch(username, "(")`), []string{"value"}, "invalid pattern"},
		{constMap("userName", strings.Repeat("a", maxConstantLen+1)), []string{"value"}, "longer"},
		{domain.AttributeMapping{Target: "userName", Source: "SCRIPT", Value: "x"}, []string{"source"}, "unknown source"},
		{domain.AttributeMapping{Target: "userName", Source: domain.MapConstant, ApplyOn: "SOMETIMES"}, []string{"applyOn"}, "unknown value"},
		{domain.AttributeMapping{Target: "userName", Source: domain.MapConstant, Default: strings.Repeat("d", maxConstantLen+1)}, []string{"default"}, "longer"},
		{domain.AttributeMapping{Target: "[", Source: "X", ApplyOn: "Y"}, []string{"target", "source", "applyOn"}, ""},
	}
	for _, c := range bad {
		t.Run(strings.Join(c.fields, ","), func(t *testing.T) {
			err := Check(c.m)
			require.Error(t, err)
			assert.ErrorIs(t, err, domain.ErrInvalid)
			assert.Equal(t, c.fields, fieldOf(t, err))
			assert.Contains(t, err.Error(), c.reason)
		})
	}
}

func TestCompileErrors(t *testing.T) {
	_, err := Compile([]domain.AttributeMapping{
		attrMap("userName", "username"),
		exprMap("displayName", "lower("),
		attrMap("USERNAME", "email"),
		attrMap("name", "name"),
		attrMap("name.givenName", "name.given"),
		attrMap(`emails[type eq "work"].value`, "email"),
		attrMap(`emails[type eq "WORK"].value`, "email"),
		attrMap(`emails[type eq "home"].value`, "email"),
		attrMap("urn:ietf:params:scim:schemas:core:2.0:User:userName", "email"),
		{Target: "x", Source: "NOPE"},
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, domain.ErrInvalid)
	assert.Equal(t, []string{"mappings[1].value", "mappings[2].target", "mappings[4].target",
		"mappings[6].target", "mappings[8].target", "mappings[9].source"}, fieldOf(t, err))
	msg := err.Error()
	assert.Contains(t, msg, `mapping of "displayName"`)
	assert.Contains(t, msg, `target "USERNAME" is already mapped by mappings[0]`)
	assert.Contains(t, msg, `target "name.givenName" overlaps mappings[3] ("name")`)
	assert.Contains(t, msg, `mappings[5]`)

	// a whole attribute after a partial one overlaps too
	_, err = Compile([]domain.AttributeMapping{attrMap(`emails[type eq "work"].value`, "email"), attrMap("emails", "email")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "overlaps mappings[0]")

	s, err := Compile(nil)
	require.NoError(t, err)
	assert.Equal(t, 0, s.Len())
}

func TestEvaluate(t *testing.T) {
	s, err := Compile(userMappings())
	require.NoError(t, err)
	assert.Equal(t, 10, s.Len())
	assert.Equal(t, []string{"userName", "externalId", "name.givenName", "name.familyName", "displayName",
		`emails[type eq "work"].value`, `phoneNumbers[type eq "work"].value`, "active",
		enterprise + ":costCenter", enterprise + ":organization"}, s.Targets())

	changes, err := s.Evaluate(source(t), true)
	require.NoError(t, err)
	assert.Equal(t, []connectors.Change{
		{Path: "userName", Value: "bjensen"},
		{Path: "externalId", Value: "u-1"},
		{Path: "name.givenName", Value: "barbara"},
		{Path: "name.familyName", Value: "jensen"},
		{Path: "displayName", Value: "Barbara JENSEN"},
		{Path: `emails[type eq "work"].value`, Value: "Barbara.Jensen@Example.com"},
		{Path: `phoneNumbers[type eq "work"].value`, Value: "+15550100"},
		{Path: "active", Value: true},
		{Path: enterprise + ":costCenter", Value: "CC-9"},
		{Path: enterprise + ":organization", Value: "idstream"},
	}, changes)

	updating, err := s.Evaluate(source(t), false)
	require.NoError(t, err)
	assert.Len(t, updating, 9, "ON_CREATE mappings only when creating")
	_, ok := Value(updating, enterprise+":organization")
	assert.False(t, ok)

	v, ok := Value(changes, "NAME.givenname")
	assert.True(t, ok)
	assert.Equal(t, "barbara", v)
	v, ok = Value(changes, `emails[type eq "WORK"].value`)
	assert.True(t, ok)
	assert.Equal(t, "Barbara.Jensen@Example.com", v)
	_, ok = Value(changes, "[")
	assert.False(t, ok)
}

func TestEvaluateEmptyAndDefaults(t *testing.T) {
	withDefault := func(m domain.AttributeMapping, d string) domain.AttributeMapping { m.Default = d; return m }
	s, err := Compile([]domain.AttributeMapping{
		attrMap("nickName", "missing"),
		withDefault(attrMap("title", "missing"), "Staff"),
		withDefault(attrMap("name.middleName", "name.middle"), "-"),      // "" takes the default
		attrMap("phoneNumbers[type eq \"mobile\"].value", "mobilePhone"), // null
		withDefault(exprMap("locale", `lower(missing)`), "en"),
		exprMap("preferredLanguage", `""`),
		constMap("profileUrl", ""),
		withDefault(constMap("userType", ""), "Employee"),
		attrMap("x-groups", "groups"),
		attrMap("x-badge", "BADGE"),
		attrMap("x-address", "address"),
	})
	require.NoError(t, err)
	changes, err := s.Evaluate(source(t), false)
	require.NoError(t, err)
	assert.Equal(t, []connectors.Change{
		{Path: "nickName", Value: nil},
		{Path: "title", Value: "Staff"},
		{Path: "name.middleName", Value: "-"},
		{Path: `phoneNumbers[type eq "mobile"].value`, Value: nil},
		{Path: "locale", Value: "en"},
		{Path: "preferredLanguage", Value: nil},
		{Path: "profileUrl", Value: nil},
		{Path: "userType", Value: "Employee"},
		{Path: "x-groups", Value: []any{"Engineering", "Staff"}},
		{Path: "x-badge", Value: 42.0},
		{Path: "x-address", Value: map[string]any{"locality": "Paris", "countryCode": "FR"}},
	}, changes)

	// a nil source evaluates to absent values, not a panic
	changes, err = s.Evaluate(nil, true)
	require.NoError(t, err)
	assert.Len(t, changes, 11)
}

func TestEvaluateErrorsNameTheMapping(t *testing.T) {
	s, err := Compile([]domain.AttributeMapping{
		attrMap("userName", "username"),
		exprMap("displayName", `substring(username, "x")`),
		exprMap("title", `missing + 1`),
	})
	require.NoError(t, err)
	_, err = s.Evaluate(source(t), true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `mappings[1] (target "displayName"): `)
	assert.Contains(t, err.Error(), `mappings[2] (target "title"): `)
}

func TestBuild(t *testing.T) {
	built, err := Build([]connectors.Change{
		{Path: "userName", Value: "bj"},
		{Path: "nickName", Value: nil},
		{Path: "name.givenName", Value: "B"},
		{Path: "name.familyName", Value: "J"},
		{Path: `emails[type eq "work"].value`, Value: "b@w"},
		{Path: `emails[type eq "home"].value`, Value: "b@h"},
		{Path: `phoneNumbers[type eq "work" and primary eq true].value`, Value: "1"},
		{Path: enterprise + ":employeeNumber", Value: 7},
		{Path: "active", Value: true},
	})
	require.NoError(t, err)
	assert.Equal(t, obj(t, `{"userName":"bj","name":{"givenName":"B","familyName":"J"},
		"emails":[{"type":"work","value":"b@w"},{"type":"home","value":"b@h"}],
		"phoneNumbers":[{"type":"work","primary":true,"value":"1"}],
		"`+enterprise+`":{"employeeNumber":7},"active":true}`), built)

	assert.Equal(t, []string{enterprise}, Extensions(built))
	assert.Equal(t, []string{"urn:a", "urn:b"}, Extensions(map[string]any{"urn:b": map[string]any{}, "urn:a": map[string]any{"x": 1}, "urn:c": "text", "x": map[string]any{}}))
	assert.Empty(t, Extensions(nil))

	_, err = Build([]connectors.Change{{Path: "name", Value: "x"}, {Path: "name.givenName", Value: "B"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"name.givenName"`)
	_, err = Build([]connectors.Change{{Path: "[", Value: "x"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `path "["`)
}

func TestApply(t *testing.T) {
	current := obj(t, `{"id":"t-1","schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"UserName":"old",
		"name":{"givenName":"Old","familyName":"J"},"nickName":"nick",
		"emails":[{"type":"home","value":"h"},{"type":"work","value":"old@w","primary":true}],
		"meta":{"resourceType":"User"}}`)
	require.NoError(t, Apply(current, []connectors.Change{
		{Path: "userName", Value: "new"},
		{Path: "nickName", Value: nil},
		{Path: "name.givenName", Value: "New"},
		{Path: `emails[type eq "work"].value`, Value: "new@w"},
		{Path: `emails[type eq "other"].value`, Value: nil},
		{Path: enterprise + ":department", Value: "R&D"},
	}))
	assert.Equal(t, obj(t, `{"id":"t-1","schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"UserName":"new",
		"name":{"givenName":"New","familyName":"J"},
		"emails":[{"type":"home","value":"h"},{"type":"work","value":"new@w","primary":true}],
		"meta":{"resourceType":"User"},"`+enterprise+`":{"department":"R&D"}}`), current)

	err := Apply(current, []connectors.Change{{Path: "userName.x", Value: "v"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"userName.x"`)
	assert.Error(t, Apply(current, []connectors.Change{{Path: "a.b.c", Value: "v"}}))
}

func TestDiff(t *testing.T) {
	current := obj(t, `{"userName":"bj","name":{"givenName":"B"},"count":1,"active":true,"title":"",
		"emails":[{"type":"Work","value":"b@w"}],"groups":["a","b"],"obj":{"a":1,"b":[1,2]}}`)
	desired := []connectors.Change{
		{Path: "userName", Value: "bj"},                                    // same
		{Path: "USERNAME", Value: "BJ"},                                    // strings exact: differs
		{Path: "name.givenName", Value: "B"},                               // same
		{Path: "name.familyName", Value: nil},                              // nil vs absent: same
		{Path: "title", Value: nil},                                        // nil vs "": same
		{Path: "count", Value: 1},                                          // 1 == 1.0
		{Path: "count", Value: int64(2)},                                   // differs
		{Path: "active", Value: true},                                      // same
		{Path: "active", Value: "true"},                                    // differs (kind)
		{Path: `emails[type eq "work"].value`, Value: "b@w"},               // filter element: same
		{Path: `emails[type eq "home"].value`, Value: "b@h"},               // no element: differs
		{Path: `emails[type eq "work"].value`, Value: nil},                 // present: differs
		{Path: "groups", Value: []string{"a", "b"}},                        // []string vs []any: same
		{Path: "groups", Value: []any{"b", "a"}},                           // order: differs
		{Path: "obj", Value: map[string]any{"b": []any{1, 2.0}, "a": 1.0}}, // same
		{Path: "missing", Value: "x"},                                      // absent: differs
		{Path: "[", Value: "x"},                                            // bad path: kept
	}
	assert.Equal(t, []connectors.Change{desired[1], desired[6], desired[8], desired[10], desired[11],
		desired[13], desired[15], desired[16]}, Diff(desired, current))
	assert.Empty(t, Diff(nil, current))
	assert.Len(t, Diff(desired[:4], nil), 3, "nothing current: every non-nil value differs")
}

func TestRoundTrip(t *testing.T) {
	s, err := Compile(userMappings())
	require.NoError(t, err)
	sources := []map[string]any{source(t), {}, obj(t, `{"username":"x","name":{"given":"A"},"enabled":false}`)}
	for _, src := range sources {
		desired, err := s.Evaluate(src, true)
		require.NoError(t, err)
		built, err := Build(desired)
		require.NoError(t, err)
		assert.Empty(t, Diff(desired, built), "Build then Diff of the same values")
		setBuilt, err := s.Build(desired)
		require.NoError(t, err)
		assert.Equal(t, built, setBuilt, "the Set's Build is the package's")
		assert.Empty(t, s.Diff(desired, built))

		// Apply over the built object with the same values changes nothing.
		again := obj(t, mustJSON(t, built))
		require.NoError(t, Apply(again, desired))
		assert.Equal(t, built, again)
		assert.Equal(t, Digest(built), Digest(again))

		// A change of the source shows as exactly the changed targets, and applying the diff
		// converges.
		changed := obj(t, mustJSON(t, src))
		changed["email"] = "new@example.com"
		changed["nickname"] = "n"
		next, err := s.Evaluate(changed, false)
		require.NoError(t, err)
		diff := Diff(next, built)
		require.Len(t, diff, 1)
		assert.Equal(t, `emails[type eq "work"].value`, diff[0].Path)
		assert.Equal(t, diff, s.Diff(next, built), "the Set's Diff is the package's")
		v, ok := s.Value(next, `EMAILS[type eq "work"].value`)
		assert.True(t, ok)
		assert.Equal(t, "new@example.com", v)
		viaSet := obj(t, mustJSON(t, built))
		require.NoError(t, s.Apply(viaSet, diff))
		require.NoError(t, Apply(built, diff))
		assert.Equal(t, built, viaSet, "the Set's Apply is the package's")
		assert.Empty(t, Diff(next, built))
	}
}

func TestDigest(t *testing.T) {
	assert.Len(t, Digest("x"), 32)
	assert.Equal(t, Digest(1), Digest(1.0))
	assert.Equal(t, Digest(map[string]any{"a": 1, "b": []string{"x"}}), Digest(obj(t, `{"b":["x"],"a":1}`)))
	assert.Equal(t, Digest(map[string]any{"a": 1, "n": nil}), Digest(map[string]any{"a": 1}))
	assert.NotEqual(t, Digest("1"), Digest(1))
	assert.NotEqual(t, Digest([]any{"a", "b"}), Digest([]any{"b", "a"}))
	assert.NotEqual(t, Digest(nil), Digest(""))
	assert.Equal(t, Digest(struct {
		A int `json:"a"`
	}{1}), Digest(map[string]any{"a": 1}))
}

func TestEqual(t *testing.T) {
	assert.True(t, Equal(1, 1.0))
	assert.True(t, Equal(uint8(3), int64(3)))
	assert.True(t, Equal(nil, nil))
	assert.True(t, Equal([]string{"a"}, []any{"a"}))
	assert.True(t, Equal(map[string]any{"a": nil}, map[string]any{}))
	assert.False(t, Equal("a", "A"))
	assert.False(t, Equal(nil, ""))
	assert.False(t, Equal(1, "1"))
	assert.False(t, Equal([]any{1}, []any{1, 2}))
}

func TestSimplePathAgreesWithParsePath(t *testing.T) {
	for _, s := range []string{"userName", "name.givenName", "a-b_c1.d", "x", "emails.value", "1a", "a.", ".a", "a.b.c", "a b", "é", "urn:x:y"} {
		sp, ok := simplePath(s)
		p, err := ParsePath(s)
		if ok {
			require.NoError(t, err, s)
			assert.Equal(t, p, sp, s)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := jsonMarshal(v)
	require.NoError(t, err)
	return string(raw)
}

// BenchmarkEvaluate measures the per-identity cost of a typical rule: ten mappings, two of
// them expressions, evaluated, then diffed against the target's current resource.
func BenchmarkEvaluate(b *testing.B) {
	s, err := Compile(userMappings())
	require.NoError(b, err)
	src := source(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Evaluate(src, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluateDiff adds the Diff against the current target resource (an update).
func BenchmarkEvaluateDiff(b *testing.B) {
	s, err := Compile(userMappings())
	require.NoError(b, err)
	src := source(b)
	desired, err := s.Evaluate(src, true)
	require.NoError(b, err)
	current, err := Build(desired)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		changes, err := s.Evaluate(src, false)
		if err != nil {
			b.Fatal(err)
		}
		if d := s.Diff(changes, current); len(d) != 0 {
			b.Fatalf("diff %v", d)
		}
	}
}

// BenchmarkParsePath measures parsing a filtered path (the filter parser's cost, which the
// Set's own Build/Apply/Diff avoid).
func BenchmarkParsePath(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePath(`phoneNumbers[type eq "mobile" and primary eq true].value`); err != nil {
			b.Fatal(err)
		}
	}
}
