package ldap_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/ldap"
	"github.com/idstream/idstream/connectors/ldap/ldaptest"
	"github.com/idstream/idstream/connectors/scim/scimtest"
)

// benchWorkers is the propagation runtime's worker count.
const benchWorkers = 16

// BenchmarkCreateUsers creates b.N users through the connector from 16 goroutines, between two runs of half as many
// equivalent entries added with plain go-ldap from 16 connections to the same slapd (its own add
// rate), and reports both rates and their ratio. Both bind as the rootdn. slapd keeps its default
// durability (mdb synced on every commit: no dbnosync).
func BenchmarkCreateUsers(b *testing.B) {
	srv := ldaptest.Start(b)
	cfg := storeConfig(srv, map[string]string{ldap.KeyBindDN: srv.BindDN, ldap.KeyPoolSize: fmt.Sprint(benchWorkers)})
	cfg.Credentials[ldap.CredPassword] = srv.Password
	c, err := ldap.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// slapd's own rate is measured before and after the connector's run and averaged, so that a
	// change of load on a shared machine weighs on both alike.
	before, err := srv.MeasureAddRate(b.N/2+1, benchWorkers)
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range benchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if _, err := c.Create(b.Context(), connectors.KindUser, scimtest.RateUser(fmt.Sprintf("bench%d", i))); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	rate := float64(b.N) / elapsed.Seconds()
	after, err := srv.MeasureAddRate(b.N/2+1, benchWorkers)
	if err != nil {
		b.Fatal(err)
	}
	own := (before + after) / 2
	b.ReportMetric(rate, "users/s")
	b.ReportMetric(own, "slapd-adds/s")
	b.ReportMetric(100*rate/own, "%-of-slapd")
}
