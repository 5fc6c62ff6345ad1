package propagation

import (
	"os"
	"strconv"
	"testing"

	"github.com/idstream/idstream/connectors/ldap"
	"github.com/idstream/idstream/connectors/ldap/ldaptest"
	"github.com/idstream/idstream/domain"
)

// BenchmarkResyncLDAP measures a full resync of PROPAGATION_LDAP_USERS users (default 20,000)
// through the runtime to a real slapd (the LDAP connector), in users per second, against
// slapd's own add rate measured in the same run (plain go-ldap adds of equivalent entries from
// as many connections as the resync has workers, before and after the resync: their mean). One
// iteration: run with -benchtime=1x.
func BenchmarkResyncLDAP(b *testing.B) {
	users := 20000
	if v, err := strconv.Atoi(os.Getenv("PROPAGATION_LDAP_USERS")); err == nil && v > 0 {
		users = v
	}
	srv := ldaptest.Start(b)
	s := newEnv(b)
	content := s.content("", allActions())
	content.Stores[1].Type = domain.StoreLDAP
	content.Stores[1].Config = map[string]string{ldap.KeyURL: srv.URL, ldap.KeyBindDN: srv.BindDN, ldap.KeyUsersBaseDN: srv.UsersDN,
		ldap.KeyGroupsBaseDN: srv.GroupsDN, ldap.KeyPoolSize: "16"}
	content.Stores[1].Credentials = "sealed"
	s.publish(content)
	importBenchUsers(b, s, users)
	workers := 16
	rt := s.runtime(func(c *Config) {
		c.Factories = ldap.Factories()
		c.OpenCredentials = func(domain.PropagationStore) (map[string]string, error) {
			return map[string]string{ldap.CredPassword: srv.Password}, nil
		}
		c.NoForward, c.Workers = true, workers
	})
	defer rt.Close()
	if err := rt.catchUp(s.ctx); err != nil {
		b.Fatal(err)
	}
	rawN := min(users, 5000)
	before, err := srv.MeasureAddRate(rawN, workers)
	if err != nil {
		b.Fatal(err)
	}
	// One iteration: a second would find every entry there already.
	elapsed := timeResyncs(b, s, rt, users, func() {})
	after, err := srv.MeasureAddRate(rawN, workers)
	if err != nil {
		b.Fatal(err)
	}
	if n := srv.Count(b, srv.UsersDN, "(uid=rs*)"); n != users {
		b.Fatalf("%d resynced entries in slapd, want %d", n, users)
	}
	rate, raw := float64(users*b.N)/elapsed.Seconds(), (before+after)/2
	b.ReportMetric(rate, "users/s")
	b.ReportMetric(raw, "slapd-adds/s")
	b.ReportMetric(100*rate/raw, "%-of-slapd")
	b.ReportMetric(0, "ns/op")
}
