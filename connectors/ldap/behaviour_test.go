package ldap_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/connectortest"
	"github.com/idstream/idstream/connectors/ldap"
	"github.com/idstream/idstream/connectors/ldap/ldaptest"
	"github.com/idstream/idstream/domain"
)

func wantClass(t *testing.T, err error, want connectors.Class) {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *connectors.Error (want %s)", err, want)
	}
	if ce.Class != want {
		t.Fatalf("class %s, want %s: %v", ce.Class, want, err)
	}
}

// The entry holds the LDAP attributes the mapping promises, sn defaulted and the disabled mark set.
func TestEntryShape(t *testing.T) {
	srv := ldaptest.Start(t)
	c := open(t, storeConfig(srv, nil))
	defer c.Close()
	u, err := c.Create(t.Context(), connectors.KindUser, map[string]any{
		"userName":     "grace",
		"displayName":  "Grace Hopper",
		"emails":       []any{map[string]any{"type": "work", "value": "grace@example.com"}},
		"phoneNumbers": []any{map[string]any{"type": "mobile", "value": "+1 555 0100"}},
		"title":        "Rear Admiral",
		"externalId":   "e-1",
		"active":       false,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := srv.Entry(t, "uid=grace,"+srv.UsersDN)
	if e == nil {
		t.Fatal("no entry uid=grace")
	}
	for attr, want := range map[string]string{
		"uid": "grace", "cn": "Grace Hopper", "displayName": "Grace Hopper", "sn": "grace",
		"mail": "grace@example.com", "mobile": "+1 555 0100", "title": "Rear Admiral",
		"employeeNumber": "e-1", "employeeType": "disabled", "entryUUID": u.ID,
	} {
		if got := e.GetAttributeValue(attr); got != want {
			t.Errorf("%s = %q, want %q", attr, got, want)
		}
	}
	if _, ok := u.Attributes["name"]; ok {
		t.Errorf("the defaulted sn shows as a family name: %v", u.Attributes["name"])
	}
	if u.Attributes["active"] != false {
		t.Errorf("active = %v", u.Attributes["active"])
	}
}

// A new userName renames the entry (modify DN); its ID, the entryUUID, stays.
func TestRenameKeepsID(t *testing.T) {
	srv := ldaptest.Start(t)
	c := open(t, storeConfig(srv, nil))
	defer c.Close()
	u, err := c.Create(t.Context(), connectors.KindUser, connectortest.User("old"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.Create(t.Context(), connectors.KindGroup, map[string]any{"displayName": "G", "members": []any{map[string]any{"value": u.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Update(t.Context(), connectors.KindUser, u.ID, []connectors.Change{{Path: "userName", Value: "new"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != u.ID || r.Attributes["userName"] != "new" {
		t.Fatalf("after rename: %s %v", r.ID, r.Attributes["userName"])
	}
	if srv.Entry(t, "uid=old,"+srv.UsersDN) != nil || srv.Entry(t, "uid=new,"+srv.UsersDN) == nil {
		t.Fatal("the entry was not moved to uid=new")
	}
	// A case-only change is a modify, not a rename.
	if _, err := c.Update(t.Context(), connectors.KindUser, u.ID, []connectors.Change{{Path: "userName", Value: "NEW"}}); err != nil {
		t.Fatalf("case-only rename: %v", err)
	}
	// slapd has no referential integrity here: the group still names the old DN, so the member
	// drops out of members (documented; the runtime's member reconciliation re-adds it).
	got, err := c.Get(t.Context(), connectors.KindGroup, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m := got.Attributes["members"].([]any); len(m) != 0 {
		t.Fatalf("members after rename = %v", m)
	}
}

// An empty group holds the bind DN as its placeholder member, hidden from members.
func TestEmptyGroupPlaceholder(t *testing.T) {
	srv := ldaptest.Start(t)
	c := open(t, storeConfig(srv, nil))
	defer c.Close()
	u, err := c.Create(t.Context(), connectors.KindUser, connectortest.User("m"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.Create(t.Context(), connectors.KindGroup, map[string]any{"displayName": "Empty"})
	if err != nil {
		t.Fatal(err)
	}
	member := func() []string { return srv.Entry(t, "cn=Empty,"+srv.GroupsDN).GetAttributeValues("member") }
	if m := member(); len(m) != 1 || m[0] != ldaptest.WriterDN {
		t.Fatalf("empty group's member = %v, want the bind DN", m)
	}
	if err := c.UpdateMembers(t.Context(), g.ID, []string{u.ID}, nil); err != nil {
		t.Fatal(err)
	}
	if m := member(); len(m) != 1 || m[0] != "uid=m,"+srv.UsersDN {
		t.Fatalf("member = %v, want only the user", m)
	}
	if err := c.UpdateMembers(t.Context(), g.ID, nil, []string{u.ID}); err != nil {
		t.Fatalf("removing the last member: %v", err)
	}
	if m := member(); len(m) != 1 || m[0] != ldaptest.WriterDN {
		t.Fatalf("member = %v, want the placeholder back", m)
	}
	r, _ := c.Get(t.Context(), connectors.KindGroup, g.ID)
	if m := r.Attributes["members"].([]any); len(m) != 0 {
		t.Fatalf("members = %v, want none", m)
	}
	// Unknown member IDs are refused as not found, naming nothing secret.
	err = c.UpdateMembers(t.Context(), g.ID, []string{"00000000-0000-0000-0000-000000000001"}, nil)
	wantClass(t, err, connectors.ClassNotFound)
}

func TestTLS(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.WithTLS())
	for name, extra := range map[string]map[string]string{
		"ldaps":    {ldap.KeyURL: srv.LDAPSURL, ldap.KeyCACert: string(srv.CACert)},
		"startTLS": {ldap.KeyStartTLS: "true", ldap.KeyCACert: string(srv.CACert)},
	} {
		t.Run(name, func(t *testing.T) {
			c := open(t, storeConfig(srv, extra))
			defer c.Close()
			if err := c.Check(t.Context()); err != nil {
				t.Fatalf("check: %v", err)
			}
			if _, err := c.Create(t.Context(), connectors.KindUser, connectortest.User(name)); err != nil {
				t.Fatal(err)
			}
			// Without the CA the certificate is not trusted.
			delete(extra, ldap.KeyCACert)
			bad := open(t, storeConfig(srv, extra))
			defer bad.Close()
			if err := bad.Check(t.Context()); err == nil {
				t.Fatal("check without the CA succeeded")
			}
		})
	}
}

// A stopped server is unavailable; the pool dials again once it is back.
func TestOutageAndRecovery(t *testing.T) {
	srv := ldaptest.Start(t)
	c := open(t, storeConfig(srv, map[string]string{ldap.KeyPoolSize: "2", ldap.KeyTimeout: "2s"}))
	defer c.Close()
	u, err := c.Create(t.Context(), connectors.KindUser, connectortest.User("before"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for range 3 { // more than the pool: every pooled connection learns it is broken
		_, err = c.Get(t.Context(), connectors.KindUser, u.ID)
		wantClass(t, err, connectors.ClassUnavailable)
	}
	wantClass(t, c.Check(t.Context()), connectors.ClassUnavailable)
	srv.Start()
	for range 3 {
		if _, err := c.Get(t.Context(), connectors.KindUser, u.ID); err != nil {
			t.Fatalf("get after restart: %v", err)
		}
	}
}

func TestAuthErrors(t *testing.T) {
	srv := ldaptest.Start(t)
	cfg := storeConfig(srv, nil)
	cfg.Config[ldap.KeyBindDN] = ldaptest.ReaderDN
	cfg.Credentials[ldap.CredPassword] = srv.ReaderPassword
	reader := open(t, cfg)
	defer reader.Close()
	_, err := reader.Create(t.Context(), connectors.KindUser, connectortest.User("x"))
	wantClass(t, err, connectors.ClassAuth) // insufficientAccessRights (50)
	cfg.Credentials[ldap.CredPassword] = "s3cret-wrong-password"
	bad := open(t, cfg)
	defer bad.Close()
	err = bad.Check(t.Context())
	wantClass(t, err, connectors.ClassAuth) // invalidCredentials (49)
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("the error holds the password: %v", err)
	}
}

func TestInvalidInput(t *testing.T) {
	srv := ldaptest.Start(t)
	c := open(t, storeConfig(srv, nil))
	defer c.Close()
	for name, attrs := range map[string]map[string]any{
		"no userName":     {"displayName": "x"},
		"object":          {"userName": "o", "address": map[string]any{"city": "x"}},
		"untyped email":   {"userName": "e", "emails": []any{map[string]any{"type": "other", "value": "x@y"}}},
		"unknown in LDAP": {"userName": "u", "favouriteColour": "blue"},
	} {
		_, err := c.Create(t.Context(), connectors.KindUser, attrs)
		wantClass(t, err, connectors.ClassInvalid)
		t.Logf("%s: %v", name, err)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := ldap.New(connectors.StoreConfig{Type: domain.StoreLDAP, Config: map[string]string{
		ldap.KeyURL: "http://x", ldap.KeyBindDN: "not a dn", ldap.KeyPageSize: "0", ldap.KeyFlavor: "novell",
		"colour": "blue", ldap.KeyEmailAttributes: "work", ldap.KeyTimeout: "forever",
	}, Credentials: map[string]string{ldap.CredPassword: "hunter2", "token": "t"}})
	wantClass(t, err, connectors.ClassInvalid)
	for _, field := range []string{"config.url", "config.bindDN", "config.pageSize", "config.flavor", "config.colour",
		"config.usersBaseDN", "config.emailAttributes", "config.timeout", "credentials.token"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("the error does not name %s: %v", field, err)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("the error holds the password: %v", err)
	}
	_, err = ldap.New(connectors.StoreConfig{Type: domain.StoreLDAP, Config: map[string]string{
		ldap.KeyURL: "ldaps://h", ldap.KeyStartTLS: "true", ldap.KeyUsersBaseDN: "dc=x",
	}})
	if err == nil || !strings.Contains(err.Error(), "config.startTLS") {
		t.Fatalf("startTLS with ldaps: %v", err)
	}
	c, err := ldap.New(connectors.StoreConfig{Type: domain.StoreLDAP, Config: map[string]string{
		ldap.KeyURL: "ldap://127.0.0.1:1", ldap.KeyUsersBaseDN: "ou=people,dc=x",
	}})
	if err != nil {
		t.Fatalf("minimal anonymous configuration: %v", err)
	}
	c.Close()
}
