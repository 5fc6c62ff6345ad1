// Package pgstore keeps the directory read model (projections.Directory) in PostgreSQL, shared
// by several idstream processes: one of them applies the log (the Projector holding the lease),
// every one answers queries from PostgreSQL (Store) with exactly the Directory's semantics and
// errors, and waits for positions (read-your-writes across processes).
//
// The applier folds the log with the ordinary projections.Runner into an in-memory Directory
// (the same fold code as the memory read model) and, after every batch, writes the rows of the
// entities the batch touched in one transaction with the checkpoint, which NOTIFYs the readers.
// The lease is a session advisory lock held by the applier's own writing connection: when that
// connection dies, its writes fail with it, so two appliers never write.
//
// Tables live in a dedicated schema (Options.Schema, default "idstream"), created and migrated
// at Open from the numbered files of migrations/ under a transaction advisory lock.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ProjectionName names the directory's checkpoint row; ProjectionVersion is the version of
// the tables' layout and of the fold written there: a checkpoint of another version is
// rebuilt.
const (
	ProjectionName    = "directory"
	ProjectionVersion = 1
)

// Advisory lock keys (the first of the two-int form; the second is hashtext(schema)).
const (
	lockMigrate = 0x1d5701
	lockApplier = 0x1d5702
)

// Options configure a Store.
type Options struct {
	// URL is a PostgreSQL connection string (postgres://…). Required.
	URL string
	// Schema holds the tables: lower-case letters, digits and underscores; default the URL's
	// "schema" query parameter (removed before connecting), else "idstream".
	Schema string
	// Log is the event log, for CatchUp (optional).
	Log eventstore.Store
	// Logger receives the store's background errors; none when nil.
	Logger *slog.Logger
	// QueryTimeout bounds each query of the ReadModel methods (which take no context);
	// default 10 s.
	QueryTimeout time.Duration
	// PollInterval is how often WaitFor's fallback polls the checkpoint when no notification
	// comes; default 250 ms.
	PollInterval time.Duration
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

func (o *Options) normalize() error {
	if o.URL == "" {
		return domain.Invalidf("url", "a postgres:// connection string is required")
	}
	if u, err := url.Parse(o.URL); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		if sc := q.Get("schema"); sc != "" || q.Has("schema") {
			if o.Schema == "" {
				o.Schema = sc
			}
			q.Del("schema")
			u.RawQuery = q.Encode()
			o.URL = u.String()
		}
	}
	if o.Schema == "" {
		o.Schema = "idstream"
	}
	if !schemaName.MatchString(o.Schema) {
		return domain.Invalidf("schema", "want lower-case letters, digits and underscores (at most 48), got %q", o.Schema)
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 10 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Store answers the directory's queries from PostgreSQL (every method of graph.ReadModel) and
// waits for positions. Safe for concurrent use.
type Store struct {
	opts   Options
	conn   *pgx.ConnConfig // with search_path set to the schema
	pool   *pgxpool.Pool
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	known   eventstore.Position // the highest checkpoint seen
	changed chan struct{}       // closed and replaced when known grows
}

// Open connects, creates and migrates the schema (safely when several processes start at once)
// and starts listening for checkpoints.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		return nil, domain.Invalidf("url", "not a PostgreSQL connection string: %v", redactErr(err))
	}
	pcfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	pcfg.ConnConfig.RuntimeParams["application_name"] = "idstream"
	if err := migrate(ctx, pcfg.ConnConfig, opts.Schema); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, unavailable("connect", err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	s := &Store{opts: opts, conn: pcfg.ConnConfig, pool: pool, cancel: cancel, done: make(chan struct{}),
		changed: make(chan struct{})}
	if pos, err := s.Position(ctx); err == nil {
		s.observe(pos)
	} else {
		pool.Close()
		cancel()
		return nil, err
	}
	go s.listen(lctx)
	return s, nil
}

// Close stops listening and closes the connections.
func (s *Store) Close() {
	s.cancel()
	<-s.done
	s.pool.Close()
}

// SchemaName returns the PostgreSQL schema holding the tables.
func (s *Store) SchemaName() string { return s.opts.Schema }

// DropSchema drops the store's schema and everything in it (tests use a fresh schema each).
func (s *Store) DropSchema(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s.opts.Schema}.Sanitize()+" CASCADE")
	return err
}

// migrate creates the schema and applies the migrations it lacks, in one transaction under an
// advisory lock.
func migrate(ctx context.Context, cfg *pgx.ConnConfig, schema string) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return unavailable("connect", err)
	}
	defer conn.Close(context.Background())
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", lockMigrate, schema); err != nil {
			return unavailable("lock the migrations", err)
		}
		stmts := []string{
			"CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{schema}.Sanitize(),
			"CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return unavailable("create the schema", err)
			}
		}
		applied := map[int]bool{}
		rows, _ := tx.Query(ctx, "SELECT version FROM schema_migrations")
		vs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return unavailable("read schema_migrations", err)
		}
		for _, v := range vs {
			applied[int(v)] = true
		}
		for _, f := range files {
			base := strings.TrimPrefix(f, "migrations/")
			num, _, _ := strings.Cut(base, "_")
			v, err := strconv.Atoi(num)
			if err != nil {
				return fmt.Errorf("pgstore: migration %s: not numbered", base)
			}
			if applied[v] {
				continue
			}
			sql, err := migrations.ReadFile(f)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return fmt.Errorf("pgstore: migration %s: %w", base, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", v, base); err != nil {
				return unavailable("record a migration", err)
			}
		}
		return nil
	})
}

func unavailable(what string, err error) error {
	if errors.Is(err, domain.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("pgstore: %s: %w: %w", what, domain.ErrUnavailable, redactErr(err))
}

// redactErr keeps connection strings' passwords out of error messages.
func redactErr(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		if j := strings.Index(msg[i+3:], "@"); j >= 0 {
			if k := strings.Index(msg[i+3:i+3+j], ":"); k >= 0 {
				return errors.New(msg[:i+3+k+1] + "xxxxx" + msg[i+3+j:])
			}
		}
	}
	return err
}

// channel is the NOTIFY channel of the schema's checkpoints.
func channel(schema string) string { return schema + "_checkpoint" }

// Position reads the checkpoint: the position of the log the tables reflect.
func (s *Store) Position(ctx context.Context) (eventstore.Position, error) {
	var c, p int64
	err := s.pool.QueryRow(ctx, "SELECT commit_position, prepare_position FROM checkpoint WHERE projection = $1",
		ProjectionName).Scan(&c, &p)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Position{}, nil
	}
	if err != nil {
		return eventstore.Position{}, unavailable("read the checkpoint", err)
	}
	return eventstore.Position{Commit: uint64(c), Prepare: uint64(p)}, nil
}

func (s *Store) observe(pos eventstore.Position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.known.Less(pos) {
		s.known = pos
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// listen follows the checkpoint: LISTEN for the applier's notifications (delivered at its
// commits), polling as a fallback, reconnecting after failures.
func (s *Store) listen(ctx context.Context) {
	defer close(s.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		s.opts.Logger.Warn("pgstore: checkpoint listener failed; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, s.conn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel(s.opts.Schema)}.Sanitize()); err != nil {
		return err
	}
	for {
		var c, p int64
		err := conn.QueryRow(ctx, "SELECT commit_position, prepare_position FROM checkpoint WHERE projection = $1",
			ProjectionName).Scan(&c, &p)
		if err == nil {
			s.observe(eventstore.Position{Commit: uint64(c), Prepare: uint64(p)})
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, s.opts.PollInterval)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !conn.PgConn().IsClosed() {
			continue
		}
		if conn.PgConn().IsClosed() {
			return errors.New("listener connection closed")
		}
		if n != nil {
			if pos, ok := parsePosition(n.Payload); ok {
				s.observe(pos)
			}
		}
	}
}

func formatPosition(p eventstore.Position) string {
	return strconv.FormatUint(p.Commit, 10) + "/" + strconv.FormatUint(p.Prepare, 10)
}

func parsePosition(s string) (eventstore.Position, bool) {
	c, p, ok := strings.Cut(s, "/")
	if !ok {
		return eventstore.Position{}, false
	}
	cv, err1 := strconv.ParseUint(c, 10, 64)
	pv, err2 := strconv.ParseUint(p, 10, 64)
	return eventstore.Position{Commit: cv, Prepare: pv}, err1 == nil && err2 == nil
}

// WaitFor returns once the tables reflect every event up to pos (whichever process applied
// it), or with an error of kind domain.ErrUnavailable wrapping ctx's when ctx ends first.
func (s *Store) WaitFor(ctx context.Context, pos eventstore.Position) error {
	s.mu.Lock()
	known, ch := s.known, s.changed
	s.mu.Unlock()
	if !known.Less(pos) {
		return nil
	}
	if cur, err := s.Position(ctx); err == nil {
		s.observe(cur)
	}
	for {
		s.mu.Lock()
		known, ch = s.known, s.changed
		s.mu.Unlock()
		if !known.Less(pos) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for position %s (applied %s): %w: %w", pos, known, domain.ErrUnavailable, ctx.Err())
		}
	}
}

// CatchUp waits until the tables reflect the log's last event as of the call (Options.Log).
func (s *Store) CatchUp(ctx context.Context) error {
	if s.opts.Log == nil {
		return fmt.Errorf("pgstore: CatchUp needs Options.Log: %w", domain.ErrUnavailable)
	}
	head, err := headOf(ctx, s.opts.Log)
	if err != nil {
		return err
	}
	return s.WaitFor(ctx, head)
}

func headOf(ctx context.Context, log eventstore.Store) (eventstore.Position, error) {
	opts := eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: 1}
	for e, err := range log.ReadAll(ctx, opts) {
		if err != nil {
			return eventstore.Position{}, fmt.Errorf("pgstore: read the head of the log: %w: %w", domain.ErrUnavailable, err)
		}
		return e.Position, nil
	}
	return eventstore.Position{}, nil
}

// Exec runs a statement on the store's pool (tests and tools).
func (s *Store) Exec(ctx context.Context, sql string, args ...any) error {
	_, err := s.pool.Exec(ctx, sql, args...)
	return err
}
