package scim_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/scim"
	"github.com/idstream/idstream/connectors/scim/scimtest"
	"github.com/idstream/idstream/domain"
)

// BenchmarkSCIMCreate creates users (scimtest.RateUser) in the scimmy server through the
// connector, from 1 and 8 concurrent clients, and reports users/s. BenchmarkSCIMTargetWriteRate
// measures the server's own rate on the same payload with plain net/http, for comparison.
func BenchmarkSCIMCreate(b *testing.B) {
	srv := scimtest.Start(b)
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			srv.Reset()
			c, err := openB(srv)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			b.ResetTimer()
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if _, err := c.Create(b.Context(), connectors.KindUser, scimtest.RateUser(fmt.Sprintf("bench%d@example.com", i))); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			select {
			case err := <-errs:
				b.Fatal(err)
			default:
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "users/s")
		})
	}
}

func BenchmarkSCIMTargetWriteRate(b *testing.B) {
	srv := scimtest.Start(b)
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			srv.Reset()
			b.ResetTimer()
			rate, err := scimtest.MeasureWriteRate(b.Context(), srv.URL, srv.Token, b.N, workers)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(rate, "users/s")
		})
	}
}

func openB(srv *scimtest.Server) (connectors.Connector, error) {
	return scim.New(bearer(domain.StoreSCIM, srv, srv.Token, nil))
}

// BenchmarkSCIMList lists 5,000 users of the scimmy server through the connector, in pages,
// and reports users/s.
func BenchmarkSCIMList(b *testing.B) {
	const users = 5000
	srv := scimtest.Start(b)
	if _, err := scimtest.MeasureWriteRate(b.Context(), srv.URL, srv.Token, users, 4); err != nil {
		b.Fatal(err)
	}
	c, err := openB(srv)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ResetTimer()
	for range b.N {
		n := 0
		if err := c.(connectors.Lister).List(b.Context(), connectors.KindUser, func(connectors.Resource) bool { n++; return true }); err != nil {
			b.Fatal(err)
		}
		if n != users {
			b.Fatalf("listed %d users, want %d", n, users)
		}
	}
	b.ReportMetric(float64(users*b.N)/b.Elapsed().Seconds(), "users/s")
}
