package mapping

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sourceJSON is a source identity in the shape the runtime builds from a directory user.
const sourceJSON = `{"id":"u-1","username":"bjensen","email":"Barbara.Jensen@Example.com",
	"name":{"given":"barbara","family":"jensen","formatted":"Barbara Jensen","middle":""},
	"nickname":"Babs","title":"mrs","locale":"en-US","enabled":true,"populationId":"p-1",
	"externalId":"ext-1","primaryPhone":"+1 555 0100","mobilePhone":null,
	"address":{"locality":"Paris","countryCode":"FR"},"groups":["Engineering","Staff"],
	"hireDate":"2021-03-04T05:06:07Z","hiredUnix":1614834367,"badge":42,"Cost Center":"CC-9"}`

func source(t testing.TB) map[string]any { return obj(t, sourceJSON) }

func eval(t *testing.T, code string) (any, error) {
	t.Helper()
	e, err := CompileExpression(code)
	require.NoError(t, err, code)
	assert.Equal(t, code, e.String())
	return e.Evaluate(source(t))
}

func TestExpressionLibrary(t *testing.T) {
	cases := []struct {
		code string
		want any
	}{
		// environment
		{`username`, "bjensen"},
		{`name.given`, "barbara"},
		{`name.missing`, nil},
		{`missing`, nil},
		{`missing.deeper.still`, nil},
		{`address.locality`, "Paris"},
		{`source.username`, "bjensen"},
		{`source["Cost Center"]`, "CC-9"},
		{`attr("cost center")`, "CC-9"},
		{`attr("NAME.GIVEN")`, "barbara"},
		{`attr("nope.x")`, nil},
		{`enabled`, true},
		{`badge + 1`, 43.0},
		{`len(groups)`, 2.0},
		{`groups[0]`, "Engineering"},
		{`title`, "mrs"},
		// case
		{`lower(email)`, "barbara.jensen@example.com"},
		{`upper(username)`, "BJENSEN"},
		{`trim("  a b  ")`, "a b"},
		{`title("barbara ann o'neil-smith")`, "Barbara Ann O'neil-Smith"},
		{`title(title)`, "Mrs"},
		{`lower(missing)`, nil},
		{`upper(nil)`, nil},
		{`trim(missing)`, nil},
		{`title(nil)`, nil},
		{`lower(badge)`, "42"},
		// concat
		{`concat(name.given, " ", name.family)`, "barbara jensen"},
		{`concat(missing, "x", nil, badge, enabled)`, "x42true"},
		{`concat()`, ""},
		// substring
		{`substring(username, 1)`, "jensen"},
		{`substring(username, 0, 1)`, "b"},
		{`substring("héllo", 1, 3)`, "éll"},
		{`substring(username, 50)`, ""},
		{`substring(username, -3, 2)`, "bj"},
		{`substring(username, 2, 100)`, "ensen"},
		{`substring(missing, 0, 2)`, nil},
		// replace, regex
		{`replace(primaryPhone, " ", "")`, "+15550100"},
		{`replace(missing, "a", "b")`, nil},
		{`regexReplace(email, "@.*$", "")`, "Barbara.Jensen"},
		{`regexReplace(username, "^(.)(.*)$", "$2.$1")`, "jensen.b"},
		{`regexReplace(missing, "a", "b")`, nil},
		{`regexReplace(username, concat("j", "en"), "J")`, "bJsen"},
		{`regexMatch(email, "(?i)@example\\.com$")`, true},
		{`regexMatch(username, "^x")`, false},
		{`regexMatch(missing, "^x")`, false},
		// split, join
		{`split("a,b,,c", ",")`, []any{"a", "b", "", "c"}},
		{`split("", ",")`, []any{}},
		{`split(missing, ",")`, nil},
		{`join(groups, ";")`, "Engineering;Staff"},
		{`join(["a", nil, 1], "-")`, "a-1"},
		{`join(missing, ",")`, nil},
		{`join(split(locale, "-"), "_")`, "en_US"},
		{`join(username, ",")`, "bjensen"},
		// dateFormat
		{`dateFormat(hireDate, "date")`, "2021-03-04"},
		{`dateFormat(hireDate, "RFC3339")`, "2021-03-04T05:06:07Z"},
		{`dateFormat(hireDate, "02/01/2006 15:04")`, "04/03/2021 05:06"},
		{`dateFormat(hiredUnix, "RFC3339")`, "2021-03-04T05:06:07Z"},
		{`dateFormat(hireDate, "unix")`, 1614834367.0},
		{`dateFormat("2021-03-04", "datetime")`, "2021-03-04 00:00:00"},
		{`dateFormat("04.03.2021", "date", "02.01.2006")`, "2021-03-04"},
		{`dateFormat("1614834367", "date", "unix")`, "2021-03-04"},
		{`dateFormat("2021-03-04T05:06:07+02:00", "time")`, "03:06:07"},
		{`dateFormat(missing, "date")`, nil},
		{`dateFormat("", "date")`, nil},
		// coalesce, switch, default, toString
		{`coalesce(name.middle, missing, nickname, username)`, "Babs"},
		{`coalesce(missing, "")`, nil},
		{`coalesce(mobilePhone, primaryPhone)`, "+1 555 0100"},
		{`coalesce([], groups)`, []any{"Engineering", "Staff"}},
		{`switch(locale, "fr-FR", "French", "en-US", "English", "Other")`, "English"},
		{`switch(locale, "fr-FR", "French", "Other")`, "Other"},
		{`switch(locale, "fr-FR", "French")`, nil},
		{`switch(badge, 42, "answer")`, "answer"},
		{`switch(missing, nil, "none", "some")`, "none"},
		{`switch(locale)`, nil},
		{`default(name.middle, "-")`, "-"},
		{`default(missing, "-")`, "-"},
		{`default(username, "-")`, "bjensen"},
		{`default(enabled, "-")`, true},
		{`toString(badge)`, "42"},
		{`toString(1.5)`, "1.5"},
		{`toString(1e21)`, "1000000000000000000000"},
		{`toString(enabled)`, "true"},
		{`toString(missing)`, ""},
		{`toString(groups)`, `["Engineering","Staff"]`},
		{`toString(address)`, `{"countryCode":"FR","locality":"Paris"}`},
		// expr-lang itself
		{`enabled ? "active" : "inactive"`, "active"},
		{`"Engineering" in groups`, true},
		{`username + "@corp.example"`, "bjensen@corp.example"},
		{`filter(groups, # startsWith "E")`, []any{"Engineering"}},
		{`name.middle ?? "x"`, ""},
		{`missing ?? "x"`, "x"},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			got, err := eval(t, c.code)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestExpressionRuntimeErrors(t *testing.T) {
	cases := map[string]string{
		`substring(username, "a")`:                "start must be a whole number",
		`substring(username, 1.5)`:                "start must be a whole number",
		`substring(username, 0, -1)`:              "length must not be negative",
		`regexReplace(username, concat("("), "")`: "invalid pattern",
		`regexMatch(username, badge)`:             "pattern must be text",
		`dateFormat("yesterday", "date")`:         "not an RFC 3339 time",
		`dateFormat("x", "date", "2006")`:         "does not match the input layout",
		`dateFormat("x", "date", "unix")`:         "not a unix time",
		`dateFormat(groups, "date")`:              "must be a time text or unix seconds",
		`dateFormat(hireDate, "")`:                "output layout",
		`dateFormat(hireDate, "date", 5)`:         "input layout",
		`dateFormat(1e300, "date")`:               "not a unix time",
		`groups[5]`:                               "index out of range",
		`missing + 1`:                             "expression failed",
	}
	for code, want := range cases {
		t.Run(code, func(t *testing.T) {
			_, err := eval(t, code)
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}
}

func TestExpressionCompileErrors(t *testing.T) {
	cases := map[string]string{
		``:                                      "empty",
		`   `:                                   "empty",
		`username +`:                            "does not compile",
		`lower()`:                               "does not compile",
		`lower(a, b)`:                           "does not compile",
		`substring(a)`:                          "does not compile",
		`regexMatch(username, "(")`:             "invalid pattern",
		`regexReplace(username, "[a-", "")`:     "invalid pattern",
		`now()`:                                 "unknown function",
		`repeat("a", 1000000000)`:               "unknown function",
		`nosuch(1)`:                             "unknown function",
		strings.Repeat("a+", 400) + "a":         "does not compile",
		strings.Repeat("x", MaxExpressionLen+1): "longer than",
		`regexMatch(a, "` + strings.Repeat("a", maxPatternLen+1) + `")`: "pattern longer",
	}
	for code, want := range cases {
		name := code
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			_, err := CompileExpression(code)
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}
}

func TestExpressionResultBounds(t *testing.T) {
	// Nested amplifying calls fail cleanly instead of exhausting memory.
	big := `toString(map(1..500, username))` // ~5 KB
	for code, want := range map[string]string{
		`replace(replace(` + big + `, "b", ` + big + `), "b", ` + big + `)`:                         "replace: result longer",
		`regexReplace(` + big + `, "b", "$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0")`:                          "",
		`regexReplace(regexReplace(` + big + `, ".", "$0$0$0$0$0$0$0$0"), ".", "$0$0$0$0$0$0$0$0")`: "regexReplace: result longer",
		`join(map(1..200, ` + big + `), "")`:                                                        "result longer",
		`concat(` + big + `, ` + big + `, ` + big + `, ` + big + `, ` + big + `, ` + big + `, ` + big + `, ` + big + `, ` + big + `, ` + big + `, ` + big + `, ` + big + `, ` + big + `, ` + big + `)`: "concat: result longer",
		`toString(map(1..99999, username))`:                         "toString",
		`map(1..10000000, #)`:                                       "memory budget",
		`count(1..999, count(1..999, count(1..999, true) > 0) > 0)`: "memory budget",
	} {
		t.Run(code[:min(len(code), 50)], func(t *testing.T) {
			v, err := eval(t, code)
			if want == "" {
				require.NoError(t, err)
				assert.LessOrEqual(t, len(v.(string)), MaxResultLen)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}
}

func TestRegexReplaceMatchesStdlib(t *testing.T) {
	for _, c := range [][3]string{{"a+", "baaac aa", "<$0>"}, {"x*", "abc", "-"}, {"(\\w)(\\w)", "abcd e", "$2$1"}, {"^", "abc", "X"}, {"(?P<n>b)", "abb", "${n}!"}} {
		re := regexp.MustCompile(c[0])
		got, err := regexReplace(re, c[1], c[2])
		require.NoError(t, err)
		assert.Equal(t, re.ReplaceAllString(c[1], c[2]), got, c)
	}
}

func TestExpressionConcurrent(t *testing.T) {
	e, err := CompileExpression(`concat(regexReplace(username, "^(.)", "$1."), upper(attr("name.family")))`)
	require.NoError(t, err)
	src := source(t)
	done := make(chan error, 8)
	for range 8 {
		go func() {
			for range 200 {
				v, err := e.Evaluate(src)
				if err == nil && v != "b.jensenJENSEN" {
					err = fmt.Errorf("got %v", v)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		require.NoError(t, <-done)
	}
}

func TestExpressionNilSource(t *testing.T) {
	e, err := CompileExpression(`coalesce(name.given, attr("x"), source.y, "none")`)
	require.NoError(t, err)
	v, err := e.Evaluate(nil)
	require.NoError(t, err)
	assert.Equal(t, "none", v)
}

func TestSourceValue(t *testing.T) {
	src := obj(t, `{"name":{"Given":"b"},"a.b":"dotted","Cost Center":"cc","n":1}`)
	for path, want := range map[string]any{"name.given": "b", "NAME.GIVEN": "b", "a.b": "dotted", "cost center": "cc", "n": 1.0} {
		v, ok := SourceValue(src, path)
		assert.True(t, ok, path)
		assert.Equal(t, want, v, path)
	}
	for _, path := range []string{"name.x", "n.x", "x", "name.given.x"} {
		_, ok := SourceValue(src, path)
		assert.False(t, ok, path)
	}
}

func FuzzExpression(f *testing.F) {
	for _, s := range []string{`lower(username)`, `concat(name.given, " ", name.family)`,
		`regexReplace(email, "@.*", "")`, `substring(username, 1, 2)`, `dateFormat(hireDate, "date")`,
		`switch(locale, "a", 1, 2)`, `coalesce(missing, attr("Cost Center"))`, `map(1..100, # * 2)`,
		`split(join(groups, ","), ",")`, `default(nil, title(nickname))`, `toString(address)`,
		`filter(groups, len(#) > 3)`, `regexMatch(username, username)`, `1..1000000`} {
		f.Add(s)
	}
	src := source(f)
	f.Fuzz(func(t *testing.T, code string) {
		e, err := CompileExpression(code)
		if err != nil {
			return
		}
		v, err := e.Evaluate(src)
		if err == nil {
			_ = Digest(v) // the result is JSON-shaped and digestible
		}
	})
}
