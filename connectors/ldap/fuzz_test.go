package ldap

import (
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

func fuzzConnector(t testing.TB, flavor string) *Connector {
	c, err := New(connectors.StoreConfig{Type: domain.StoreLDAP, Config: map[string]string{
		KeyURL: "ldap://127.0.0.1:1", KeyUsersBaseDN: "ou=people,dc=example,dc=com", KeyFlavor: flavor,
		KeyEmailAttributes: "work=mail,home=homeMail",
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Entries read from the directory are outside input: any attribute names and values map to a
// SCIM object without panicking, never show a password, and what maps back keeps the userName.
func FuzzUserFromLDAP(f *testing.F) {
	f.Add("uid", "alice", "mail", "a@example.com", "employeeType", "disabled", "userPassword", "{SSHA}x")
	f.Add("sAMAccountName", "bob", "userAccountControl", "514", "cn", "Bob", "unicodePwd", "p")
	f.Add("UID", "", "MAIL", "x", "sn", "s", "x-\x00", "\xff")
	open, ad := fuzzConnector(f, FlavorOpenLDAP), fuzzConnector(f, FlavorAD)
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2, n3, v3, n4, v4 string) {
		for _, c := range []*Connector{open, ad} {
			a := newAttrs()
			for _, nv := range [][2]string{{n1, v1}, {n2, v2}, {n3, v3}, {n4, v4}} {
				if nv[0] != "" {
					a.add(nv[0], nv[1])
				}
			}
			out := c.userFromLDAP(a)
			for k := range out {
				if strings.EqualFold(k, "userPassword") || strings.EqualFold(k, "unicodePwd") {
					t.Fatalf("the password shows as %s", k)
				}
			}
			un, _ := out["userName"].(string)
			back, err := c.userToLDAP(out, a)
			if un == "" || err != nil {
				// No userName, or attributes that are not LDAP names (passed through as read).
				continue
			}
			if got := back.first(c.s.userNameAttr); got != un {
				t.Fatalf("userName %q mapped back to %q", un, got)
			}
		}
	})
}

func FuzzGUID(f *testing.F) {
	f.Add([]byte("0123456789abcdef"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := guidString(b)
		if len(b) != 16 {
			if err == nil {
				t.Fatalf("guidString accepted %d bytes", len(b))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		v, err := guidFilterValue(s)
		if err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		for _, x := range b {
			want.WriteString(`\` + strings.ToLower(string("0123456789abcdef"[x>>4])+string("0123456789abcdef"[x&15])))
		}
		if v != want.String() {
			t.Fatalf("filter value %s, want %s", v, want.String())
		}
	})
}

// DNs read from the directory: the parent and RDN value of any DN go-ldap parses agree with it.
func FuzzDN(f *testing.F) {
	f.Add("uid=a\\,b,ou=people,dc=example,dc=com")
	f.Add("cn=x+sn=y,dc=z")
	f.Add("uid=\\23x,dc=a")
	f.Fuzz(func(t *testing.T, dn string) {
		d, err := goldap.ParseDN(dn)
		if err != nil || len(d.RDNs) < 2 {
			return
		}
		parent := parentDN(dn)
		pd, err := goldap.ParseDN(parent)
		if err != nil {
			t.Fatalf("parent %q of %q does not parse: %v", parent, dn, err)
		}
		if len(pd.RDNs) != len(d.RDNs)-1 || !pd.Equal(&goldap.DN{RDNs: d.RDNs[1:]}) {
			t.Fatalf("parent of %q = %q", dn, parent)
		}
		a := d.RDNs[0].Attributes[0]
		if got := rdnValue(dn, a.Type); got != a.Value {
			t.Fatalf("rdnValue(%q, %s) = %q, want %q", dn, a.Type, got, a.Value)
		}
	})
}
