package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

type entityKey struct{ env, id string }

// touched is what a batch of changes affected, derived from its events.
type touched struct {
	envs     map[string]bool // environment row, populations and configuration (or the environment deleted)
	pops     map[string]bool // user counts of the environment's populations
	envGroup map[string]bool // every group and membership of the environment (the schema changed)
	envUsers map[string]bool // every user of the environment (an attribute was removed)
	users    map[entityKey]bool
	groups   map[entityKey]bool // the group's row, its users and its children
	rowsOnly map[entityKey]bool // the group's row and its children only
	updated  []entityKey        // groups updated (written whole when dynamic)
	clients  map[string]bool
}

func newTouched() *touched {
	return &touched{envs: map[string]bool{}, pops: map[string]bool{}, envGroup: map[string]bool{}, envUsers: map[string]bool{},
		users: map[entityKey]bool{}, groups: map[entityKey]bool{}, rowsOnly: map[entityKey]bool{}, clients: map[string]bool{}}
}

func (t *touched) add(payload any) {
	if env, user, ok := projections.UserEventIDs(payload); ok {
		t.users[entityKey{env, user}] = true
		t.pops[env] = true
		return
	}
	group := func(env, id string) {
		t.groups[entityKey{env, id}] = true
		t.envs[env] = true // the configuration lists groups
	}
	// groupRow: the group's document or children changed, not its users (a big group's
	// members are not rewritten for a new role).
	groupRow := func(env, id string) {
		t.rowsOnly[entityKey{env, id}] = true
		t.envs[env] = true
	}
	switch e := payload.(type) {
	case domain.EnvironmentCreated:
		t.envs[e.EnvironmentID] = true
	case domain.EnvironmentRenamed:
		t.envs[e.EnvironmentID] = true
	case domain.PasswordPolicySet:
		t.envs[e.EnvironmentID] = true
	case domain.DefaultPopulationChanged:
		t.envs[e.EnvironmentID] = true
	case domain.EnvironmentDeleted:
		t.envs[e.EnvironmentID] = true
	case domain.PopulationCreated:
		t.envs[e.EnvironmentID] = true
	case domain.PopulationUpdated:
		t.envs[e.EnvironmentID] = true
	case domain.PopulationDeleted:
		t.envs[e.EnvironmentID] = true
	case domain.SchemaAttributeAdded:
		t.envs[e.EnvironmentID], t.envGroup[e.EnvironmentID] = true, true
	case domain.SchemaAttributeUpdated:
		t.envs[e.EnvironmentID], t.envGroup[e.EnvironmentID] = true, true
	case domain.SchemaAttributeRemoved:
		t.envs[e.EnvironmentID], t.envGroup[e.EnvironmentID], t.envUsers[e.EnvironmentID] = true, true, true
	case domain.GroupCreated:
		group(e.EnvironmentID, e.GroupID)
	case domain.GroupUpdated: // a dynamic group's filter may have changed, its users with it: see collect
		groupRow(e.EnvironmentID, e.GroupID)
		t.updated = append(t.updated, entityKey{e.EnvironmentID, e.GroupID})
	case domain.GroupDeleted:
		group(e.EnvironmentID, e.GroupID)
	case domain.GroupMemberAdded: // the user's memberships are rewritten, not the group's
		t.users[entityKey{e.EnvironmentID, e.UserID}] = true
	case domain.GroupMemberRemoved:
		t.users[entityKey{e.EnvironmentID, e.UserID}] = true
	case domain.GroupRoleAssigned:
		groupRow(e.EnvironmentID, e.GroupID)
	case domain.GroupRoleUnassigned:
		groupRow(e.EnvironmentID, e.GroupID)
	case domain.GroupNested:
		groupRow(e.EnvironmentID, e.ParentID)
	case domain.GroupUnnested:
		groupRow(e.EnvironmentID, e.ParentID)
	case domain.APIClientCreated:
		t.clients[e.ClientID] = true
	case domain.APIClientDeleted:
		t.clients[e.ClientID] = true
	case domain.APIClientTokenIssued:
		t.clients[e.ClientID] = true
	case domain.APIClientTokenRevoked:
		t.clients[e.ClientID] = true
	case domain.APIClientRoleAssigned:
		t.clients[e.ClientID] = true
	case domain.APIClientRoleUnassigned:
		t.clients[e.ClientID] = true
	}
}

// rows accumulates a batch's statements: deletions first, then insertions, in one pgx.Batch.
type rows struct {
	del, ins pgx.Batch
	// user rows to upsert, as column arrays
	uEnv, uID, uPop, uName, uEmail, uExt, uSearch []string
	uDoc                                          [][]byte
	// group_users and group_children rows to insert
	guEnv, guGroup, guUser   []string
	gcEnv, gcParent, gcChild []string
}

func (r *rows) user(u *projections.User) error {
	doc, err := json.Marshal(u)
	if err != nil {
		return err
	}
	r.uEnv, r.uID, r.uPop = append(r.uEnv, u.EnvironmentID), append(r.uID, u.ID), append(r.uPop, u.PopulationID)
	r.uName = append(r.uName, strings.ToLower(u.Profile.Username))
	r.uEmail = append(r.uEmail, strings.ToLower(u.Profile.Email))
	r.uExt = append(r.uExt, strings.ToLower(u.Profile.ExternalID))
	r.uSearch = append(r.uSearch, projections.UserSearchText(u))
	r.uDoc = append(r.uDoc, doc)
	return nil
}

func (r *rows) member(env, group, user string) {
	r.guEnv, r.guGroup, r.guUser = append(r.guEnv, env), append(r.guGroup, group), append(r.guUser, user)
}

func (r *rows) child(env, parent, child string) {
	r.gcEnv, r.gcParent, r.gcChild = append(r.gcEnv, env), append(r.gcParent, parent), append(r.gcChild, child)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("pgstore: encode %T: %v", v, err)) // the read model's values always encode
	}
	return b
}

// writeBatch writes, in one transaction on conn with the checkpoint upTo (and its
// notification), the rows of every entity changes touched, as dir holds them now.
func writeBatch(ctx context.Context, conn *pgx.Conn, schema string, dir *projections.Directory, changes []projections.Change,
	upTo eventstore.Position) error {
	t := newTouched()
	for i := range changes {
		t.add(changes[i].Payload)
	}
	r := &rows{}
	if err := t.collect(dir, r); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if err := r.send(ctx, tx); err != nil {
			return err
		}
		return setCheckpoint(ctx, tx, schema, upTo)
	})
}

func setCheckpoint(ctx context.Context, tx pgx.Tx, schema string, upTo eventstore.Position) error {
	_, err := tx.Exec(ctx, `INSERT INTO checkpoint (projection, commit_position, prepare_position, updated_at, version)
		VALUES ($1, $2, $3, now(), $4) ON CONFLICT (projection) DO UPDATE SET commit_position = EXCLUDED.commit_position,
		prepare_position = EXCLUDED.prepare_position, updated_at = now(), version = EXCLUDED.version`,
		ProjectionName, int64(upTo.Commit), int64(upTo.Prepare), ProjectionVersion)
	if err != nil {
		return fmt.Errorf("pgstore: write the checkpoint: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channel(schema), formatPosition(upTo)); err != nil {
		return fmt.Errorf("pgstore: notify the checkpoint: %w", err)
	}
	return nil
}

// collect reads the touched entities' current state from dir into r.
func (t *touched) collect(dir *projections.Directory, r *rows) error {
	deleteEnv := func(env string) {
		for _, q := range []string{"DELETE FROM environments WHERE id = $1", "DELETE FROM populations WHERE env = $1",
			"DELETE FROM users WHERE env = $1", "DELETE FROM groups WHERE env = $1", "DELETE FROM group_users WHERE env = $1",
			"DELETE FROM group_children WHERE env = $1",
			"DELETE FROM api_tokens WHERE client_id IN (SELECT id FROM api_clients WHERE env = $1)",
			"DELETE FROM api_clients WHERE env = $1"} {
			r.del.Queue(q, env)
		}
	}
	pops := func(env string) {
		list, err := dir.Populations(env)
		if err != nil {
			return // the environment is gone: deleted with it
		}
		r.del.Queue("DELETE FROM populations WHERE env = $1", env)
		all, _ := dir.Users(env, projections.UserQuery{First: 1})
		r.ins.Queue("UPDATE environments SET user_count = $2 WHERE id = $1", env, all.TotalCount)
		for _, p := range list {
			n := p.UserCount
			p.UserCount = 0
			r.ins.Queue("INSERT INTO populations (env, id, user_count, doc) VALUES ($1, $2, $3, $4)", env, p.ID, n, mustJSON(p))
		}
	}
	for env := range t.envs {
		e, err := dir.Environment(env)
		if errors.Is(err, domain.ErrNotFound) {
			deleteEnv(env)
			continue
		}
		schema, err1 := dir.Schema(env)
		cfg, err2 := dir.Configuration(env)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		r.ins.Queue(`INSERT INTO environments (id, doc, schema_doc, config_doc, user_count) VALUES ($1, $2, $3, $4, 0)
			ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, schema_doc = EXCLUDED.schema_doc, config_doc = EXCLUDED.config_doc`,
			env, mustJSON(e), mustJSON(schema), mustJSON(cfg))
		pops(env)
	}
	for env := range t.pops {
		if !t.envs[env] {
			pops(env)
		}
	}
	for env := range t.envUsers {
		after := ""
		for {
			page, err := dir.Users(env, projections.UserQuery{First: 1000, After: after})
			if err != nil {
				break
			}
			for _, u := range page.Users {
				t.users[entityKey{env, u.ID}] = true
			}
			if !page.HasNextPage {
				break
			}
			after = page.EndCursor
		}
	}
	for env := range t.envGroup {
		r.del.Queue("DELETE FROM groups WHERE env = $1", env)
		r.del.Queue("DELETE FROM group_users WHERE env = $1", env)
		r.del.Queue("DELETE FROM group_children WHERE env = $1", env)
		after := ""
		for {
			page, err := dir.Groups(env, projections.GroupQuery{First: 1000, After: after})
			if err != nil {
				break
			}
			for _, g := range page.Groups {
				t.groups[entityKey{env, g.ID}] = true
			}
			if !page.HasNextPage {
				break
			}
			after = page.EndCursor
		}
	}
	for _, k := range t.updated {
		if g, err := dir.Group(k.env, k.id); err == nil && g.Kind == domain.GroupDynamic {
			t.groups[k] = true
		}
	}
	// Groups: the row, its users (direct and dynamic) and its children.
	for k := range t.groups {
		g, err := dir.Group(k.env, k.id)
		if !t.envGroup[k.env] {
			r.del.Queue("DELETE FROM groups WHERE env = $1 AND id = $2", k.env, k.id)
			r.del.Queue("DELETE FROM group_users WHERE env = $1 AND group_id = $2", k.env, k.id)
			r.del.Queue("DELETE FROM group_children WHERE env = $1 AND parent_id = $2", k.env, k.id)
			if err != nil { // deleted: so are the edges from its parents
				r.del.Queue("DELETE FROM group_children WHERE env = $1 AND child_id = $2", k.env, k.id)
			}
		}
		if err != nil {
			continue // deleted (or its environment)
		}
		m, err := dir.GroupMembers(k.env, k.id, false)
		if err != nil {
			continue
		}
		r.ins.Queue("INSERT INTO groups (env, id, doc) VALUES ($1, $2, $3)", k.env, k.id, mustJSON(g))
		for _, u := range m.Users {
			r.member(k.env, k.id, u.ID)
		}
		for _, c := range m.Groups {
			r.child(k.env, k.id, c.ID)
		}
	}
	// Groups whose row and children changed, not their users.
	for k := range t.rowsOnly {
		if t.groups[k] || t.envGroup[k.env] {
			continue // written whole
		}
		r.del.Queue("DELETE FROM groups WHERE env = $1 AND id = $2", k.env, k.id)
		r.del.Queue("DELETE FROM group_children WHERE env = $1 AND parent_id = $2", k.env, k.id)
		g, err := dir.Group(k.env, k.id)
		if err != nil {
			continue
		}
		m, err := dir.GroupMembers(k.env, k.id, false)
		if err != nil {
			continue
		}
		r.ins.Queue("INSERT INTO groups (env, id, doc) VALUES ($1, $2, $3)", k.env, k.id, mustJSON(g))
		for _, c := range m.Groups {
			r.child(k.env, k.id, c.ID)
		}
	}
	// Users: the row (or its deletion) and the groups holding it.
	var gone []entityKey
	byEnv := map[string][]string{}
	for k := range t.users {
		byEnv[k.env] = append(byEnv[k.env], k.id)
		u, err := dir.User(k.env, k.id)
		if err != nil || u.Erased { // a forgotten user is no row (the memory store keeps a stub out of every list)
			gone = append(gone, k)
			continue
		}
		if err := r.user(u); err != nil {
			return err
		}
		gs, err := dir.UserGroups(k.env, k.id, false)
		if err != nil {
			continue
		}
		for _, g := range gs {
			if !t.groups[entityKey{k.env, g.ID}] { // those are written whole above
				r.member(k.env, g.ID, k.id)
			}
		}
	}
	for env, ids := range byEnv {
		r.del.Queue("DELETE FROM group_users WHERE env = $1 AND user_id = ANY($2) AND NOT (group_id = ANY($3))", env, ids, t.groupsOf(env))
	}
	for _, k := range gone {
		r.del.Queue("DELETE FROM users WHERE env = $1 AND id = $2", k.env, k.id)
	}
	// Clients: the row and its tokens.
	for id := range t.clients {
		r.del.Queue("DELETE FROM api_tokens WHERE client_id = $1", id)
		r.del.Queue("DELETE FROM api_clients WHERE id = $1", id)
		c, err := dir.APIClient(id)
		if err != nil {
			continue
		}
		r.ins.Queue("INSERT INTO api_clients (id, env, doc) VALUES ($1, $2, $3)", id, c.EnvironmentID, mustJSON(c))
		for _, h := range dir.TokenHashes(id) {
			r.ins.Queue("INSERT INTO api_tokens (sha256, client_id, token_id) VALUES ($1, $2, $3)", h.Hash, id, h.TokenID)
		}
	}
	return nil
}

func (t *touched) groupsOf(env string) []string {
	out := []string{}
	for k := range t.groups {
		if k.env == env {
			out = append(out, k.id)
		}
	}
	return out
}

// send runs r's deletions, then its insertions, in two round trips.
func (r *rows) send(ctx context.Context, tx pgx.Tx) error {
	if len(r.uID) > 0 {
		r.ins.Queue(`INSERT INTO users (env, id, population_id, username_l, email_l, external_id_l, search, doc)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::json[])
			ON CONFLICT (env, id) DO UPDATE SET population_id = EXCLUDED.population_id, username_l = EXCLUDED.username_l,
			email_l = EXCLUDED.email_l, external_id_l = EXCLUDED.external_id_l, search = EXCLUDED.search, doc = EXCLUDED.doc`,
			r.uEnv, r.uID, r.uPop, r.uName, r.uEmail, r.uExt, r.uSearch, jsonArray(r.uDoc))
	}
	if len(r.guUser) > 0 {
		r.ins.Queue(`INSERT INTO group_users (env, group_id, user_id) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
			ON CONFLICT DO NOTHING`, r.guEnv, r.guGroup, r.guUser)
	}
	if len(r.gcChild) > 0 {
		r.ins.Queue(`INSERT INTO group_children (env, parent_id, child_id) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
			ON CONFLICT DO NOTHING`, r.gcEnv, r.gcParent, r.gcChild)
	}
	for _, b := range []*pgx.Batch{&r.del, &r.ins} {
		if b.Len() == 0 {
			continue
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("pgstore: write a batch: %w", err)
		}
	}
	return nil
}

// jsonArray passes documents as json[] text (pgx encodes []string as text[]; the cast reads
// each element as json).
func jsonArray(docs [][]byte) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = string(d)
	}
	return out
}
