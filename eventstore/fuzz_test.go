package eventstore_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/idstream/idstream/eventstore"
)

// FuzzParsePosition: positions arrive from API clients and the CLI. Parsing never panics, and
// what parses prints back to an equal position.
func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"0", "1", "7/3", "18446744073709551615", "18446744073709551616", "", "/", "1/2/3", "-1", " 1", "01", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := eventstore.ParsePosition(s)
		if err != nil {
			if !errors.Is(err, eventstore.ErrInvalidArgument) {
				t.Fatalf("%q: error %v is not ErrInvalidArgument", s, err)
			}
			return
		}
		q, err := eventstore.ParsePosition(p.String())
		if err != nil || q != p {
			t.Fatalf("%q parsed as %v, whose String %q parses as %v, %v", s, p, p.String(), q, err)
		}
	})
}

// FuzzRegistryDecode: payloads come from the log, written by any version of idstream or by
// hand. Decoding never panics; a failure is a classified error.
func FuzzRegistryDecode(f *testing.F) {
	r := eventstore.NewRegistry()
	if err := eventstore.Register[userCreated](r, "user.created", 1); err != nil {
		f.Fatal(err)
	}
	if err := eventstore.Register[userRenamed](r, "user.renamed", 2, eventstore.Upcaster{From: 1, Up: func(b json.RawMessage) (json.RawMessage, error) {
		var v struct{ Name string }
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]string{"given": v.Name})
	}}); err != nil {
		f.Fatal(err)
	}
	f.Add("user.created", uint32(1), []byte(`{"username":"ada"}`))
	f.Add("user.renamed", uint32(1), []byte(`{"name":"Ada"}`))
	f.Add("user.renamed", uint32(2), []byte(`{"given":"Ada"}`))
	f.Add("user.renamed", uint32(0), []byte(`null`))
	f.Add("user.renamed", uint32(9), []byte(`{}`))
	f.Add("nope", uint32(1), []byte(`{`))
	f.Fuzz(func(t *testing.T, typ string, version uint32, data []byte) {
		v, err := r.Decode(eventstore.RecordedEvent{Stream: "user-1", Type: typ, PayloadVersion: version, Data: data})
		if err == nil {
			switch v.(type) {
			case userCreated, userRenamed:
			default:
				t.Fatalf("decoded %T", v)
			}
		}
	})
}
