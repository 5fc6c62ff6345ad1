package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/projections"
)

// The queries of graph.ReadModel, answered from the tables with the Directory's semantics and
// errors. The methods take no context (the interface's shape): each is bounded by
// Options.QueryTimeout; a database failure is an error of kind domain.ErrUnavailable.

// querier is what the queries run on: the pool, or a read-only snapshot transaction when a
// query reads several statements.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.opts.QueryTimeout)
}

// snapshot runs fn in a read-only repeatable-read transaction: its statements see one commit.
func (s *Store) snapshot(fn func(ctx context.Context, q querier) error) error {
	ctx, cancel := s.ctx()
	defer cancel()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return unavailable("begin a read", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read-only
	if err := fn(ctx, tx); err != nil {
		return err
	}
	return nil
}

func dbErr(err error) error {
	if err == nil {
		return nil
	}
	var fe *domain.FieldError
	if errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrInvalid) || errors.As(err, &fe) {
		return err
	}
	return unavailable("query", err)
}

func decode[T any](doc []byte, what string) (T, error) {
	var v T
	if err := json.Unmarshal(doc, &v); err != nil {
		return v, unavailable("decode "+what, err)
	}
	return v, nil
}

// envDoc returns environment id's row or ErrNotFound.
func envRow(ctx context.Context, q querier, id string, withSchema bool) (projections.Environment, []domain.AttributeDef, error) {
	var doc, schema []byte
	var err error
	if withSchema {
		err = q.QueryRow(ctx, "SELECT doc, schema_doc FROM environments WHERE id = $1", id).Scan(&doc, &schema)
	} else {
		err = q.QueryRow(ctx, "SELECT doc FROM environments WHERE id = $1", id).Scan(&doc)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return projections.Environment{}, nil, domain.NotFoundf("environment %s", id)
	}
	if err != nil {
		return projections.Environment{}, nil, dbErr(err)
	}
	e, err := decode[projections.Environment](doc, "an environment")
	if err != nil || !withSchema {
		return e, nil, err
	}
	attrs, err := decode[[]domain.AttributeDef](schema, "a schema")
	return e, attrs, err
}

// Environment returns an environment.
func (s *Store) Environment(id string) (projections.Environment, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	e, _, err := envRow(ctx, s.pool, id, false)
	return e, err
}

// Environments returns every environment, sorted by ID (empty when the database fails: the
// interface has no error; the failure is logged).
func (s *Store) Environments() []projections.Environment {
	ctx, cancel := s.ctx()
	defer cancel()
	out, err := collectDocs[projections.Environment](ctx, s.pool, "SELECT doc FROM environments ORDER BY id")
	if err != nil {
		s.opts.Logger.Error("pgstore: list environments", "err", err)
	}
	if out == nil {
		out = []projections.Environment{}
	}
	return out
}

func collectDocs[T any](ctx context.Context, q querier, sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, dbErr(err)
		}
		v, err := decode[T](doc, "a row")
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, dbErr(rows.Err())
}

// PasswordPolicy returns an environment's password policy.
func (s *Store) PasswordPolicy(env string) (domain.PasswordPolicy, error) {
	e, err := s.Environment(env)
	return e.PasswordPolicy, err
}

// Schema returns an environment's custom attribute definitions in the order they were added.
func (s *Store) Schema(env string) ([]domain.AttributeDef, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	_, attrs, err := envRow(ctx, s.pool, env, true)
	return attrs, err
}

// Configuration returns an environment's configuration (see projections.Directory.Configuration).
func (s *Store) Configuration(env string) (domain.Configuration, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var doc []byte
	err := s.pool.QueryRow(ctx, "SELECT config_doc FROM environments WHERE id = $1", env).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Configuration{}, domain.NotFoundf("environment %s", env)
	}
	if err != nil {
		return domain.Configuration{}, dbErr(err)
	}
	return decode[domain.Configuration](doc, "a configuration")
}

func scanPopulation(doc []byte, count int32) (projections.Population, error) {
	p, err := decode[projections.Population](doc, "a population")
	p.UserCount = int(count)
	return p, err
}

// Population returns a population of env.
func (s *Store) Population(env, id string) (projections.Population, error) {
	var out projections.Population
	err := s.snapshot(func(ctx context.Context, q querier) error {
		if _, _, err := envRow(ctx, q, env, false); err != nil {
			return err
		}
		var doc []byte
		var n int32
		err := q.QueryRow(ctx, "SELECT doc, user_count FROM populations WHERE env = $1 AND id = $2", env, id).Scan(&doc, &n)
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.NotFoundf("population %s", id)
		}
		if err != nil {
			return dbErr(err)
		}
		out, err = scanPopulation(doc, n)
		return err
	})
	return out, err
}

// Populations returns env's populations sorted by ID.
func (s *Store) Populations(env string) ([]projections.Population, error) {
	out := []projections.Population{}
	err := s.snapshot(func(ctx context.Context, q querier) error {
		if _, _, err := envRow(ctx, q, env, false); err != nil {
			return err
		}
		rows, err := q.Query(ctx, "SELECT doc, user_count FROM populations WHERE env = $1 ORDER BY id", env)
		if err != nil {
			return dbErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			var doc []byte
			var n int32
			if err := rows.Scan(&doc, &n); err != nil {
				return dbErr(err)
			}
			p, err := scanPopulation(doc, n)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return dbErr(rows.Err())
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PopulationUserCount returns how many users population pop of env holds.
func (s *Store) PopulationUserCount(ctx context.Context, env, pop string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p, err := s.Population(env, pop)
	return p.UserCount, err
}

func decodeUser(doc []byte) (*projections.User, error) {
	u, err := decode[projections.User](doc, "a user")
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// User returns a user of env.
func (s *Store) User(env, id string) (*projections.User, error) {
	var out *projections.User
	err := s.snapshot(func(ctx context.Context, q querier) error {
		if _, _, err := envRow(ctx, q, env, false); err != nil {
			return err
		}
		var doc []byte
		err := q.QueryRow(ctx, "SELECT doc FROM users WHERE env = $1 AND id = $2", env, id).Scan(&doc)
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.NotFoundf("user %s", id)
		}
		if err != nil {
			return dbErr(err)
		}
		out, err = decodeUser(doc)
		return err
	})
	return out, err
}

// UsersByIDs returns the users of env with the given IDs, in the same order, nil where a user
// does not exist. An unknown environment is ErrNotFound.
func (s *Store) UsersByIDs(env string, ids []string) ([]*projections.User, error) {
	out := make([]*projections.User, len(ids))
	err := s.snapshot(func(ctx context.Context, q querier) error {
		if _, _, err := envRow(ctx, q, env, false); err != nil {
			return err
		}
		rows, err := q.Query(ctx, "SELECT id, doc FROM users WHERE env = $1 AND id = ANY($2)", env, ids)
		if err != nil {
			return dbErr(err)
		}
		defer rows.Close()
		byID := map[string]*projections.User{}
		for rows.Next() {
			var id string
			var doc []byte
			if err := rows.Scan(&id, &doc); err != nil {
				return dbErr(err)
			}
			u, err := decodeUser(doc)
			if err != nil {
				return err
			}
			byID[id] = u
		}
		if err := rows.Err(); err != nil {
			return dbErr(err)
		}
		for i, id := range ids {
			out[i] = byID[id]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Users returns a page of env's users matching q, in ID order: unfiltered pages by keyset in
// SQL; filtered ones evaluate the Directory's own compiled filter on each candidate (narrowed
// by an indexed equality when the filter has one).
func (s *Store) Users(env string, q projections.UserQuery) (projections.UserPage, error) {
	var page projections.UserPage
	err := s.snapshot(func(ctx context.Context, tx querier) error {
		_, schema, err := envRow(ctx, tx, env, true)
		if err != nil {
			return err
		}
		f, err := projections.CompileUserFilter(q.Filter, schema)
		if err != nil {
			return err
		}
		after, err := projections.ParseCursor(q.After)
		if err != nil {
			return err
		}
		first := projections.PageSize(q.First)
		if q.PopulationIDs != nil && len(q.PopulationIDs) == 0 {
			return nil // an empty scope matches nobody
		}
		where, args := "env = $1", []any{env}
		if q.PopulationIDs != nil {
			args = append(args, q.PopulationIDs)
			where += " AND population_id = ANY($2)"
		}
		// popCount returns the user count of population id, ok false when it does not exist
		// (the Directory answers nobody for a scope or a populationId equality naming one).
		popCount := func(id string) (n int, ok bool, err error) {
			err = tx.QueryRow(ctx, "SELECT user_count FROM populations WHERE env = $1 AND id = $2", env, id).Scan(&n)
			if errors.Is(err, pgx.ErrNoRows) {
				return 0, false, nil
			}
			return n, err == nil, dbErr(err)
		}
		if f.Match == nil {
			var err error
			switch {
			case q.PopulationIDs == nil:
				err = tx.QueryRow(ctx, "SELECT user_count FROM environments WHERE id = $1", env).Scan(&page.TotalCount)
			case len(q.PopulationIDs) == 1:
				var ok bool
				page.TotalCount, ok, err = popCount(q.PopulationIDs[0])
				if err == nil && !ok {
					return nil
				}
			default:
				err = tx.QueryRow(ctx, "SELECT count(*) FROM users WHERE "+where, args...).Scan(&page.TotalCount)
			}
			if err != nil {
				return dbErr(err)
			}
			rows, err := tx.Query(ctx, "SELECT doc FROM users WHERE "+where+" AND id > $"+itoa(len(args)+1)+
				" ORDER BY id LIMIT $"+itoa(len(args)+2), append(args, after, first+1)...)
			if err != nil {
				return dbErr(err)
			}
			defer rows.Close()
			for rows.Next() {
				var doc []byte
				if err := rows.Scan(&doc); err != nil {
					return dbErr(err)
				}
				if len(page.Users) == first {
					page.HasNextPage = true
					break
				}
				u, err := decodeUser(doc)
				if err != nil {
					return err
				}
				page.Users = append(page.Users, u)
			}
			return dbErr(rows.Err())
		}
		switch f.Index {
		case "populationId":
			if _, ok, err := popCount(f.Value); err != nil || !ok {
				return err
			}
			args = append(args, f.Value)
			where += " AND population_id = $" + itoa(len(args))
		case "username", "email", "externalId":
			col := map[string]string{"username": "username_l", "email": "email_l", "externalId": "external_id_l"}[f.Index]
			args = append(args, strings.ToLower(f.Value))
			where += " AND " + col + " = $" + itoa(len(args))
		}
		for _, clause := range f.Needles {
			var or []string
			for _, needle := range clause {
				args = append(args, needle)
				or = append(or, "strpos(search, $"+itoa(len(args))+") > 0")
			}
			where += " AND (" + strings.Join(or, " OR ") + ")"
		}
		rows, err := tx.Query(ctx, "SELECT doc FROM users WHERE "+where+" ORDER BY id", args...)
		if err != nil {
			return dbErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			var doc []byte
			if err := rows.Scan(&doc); err != nil {
				return dbErr(err)
			}
			u, err := decodeUser(doc)
			if err != nil {
				return err
			}
			if !f.Match(u) {
				continue
			}
			page.TotalCount++
			switch {
			case u.ID <= after:
			case len(page.Users) == first:
				page.HasNextPage = true
			default:
				page.Users = append(page.Users, u)
			}
		}
		return dbErr(rows.Err())
	})
	if err != nil {
		return projections.UserPage{}, err
	}
	if n := len(page.Users); n > 0 {
		page.EndCursor = projections.Cursor(page.Users[n-1].ID)
	}
	return page, nil
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// Group returns a group of env.
func (s *Store) Group(env, id string) (projections.Group, error) {
	var out projections.Group
	err := s.snapshot(func(ctx context.Context, q querier) error {
		var err error
		out, err = groupRow(ctx, q, env, id)
		return err
	})
	return out, err
}

func groupRow(ctx context.Context, q querier, env, id string) (projections.Group, error) {
	if _, _, err := envRow(ctx, q, env, false); err != nil {
		return projections.Group{}, err
	}
	var doc []byte
	err := q.QueryRow(ctx, "SELECT doc FROM groups WHERE env = $1 AND id = $2", env, id).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return projections.Group{}, domain.NotFoundf("group %s", id)
	}
	if err != nil {
		return projections.Group{}, dbErr(err)
	}
	return decode[projections.Group](doc, "a group")
}

// Groups returns a page of env's groups matching q, in ID order.
func (s *Store) Groups(env string, q projections.GroupQuery) (projections.GroupPage, error) {
	match, err := projections.CompileGroupFilter(q.Filter)
	if err != nil {
		return projections.GroupPage{}, err
	}
	after, err := projections.ParseCursor(q.After)
	if err != nil {
		return projections.GroupPage{}, err
	}
	var all []projections.Group
	err = s.snapshot(func(ctx context.Context, tx querier) error {
		if _, _, err := envRow(ctx, tx, env, false); err != nil {
			return err
		}
		gs, err := collectDocs[projections.Group](ctx, tx, "SELECT doc FROM groups WHERE env = $1 ORDER BY id", env)
		for i := range gs {
			if match == nil || match(&gs[i]) {
				all = append(all, gs[i])
			}
		}
		return err
	})
	if err != nil {
		return projections.GroupPage{}, err
	}
	if all == nil {
		all = []projections.Group{}
	}
	page := projections.GroupPage{TotalCount: len(all)}
	i := sort.Search(len(all), func(i int) bool { return all[i].ID > after })
	first := projections.PageSize(q.First)
	page.Groups = all[i:min(i+first, len(all))]
	page.HasNextPage = i+first < len(all)
	if n := len(page.Groups); n > 0 {
		page.EndCursor = projections.Cursor(page.Groups[n-1].ID)
	}
	return page, nil
}

// GroupMembers returns a group's members (see projections.Directory.GroupMembers): transitive
// ones by a recursive query over the nesting (cycles walked once).
func (s *Store) GroupMembers(env, groupID string, transitive bool) (projections.GroupMembers, error) {
	var out projections.GroupMembers
	err := s.snapshot(func(ctx context.Context, q querier) error {
		if _, err := groupRow(ctx, q, env, groupID); err != nil {
			return err
		}
		reach := `WITH RECURSIVE reach(id) AS (SELECT $2::text COLLATE "C"`
		if transitive {
			reach += ` UNION SELECT c.child_id FROM group_children c JOIN reach r ON c.parent_id = r.id WHERE c.env = $1`
		}
		reach += `) `
		rows, err := q.Query(ctx, reach+`SELECT u.doc FROM users u WHERE u.env = $1 AND u.id IN
			(SELECT gu.user_id FROM group_users gu JOIN reach r ON gu.group_id = r.id WHERE gu.env = $1) ORDER BY u.id`, env, groupID)
		if err != nil {
			return dbErr(err)
		}
		for rows.Next() {
			var doc []byte
			if err := rows.Scan(&doc); err != nil {
				rows.Close()
				return dbErr(err)
			}
			u, err := decodeUser(doc)
			if err != nil {
				rows.Close()
				return err
			}
			out.Users = append(out.Users, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dbErr(err)
		}
		cond := ""
		if transitive {
			cond = " AND g.id <> $2"
		}
		out.Groups, err = collectDocs[projections.Group](ctx, q, reach+`SELECT g.doc FROM groups g WHERE g.env = $1 AND g.id IN
			(SELECT c.child_id FROM group_children c JOIN reach r ON c.parent_id = r.id WHERE c.env = $1)`+cond+` ORDER BY g.id`, env, groupID)
		return err
	})
	if err != nil {
		return projections.GroupMembers{}, err
	}
	return out, nil
}

// UserGroups returns the groups a user belongs to, sorted by ID (see
// projections.Directory.UserGroups): transitive ones by a recursive query up the nesting.
func (s *Store) UserGroups(env, userID string, transitive bool) ([]projections.Group, error) {
	var out []projections.Group
	err := s.snapshot(func(ctx context.Context, q querier) error {
		if _, _, err := envRow(ctx, q, env, false); err != nil {
			return err
		}
		var one int
		err := q.QueryRow(ctx, "SELECT 1 FROM users WHERE env = $1 AND id = $2", env, userID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.NotFoundf("user %s", userID)
		}
		if err != nil {
			return dbErr(err)
		}
		reach := `WITH RECURSIVE reach(id) AS (SELECT group_id FROM group_users WHERE env = $1 AND user_id = $2`
		if transitive {
			reach += ` UNION SELECT c.parent_id FROM group_children c JOIN reach r ON c.child_id = r.id WHERE c.env = $1`
		}
		out, err = collectDocs[projections.Group](ctx, q, reach+`) SELECT g.doc FROM groups g WHERE g.env = $1 AND g.id IN (SELECT id FROM reach) ORDER BY g.id`, env, userID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []projections.Group{}
	}
	return out, nil
}

// APIClient returns an API client by ID (organization-wide or of any environment).
func (s *Store) APIClient(id string) (projections.APIClient, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var doc []byte
	err := s.pool.QueryRow(ctx, "SELECT doc FROM api_clients WHERE id = $1", id).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return projections.APIClient{}, domain.NotFoundf("API client %s", id)
	}
	if err != nil {
		return projections.APIClient{}, dbErr(err)
	}
	return decode[projections.APIClient](doc, "an API client")
}

// APIClients returns env's API clients sorted by ID; env "" lists the organization-wide ones.
func (s *Store) APIClients(env string) ([]projections.APIClient, error) {
	var out []projections.APIClient
	err := s.snapshot(func(ctx context.Context, q querier) error {
		if env != "" {
			if _, _, err := envRow(ctx, q, env, false); err != nil {
				return err
			}
		}
		var err error
		out, err = collectDocs[projections.APIClient](ctx, q, "SELECT doc FROM api_clients WHERE env = $1 ORDER BY id", env)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// APIClientByTokenHash finds the client of a bearer token by the token's hex SHA-256 (either
// case). found is false for an unknown, revoked or expired (at now) token, for a deleted
// client, and when the database fails (logged).
func (s *Store) APIClientByTokenHash(sha256hex string, now time.Time) (projections.APIClient, projections.APIToken, bool) {
	ctx, cancel := s.ctx()
	defer cancel()
	var doc []byte
	var tokenID string
	err := s.pool.QueryRow(ctx, `SELECT c.doc, t.token_id FROM api_tokens t JOIN api_clients c ON c.id = t.client_id
		WHERE t.sha256 = $1`, strings.ToLower(sha256hex)).Scan(&doc, &tokenID)
	if err != nil {
		if !errors.Is(err, pgx.ErrNoRows) {
			s.opts.Logger.Error("pgstore: look up a token", "err", err)
		}
		return projections.APIClient{}, projections.APIToken{}, false
	}
	c, err := decode[projections.APIClient](doc, "an API client")
	if err != nil {
		s.opts.Logger.Error("pgstore: look up a token", "err", err)
		return projections.APIClient{}, projections.APIToken{}, false
	}
	for _, t := range c.Tokens {
		if t.ID == tokenID && t.ValidAt(now) {
			return c, t, true
		}
	}
	return projections.APIClient{}, projections.APIToken{}, false
}

// UsersWithAttribute returns how many users of env hold a value of the custom attribute name
// (case-insensitive; the write side asks before removing an attribute).
func (s *Store) UsersWithAttribute(ctx context.Context, env, name string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	err := s.snapshot(func(qctx context.Context, q querier) error {
		if _, _, err := envRow(qctx, q, env, false); err != nil {
			return err
		}
		return dbErr(q.QueryRow(qctx, `SELECT count(*) FROM users WHERE env = $1 AND json_typeof(doc->'Custom') = 'array'
			AND EXISTS (SELECT 1 FROM json_array_elements(CASE WHEN json_typeof(doc->'Custom') = 'array' THEN doc->'Custom' ELSE '[]' END) c
			WHERE lower(c->>'Name') = $2)`, env, strings.ToLower(name)).Scan(&n))
	})
	return n, err
}
