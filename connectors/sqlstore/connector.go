package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/mapping"
	"github.com/idstream/idstream/domain"
)

const (
	pageSize  = 500
	findLimit = 10
)

// Connector is a connection pool to one PostgreSQL table mapping. Safe for concurrent use; it
// never retries. Values are sent in text form and PostgreSQL converts them by column type, so
// a value that does not fit its column is the store's 22xxx error (INVALID).
type Connector struct {
	s    settings
	pool *pgxpool.Pool
}

var (
	_ connectors.Connector     = (*Connector)(nil)
	_ connectors.Checker       = (*Connector)(nil)
	_ connectors.MemberUpdater = (*Connector)(nil)
	_ connectors.Lister        = (*Connector)(nil)
	_ connectors.Describer     = (*Connector)(nil)
	_ connectors.BatchCreator  = (*Connector)(nil)
)

// New validates cfg and returns a connector without contacting the store.
func New(cfg connectors.StoreConfig) (*Connector, error) {
	s, err := parseSettings(cfg)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), s.pool)
	if err != nil {
		return nil, &connectors.Error{Class: connectors.ClassInvalid, Op: "open SQL store", Err: err}
	}
	return &Connector{s: s, pool: pool}, nil
}

// Factories returns the SQL store's factory.
func Factories() connectors.Factories {
	return connectors.Factories{domain.StoreSQL: func(cfg connectors.StoreConfig) (connectors.Connector, error) {
		c, err := New(cfg)
		if err != nil {
			return nil, err
		}
		return c, nil
	}}
}

// Features: groups when a groups and a members table are configured; hard delete unless a
// soft-delete column is.
func (c *Connector) Features() connectors.Features {
	return connectors.Features{Groups: c.s.groups != nil, HardDelete: c.s.softDelete == ""}
}

func (c *Connector) Close() error { c.pool.Close(); return nil }

func invalid(op string, err error) error {
	return &connectors.Error{Class: connectors.ClassInvalid, Op: op, Err: err}
}

func (c *Connector) table(op string, kind connectors.Kind) (*table, error) {
	switch kind {
	case connectors.KindUser:
		return &c.s.users, nil
	case connectors.KindGroup:
		if c.s.groups == nil {
			return nil, invalid(op, domain.Invalidf("kind", "this SQL store has no groups (config.groupsTable)"))
		}
		return c.s.groups, nil
	}
	return nil, invalid(op, domain.Invalidf("kind", "must be user or group, not %q", kind))
}

func (c *Connector) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.s.timeout)
}

// selectList is the columns read back: the key as text, then the mapped columns.
func selectList(t *table) string {
	var b strings.Builder
	b.WriteString(pgx.Identifier{t.key}.Sanitize() + "::text")
	for _, col := range t.cols {
		b.WriteString(", " + pgx.Identifier{col.name}.Sanitize())
	}
	return b.String()
}

func scanResource(t *table, row pgx.Row) (connectors.Resource, error) {
	vals := make([]any, len(t.cols))
	dest := make([]any, len(t.cols)+1)
	var id string
	dest[0] = &id
	for i := range vals {
		dest[i+1] = &vals[i]
	}
	if err := row.Scan(dest...); err != nil {
		return connectors.Resource{}, err
	}
	attrs := map[string]any{}
	for i, col := range t.cols {
		v := jsonValue(vals[i])
		if v == nil {
			continue
		}
		if err := col.path.Set(attrs, v); err != nil {
			return connectors.Resource{}, fmt.Errorf("column %s: %w", col.name, err)
		}
	}
	return connectors.Resource{ID: id, Attributes: attrs}, nil
}

// jsonValue turns a scanned column value into a JSON value.
func jsonValue(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string, bool, float64:
		return x
	case int16:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case float32:
		return float64(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case [16]byte:
		return uuid.UUID(x).String()
	case pgtype.Numeric:
		f, err := x.Float64Value()
		if err == nil && f.Valid {
			return f.Float64
		}
		return nil
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64()
		return f
	}
	return fmt.Sprint(v)
}

// textValue turns a JSON value into the text PostgreSQL parses by column type.
func textValue(path string, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, domain.Invalidf(path, "not a finite number")
		}
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	}
	return nil, domain.Invalidf(path, "a %T does not fit one column (want a string, number or boolean)", v)
}

func (c *Connector) Get(ctx context.Context, kind connectors.Kind, id string) (connectors.Resource, error) {
	op := "get " + string(kind)
	t, err := c.table(op, kind)
	if err != nil {
		return connectors.Resource{}, err
	}
	if id == "" {
		return connectors.Resource{}, invalid(op, domain.Invalidf("id", "required"))
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	return c.get(ctx, c.pool, op, t, id)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func (c *Connector) get(ctx context.Context, q querier, op string, t *table, id string) (connectors.Resource, error) {
	r, err := scanResource(t, q.QueryRow(ctx, "SELECT "+selectList(t)+" FROM "+t.ident()+" WHERE "+pgx.Identifier{t.key}.Sanitize()+" = $1", id))
	if err != nil {
		return r, classify(op, err)
	}
	if t != &c.s.users {
		if r.Attributes["members"], err = c.members(ctx, q, id); err != nil {
			return connectors.Resource{}, classify(op, err)
		}
	}
	return r, nil
}

func (c *Connector) members(ctx context.Context, q querier, gid string) ([]any, error) {
	rows, err := q.Query(ctx, "SELECT "+pgx.Identifier{c.s.memberU}.Sanitize()+"::text FROM "+pgx.Identifier{c.s.users.schema, c.s.members}.Sanitize()+
		" WHERE "+pgx.Identifier{c.s.memberG}.Sanitize()+" = $1 ORDER BY 1", gid)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(ids))
	for _, id := range ids {
		out = append(out, map[string]any{"value": id})
	}
	return out, nil
}

// Find compares case-insensitively, the text form of the column with the value (lower(col::text)
// = lower($1)), as SCIM compares caseExact=false attributes; an index on lower(column) serves it.
// An unfiltered path of a multi-valued attribute (emails.value) matches every filtered column
// under it (emails[type eq "work"].value, …).
func (c *Connector) Find(ctx context.Context, kind connectors.Kind, attribute, value string) ([]connectors.Resource, error) {
	op := "find " + string(kind)
	t, err := c.table(op, kind)
	if err != nil {
		return nil, err
	}
	p, err := mapping.ParsePath(attribute)
	if err != nil {
		return nil, invalid(op, domain.Invalidf("attribute", "path %q: %v", attribute, err))
	}
	var conds []string
	for _, col := range t.cols {
		if col.path.Key() == p.Key() || (!p.HasFilter() && col.path.HasFilter() && strings.EqualFold(col.path.Attribute(), p.Attribute()) &&
			strings.EqualFold(col.path.SubAttribute(), p.SubAttribute()) && strings.EqualFold(col.path.URI(), p.URI())) {
			conds = append(conds, "lower("+pgx.Identifier{col.name}.Sanitize()+"::text) = lower($1)")
		}
	}
	if len(conds) == 0 {
		return nil, invalid(op, domain.Invalidf("attribute", "%q is not mapped to a column (config.columns)", attribute))
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	rows, err := c.pool.Query(ctx, "SELECT "+selectList(t)+" FROM "+t.ident()+" WHERE "+strings.Join(conds, " OR ")+" LIMIT "+strconv.Itoa(findLimit), value)
	if err != nil {
		return nil, classify(op, err)
	}
	defer rows.Close()
	out := []connectors.Resource{}
	for rows.Next() {
		r, err := scanResource(t, rows)
		if err != nil {
			return nil, classify(op, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(op, err)
	}
	if t != &c.s.users {
		for i := range out {
			if out[i].Attributes["members"], err = c.members(ctx, c.pool, out[i].ID); err != nil {
				return nil, classify(op, err)
			}
		}
	}
	return out, nil
}

// memberIDs reads the member IDs of a group's "members" value.
func memberIDs(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, domain.Invalidf("members", "must be a list of {\"value\": id}")
	}
	var ids []string
	for _, m := range list {
		mm, _ := m.(map[string]any)
		id, _ := mm["value"].(string)
		if id == "" {
			return nil, domain.Invalidf("members", "an element has no value")
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Create inserts one row in one statement (INSERT … ON CONFLICT DO NOTHING RETURNING): a clash
// with any unique constraint returns no row, which is CONFLICT, without an error in the
// server's log. Attributes without a column are not stored; absent ones keep the column default.
func (c *Connector) Create(ctx context.Context, kind connectors.Kind, attrs map[string]any) (connectors.Resource, error) {
	op := "create " + string(kind)
	t, err := c.table(op, kind)
	if err != nil {
		return connectors.Resource{}, err
	}
	key, err := newKey(op, t, attrs)
	if err != nil {
		return connectors.Resource{}, err
	}
	sql, args, err := insertStatement(op, t, key, attrs)
	if err != nil {
		return connectors.Resource{}, err
	}
	var members []string
	if t != &c.s.users {
		if members, err = memberIDs(attrs["members"]); err != nil {
			return connectors.Resource{}, invalid(op, err)
		}
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	if t == &c.s.users {
		r, err := scanResource(t, c.pool.QueryRow(ctx, sql, args...))
		if err != nil {
			return connectors.Resource{}, createError(op, err)
		}
		return r, nil
	}
	var r connectors.Resource
	err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if r, err = scanResource(t, tx.QueryRow(ctx, sql, args...)); err != nil {
			return err
		}
		if err := c.addMembers(ctx, tx, r.ID, members); err != nil {
			return err
		}
		r.Attributes["members"], err = c.members(ctx, tx, r.ID)
		return err
	})
	if err != nil {
		return connectors.Resource{}, createError(op, err)
	}
	return r, nil
}

// insertStatement builds the INSERT of one row: only the present attributes' columns, so that
// absent ones keep their defaults (pgx caches one prepared statement per column set).
func insertStatement(op string, t *table, key any, attrs map[string]any) (string, []any, error) {
	names := []string{pgx.Identifier{t.key}.Sanitize()}
	args := []any{key}
	for _, col := range t.cols {
		v, ok := col.path.Get(attrs)
		if !ok || v == nil {
			continue
		}
		tv, err := textValue(col.path.String(), v)
		if err != nil {
			return "", nil, invalid(op, err)
		}
		names = append(names, pgx.Identifier{col.name}.Sanitize())
		args = append(args, tv)
	}
	ph := make([]string, len(args))
	for i := range ph {
		ph[i] = "$" + strconv.Itoa(i+1)
	}
	return "INSERT INTO " + t.ident() + " (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(ph, ", ") +
		") ON CONFLICT DO NOTHING RETURNING " + selectList(t), args, nil
}

// key returns the key of a new row of t from attrs.
func newKey(op string, t *table, attrs map[string]any) (any, error) {
	if t.keyFrom < 0 {
		return uuid.NewString(), nil
	}
	v, ok := t.cols[t.keyFrom].path.Get(attrs)
	if s, _ := v.(string); !ok || s == "" {
		return nil, invalid(op, domain.Invalidf(t.cols[t.keyFrom].path.String(), "required: it is the key (config.keyFrom)"))
	}
	return v, nil
}

func createError(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return &connectors.Error{Class: connectors.ClassConflict, Op: op, Err: errors.New("a row with the same key or unique value exists")}
	}
	return classify(op, err)
}

func (c *Connector) addMembers(ctx context.Context, q querier, gid string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	m := pgx.Identifier{c.s.users.schema, c.s.members}.Sanitize()
	g, u := pgx.Identifier{c.s.memberG}.Sanitize(), pgx.Identifier{c.s.memberU}.Sanitize()
	// The members present are skipped rather than relying on ON CONFLICT: the members table
	// need not have a unique constraint. Callers hold the group row (FOR UPDATE or just
	// inserted), so no other writer adds the same rows meanwhile.
	have, err := c.members(ctx, q, gid)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, m := range have {
		seen[m.(map[string]any)["value"].(string)] = true
	}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if _, err := q.Exec(ctx, "INSERT INTO "+m+" ("+g+", "+u+") VALUES ($1, $2)", gid, id); err != nil {
			return err
		}
	}
	return nil
}

// assignments computes the columns changes set: a change of a column's path sets it; a change
// of an ancestor (name, emails, emails[type eq "work"]) sets each column under it from the
// value. Changes of paths with no column are ignored: the table does not hold them.
func assignments(t *table, changes []connectors.Change) (map[int]any, error) {
	out := map[int]any{}
	for _, ch := range changes {
		p, err := mapping.ParsePath(ch.Path)
		if err != nil {
			return nil, domain.Invalidf("path", "%q: %v", ch.Path, err)
		}
		var doc map[string]any
		for i, col := range t.cols {
			cp := col.path
			if cp.Key() == p.Key() {
				tv, err := textValue(ch.Path, ch.Value)
				if err != nil {
					return nil, err
				}
				out[i] = tv
				continue
			}
			under := p.SubAttribute() == "" && strings.EqualFold(cp.Attribute(), p.Attribute()) && strings.EqualFold(cp.URI(), p.URI()) &&
				(!p.HasFilter() || strings.HasPrefix(cp.Key(), p.Key()+"."))
			if !under {
				continue
			}
			if doc == nil {
				doc = map[string]any{}
				if ch.Value != nil {
					if err := p.Set(doc, ch.Value); err != nil {
						return nil, domain.Invalidf("path", "%q: %v", ch.Path, err)
					}
				}
			}
			v, _ := cp.Get(doc)
			tv, err := textValue(cp.String(), v)
			if err != nil {
				return nil, err
			}
			out[i] = tv
		}
	}
	return out, nil
}

// Update is one UPDATE of the changed columns (atomic); for a group, with its member
// replacement, in one transaction.
func (c *Connector) Update(ctx context.Context, kind connectors.Kind, id string, changes []connectors.Change) (connectors.Resource, error) {
	op := "update " + string(kind)
	t, err := c.table(op, kind)
	if err != nil {
		return connectors.Resource{}, err
	}
	if id == "" {
		return connectors.Resource{}, invalid(op, domain.Invalidf("id", "required"))
	}
	var cols []connectors.Change
	var members []string
	replaceMembers := false
	for _, ch := range changes {
		if t != &c.s.users && strings.EqualFold(ch.Path, "members") {
			if members, err = memberIDs(ch.Value); err != nil {
				return connectors.Resource{}, invalid(op, err)
			}
			replaceMembers = true
			continue
		}
		cols = append(cols, ch)
	}
	set, err := assignments(t, cols)
	if err != nil {
		return connectors.Resource{}, invalid(op, err)
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	run := func(q querier) (connectors.Resource, error) {
		if len(set) == 0 {
			return c.get(ctx, q, op, t, id)
		}
		var sets []string
		args := []any{id}
		for i, col := range t.cols {
			if v, ok := set[i]; ok {
				args = append(args, v)
				sets = append(sets, pgx.Identifier{col.name}.Sanitize()+" = $"+strconv.Itoa(len(args)))
			}
		}
		r, err := scanResource(t, q.QueryRow(ctx, "UPDATE "+t.ident()+" SET "+strings.Join(sets, ", ")+" WHERE "+
			pgx.Identifier{t.key}.Sanitize()+" = $1 RETURNING "+selectList(t), args...))
		if err != nil {
			return r, classify(op, err)
		}
		if t != &c.s.users {
			if r.Attributes["members"], err = c.members(ctx, q, id); err != nil {
				return r, classify(op, err)
			}
		}
		return r, nil
	}
	if !replaceMembers {
		return run(c.pool)
	}
	var r connectors.Resource
	err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := c.get(ctx, tx, op, t, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM "+pgx.Identifier{c.s.users.schema, c.s.members}.Sanitize()+" WHERE "+
			pgx.Identifier{c.s.memberG}.Sanitize()+" = $1", id); err != nil {
			return classify(op, err)
		}
		if err := c.addMembers(ctx, tx, id, members); err != nil {
			return classify(op, err)
		}
		r, err = run(tx)
		return err
	})
	if err != nil {
		return connectors.Resource{}, classify(op, err)
	}
	return r, nil
}

// Delete deletes the row (and its membership rows, in the same transaction), or with a
// soft-delete column sets it.
func (c *Connector) Delete(ctx context.Context, kind connectors.Kind, id string) error {
	op := "delete " + string(kind)
	t, err := c.table(op, kind)
	if err != nil {
		return err
	}
	if id == "" {
		return invalid(op, domain.Invalidf("id", "required"))
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	key := pgx.Identifier{t.key}.Sanitize()
	if t == &c.s.users && c.s.softDelete != "" {
		tag, err := c.pool.Exec(ctx, "UPDATE "+t.ident()+" SET "+pgx.Identifier{c.s.softDelete}.Sanitize()+" = $2 WHERE "+key+" = $1", id, c.s.softValue)
		if err != nil {
			return classify(op, err)
		}
		if tag.RowsAffected() == 0 {
			return notFound(op)
		}
		return nil
	}
	return classify(op, pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if c.s.groups != nil {
			col := c.s.memberU
			if t != &c.s.users {
				col = c.s.memberG
			}
			if _, err := tx.Exec(ctx, "DELETE FROM "+pgx.Identifier{c.s.users.schema, c.s.members}.Sanitize()+" WHERE "+
				pgx.Identifier{col}.Sanitize()+" = $1", id); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, "DELETE FROM "+t.ident()+" WHERE "+key+" = $1", id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound(op)
		}
		return nil
	}))
}

func notFound(op string) error {
	return &connectors.Error{Class: connectors.ClassNotFound, Op: op, Err: errors.New("no such row")}
}

// UpdateMembers adds and removes membership rows in one transaction.
func (c *Connector) UpdateMembers(ctx context.Context, groupID string, add, remove []string) error {
	const op = "update group members"
	t, err := c.table(op, connectors.KindGroup)
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	return classify(op, pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM "+t.ident()+" WHERE "+pgx.Identifier{t.key}.Sanitize()+" = $1 FOR UPDATE", groupID).Scan(&one); err != nil {
			return err
		}
		if len(remove) > 0 {
			if _, err := tx.Exec(ctx, "DELETE FROM "+pgx.Identifier{c.s.users.schema, c.s.members}.Sanitize()+" WHERE "+
				pgx.Identifier{c.s.memberG}.Sanitize()+" = $1 AND "+pgx.Identifier{c.s.memberU}.Sanitize()+"::text = ANY($2::text[])", groupID, remove); err != nil {
				return err
			}
		}
		return c.addMembers(ctx, tx, groupID, add)
	}))
}

// List reads pages in key order (keyset pagination: WHERE key > last ORDER BY key).
func (c *Connector) List(ctx context.Context, kind connectors.Kind, fn func(connectors.Resource) bool) error {
	op := "list " + string(kind)
	t, err := c.table(op, kind)
	if err != nil {
		return err
	}
	key := pgx.Identifier{t.key}.Sanitize()
	var last *string
	for {
		var page []connectors.Resource
		err := func() error {
			ctx, cancel := c.ctx(ctx)
			defer cancel()
			sql := "SELECT " + selectList(t) + " FROM " + t.ident()
			var args []any
			if last != nil {
				sql += " WHERE " + key + " > $1"
				args = append(args, *last)
			}
			rows, err := c.pool.Query(ctx, sql+" ORDER BY "+key+" LIMIT "+strconv.Itoa(pageSize), args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				r, err := scanResource(t, rows)
				if err != nil {
					return err
				}
				page = append(page, r)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if t != &c.s.users {
				for i := range page {
					if page[i].Attributes["members"], err = c.members(ctx, c.pool, page[i].ID); err != nil {
						return err
					}
				}
			}
			return nil
		}()
		if err != nil {
			return classify(op, err)
		}
		for _, r := range page {
			if !fn(r) {
				return nil
			}
		}
		if len(page) < pageSize {
			return nil
		}
		id := page[len(page)-1].ID
		last = &id
	}
}
