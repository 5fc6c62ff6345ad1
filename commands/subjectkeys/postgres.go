package subjectkeys

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idstream/idstream/commands/secret"
	"github.com/idstream/idstream/eventstore"
)

// Postgres is an eventstore.SubjectKeys in a PostgreSQL table, for several idstream processes
// sharing one event store (they must share the operator key too). Each key is wrapped with the
// operator key; forgetting sets the row's key to NULL and vacuums the table, so the old row
// version does not stay readable in the table's pages. Copies in the server's write-ahead log
// and backups last until those are recycled — and hold the key only wrapped.
type Postgres struct {
	pool   *pgxpool.Pool
	sealer *secret.Sealer
	table  string // quoted schema.table
}

var _ eventstore.SubjectKeys = (*Postgres)(nil)

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// OpenPostgres connects to the database of rawURL and makes sure the key table exists in
// schema (default "idstream", or the URL's "schema" query parameter).
func OpenPostgres(ctx context.Context, rawURL, schema string, sealer *secret.Sealer) (*Postgres, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("subject keys: the PostgreSQL URL does not parse") // never quote it: it may hold a password
	}
	q := u.Query()
	if s := q.Get("schema"); s != "" && schema == "" {
		schema = s
	}
	q.Del("schema")
	u.RawQuery = q.Encode()
	if schema == "" {
		schema = "idstream"
	}
	if !identRE.MatchString(schema) {
		return nil, fmt.Errorf("subject keys: schema %q: want a lower-case SQL identifier", schema)
	}
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("subject keys: connect to PostgreSQL: %w", err)
	}
	p := &Postgres{pool: pool, sealer: sealer, table: `"` + schema + `".subject_keys`}
	if err := p.migrate(ctx, schema); err != nil {
		pool.Close()
		return nil, err
	}
	return p, nil
}

func (p *Postgres) migrate(ctx context.Context, schema string) error {
	h := fnv.New64a()
	h.Write([]byte("idstream subject keys " + schema))
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64())); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS "`+schema+`";
			CREATE TABLE IF NOT EXISTS `+p.table+` (
				subject      text PRIMARY KEY,
				wrapped      text,        -- NULL: forgotten
				created_at   timestamptz NOT NULL DEFAULT now(),
				forgotten_at timestamptz
			)`)
		if err != nil {
			return fmt.Errorf("subject keys: create %s: %w", p.table, err)
		}
		return nil
	})
}

// Close closes the connections.
func (p *Postgres) Close() error {
	p.pool.Close()
	return nil
}

// Keys implements eventstore.SubjectKeys. Of two processes creating a subject's key at once,
// the first insert wins and both return its key.
func (p *Postgres) Keys(ctx context.Context, subjects []string, create bool) (map[string][]byte, error) {
	out := make(map[string][]byte, len(subjects))
	missing, err := p.read(ctx, subjects, out)
	if err != nil || !create || len(missing) == 0 {
		return out, err
	}
	batch := &pgx.Batch{}
	for _, subject := range missing {
		key, err := eventstore.NewSubjectKey()
		if err != nil {
			return nil, err
		}
		wrapped, err := p.sealer.Seal(key, aad(subject))
		if err != nil {
			return nil, err
		}
		batch.Queue(`INSERT INTO `+p.table+` (subject, wrapped) VALUES ($1, $2) ON CONFLICT (subject) DO NOTHING`, subject, wrapped)
	}
	if err := p.pool.SendBatch(ctx, batch).Close(); err != nil {
		return nil, fmt.Errorf("subject keys: store: %w", err)
	}
	if _, err := p.read(ctx, missing, out); err != nil { // the winners' keys
		return nil, err
	}
	return out, nil
}

func (p *Postgres) read(ctx context.Context, subjects []string, out map[string][]byte) (missing []string, err error) {
	rows, err := p.pool.Query(ctx, `SELECT subject, wrapped FROM `+p.table+` WHERE subject = ANY($1)`, subjects)
	if err != nil {
		return nil, fmt.Errorf("subject keys: read: %w", err)
	}
	found := make(map[string]bool, len(subjects))
	for rows.Next() {
		var subject string
		var wrapped *string
		if err := rows.Scan(&subject, &wrapped); err != nil {
			rows.Close()
			return nil, fmt.Errorf("subject keys: read: %w", err)
		}
		found[subject] = true
		if wrapped == nil {
			continue // forgotten
		}
		key, err := p.sealer.Open(*wrapped, aad(subject))
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("subject key of %s: %w", subject, err)
		}
		out[subject] = key
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("subject keys: read: %w", err)
	}
	for _, s := range subjects {
		if !found[s] {
			missing = append(missing, s)
		}
	}
	return missing, nil
}

// Destroy implements eventstore.SubjectKeys.
func (p *Postgres) Destroy(ctx context.Context, subject string) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO `+p.table+` (subject, wrapped, forgotten_at) VALUES ($1, NULL, now())
		ON CONFLICT (subject) DO UPDATE SET wrapped = NULL, forgotten_at = coalesce(`+p.table+`.forgotten_at, now())`, subject)
	if err != nil {
		return fmt.Errorf("subject keys: destroy: %w", err)
	}
	// The old row version stays in the table's pages until vacuumed.
	if _, err := p.pool.Exec(ctx, `VACUUM `+p.table); err != nil {
		return fmt.Errorf("subject keys: vacuum after destroy: %w", err)
	}
	return nil
}

// Forgotten reports whether subject's key was destroyed.
func (p *Postgres) Forgotten(ctx context.Context, subject string) (bool, error) {
	var forgotten bool
	err := p.pool.QueryRow(ctx, `SELECT wrapped IS NULL FROM `+p.table+` WHERE subject = $1`, subject).Scan(&forgotten)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return forgotten, err
}
