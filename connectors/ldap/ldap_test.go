package ldap_test

import (
	"testing"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/connectortest"
	"github.com/idstream/idstream/connectors/ldap"
	"github.com/idstream/idstream/connectors/ldap/ldaptest"
	"github.com/idstream/idstream/domain"
)

// pageSize is small, and the server's size limit equal to it, so that List and Find work only
// when they page.
const pageSize = 5

func storeConfig(srv *ldaptest.Server, extra map[string]string) connectors.StoreConfig {
	cfg := map[string]string{
		ldap.KeyURL:               srv.URL,
		ldap.KeyBindDN:            ldaptest.WriterDN,
		ldap.KeyUsersBaseDN:       srv.UsersDN,
		ldap.KeyGroupsBaseDN:      srv.GroupsDN,
		ldap.KeyUserObjectClasses: "inetOrgPerson,idstreamTestPerson",
		ldap.KeyEmailAttributes:   "work=mail,home=homeMail",
		ldap.KeyPageSize:          "5",
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return connectors.StoreConfig{StoreID: "ldap", Type: domain.StoreLDAP, Config: cfg,
		Credentials: map[string]string{ldap.CredPassword: srv.WriterPassword}}
}

func open(t *testing.T, cfg connectors.StoreConfig) *ldap.Connector {
	t.Helper()
	c, err := ldap.New(cfg)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return c
}

func TestConformance(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.WithSizeLimit(pageSize))
	connectortest.Run(t, connectortest.Harness{
		Open: func(t *testing.T) connectors.Connector {
			srv.Reset(t)
			return open(t, storeConfig(srv, nil))
		},
		OpenWithBadCredentials: func(t *testing.T) connectors.Connector {
			cfg := storeConfig(srv, nil)
			cfg.Credentials[ldap.CredPassword] = "wrong"
			return open(t, cfg)
		},
		Features: connectortest.Features{Groups: true, HardDelete: true, ListPageSize: pageSize},
	})
}
