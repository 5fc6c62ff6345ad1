package sqlstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

func cfg(c map[string]string, creds map[string]string) connectors.StoreConfig {
	return connectors.StoreConfig{Type: domain.StoreSQL, Config: c, Credentials: creds}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	const cols = `{"userName":"user_name"}`
	cases := []struct {
		name   string
		config map[string]string
		creds  map[string]string
		want   []string // fields named
	}{
		{"unknown key", map[string]string{"url": "postgres://u@h/db", "columns": cols, "tabel": "x"}, nil, []string{"config.tabel"}},
		{"unknown credential", map[string]string{"url": "postgres://u@h/db", "columns": cols}, map[string]string{"token": "x"}, []string{"credentials.token"}},
		{"password in url", map[string]string{"url": "postgres://u:secretpw@h/db", "columns": cols}, nil, []string{"config.url"}},
		{"not postgres", map[string]string{"url": "mysql://u@h/db", "columns": cols}, nil, []string{"config.url"}},
		{"no url no dsn", map[string]string{"columns": cols}, nil, []string{"credentials.dsn"}},
		{"url and dsn", map[string]string{"url": "postgres://u@h/db", "columns": cols}, map[string]string{"dsn": "postgres://u:pw@h/db"}, []string{"config.url"}},
		{"bad dsn", map[string]string{"columns": cols}, map[string]string{"dsn": "postgres://u:topsecret@h:notaport/db"}, []string{"credentials.dsn"}},
		{"no columns", map[string]string{"url": "postgres://u@h/db"}, nil, []string{"config.columns"}},
		{"columns not json", map[string]string{"url": "postgres://u@h/db", "columns": `{"userName":`}, nil, []string{"config.columns"}},
		{"bad path", map[string]string{"url": "postgres://u@h/db", "columns": `{"emails[type eq":"e"}`}, nil, []string{"config.columns"}},
		{"filter without sub", map[string]string{"url": "postgres://u@h/db", "columns": `{"emails[type eq \"work\"]":"e"}`}, nil, []string{"config.columns"}},
		{"column twice", map[string]string{"url": "postgres://u@h/db", "columns": `{"userName":"a","displayName":"a"}`}, nil, []string{"config.columns"}},
		{"key mapped", map[string]string{"url": "postgres://u@h/db", "columns": `{"userName":"id"}`}, nil, []string{"config.columns"}},
		{"keyFrom unmapped", map[string]string{"url": "postgres://u@h/db", "columns": cols, "keyFrom": "externalId"}, nil, []string{"config.keyFrom"}},
		{"groups half", map[string]string{"url": "postgres://u@h/db", "columns": cols, "groupsTable": "g"}, nil, []string{"config.membersTable"}},
		{"maxConns", map[string]string{"url": "postgres://u@h/db", "columns": cols, "maxConns": "0"}, nil, []string{"config.maxConns"}},
		{"timeout", map[string]string{"url": "postgres://u@h/db", "columns": cols, "timeout": "forever"}, nil, []string{"config.timeout"}},
		{"long identifier", map[string]string{"url": "postgres://u@h/db", "columns": cols, "table": strings.Repeat("t", 64)}, nil, []string{"config.table"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseSettings(cfg(tc.config, tc.creds))
			if err == nil {
				t.Fatal("accepted")
			}
			if connectors.ClassOf(err) != connectors.ClassInvalid || !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("class %s: %v", connectors.ClassOf(err), err)
			}
			for _, f := range tc.want {
				if !strings.Contains(err.Error(), f) {
					t.Fatalf("error does not name %s: %v", f, err)
				}
			}
			for _, secret := range []string{"secretpw", "topsecret", "pw@"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error shows a secret: %v", err)
				}
			}
		})
	}
}

func TestConfigAccepted(t *testing.T) {
	s, err := parseSettings(cfg(map[string]string{"url": "postgres://u@h:5433/db?sslmode=disable", "schema": "Odd \"Schema\"",
		"columns": `{"userName":"user_name","emails[type eq \"work\"].value":"mail"}`, "keyFrom": "userName",
		"softDeleteColumn": "active", "groupsTable": "g", "membersTable": "m", "maxConns": "32"},
		map[string]string{"password": "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.pool.ConnConfig.Password != "pw" || s.pool.MaxConns != 32 || s.users.keyFrom < 0 || s.groups == nil || s.softValue != "false" {
		t.Fatalf("settings %+v", s)
	}
	if got := s.users.ident(); got != `"Odd ""Schema"""."users"` {
		t.Fatalf("identifier %s", got)
	}
}

// FuzzColumns: the columns parser never panics, and what it accepts has valid, distinct,
// re-parseable paths and names.
func FuzzColumns(f *testing.F) {
	for _, s := range []string{`{"userName":"user_name"}`, `{"emails[type eq \"work\"].value":"e","name.givenName":"g"}`,
		`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"n"}`, `{}`, `[]`, `{"a":"b"} x`, `{"x[":"y"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		cols, err := ParseColumns("config.columns", raw)
		if err != nil {
			if !strings.Contains(err.Error(), "config.columns") {
				t.Fatalf("error does not name the field: %v", err)
			}
			return
		}
		names := map[string]bool{}
		for _, c := range cols {
			if checkIdent(c.name) != nil || names[c.name] {
				t.Fatalf("accepted column %q", c.name)
			}
			names[c.name] = true
			if c.path.IsZero() {
				t.Fatal("zero path accepted")
			}
		}
	})
}
