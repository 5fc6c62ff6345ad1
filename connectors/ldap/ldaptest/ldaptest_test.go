package ldaptest

import (
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestStartStopKeepsPortAndData(t *testing.T) {
	s := Start(t)
	c := s.Dial(t)
	add := RateEntry("kept")
	if err := c.Add(add); err != nil {
		t.Fatalf("add: %v", err)
	}
	c.Close()
	url := s.URL
	s.Stop()
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	if _, err := ldap.DialURL(url); err == nil {
		t.Fatal("dial succeeded while the server is stopped")
	}
	s.Stop() // a second Stop does nothing
	s.Start()
	if s.URL != url {
		t.Fatalf("URL after restart = %s, want %s", s.URL, url)
	}
	e := s.Entry(t, add.DN)
	if e == nil {
		t.Fatalf("entry %s lost across the restart", add.DN)
	}
	if e.GetAttributeValue("entryUUID") == "" {
		t.Fatalf("entry has no entryUUID: %v", e.Attributes)
	}
	if n := s.Count(t, UsersDN, "(objectClass=inetOrgPerson)"); n != 1 {
		t.Fatalf("Count = %d, want 1", n)
	}
}

func TestAccounts(t *testing.T) {
	s := Start(t)
	r, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Bind(ReaderDN, s.ReaderPassword); err != nil {
		t.Fatalf("reader bind: %v", err)
	}
	if err := r.Add(RateEntry("denied")); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
		t.Fatalf("reader add: %v, want insufficientAccessRights", err)
	}
	w, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Bind(WriterDN, s.WriterPassword); err != nil {
		t.Fatalf("writer bind: %v", err)
	}
	if err := w.Add(RateEntry("allowed")); err != nil {
		t.Fatalf("writer add: %v", err)
	}
	if err := w.Bind(WriterDN, "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("bad bind: %v, want invalidCredentials", err)
	}
}

func TestSizeLimitNeedsPaging(t *testing.T) {
	s := Start(t, WithSizeLimit(2))
	root := s.Dial(t)
	for _, u := range []string{"a", "b", "c", "d", "e"} {
		if err := root.Add(RateEntry(u)); err != nil {
			t.Fatal(err)
		}
	}
	w, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Bind(WriterDN, s.WriterPassword); err != nil {
		t.Fatal(err)
	}
	req := ldap.NewSearchRequest(UsersDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false, "(uid=*)", []string{"uid"}, nil)
	if _, err := w.Search(req); !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		t.Fatalf("unpaged search: %v, want sizeLimitExceeded", err)
	}
	res, err := w.SearchWithPaging(req, 2)
	if err != nil {
		t.Fatalf("paged search: %v", err)
	}
	if len(res.Entries) != 5 {
		t.Fatalf("paged search found %d, want 5", len(res.Entries))
	}
}

func TestTLS(t *testing.T) {
	s := Start(t, WithTLS())
	if !strings.HasPrefix(s.LDAPSURL, "ldaps://") {
		t.Fatalf("LDAPSURL = %q", s.LDAPSURL)
	}
	c, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(s.TLSConfig()))
	if err != nil {
		t.Fatalf("ldaps: %v", err)
	}
	if err := c.Bind(s.BindDN, s.Password); err != nil {
		t.Fatalf("ldaps bind: %v", err)
	}
	c.Close()
	c, err = ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(s.TLSConfig()); err != nil {
		t.Fatalf("starttls: %v", err)
	}
	if err := c.Bind(s.BindDN, s.Password); err != nil {
		t.Fatalf("bind after starttls: %v", err)
	}
	// A client that does not trust the throwaway CA is refused.
	if _, err := ldap.DialURL(s.LDAPSURL); err == nil {
		t.Fatal("ldaps without the CA succeeded")
	}
}
