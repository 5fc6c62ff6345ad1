package scim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/idstream/idstream/connectors"
)

var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"3", 3 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"86401", 24 * time.Hour, true},
		{"99999999999999999999999", 24 * time.Hour, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"3s", 0, false},
		{"Thu, 03 Dec 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Thursday, 03-Dec-26 12:01:00 GMT", time.Minute, true}, // RFC 850
		{"Thu Dec  3 12:00:05 2026", 5 * time.Second, true},     // asctime
		{"Thu, 03 Dec 2026 11:00:00 GMT", 0, true},              // in the past
		{"Thu, 03 Dec 2036 11:00:00 GMT", 24 * time.Hour, true},
		{"tomorrow", 0, false},
	} {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "3", "86401", "Thu, 03 Dec 2026 12:00:30 GMT", "Thu Dec  3 12:00:05 2026", "-5", "1e9", "١٢"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseRetryAfter(s, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %v out of [0, 24h]", s, d)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v but not ok", s, d)
		}
	})
}

func TestEqFilterRoundTrips(t *testing.T) {
	for _, v := range []string{"alice@example.com", `a"b`, `back\slash`, "tab\there", "ünïcödé", `") or (userName pr`, ""} {
		f := EqFilter("userName", v)
		e, err := filter.ParseAttrExp([]byte(f))
		if err != nil {
			t.Fatalf("EqFilter(%q) = %s does not parse: %v", v, f, err)
		}
		if e.Operator != filter.EQ || e.AttributePath.AttributeName != "userName" {
			t.Fatalf("EqFilter(%q) = %s parses as %v", v, f, e)
		}
		if got := unquote(t, f); got != v {
			t.Fatalf("EqFilter(%q) = %s carries %q", v, f, got)
		}
	}
}

// unquote returns the compare value of `attr eq "..."` decoded as the JSON string it is.
func unquote(t *testing.T, f string) string {
	t.Helper()
	_, q, _ := strings.Cut(f, " eq ")
	var s string
	if err := json.Unmarshal([]byte(q), &s); err != nil {
		t.Fatalf("compare value %s: %v", q, err)
	}
	return s
}

func FuzzEqFilter(f *testing.F) {
	for _, s := range []string{"a", `"`, `\`, `\"`, "\x00", "é", `") or (x pr`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if !utf8.ValidString(v) {
			return // JSON strings are UTF-8: invalid bytes are replaced
		}
		fl := EqFilter("userName", v)
		e, err := filter.ParseFilter([]byte(fl))
		if err != nil {
			t.Skip() // the third-party parser refuses some valid JSON escapes; the store parses it
		}
		ae, ok := e.(*filter.AttributeExpression)
		if !ok || ae.Operator != filter.EQ || ae.AttributePath.AttributeName != "userName" {
			t.Fatalf("EqFilter(%q) = %s parses as %#v: the value escaped the string", v, fl, e)
		}
		if got := unquote(t, fl); got != v {
			t.Fatalf("EqFilter(%q) carries %q", v, got)
		}
	})
}

func TestParseListResponse(t *testing.T) {
	p, err := ParseListResponse([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":2,"startIndex":1,"Resources":[{"id":"a","schemas":["x"],"userName":"u"},{"id":"b"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.TotalResults != 2 || len(p.Resources) != 2 || p.Resources[0].ID != "a" || p.Resources[0].Attributes["userName"] != "u" {
		t.Fatalf("got %+v", p)
	}
	if _, ok := p.Resources[0].Attributes["schemas"]; ok {
		t.Fatal("schemas kept in attributes")
	}
	for _, bad := range []string{``, `[]`, `{}`, `{"totalResults":-1}`, `{"totalResults":1,"Resources":[{"userName":"no id"}]}`, `{"totalResults":1,"Resources":[null]}`, `{"totalResults":1,"Resources":[{"id":7}]}`} {
		if _, err := ParseListResponse([]byte(bad)); err == nil {
			t.Errorf("ParseListResponse(%s): no error", bad)
		}
	}
}

func FuzzParseListResponse(f *testing.F) {
	f.Add([]byte(`{"totalResults":2,"startIndex":1,"Resources":[{"id":"a"},{"id":"b","emails":[{"value":"x"}]}]}`))
	f.Add([]byte(`{"totalResults":0}`))
	f.Add([]byte(`{"totalResults":1,"Resources":[{"id":""}]}`))
	f.Add([]byte(`{"Resources":null,"totalResults":1e3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseListResponse(b)
		if err != nil {
			return
		}
		if p.TotalResults < 0 {
			t.Fatalf("negative total %d", p.TotalResults)
		}
		for _, r := range p.Resources {
			if r.ID == "" || r.Attributes == nil {
				t.Fatalf("resource without ID or attributes: %+v", r)
			}
		}
	})
}

func TestStatusError(t *testing.T) {
	long := strings.Repeat("é", 500)
	for _, tc := range []struct {
		status int
		header string
		body   string
		class  connectors.Class
		retry  time.Duration
	}{
		{400, "", `{"status":"400","scimType":"invalidValue","detail":"bad"}`, connectors.ClassInvalid, 0},
		{400, "", `{"status":"400","scimType":"uniqueness","detail":"taken"}`, connectors.ClassConflict, 0},
		{401, "", `not json`, connectors.ClassAuth, 0},
		{403, "", ``, connectors.ClassAuth, 0},
		{404, "", `{"detail":"gone"}`, connectors.ClassNotFound, 0},
		{409, "", `{"detail":"` + long + `"}`, connectors.ClassConflict, 0},
		{412, "", ``, connectors.ClassConflict, 0},
		{413, "", ``, connectors.ClassInvalid, 0},
		{429, "7", ``, connectors.ClassRateLimited, 7 * time.Second},
		{429, "Thu, 03 Dec 2026 12:01:00 GMT", ``, connectors.ClassRateLimited, time.Minute},
		{429, "junk", ``, connectors.ClassRateLimited, 0},
		{500, "", ``, connectors.ClassUnavailable, 0},
		{501, "", ``, connectors.ClassInvalid, 0},
		{503, "30", ``, connectors.ClassUnavailable, 30 * time.Second},
		{408, "", ``, connectors.ClassUnavailable, 0},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
		if tc.header != "" {
			resp.Header.Set("Retry-After", tc.header)
		}
		err := statusError("get user", resp, []byte(tc.body), now)
		if got := connectors.ClassOf(err); got != tc.class {
			t.Errorf("%d %s: class %s, want %s", tc.status, tc.body, got, tc.class)
		}
		if got := connectors.RetryAfterOf(err); got != tc.retry {
			t.Errorf("%d: retry after %v, want %v", tc.status, got, tc.retry)
		}
		if msg := err.Error(); len(msg) > 400 || !utf8.ValidString(msg) {
			t.Errorf("%d: message of %d bytes (valid UTF-8: %v)", tc.status, len(msg), utf8.ValidString(msg))
		}
	}
}

func FuzzParseErrorBody(f *testing.F) {
	f.Add([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"taken"}`))
	f.Add([]byte(`{"detail":"` + strings.Repeat("\u00e9\n", 300) + `"}`))
	f.Add([]byte(`{"status":409}`))
	f.Add([]byte(`<html>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, detail := parseErrorBody(b)
		for _, s := range []string{typ, detail} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 %q", s)
			}
			if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("control character in %q", s)
			}
		}
		if len(detail) > maxDetail+len("…") || len(typ) > 40+len("…") {
			t.Fatalf("detail of %d bytes, type of %d", len(detail), len(typ))
		}
	})
}
