package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

// Types a mapped column may have, by information_schema data_type (citext is USER-DEFINED with
// udt_name citext).
var valueTypes = map[string]bool{"text": true, "character varying": true, "character": true, "citext": true, "uuid": true,
	"boolean": true, "smallint": true, "integer": true, "bigint": true, "numeric": true, "real": true, "double precision": true,
	"timestamp with time zone": true, "timestamp without time zone": true, "date": true}

var keyTypes = map[string]bool{"text": true, "character varying": true, "citext": true, "uuid": true}

// Check connects, then verifies that every configured table and column exists with a type
// that fits and that the user may read and write the tables. It changes nothing.
func (c *Connector) Check(ctx context.Context) error {
	const op = "check"
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	if _, err := c.pool.Exec(ctx, "SELECT 1"); err != nil {
		return classify(op, err)
	}
	var errs []error
	checkTable := func(field, name string, cols map[string]string, keys map[string]bool, write bool) {
		rows, err := c.pool.Query(ctx, `SELECT column_name, CASE WHEN data_type = 'USER-DEFINED' THEN udt_name ELSE data_type END
			FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`, c.s.users.schema, name)
		if err != nil {
			errs = append(errs, classify(op, err))
			return
		}
		types := map[string]string{}
		for rows.Next() {
			var n, t string
			if err := rows.Scan(&n, &t); err != nil {
				errs = append(errs, classify(op, err))
				rows.Close()
				return
			}
			types[n] = t
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			errs = append(errs, classify(op, err))
			return
		}
		if len(types) == 0 {
			errs = append(errs, domain.Invalidf(field, "table %s.%s does not exist (or the user cannot see it)", c.s.users.schema, name))
			return
		}
		for col, what := range cols {
			typ, ok := types[col]
			switch {
			case !ok:
				errs = append(errs, domain.Invalidf(field, "table %s has no column %q (%s)", name, col, what))
			case keys[col] && !keyTypes[typ]:
				errs = append(errs, domain.Invalidf(field, "column %q (%s) is %s: a key needs uuid or text", col, what, typ))
			case !valueTypes[typ]:
				errs = append(errs, domain.Invalidf(field, "column %q (%s) is %s, which holds no SCIM value", col, what, typ))
			}
		}
		privs := []string{"SELECT"}
		if write {
			privs = append(privs, "INSERT", "UPDATE", "DELETE")
		}
		// One privilege a call: with a list, has_table_privilege is true if any is held.
		for _, priv := range privs {
			var ok bool
			if err := c.pool.QueryRow(ctx, "SELECT has_table_privilege(format('%I.%I', $1::text, $2::text), $3)", c.s.users.schema, name, priv).Scan(&ok); err != nil {
				errs = append(errs, classify(op, err))
				return
			} else if !ok {
				errs = append(errs, &connectors.Error{Class: connectors.ClassAuth, Op: op, Err: fmt.Errorf("the user may not %s on table %s", priv, name)})
				return
			}
		}
	}
	mapped := func(t *table) map[string]string {
		m := map[string]string{t.key: "config.keyColumn"}
		for _, col := range t.cols {
			m[col.name] = col.path.String()
		}
		return m
	}
	users := mapped(&c.s.users)
	if c.s.softDelete != "" {
		users[c.s.softDelete] = "config.softDeleteColumn"
	}
	checkTable("config."+KeyTable, c.s.users.name, users, map[string]bool{c.s.users.key: c.s.users.keyFrom < 0}, true)
	if g := c.s.groups; g != nil {
		checkTable("config."+KeyGroupsTable, g.name, mapped(g), map[string]bool{g.key: true}, true)
		checkTable("config."+KeyMembersTable, c.s.members, map[string]string{c.s.memberG: "config.memberGroupColumn", c.s.memberU: "config.memberUserColumn"}, nil, true)
	}
	if len(errs) == 0 {
		return nil
	}
	for _, e := range errs {
		var ce *connectors.Error
		if errors.As(e, &ce) {
			return e // the store refused: its class (AUTH, UNAVAILABLE) wins over configuration faults
		}
	}
	return &connectors.Error{Class: connectors.ClassInvalid, Op: op, Err: fmt.Errorf("%w: %w", domain.ErrInvalid, domain.FieldErrors(errs...))}
}
