package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/connectortest"
	"github.com/idstream/idstream/connectors/sqlstore"
	"github.com/idstream/idstream/domain"
)

const defaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var schemaSeq atomic.Int64

func pgURL() string {
	if u := os.Getenv("IDSTREAM_TEST_POSTGRES"); u != "" {
		return u
	}
	return defaultURL
}

// freshSchema creates a new schema with the users, groups and members tables and drops it at
// the end; it skips (fails under CI=true) without PostgreSQL.
func freshSchema(t testing.TB) (string, *pgx.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgURL())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is required under CI: %v", pgURL(), err)
		}
		t.Skipf("SKIPPING: no PostgreSQL at %s (set IDSTREAM_TEST_POSTGRES): %v", pgURL(), err)
	}
	schema := fmt.Sprintf("sqlstore_%d_%d", os.Getpid(), schemaSeq.Add(1))
	ddl := `CREATE SCHEMA ` + schema + `;
	CREATE TABLE ` + schema + `.users (
		id uuid PRIMARY KEY, user_name text NOT NULL, display_name text, given_name text, family_name text,
		work_email text, home_email text, nick_name text, title text, active boolean NOT NULL DEFAULT true,
		external_id text, login_count integer, hired_at timestamptz);
	CREATE UNIQUE INDEX ON ` + schema + `.users (lower(user_name));
	CREATE TABLE ` + schema + `.groups (id uuid PRIMARY KEY, display_name text NOT NULL);
	CREATE TABLE ` + schema + `.members (group_id uuid NOT NULL REFERENCES ` + schema + `.groups(id),
		user_id uuid NOT NULL REFERENCES ` + schema + `.users(id), PRIMARY KEY (group_id, user_id));`
	if _, err := conn.Exec(ctx, ddl); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		_ = conn.Close(context.Background())
	})
	return schema, conn
}

const columns = `{"userName":"user_name","displayName":"display_name","name.givenName":"given_name",
	"name.familyName":"family_name","emails[type eq \"work\"].value":"work_email",
	"emails[type eq \"home\"].value":"home_email","nickName":"nick_name","title":"title","active":"active",
	"externalId":"external_id"}`

func config(schema string, extra map[string]string) connectors.StoreConfig {
	cfg := map[string]string{sqlstore.KeyURL: pgURL(), sqlstore.KeySchema: schema, sqlstore.KeyColumns: columns}
	for k, v := range extra {
		if v == "" {
			delete(cfg, k)
		} else {
			cfg[k] = v
		}
	}
	return connectors.StoreConfig{StoreID: "s1", Type: domain.StoreSQL, Config: cfg}
}

var withGroups = map[string]string{sqlstore.KeyGroupsTable: "groups", sqlstore.KeyMembersTable: "members"}

func open(t testing.TB, cfg connectors.StoreConfig) connectors.Connector {
	t.Helper()
	c, err := sqlstore.New(cfg)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return c
}

func badCredentials(schema string) connectors.StoreConfig {
	// Trust authentication accepts any password, so the refused credential is a role that
	// does not exist (SQLSTATE 28000).
	cfg := config(schema, withGroups)
	cfg.Config[sqlstore.KeyURL] = strings.Replace(pgURL(), "postgres@", "idstream_no_such_role@", 1)
	cfg.Credentials = map[string]string{sqlstore.CredPassword: "wrong"}
	return cfg
}

func TestConformanceWithGroups(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Open: func(t *testing.T) connectors.Connector {
			schema, _ := freshSchema(t)
			return open(t, config(schema, withGroups))
		},
		OpenWithBadCredentials: func(t *testing.T) connectors.Connector {
			schema, _ := freshSchema(t)
			return open(t, badCredentials(schema))
		},
		Features: connectortest.Features{Groups: true, HardDelete: true, ListPageSize: 500},
	})
}

func TestConformanceSoftDeleteNoGroups(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Open: func(t *testing.T) connectors.Connector {
			schema, _ := freshSchema(t)
			return open(t, config(schema, map[string]string{sqlstore.KeySoftDeleteColumn: "active"}))
		},
		OpenWithBadCredentials: func(t *testing.T) connectors.Connector {
			schema, _ := freshSchema(t)
			cfg := badCredentials(schema)
			delete(cfg.Config, sqlstore.KeyGroupsTable)
			delete(cfg.Config, sqlstore.KeyMembersTable)
			return open(t, cfg)
		},
		Features: connectortest.Features{Groups: false, HardDelete: false, ListPageSize: 500},
	})
}

func TestCreateMany(t *testing.T) {
	schema, conn := freshSchema(t)
	c := open(t, config(schema, nil)).(*sqlstore.Connector)
	defer c.Close()
	ctx := t.Context()
	if _, err := c.Create(ctx, connectors.KindUser, connectortest.User("taken@example.com")); err != nil {
		t.Fatal(err)
	}
	bad := connectortest.User("bad@example.com")
	bad["active"] = "not a boolean" // 22P02: aborts the batch's transaction
	batch := []map[string]any{connectortest.User("a@example.com"), connectortest.User("TAKEN@example.com"), connectortest.User("b@example.com")}
	res, errs := c.CreateMany(ctx, connectors.KindUser, batch)
	if errs[0] != nil || errs[2] != nil || res[0].ID == "" || res[2].ID == "" || connectors.ClassOf(errs[1]) != connectors.ClassConflict {
		t.Fatalf("results %v, errors %v", res, errs)
	}
	res, errs = c.CreateMany(ctx, connectors.KindUser, []map[string]any{connectortest.User("c@example.com"), bad})
	if errs[0] != nil || res[0].ID == "" || connectors.ClassOf(errs[1]) != connectors.ClassInvalid {
		t.Fatalf("with a bad row: results %v, errors %v", res, errs)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+schema+".users").Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d rows (%v), want 4: taken, a, b, c", n, err)
	}
}

func TestErrorClasses(t *testing.T) {
	schema, conn := freshSchema(t)
	ctx := t.Context()
	// Nothing listens on port 1: the connection is refused.
	down := config(schema, nil)
	down.Config[sqlstore.KeyURL] = "postgres://postgres@127.0.0.1:1/test?sslmode=disable"
	c := open(t, down)
	defer c.Close()
	if _, err := c.Get(ctx, connectors.KindUser, "00000000-0000-0000-0000-000000000001"); connectors.ClassOf(err) != connectors.ClassUnavailable {
		t.Fatalf("refused connection: %v", err)
	}
	// A mapped column the table lacks: 42703, and Check names it.
	missing := config(schema, map[string]string{sqlstore.KeyColumns: `{"userName":"user_name","title":"no_such_column"}`})
	m := open(t, missing).(*sqlstore.Connector)
	defer m.Close()
	if _, err := m.Create(ctx, connectors.KindUser, connectortest.User("x@example.com")); connectors.ClassOf(err) != connectors.ClassInvalid {
		t.Fatalf("undefined column: %v", err)
	}
	if err := m.Check(ctx); connectors.ClassOf(err) != connectors.ClassInvalid || !strings.Contains(err.Error(), "no_such_column") {
		t.Fatalf("check of a missing column: %v", err)
	}
	// A missing table.
	nt := open(t, config(schema, map[string]string{sqlstore.KeyTable: "nope"})).(*sqlstore.Connector)
	defer nt.Close()
	if err := nt.Check(ctx); connectors.ClassOf(err) != connectors.ClassInvalid || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("check of a missing table: %v", err)
	}
	// A value that does not fit its column type: 22P02.
	c2 := open(t, config(schema, map[string]string{sqlstore.KeyColumns: `{"userName":"user_name","active":"active","x:loginCount":"login_count"}`}))
	defer c2.Close()
	_, err := c2.Create(ctx, connectors.KindUser, map[string]any{"userName": "n@example.com", "x": map[string]any{"loginCount": "many"}})
	if connectors.ClassOf(err) != connectors.ClassInvalid {
		t.Fatalf("bad integer: %v", err)
	}
	// A role without privileges: Check says AUTH.
	role := "idstream_noprivs_" + schema
	if _, err := conn.Exec(ctx, "CREATE ROLE "+role+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP OWNED BY "+role+"; DROP ROLE "+role) })
	if _, err := conn.Exec(ctx, "GRANT USAGE ON SCHEMA "+schema+" TO "+role+"; GRANT SELECT ON "+schema+".users TO "+role); err != nil {
		t.Fatal(err)
	}
	np := config(schema, nil)
	np.Config[sqlstore.KeyURL] = strings.Replace(pgURL(), "postgres@", role+"@", 1)
	n := open(t, np).(*sqlstore.Connector)
	defer n.Close()
	if err := n.Check(ctx); connectors.ClassOf(err) != connectors.ClassAuth {
		t.Fatalf("check without write privilege: %v", err)
	}
	if _, err := n.Create(ctx, connectors.KindUser, connectortest.User("y@example.com")); connectors.ClassOf(err) != connectors.ClassAuth {
		t.Fatalf("insert without privilege: %v", err)
	}
}
