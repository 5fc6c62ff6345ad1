// Package sqlstore is the connector of a PostgreSQL table holding one account per row
// (store type SQL). SCIM paths map to columns (config.columns); groups are optional rows of a
// groups table with membership rows in a members table.
package sqlstore

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/mapping"
	"github.com/idstream/idstream/domain"
)

// Configuration keys (StoreConfig.Config; a rule's TargetConfig overrides them).
const (
	KeyURL               = "url"              // postgres://user@host:port/db?sslmode=…, without password
	KeySchema            = "schema"           // default public
	KeyTable             = "table"            // default users
	KeyKeyColumn         = "keyColumn"        // default id
	KeyKeyFrom           = "keyFrom"          // a mapped SCIM path whose value is the key; default: a new UUID
	KeyColumns           = "columns"          // JSON object: SCIM path → column; required
	KeySoftDeleteColumn  = "softDeleteColumn" // Delete sets it to softDeleteValue instead of deleting
	KeySoftDeleteValue   = "softDeleteValue"  // default false
	KeyGroupsTable       = "groupsTable"
	KeyGroupKeyColumn    = "groupKeyColumn" // default id
	KeyGroupColumns      = "groupColumns"   // JSON object; default {"displayName":"display_name"}
	KeyMembersTable      = "membersTable"
	KeyMemberGroupColumn = "memberGroupColumn" // default group_id
	KeyMemberUserColumn  = "memberUserColumn"  // default user_id
	KeyMaxConns          = "maxConns"          // pool size, default 20
	KeyTimeout           = "timeout"           // per operation, default 10s
)

// Credential keys.
const (
	CredPassword = "password"
	CredDSN      = "dsn" // a whole connection string, instead of url + password
)

const (
	defaultTimeout  = 10 * time.Second
	defaultMaxConns = 20
	maxColumns      = 200
)

var configKeys = map[string]bool{KeyURL: true, KeySchema: true, KeyTable: true, KeyKeyColumn: true, KeyKeyFrom: true,
	KeyColumns: true, KeySoftDeleteColumn: true, KeySoftDeleteValue: true, KeyGroupsTable: true, KeyGroupKeyColumn: true,
	KeyGroupColumns: true, KeyMembersTable: true, KeyMemberGroupColumn: true, KeyMemberUserColumn: true,
	KeyMaxConns: true, KeyTimeout: true}

// column is one mapped column.
type column struct {
	path mapping.Path
	name string // unquoted
}

// table is a validated table mapping.
type table struct {
	schema, name string
	key          string
	keyFrom      int // index into cols of the key's source, -1: generated UUID
	cols         []column
}

func (t table) ident() string { return pgx.Identifier{t.schema, t.name}.Sanitize() }

type settings struct {
	pool       *pgxpool.Config
	users      table
	softDelete string
	softValue  string
	groups     *table
	members    string
	memberG    string
	memberU    string
	timeout    time.Duration
}

// ParseColumns parses a columns mapping (a JSON object of SCIM path → column name) and
// returns the columns sorted by name, each problem naming field.
func ParseColumns(field, raw string) ([]column, error) {
	var m map[string]string
	dec := json.NewDecoder(strings.NewReader(raw))
	if err := dec.Decode(&m); err != nil {
		return nil, domain.Invalidf(field, "not a JSON object of SCIM path to column name: %v", err)
	}
	if dec.More() {
		return nil, domain.Invalidf(field, "trailing data after the JSON object")
	}
	if len(m) == 0 {
		return nil, domain.Invalidf(field, "maps no column")
	}
	if len(m) > maxColumns {
		return nil, domain.Invalidf(field, "maps %d columns, at most %d", len(m), maxColumns)
	}
	var errs []error
	var cols []column
	byPath := map[string]string{}
	byCol := map[string]string{}
	for _, p := range sortedKeys(m) {
		name := m[p]
		path, err := mapping.ParsePath(p)
		if err != nil {
			errs = append(errs, domain.Invalidf(field, "path %q: %v", p, err))
			continue
		}
		if path.HasFilter() && path.SubAttribute() == "" {
			errs = append(errs, domain.Invalidf(field, "path %q: a filtered path needs a sub-attribute (a column holds one value)", p))
			continue
		}
		if strings.EqualFold(path.Attribute(), "members") || strings.EqualFold(path.Attribute(), "id") {
			errs = append(errs, domain.Invalidf(field, "path %q: %s is not a column attribute", p, path.Attribute()))
			continue
		}
		if err := checkIdent(name); err != nil {
			errs = append(errs, domain.Invalidf(field, "column of %q: %v", p, err))
			continue
		}
		if o, dup := byPath[path.Key()]; dup {
			errs = append(errs, domain.Invalidf(field, "paths %q and %q address the same attribute", o, p))
			continue
		}
		if o, dup := byCol[name]; dup {
			errs = append(errs, domain.Invalidf(field, "column %q mapped twice (%q and %q)", name, o, p))
			continue
		}
		byPath[path.Key()], byCol[name] = p, p
		cols = append(cols, column{path: path, name: name})
	}
	if len(errs) > 0 {
		return nil, domain.FieldErrors(errs...)
	}
	sort.Slice(cols, func(i, j int) bool { return cols[i].name < cols[j].name })
	return cols, nil
}

func checkIdent(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty name")
	case len(s) > 63:
		return fmt.Errorf("name %q longer than 63 bytes", s)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("name holds a NUL byte")
	}
	return nil
}

func parseSettings(cfg connectors.StoreConfig) (settings, error) {
	var errs []error
	bad := func(field, format string, args ...any) { errs = append(errs, domain.Invalidf(field, format, args...)) }
	if cfg.Type != domain.StoreSQL {
		bad("type", "store type %q is not SQL", cfg.Type)
	}
	for _, k := range sortedKeys(cfg.Config) {
		if !configKeys[k] {
			bad("config."+k, "unknown configuration key")
		}
	}
	for _, k := range sortedKeys(cfg.Credentials) {
		if k != CredPassword && k != CredDSN {
			bad("credentials."+k, "unknown credential key")
		}
	}
	get := func(k, def string) string {
		if v := strings.TrimSpace(cfg.Config[k]); v != "" {
			return v
		}
		return def
	}
	ident := func(k, def string) string {
		v := get(k, def)
		if err := checkIdent(v); err != nil {
			bad("config."+k, "%v", err)
		}
		return v
	}
	var s settings
	raw, dsn := get(KeyURL, ""), cfg.Credentials[CredDSN]
	switch {
	case dsn != "" && raw != "":
		bad("config."+KeyURL, "give config.url or credentials.dsn, not both")
	case dsn != "":
		pc, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			// The parser's message may quote the string, password included.
			bad("credentials."+CredDSN, "not a valid PostgreSQL connection string")
		} else {
			s.pool = pc
		}
	case raw == "":
		// Named as the credential so that a configuration checked before its credentials
		// (which may hold the whole dsn) is not refused for it.
		bad("credentials."+CredDSN, "required unless config.url is set")
	default:
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			bad("config."+KeyURL, "not a URL")
		case u.Scheme != "postgres" && u.Scheme != "postgresql":
			bad("config."+KeyURL, "must be a postgres:// URL")
		case u.Host == "":
			bad("config."+KeyURL, "has no host")
		case u.User == nil || u.User.Username() == "":
			bad("config."+KeyURL, "names no user (postgres://user@host/db)")
		default:
			if _, has := u.User.Password(); has {
				bad("config."+KeyURL, "must not hold a password (use credentials.password)")
				break
			}
			pc, err := pgxpool.ParseConfig(raw)
			if err != nil {
				bad("config."+KeyURL, "%v", err)
				break
			}
			if p := cfg.Credentials[CredPassword]; p != "" {
				pc.ConnConfig.Password = p
			}
			s.pool = pc
		}
	}
	s.timeout = defaultTimeout
	if v := get(KeyTimeout, ""); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 5*time.Minute {
			bad("config."+KeyTimeout, "must be a duration above 0 and at most 5m, such as 10s")
		} else {
			s.timeout = d
		}
	}
	maxConns := defaultMaxConns
	if v := get(KeyMaxConns, ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			bad("config."+KeyMaxConns, "must be a whole number from 1 to 1000")
		} else {
			maxConns = n
		}
	}
	if s.pool != nil {
		s.pool.MaxConns = int32(maxConns)
		s.pool.ConnConfig.ConnectTimeout = s.timeout
	}

	schema := ident(KeySchema, "public")
	s.users = table{schema: schema, name: ident(KeyTable, "users"), key: ident(KeyKeyColumn, "id"), keyFrom: -1}
	if raw := cfg.Config[KeyColumns]; strings.TrimSpace(raw) == "" {
		bad("config."+KeyColumns, "required: a JSON object of SCIM path to column name")
	} else if cols, err := ParseColumns("config."+KeyColumns, raw); err != nil {
		errs = append(errs, err)
	} else {
		s.users.cols = cols
		for _, c := range cols {
			if c.name == s.users.key {
				bad("config."+KeyColumns, "maps %q to the key column %q (use config.keyFrom)", c.path.String(), c.name)
			}
		}
		if kf := get(KeyKeyFrom, ""); kf != "" {
			p, err := mapping.ParsePath(kf)
			if err != nil {
				bad("config."+KeyKeyFrom, "%v", err)
			} else {
				for i, c := range cols {
					if c.path.Key() == p.Key() {
						s.users.keyFrom = i
					}
				}
				if s.users.keyFrom < 0 {
					bad("config."+KeyKeyFrom, "%q is not a path of config.columns", kf)
				}
			}
		}
	}
	if v := get(KeySoftDeleteColumn, ""); v != "" {
		s.softDelete = ident(KeySoftDeleteColumn, "")
		s.softValue = get(KeySoftDeleteValue, "false")
	} else if get(KeySoftDeleteValue, "") != "" {
		bad("config."+KeySoftDeleteValue, "needs config.softDeleteColumn")
	}
	gt, mt := get(KeyGroupsTable, ""), get(KeyMembersTable, "")
	if (gt == "") != (mt == "") {
		bad("config."+KeyMembersTable, "config.groupsTable and config.membersTable go together")
	}
	if gt != "" && mt != "" {
		g := table{schema: schema, name: ident(KeyGroupsTable, ""), key: ident(KeyGroupKeyColumn, "id"), keyFrom: -1}
		cols, err := ParseColumns("config."+KeyGroupColumns, get(KeyGroupColumns, `{"displayName":"display_name"}`))
		if err != nil {
			errs = append(errs, err)
		}
		g.cols = cols
		s.groups = &g
		s.members = ident(KeyMembersTable, "")
		s.memberG = ident(KeyMemberGroupColumn, "group_id")
		s.memberU = ident(KeyMemberUserColumn, "user_id")
	} else {
		for _, k := range []string{KeyGroupKeyColumn, KeyGroupColumns, KeyMemberGroupColumn, KeyMemberUserColumn} {
			if get(k, "") != "" {
				bad("config."+k, "needs config.groupsTable and config.membersTable")
			}
		}
	}
	if len(errs) > 0 {
		return settings{}, &connectors.Error{Class: connectors.ClassInvalid, Op: "open SQL store",
			Err: fmt.Errorf("%w: %w", domain.ErrInvalid, domain.FieldErrors(errs...))}
	}
	return s, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
