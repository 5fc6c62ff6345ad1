package projections

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/idstream/idstream/domain"
)

// checkUserCreatedDecoder asserts that when the fast decoder accepts data, encoding/json accepts
// it too and decodes the same event; it returns whether the fast decoder accepted.
func checkUserCreatedDecoder(t *testing.T, d *userCreatedDecoder, data []byte) bool {
	t.Helper()
	orig := bytes.Clone(data)
	p, ok := d.decode(data)
	if !bytes.Equal(orig, data) {
		t.Fatalf("decoder modified its input %q", orig)
	}
	if !ok {
		return false
	}
	var want domain.UserCreated
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("fast decoder accepted %q, encoding/json refuses it: %v", data, err)
	}
	wantCustom := make([]CustomValue, 0, len(want.Custom))
	for k, v := range want.Custom {
		wantCustom = append(wantCustom, CustomValue{Name: k, Value: v})
	}
	slices.SortFunc(wantCustom, func(a, b CustomValue) int { return strings.Compare(a.Name, b.Name) })
	want.Custom = nil
	gotEvent := domain.UserCreated{EnvironmentID: p.EnvironmentID, UserID: p.u.ID, PopulationID: p.PopulationID, Profile: p.u.Profile, Enabled: p.u.Enabled}
	if !reflect.DeepEqual(gotEvent, want) {
		t.Fatalf("decode(%q):\n got %+v\nwant %+v", data, gotEvent, want)
	}
	if rest := *p.u; !reflect.DeepEqual(User{ID: rest.ID, Profile: rest.Profile, Enabled: rest.Enabled, Custom: rest.Custom}, rest) {
		t.Fatalf("decode(%q) set more of the user: %+v", data, rest)
	}
	got := p.u.Custom
	if len(got) == 0 && len(wantCustom) == 0 {
		return true
	}
	if !reflect.DeepEqual(got, wantCustom) {
		t.Fatalf("decode(%q) custom:\n got %q\nwant %q", data, got, wantCustom)
	}
	return true
}

func TestUserCreatedDecoderMatchesEncodingJSON(t *testing.T) {
	d := newUserCreatedDecoder()
	full, err := json.Marshal(domain.UserCreated{EnvironmentID: "env", UserID: "u1", PopulationID: "pop", Enabled: true,
		Profile: domain.Profile{Username: "Ann", Email: "ann@example.com", Name: domain.Name{Formatted: "Ms Ann B. Lee", Given: "Ann", Middle: "B.",
			Family: "Lee", HonorificPrefix: "Ms", HonorificSuffix: "PhD"}, Nickname: "an", Title: "Dr", PreferredLanguage: "fr", Locale: "fr-FR",
			Timezone: "Europe/Paris", PrimaryPhone: "+331", MobilePhone: "+336", ExternalID: "EXT-1", AccountID: "A1", Type: "staff", Photo: "https://p/x.png",
			Address: domain.Address{StreetAddress: "1 rue", Locality: "Paris", Region: "IdF", PostalCode: "75001", CountryCode: "FR"}},
		Custom: domain.CustomValues{"badge": raw(`"B-1"`), "vip": raw(`true`), "off": raw(`false`), "zé": raw(`"ünï"`)}})
	if err != nil {
		t.Fatal(err)
	}
	accepted := []string{
		string(full),
		`{}`,
		` { "userId" : "u" , "enabled" : false , "profile" : { } , "custom" : { } } `,
		"{\"userId\":\"u\",\n\t\"profile\":{\"username\":\"\",\"name\":{},\"address\":{}}}\r\n",
		`{"userId":"a","userId":"b"}`,
		`{"profile":{"username":"a","email":"e"},"profile":{"username":"b"}}`,
		`{"custom":{"x":"1","x":true,"y":false}}`,
		`{"custom":{"x":"1"},"custom":{"y":"2"}}`,
		`{"profile":{"username":"日本語"}}`,
		"{\"custom\":{\"x\": \"1\",\"y\":\n\ttrue , \"z\" :\t\"2\" }}",
	}
	for _, in := range accepted {
		if !checkUserCreatedDecoder(t, d, []byte(in)) {
			t.Errorf("fast decoder declined %q", in)
		}
	}
	declined := []string{
		``, `null`, `[]`, `{`, `{"userId":"u"`, `{"userId":"u",}`, `{"userId":"u"}x`, `{"userId":"u"} {}`,
		`{"userid":"u"}`, `{"UserID":"u"}`, `{"other":1}`, `{"userId":null}`, `{"userId":1}`, `{"enabled":"true"}`,
		`{"enabled":tru}`, `{"enabled":truex}`, `{"enabled":null}`, `{"userId":"a\"b"}`, `{"userId":"a\u0041"}`,
		"{\"userId\":\"a\tb\"}", "{\"userId\":\"\xff\"}", `{"profile":{"Username":"a"}}`, `{"profile":{"name":{"given":1}}}`,
		`{"profile":{"address":null}}`, `{"custom":{"x":1}}`, `{"custom":{"x":null}}`, `{"custom":{"x":{"a":1}}}`,
		`{"custom":{"x":["a"]}}`, `{"custom":{"x":"a\nb"}}`, `{"custom":null}`, `{"userId" "u"}`, `{"userId":"u" "enabled":true}`,
	}
	for _, in := range declined {
		if checkUserCreatedDecoder(t, d, []byte(in)) {
			t.Errorf("fast decoder accepted %q", in)
		}
	}
	// Values are the decoder's own: decoding again does not change what was handed out.
	p1, _ := d.decode([]byte(`{"userId":"u1","profile":{"username":"one"},"custom":{"b":"x"}}`))
	d.decode([]byte(`{"userId":"u2","profile":{"username":"two"},"custom":{"b":"y"}}`))
	if p1.u.ID != "u1" || p1.u.Profile.Username != "one" || string(p1.u.Custom[0].Value) != `"x"` {
		t.Fatalf("first payload changed: %+v", p1)
	}
}

func FuzzUserCreatedDecoder(f *testing.F) {
	f.Add([]byte(`{"environmentId":"e","userId":"u","populationId":"p","profile":{"username":"a","name":{"given":"G"}},"custom":{"x":"1","y":true},"enabled":true}`))
	f.Add([]byte(`{"custom":{"x":"1","x":false}}`))
	f.Add([]byte(`{"profile":{"address":{"region":"R"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkUserCreatedDecoder(t, newUserCreatedDecoder(), data)
	})
}

// checkUserUpdatedDecoder asserts that when decodeUpdated accepts data, encoding/json accepts it
// too and decodes the same payload; it returns whether decodeUpdated accepted.
func checkUserUpdatedDecoder(t *testing.T, d *userCreatedDecoder, data []byte) bool {
	t.Helper()
	orig := bytes.Clone(data)
	got, ok := d.decodeUpdated(data)
	if !bytes.Equal(orig, data) {
		t.Fatalf("decoder modified its input %q", orig)
	}
	if !ok {
		return false
	}
	var want domain.UserUpdated
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("fast decoder accepted %q, encoding/json refuses it: %v", data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeUpdated(%q):\n got %#v\nwant %#v", data, got, want)
	}
	return true
}

func TestUserUpdatedDecoderMatchesEncodingJSON(t *testing.T) {
	d := newUserCreatedDecoder()
	full, err := json.Marshal(domain.UserUpdated{EnvironmentID: "env", UserID: "u1",
		Profile: domain.Profile{Username: "Ann", Email: "ann@example.com", Name: domain.Name{Given: "Ann", Family: "Lee"}, Title: "Dr",
			ExternalID: "EXT-1", Address: domain.Address{Locality: "Paris", CountryCode: "FR"}},
		Custom: domain.CustomValues{"badge": raw(`"B-1"`), "vip": raw(`true`), "off": raw(`false`), "zé": raw(`"ünï"`)}})
	if err != nil {
		t.Fatal(err)
	}
	accepted := []string{
		string(full),
		`{}`,
		`{"userId":"u","custom":{}}`,
		` { "userId" : "u" , "profile" : { } , "custom" : { } } `,
		`{"userId":"a","userId":"b"}`,
		`{"profile":{"username":"a","email":"e"},"profile":{"username":"b"}}`,
		`{"custom":{"x":"1","x":true,"y":false}}`,
		`{"custom":{"x":"1"},"custom":{"y":"2"}}`,
		`{"profile":{"username":"日本語","name":{},"address":{}}}`,
	}
	for _, in := range accepted {
		if !checkUserUpdatedDecoder(t, d, []byte(in)) {
			t.Errorf("fast decoder declined %q", in)
		}
	}
	declined := []string{
		``, `null`, `{`, `{"userId":"u",}`, `{"userId":"u"}x`, `{"userid":"u"}`, `{"populationId":"p"}`, `{"enabled":true}`,
		`{"userId":null}`, `{"userId":"a\"b"}`, "{\"userId\":\"\xff\"}", `{"profile":{"Username":"a"}}`, `{"custom":{"x":1}}`,
		`{"custom":null}`, `{"profile":null}`,
	}
	for _, in := range declined {
		if checkUserUpdatedDecoder(t, d, []byte(in)) {
			t.Errorf("fast decoder accepted %q", in)
		}
	}
	// What one call returns is its own: the next call changes none of it.
	p1, _ := d.decodeUpdated([]byte(`{"userId":"u1","profile":{"username":"one"},"custom":{"b":"x"}}`))
	d.decodeUpdated([]byte(`{"userId":"u2","profile":{"username":"two"},"custom":{"b":"y"}}`))
	if p1.UserID != "u1" || p1.Profile.Username != "one" || string(p1.Custom["b"]) != `"x"` {
		t.Fatalf("first payload changed: %+v", p1)
	}
}

func FuzzUserUpdatedDecoder(f *testing.F) {
	f.Add([]byte(`{"environmentId":"e","userId":"u","profile":{"username":"a","name":{"given":"G"}},"custom":{"x":"1","y":true}}`))
	f.Add([]byte(`{"custom":{"x":"1","x":false}}`))
	f.Add([]byte(`{"profile":{"address":{"region":"R"}},"custom":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkUserUpdatedDecoder(t, newUserCreatedDecoder(), data)
	})
}
