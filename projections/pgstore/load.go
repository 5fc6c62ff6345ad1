package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// The tables a rebuild replaces, and their columns in COPY order.
var loadTables = []struct {
	name string
	cols []string
}{
	{"environments", []string{"id", "doc", "schema_doc", "config_doc", "user_count"}},
	{"populations", []string{"env", "id", "user_count", "doc"}},
	{"users", []string{"env", "id", "population_id", "username_l", "email_l", "external_id_l", "search", "doc"}},
	{"groups", []string{"env", "id", "doc"}},
	{"group_users", []string{"env", "group_id", "user_id"}},
	{"group_children", []string{"env", "parent_id", "child_id"}},
	{"api_clients", []string{"id", "env", "doc"}},
	{"api_tokens", []string{"sha256", "client_id", "token_id"}},
}

// LoadStats counts what a bulk load wrote.
type LoadStats struct {
	Environments, Users, Groups, Memberships, Clients int
}

// load replaces every table's rows by dir's state, at checkpoint upTo: it copies (COPY) into
// fresh tables without indexes, then, in the same transaction, drops the old tables, renames the
// fresh ones and builds their constraints and indexes. Readers see the old rows until the commit.
func load(ctx context.Context, conn *pgx.Conn, schema string, dir *projections.Directory, upTo eventstore.Position) (LoadStats, error) {
	var st LoadStats
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var defs []string
		for _, t := range loadTables {
			// The constraints and indexes of the live table, to rebuild on the fresh one.
			rows, _ := tx.Query(ctx, `SELECT 'ALTER TABLE `+t.name+` ADD CONSTRAINT ' || quote_ident(conname) || ' ' || pg_get_constraintdef(oid)
				FROM pg_constraint WHERE conrelid = $1::regclass AND contype <> 'n'
				UNION ALL SELECT pg_get_indexdef(indexrelid) FROM pg_index i WHERE indrelid = $1::regclass
				AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`, t.name)
			d, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("pgstore: read the definition of %s: %w", t.name, err)
			}
			defs = append(defs, d...)
			if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+t.name+"_rebuild; CREATE TABLE "+t.name+"_rebuild (LIKE "+t.name+" INCLUDING DEFAULTS)"); err != nil {
				return fmt.Errorf("pgstore: create %s_rebuild: %w", t.name, err)
			}
		}
		if err := copyAll(ctx, tx, dir, &st); err != nil {
			return err
		}
		for _, t := range loadTables {
			if _, err := tx.Exec(ctx, "DROP TABLE "+t.name+"; ALTER TABLE "+t.name+"_rebuild RENAME TO "+t.name); err != nil {
				return fmt.Errorf("pgstore: switch %s: %w", t.name, err)
			}
		}
		if _, err := tx.Exec(ctx, strings.Join(defs, ";\n")); err != nil {
			return fmt.Errorf("pgstore: index the rebuilt tables: %w", err)
		}
		for _, t := range loadTables {
			if _, err := tx.Exec(ctx, "ANALYZE "+t.name); err != nil {
				return err
			}
		}
		return setCheckpoint(ctx, tx, schema, upTo)
	})
	return st, err
}

func copyRows(ctx context.Context, tx pgx.Tx, table string, rows [][]any) error {
	for _, t := range loadTables {
		if t.name == table {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{table + "_rebuild"}, t.cols, pgx.CopyFromRows(rows))
			if err != nil {
				return fmt.Errorf("pgstore: copy %s: %w", table, err)
			}
			return nil
		}
	}
	panic("pgstore: no table " + table)
}

// copyAll copies dir's state into the fresh tables.
func copyAll(ctx context.Context, tx pgx.Tx, dir *projections.Directory, st *LoadStats) error {
	var envRows, popRows, groupRows, guRows, gcRows, clientRows, tokenRows [][]any
	envs := dir.Environments()
	st.Environments = len(envs)
	for _, e := range envs {
		schema, err1 := dir.Schema(e.ID)
		cfg, err2 := dir.Configuration(e.ID)
		pops, err3 := dir.Populations(e.ID)
		if err := firstErr(err1, err2, err3); err != nil {
			return err
		}
		all, err := dir.Users(e.ID, projections.UserQuery{First: 1})
		if err != nil {
			return err
		}
		envRows = append(envRows, []any{e.ID, mustJSON(e), mustJSON(schema), mustJSON(cfg), all.TotalCount})
		for _, p := range pops {
			n := p.UserCount
			p.UserCount = 0
			popRows = append(popRows, []any{e.ID, p.ID, n, mustJSON(p)})
		}
		after := ""
		for {
			page, err := dir.Groups(e.ID, projections.GroupQuery{First: 1000, After: after})
			if err != nil {
				return err
			}
			for _, g := range page.Groups {
				m, err := dir.GroupMembers(e.ID, g.ID, false)
				if err != nil {
					return err
				}
				groupRows = append(groupRows, []any{e.ID, g.ID, mustJSON(g)})
				for _, u := range m.Users {
					guRows = append(guRows, []any{e.ID, g.ID, u.ID})
				}
				for _, c := range m.Groups {
					gcRows = append(gcRows, []any{e.ID, g.ID, c.ID})
				}
			}
			if !page.HasNextPage {
				break
			}
			after = page.EndCursor
		}
		cs, err := dir.APIClients(e.ID)
		if err != nil {
			return err
		}
		for _, c := range cs {
			clientRows = append(clientRows, []any{c.ID, c.EnvironmentID, mustJSON(c)})
		}
	}
	org, _ := dir.APIClients("")
	for _, c := range org {
		clientRows = append(clientRows, []any{c.ID, c.EnvironmentID, mustJSON(c)})
	}
	for _, h := range dir.TokenHashes("") {
		tokenRows = append(tokenRows, []any{h.Hash, h.ClientID, h.TokenID})
	}
	st.Groups, st.Memberships, st.Clients = len(groupRows), len(guRows), len(clientRows)
	for _, c := range []struct {
		table string
		rows  [][]any
	}{{"environments", envRows}, {"populations", popRows}, {"groups", groupRows}, {"group_users", guRows},
		{"group_children", gcRows}, {"api_clients", clientRows}, {"api_tokens", tokenRows}} {
		if err := copyRows(ctx, tx, c.table, c.rows); err != nil {
			return err
		}
	}
	n, err := copyUsers(ctx, tx, dir, envs)
	st.Users = n
	return err
}

// copyUsers streams every user into users_rebuild, encoding pages of users in parallel while
// COPY sends the previous ones.
func copyUsers(ctx context.Context, tx pgx.Tx, dir *projections.Directory, envs []projections.Environment) (int, error) {
	type page struct {
		users []*projections.User
		rows  [][]any
		done  chan struct{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan *page, 8)
	work := make(chan *page, 8)
	var listErr error
	go func() {
		defer close(pages)
		defer close(work)
		for _, e := range envs {
			after := ""
			for {
				p, err := dir.Users(e.ID, projections.UserQuery{First: 1000, After: after})
				if err != nil {
					listErr = err
					return
				}
				pg := &page{users: p.Users, done: make(chan struct{})}
				select {
				case work <- pg:
				case <-ctx.Done():
					return
				}
				select {
				case pages <- pg:
				case <-ctx.Done():
					return
				}
				if !p.HasNextPage {
					break
				}
				after = p.EndCursor
			}
		}
	}()
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pg := range work {
				pg.rows = make([][]any, len(pg.users))
				for i, u := range pg.users {
					doc, _ := json.Marshal(u)
					pg.rows[i] = []any{u.EnvironmentID, u.ID, u.PopulationID, strings.ToLower(u.Profile.Username),
						strings.ToLower(u.Profile.Email), strings.ToLower(u.Profile.ExternalID), projections.UserSearchText(u), doc}
				}
				close(pg.done)
			}
		}()
	}
	defer wg.Wait()
	var cur *page
	i, n := 0, 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		for cur == nil || i == len(cur.rows) {
			next, ok := <-pages
			if !ok {
				return nil, listErr
			}
			<-next.done
			cur, i = next, 0
		}
		i++
		n++
		return cur.rows[i-1], nil
	})
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"users_rebuild"}, loadTables[2].cols, src)
	if err != nil {
		cancel()
		for range pages {
		}
		return n, fmt.Errorf("pgstore: copy users: %w", err)
	}
	return n, listErr
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
