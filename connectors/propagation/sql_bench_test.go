package propagation

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/idstream/idstream/connectors/sqlstore"
	"github.com/idstream/idstream/domain"
)

// BenchmarkResyncSQL measures a full resync of 20,000 users through the runtime to a real
// PostgreSQL table (the SQL connector, per-row Create), in users per second. One iteration:
// run with -benchtime=1x. Skips without PostgreSQL (fails under CI=true).
func BenchmarkResyncSQL(b *testing.B) {
	const users = 20000
	url := os.Getenv("IDSTREAM_TEST_POSTGRES")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatalf("PostgreSQL required under CI: %v", err)
		}
		b.Skipf("SKIPPING: no PostgreSQL at %s: %v", url, err)
	}
	defer conn.Close(context.Background())
	schema := fmt.Sprintf("propbench_%d", os.Getpid())
	if _, err := conn.Exec(context.Background(), `CREATE SCHEMA `+schema+`; CREATE TABLE `+schema+`.users (id uuid PRIMARY KEY,
		user_name text NOT NULL, display_name text, given_name text, work_email text, active boolean NOT NULL DEFAULT true);
		CREATE UNIQUE INDEX ON `+schema+`.users (lower(user_name));`); err != nil {
		b.Fatal(err)
	}
	defer conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")

	s := newEnv(b)
	content := s.content("", allActions())
	content.Stores[1].Type = domain.StoreSQL
	content.Stores[1].Config = map[string]string{sqlstore.KeyURL: url, sqlstore.KeySchema: schema,
		sqlstore.KeyColumns: `{"userName":"user_name","displayName":"display_name","name.givenName":"given_name",` +
			`"emails[type eq \"work\"].value":"work_email","active":"active"}`}
	content.Stores[1].Credentials = "sealed"
	s.publish(content)
	importBenchUsers(b, s, users)
	rt := s.runtime(func(c *Config) {
		c.Factories = sqlstore.Factories()
		c.OpenCredentials = func(domain.PropagationStore) (map[string]string, error) { return map[string]string{}, nil }
		c.NoForward, c.Workers = true, 2*resyncWorkers
	})
	defer rt.Close()
	if err := rt.catchUp(s.ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := timeResyncs(b, s, rt, users, func() {
		if _, err := conn.Exec(context.Background(), "TRUNCATE "+schema+".users"); err != nil {
			b.Fatal(err)
		}
	})
	var rows int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+schema+".users").Scan(&rows); err != nil || rows != users {
		b.Fatalf("%d rows in the table (%v), want %d", rows, err, users)
	}
	b.ReportMetric(float64(users*b.N)/elapsed.Seconds(), "users/s")
	b.ReportMetric(0, "ns/op")
}
