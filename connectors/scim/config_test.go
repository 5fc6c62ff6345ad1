package scim_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/scim"
	"github.com/idstream/idstream/domain"
)

const secret = "SUPER-SECRET-VALUE"

func TestNewValidatesEveryKey(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   connectors.StoreConfig
		names []string // fields the error must name
	}{
		{"empty SCIM", connectors.StoreConfig{Type: domain.StoreSCIM}, []string{"config.baseUrl", "credentials.token"}},
		{"bad scheme", connectors.StoreConfig{Type: domain.StoreSCIM, Config: map[string]string{"baseUrl": "ftp://x"}, Credentials: map[string]string{"token": secret}}, []string{"config.baseUrl"}},
		{"credentials in URL", connectors.StoreConfig{Type: domain.StoreSCIM, Config: map[string]string{"baseUrl": "https://u:" + secret + "@x/scim"}, Credentials: map[string]string{"token": secret}}, []string{"config.baseUrl"}},
		{"no host", connectors.StoreConfig{Type: domain.StoreSCIM, Config: map[string]string{"baseUrl": "https:///scim"}, Credentials: map[string]string{"token": secret}}, []string{"config.baseUrl"}},
		{"everything wrong", connectors.StoreConfig{Type: domain.StoreSCIM,
			Config:      map[string]string{"baseUrl": "x", "authType": "KERBEROS", "patch": "maybe", "timeout": "forever", "baseURL": "typo"},
			Credentials: map[string]string{"tokn": secret}},
			[]string{"config.baseUrl", "config.authType", "config.patch", "config.timeout", "config.baseURL", "credentials.tokn"}},
		{"basic without user and password", connectors.StoreConfig{Type: domain.StoreSCIM, Config: map[string]string{"baseUrl": "https://x", "authType": "BASIC"}}, []string{"config.username", "credentials.password"}},
		{"oauth2 missing all", connectors.StoreConfig{Type: domain.StoreSCIM, Config: map[string]string{"baseUrl": "https://x", "authType": "oauth2"}}, []string{"config.tokenUrl", "config.clientId", "credentials.clientSecret"}},
		{"oauth2 bad token URL", connectors.StoreConfig{Type: domain.StoreSCIM, Config: map[string]string{"baseUrl": "https://x", "authType": "OAUTH2", "tokenUrl": "nope", "clientId": "c"}, Credentials: map[string]string{"clientSecret": secret}}, []string{"config.tokenUrl"}},
		{"timeout too long", connectors.StoreConfig{Type: domain.StoreSCIM, Config: map[string]string{"baseUrl": "https://x", "timeout": "1h"}, Credentials: map[string]string{"token": secret}}, []string{"config.timeout"}},
		{"negative timeout", connectors.StoreConfig{Type: domain.StoreSCIM, Config: map[string]string{"baseUrl": "https://x", "timeout": "-1s"}, Credentials: map[string]string{"token": secret}}, []string{"config.timeout"}},
		{"not a SCIM type", connectors.StoreConfig{Type: domain.StoreType("LDAP"), Config: map[string]string{"baseUrl": "https://x"}, Credentials: map[string]string{"token": secret}}, []string{"type"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scim.New(tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if connectors.ClassOf(err) != connectors.ClassInvalid || !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("class %s, errors.Is(ErrInvalid) %v: %v", connectors.ClassOf(err), errors.Is(err, domain.ErrInvalid), err)
			}
			for _, n := range tc.names {
				found := false
				for e := range fieldErrors(err) {
					if e.Field == n {
						found = true
					}
				}
				if !found {
					t.Errorf("error does not name %s: %v", n, err)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error echoes a secret: %v", err)
			}
		})
	}
}

// fieldErrors yields every *domain.FieldError in err's tree.
func fieldErrors(err error) func(func(*domain.FieldError) bool) {
	return func(yield func(*domain.FieldError) bool) {
		var walk func(error) bool
		walk = func(e error) bool {
			if fe, ok := e.(*domain.FieldError); ok && !yield(fe) {
				return false
			}
			switch u := e.(type) {
			case interface{ Unwrap() []error }:
				for _, x := range u.Unwrap() {
					if !walk(x) {
						return false
					}
				}
			case interface{ Unwrap() error }:
				if x := u.Unwrap(); x != nil {
					return walk(x)
				}
			}
			return true
		}
		walk(err)
	}
}

func TestNewDefaults(t *testing.T) {
	for _, typ := range []domain.StoreType{domain.StoreSlack, domain.StoreZoom} {
		c, err := scim.New(connectors.StoreConfig{Type: typ, Credentials: map[string]string{"token": secret}})
		if err != nil {
			t.Fatalf("%s without baseUrl: %v", typ, err)
		}
		_ = c.Close()
	}
	f := scim.Factories()
	for typ, want := range map[domain.StoreType]connectors.Features{
		domain.StoreSCIM:  connectors.DefaultFeatures,
		domain.StoreSlack: {Groups: true, HardDelete: false, WritesPerMinute: 180},
		domain.StoreZoom:  {Groups: true, HardDelete: true, WritesPerMinute: 60},
	} {
		c, err := f.Open(connectors.StoreConfig{Type: typ, Config: map[string]string{"baseUrl": "https://scim.example.com/v2/"}, Credentials: map[string]string{"token": secret}})
		if err != nil {
			t.Fatalf("open %s: %v", typ, err)
		}
		if got := connectors.FeaturesOf(c); got != want {
			t.Errorf("%s features %+v, want %+v", typ, got, want)
		}
	}
	if _, err := f.Open(connectors.StoreConfig{Type: domain.StoreSCIM}); err == nil {
		t.Fatal("factory accepted an empty configuration")
	}
}
