package mapping

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// obj decodes JSON text into a resource object, as connectors see resources.
func obj(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m))
	return m
}

func TestParsePathForms(t *testing.T) {
	cases := []struct {
		in, canon      string
		uri, attr, sub string
		filtered       bool
	}{
		{"userName", "userName", "", "userName", "", false},
		{"name.givenName", "name.givenName", "", "name", "givenName", false},
		{`emails[type eq "work"].value`, `emails[type eq "work"].value`, "", "emails", "value", true},
		{`phoneNumbers[type eq "mobile" and primary eq true].value`, `phoneNumbers[type eq "mobile" and primary eq true].value`, "", "phoneNumbers", "value", true},
		{enterprise + ":employeeNumber", enterprise + ":employeeNumber", enterprise, "employeeNumber", "", false},
		{enterprise + ":manager.value", enterprise + ":manager.value", enterprise, "manager", "value", false},
		{"members", "members", "", "members", "", false},
		{`emails[type eq "work"]`, `emails[type eq "work"]`, "", "emails", "", true},
		{`x[a eq 1 or b eq 2 and c eq 3]`, `x[a eq 1 or (b eq 2 and c eq 3)]`, "", "x", "", true},
		{`x[(a eq 1 or b eq 2) and c eq 3]`, `x[(a eq 1 or b eq 2) and c eq 3]`, "", "x", "", true},
		{`x[a eq 1 and b eq 2 and c eq 3]`, `x[a eq 1 and b eq 2 and c eq 3]`, "", "x", "", true},
		{`x[not (a eq 1.5)].y`, `x[not (a eq 1.5)].y`, "", "x", "y", true},
		{`x[a pr]`, `x[a pr]`, "", "x", "", true},
		{`x[a eq "q\"uote"]`, `x[a eq "q\"uote"]`, "", "x", "", true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			p, err := ParsePath(c.in)
			require.NoError(t, err)
			assert.Equal(t, c.canon, p.String())
			assert.Equal(t, c.uri, p.URI())
			assert.Equal(t, c.attr, p.Attribute())
			assert.Equal(t, c.sub, p.SubAttribute())
			assert.Equal(t, c.filtered, p.HasFilter())
			again, err := ParsePath(p.String())
			require.NoError(t, err)
			assert.Equal(t, p.String(), again.String())
		})
	}
}

func TestParsePathErrors(t *testing.T) {
	cases := map[string]string{
		"":                                "empty",
		"   ":                             "empty",
		"a.b.c":                           `"a.b.c"`,
		`emails[type eq "work"`:           "unclosed value filter",
		`x[y[z eq 1]]`:                    "nested value filter",
		`emails[type eq "work"]value`:     "after the value filter",
		`emails[type eq "work"].`:         "no sub-attribute name",
		`emails[type eq "work"].a.b`:      "not a sub-attribute name",
		`emails[]`:                        "empty value filter",
		`emails]`:                         "unexpected",
		`x[a eq "\q"]`:                    "value filter",
		`name.givenName[type eq "x"]`:     "sub-attribute",
		strings.Repeat("a", maxPathLen+1): "longer than",
		"emails[type eq]":                 "value filter",
		"1abc":                            "not a SCIM attribute path",
	}
	for in, want := range cases {
		_, err := ParsePath(in)
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), want, in)
	}
}

func TestPathKeyCaseInsensitive(t *testing.T) {
	assert.Equal(t, MustParsePath("Name.GivenName").Key(), MustParsePath("name.givenname").Key())
	assert.NotEqual(t, MustParsePath("name.givenName").Key(), MustParsePath("name.familyName").Key())
}

func TestPathGet(t *testing.T) {
	res := obj(t, `{"userName":"bjensen","name":{"givenName":"Barbara"},
		"emails":[{"type":"home","value":"b@home"},{"type":"Work","value":"b@work","primary":true}],
		"phoneNumbers":[{"type":"mobile","value":"1"},{"type":"mobile","primary":true,"value":"2"}],
		"`+enterprise+`":{"employeeNumber":"701984","manager":{"value":"m1"}},
		"members":[{"value":"u1"},{"value":"u2"}],"count":3}`)
	cases := []struct {
		path string
		want any
		ok   bool
	}{
		{"userName", "bjensen", true},
		{"USERNAME", "bjensen", true},
		{"name.givenName", "Barbara", true},
		{"name.GIVENNAME", "Barbara", true},
		{"name.familyName", nil, false},
		{`emails[type eq "work"].value`, "b@work", true},
		{`emails[type eq "other"].value`, nil, false},
		{`emails[primary eq true].value`, "b@work", true},
		{`emails[value ew "@home"].type`, "home", true},
		{`emails[not (type eq "work")].value`, "b@home", true},
		{`phoneNumbers[type eq "mobile" and primary eq true].value`, "2", true},
		{`phoneNumbers[type eq "mobile"].value`, "1", true},
		{`emails[type eq "work"]`, map[string]any{"type": "Work", "value": "b@work", "primary": true}, true},
		{"emails.value", []any{"b@home", "b@work"}, true},
		{enterprise + ":employeeNumber", "701984", true},
		{strings.ToLower(enterprise) + ":EmployeeNumber", "701984", true},
		{enterprise + ":manager.value", "m1", true},
		{"urn:ietf:params:scim:schemas:core:2.0:User:userName", "bjensen", true},
		{"members", []any{map[string]any{"value": "u1"}, map[string]any{"value": "u2"}}, true},
		{"userName.x", nil, false},
		{`userName[type eq "x"].value`, nil, false},
		{`count[x gt 1]`, nil, false},
		{"missing", nil, false},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			v, ok := MustParsePath(c.path).Get(res)
			assert.Equal(t, c.ok, ok)
			assert.Equal(t, c.want, v)
		})
	}
	_, ok := MustParsePath("userName").Get(nil)
	assert.False(t, ok)
}

func TestPathFilterOperators(t *testing.T) {
	res := obj(t, `{"x":[{"n":5,"s":"Hello","b":false}]}`)
	yes := []string{`x[n eq 5]`, `x[n ne 4]`, `x[n gt 4]`, `x[n ge 5]`, `x[n lt 6]`, `x[n le 5]`,
		`x[s eq "hello"]`, `x[s co "ELL"]`, `x[s sw "he"]`, `x[s ew "LO"]`, `x[s gt "a"]`, `x[s pr]`,
		`x[b eq false]`, `x[b ne true]`, `x[missing ne 1]`, `x[s eq "no" or n eq 5]`, `x[s ne 5]`}
	no := []string{`x[n eq 4]`, `x[n gt 5]`, `x[s eq "hell"]`, `x[missing pr]`, `x[missing eq 1]`,
		`x[b eq true]`, `x[s eq "hello" and n eq 4]`, `x[n eq "5"]`, `x[s lt "a"]`}
	for _, p := range yes {
		_, ok := MustParsePath(p).Get(res)
		assert.True(t, ok, p)
	}
	for _, p := range no {
		_, ok := MustParsePath(p).Get(res)
		assert.False(t, ok, p)
	}
}

func TestPathSet(t *testing.T) {
	cases := []struct {
		name, start, path string
		v                 any
		want              string
	}{
		{"top", `{}`, "userName", "bj", `{"userName":"bj"}`},
		{"keeps spelling", `{"USERNAME":"x"}`, "userName", "bj", `{"USERNAME":"bj"}`},
		{"creates object", `{}`, "name.givenName", "B", `{"name":{"givenName":"B"}}`},
		{"into object keeps spelling", `{"Name":{"GivenName":"x","familyName":"J"}}`, "name.givenName", "B", `{"Name":{"GivenName":"B","familyName":"J"}}`},
		{"new element", `{}`, `emails[type eq "work"].value`, "b@w", `{"emails":[{"type":"work","value":"b@w"}]}`},
		{"new element and", `{"phoneNumbers":[{"type":"mobile","value":"1"}]}`, `phoneNumbers[type eq "mobile" and primary eq true].value`, "2",
			`{"phoneNumbers":[{"type":"mobile","value":"1"},{"type":"mobile","primary":true,"value":"2"}]}`},
		{"existing element", `{"emails":[{"type":"home","value":"h"},{"type":"WORK","value":"old"}]}`, `emails[type eq "work"].value`, "new",
			`{"emails":[{"type":"home","value":"h"},{"type":"WORK","value":"new"}]}`},
		{"whole element", `{"emails":[{"type":"work","value":"old"}]}`, `emails[type eq "work"]`, map[string]any{"type": "work", "value": "n"},
			`{"emails":[{"type":"work","value":"n"}]}`},
		{"whole new element", `{}`, `emails[type eq "work"]`, map[string]any{"value": "n"}, `{"emails":[{"type":"work","value":"n"}]}`},
		{"number filter", `{}`, `x[n eq 2].v`, true, `{"x":[{"n":2,"v":true}]}`},
		{"extension", `{}`, enterprise + ":employeeNumber", "7", `{"` + enterprise + `":{"employeeNumber":"7"}}`},
		{"extension existing", `{"` + enterprise + `":{"department":"d"}}`, enterprise + ":manager.value", "m", `{"` + enterprise + `":{"department":"d","manager":{"value":"m"}}}`},
		{"core urn", `{}`, "urn:ietf:params:scim:schemas:core:2.0:User:userName", "bj", `{"userName":"bj"}`},
		{"members", `{"members":[{"value":"a"}]}`, "members", []any{map[string]any{"value": "b"}}, `{"members":[{"value":"b"}]}`},
		{"nil removes", `{"userName":"x","a":1}`, "userName", nil, `{"a":1}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := obj(t, c.start)
			require.NoError(t, MustParsePath(c.path).Set(o, c.v))
			assert.Equal(t, obj(t, c.want), o)
			if c.v != nil {
				got, ok := MustParsePath(c.path).Get(o)
				assert.True(t, ok)
				if _, whole := c.v.(map[string]any); !whole {
					assert.True(t, Equal(c.v, got), "get after set: %v", got)
				}
			}
		})
	}
}

func TestPathSetErrors(t *testing.T) {
	cases := []struct{ start, path, want string }{
		{`{"name":"x"}`, "name.givenName", "holds a string, not an object"},
		{`{"emails":[{"value":"a"}]}`, "emails.value", "multi-valued"},
		{`{"emails":"x"}`, `emails[type eq "work"].value`, "not a list"},
		{`{}`, `emails[type ne "work"].value`, `"ne" term`},
		{`{}`, `emails[type eq "a" or type eq "b"].value`, `"or"`},
		{`{}`, `emails[not (type eq "a")].value`, "not"},
		{`{"` + enterprise + `":"x"}`, enterprise + ":employeeNumber", "non-object"},
		{`{}`, `emails[type eq "work"]`, "must be an object"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			o := obj(t, c.start)
			v := any("v")
			err := MustParsePath(c.path).Set(o, v)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", c.path))
		})
	}
	assert.Error(t, Path{}.Set(map[string]any{}, "v"))
	assert.Error(t, MustParsePath("a").Set(nil, "v"))
}

func TestPathRemove(t *testing.T) {
	cases := []struct{ name, start, path, want string }{
		{"top", `{"userName":"x","a":1}`, "USERNAME", `{"a":1}`},
		{"absent", `{"a":1}`, "userName", `{"a":1}`},
		{"sub", `{"name":{"givenName":"B","familyName":"J"}}`, "name.givenName", `{"name":{"familyName":"J"}}`},
		{"element sub drops bare element", `{"emails":[{"type":"home","value":"h"},{"type":"work","value":"w"}]}`, `emails[type eq "work"].value`,
			`{"emails":[{"type":"home","value":"h"}]}`},
		{"element sub keeps rich element", `{"emails":[{"type":"work","value":"w","primary":true}]}`, `emails[type eq "work"].value`,
			`{"emails":[{"type":"work","primary":true}]}`},
		{"last element drops list", `{"emails":[{"type":"work","value":"w"}],"a":1}`, `emails[type eq "work"].value`, `{"a":1}`},
		{"whole elements", `{"emails":[{"type":"work","value":"1"},{"type":"home"},{"type":"work","value":"2"}]}`, `emails[type eq "work"]`,
			`{"emails":[{"type":"home"}]}`},
		{"extension emptied", `{"` + enterprise + `":{"employeeNumber":"7"},"a":1}`, enterprise + ":employeeNumber", `{"a":1}`},
		{"extension absent", `{"a":1}`, enterprise + ":employeeNumber", `{"a":1}`},
		{"no match", `{"emails":[{"type":"home"}]}`, `emails[type eq "work"].value`, `{"emails":[{"type":"home"}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := obj(t, c.start)
			require.NoError(t, MustParsePath(c.path).Remove(o))
			assert.Equal(t, obj(t, c.want), o)
		})
	}
	assert.Error(t, MustParsePath("emails.value").Remove(obj(t, `{"emails":[{"value":"a"}]}`)))
	assert.Error(t, MustParsePath("name.given").Remove(obj(t, `{"name":"x"}`)))
	assert.Error(t, MustParsePath(`emails[type eq "w"]`).Remove(obj(t, `{"emails":"x"}`)))
	assert.NoError(t, MustParsePath("a").Remove(nil))
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"userName", "name.givenName", `emails[type eq "work"].value`,
		`phoneNumbers[type eq "mobile" and primary eq true].value`, enterprise + ":employeeNumber",
		"members", `x[not (a eq 1.5) or (b pr and c sw "x")].y`, `x[a eq "\u00e9\""]`, "a.b.c", `x[y[z eq 1]]`,
		`x[a eq 1e300]`, `x[a eq -0]`, `x[a eq null]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if sp, ok := simplePath(s); ok && (err != nil || sp != p) {
			t.Fatalf("fast path disagrees on %q: %#v vs %#v, %v", s, sp, p, err)
		}
		if err != nil {
			if !p.IsZero() {
				t.Fatalf("error with non-zero path")
			}
			return
		}
		canon := p.String()
		q, err := ParsePath(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if q.String() != canon {
			t.Fatalf("canonical form unstable: %q then %q", canon, q.String())
		}
		o := map[string]any{}
		if err := p.Set(o, "v"); err == nil {
			if v, ok := p.Get(o); !ok || v != "v" {
				t.Fatalf("%q: get after set = %v, %v (obj %v)", canon, v, ok, o)
			}
		}
		_ = p.Remove(o)
	})
}
