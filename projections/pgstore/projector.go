package pgstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// Projector applies the log to the store's tables in the one process holding the schema's
// lease; in the others it waits to take over. Run it in every idstream process sharing the
// tables: the process that holds the lease folds with an ordinary projections.Runner into an
// in-memory Directory and writes each batch (Writer); the others retry the lease every
// RetryInterval and, when the holder's connection dies (its process with it), one of them
// takes over: it folds the log into memory up to the stored checkpoint without writing, then
// applies on from there. Tables of no checkpoint (or of another ProjectionVersion) are rebuilt
// by a bulk load first.
type Projector struct {
	s   *Store
	log eventstore.Store
	reg *eventstore.Registry
	// RetryInterval is how often a process without the lease tries to take it (500 ms).
	RetryInterval time.Duration

	mu      sync.Mutex
	runner  *projections.Runner
	changed chan struct{}
}

// NewProjector returns a projector applying log (decoded with reg) to s's tables.
func (s *Store) NewProjector(log eventstore.Store, reg *eventstore.Registry) *Projector {
	return &Projector{s: s, log: log, reg: reg, RetryInterval: 500 * time.Millisecond, changed: make(chan struct{})}
}

// errNotLeader: another process holds the lease.
var errNotLeader = errors.New("pgstore: another process holds the lease")

// Run contends for the lease and applies while holding it, until ctx ends.
func (p *Projector) Run(ctx context.Context) error {
	for {
		err := p.lead(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, errNotLeader) {
			p.s.opts.Logger.Warn("pgstore: applier stopped; contending for the lease again", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.RetryInterval):
		}
	}
}

// Leading reports whether this process holds the lease and applies.
func (p *Projector) Leading() bool { return p.Runner() != nil }

// Runner returns the runner applying the log while this process leads (nil otherwise), for
// its lag and errors.
func (p *Projector) Runner() *projections.Runner {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runner
}

// LeadingChanged returns a channel closed the next time Leading changes.
func (p *Projector) LeadingChanged() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

func (p *Projector) setRunner(r *projections.Runner) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runner = r
	close(p.changed)
	p.changed = make(chan struct{})
}

// lead takes the lease if free and applies until the lease's connection fails, the runner
// stops or ctx ends.
func (p *Projector) lead(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, p.s.conn)
	if err != nil {
		return unavailable("connect the applier", err)
	}
	defer conn.Close(context.Background())
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, hashtext($2))", lockApplier, p.s.opts.Schema).Scan(&got); err != nil {
		return unavailable("take the lease", err)
	}
	if !got {
		return errNotLeader
	}
	host, _ := os.Hostname()
	if _, err := conn.Exec(ctx, `INSERT INTO lease (projection, host, pid, backend_pid, since) VALUES ($1, $2, $3, pg_backend_pid(), now())
		ON CONFLICT (projection) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, backend_pid = EXCLUDED.backend_pid, since = now()`,
		ProjectionName, host, os.Getpid()); err != nil {
		return unavailable("record the lease", err)
	}
	var c, pr int64
	var version int32
	err = conn.QueryRow(ctx, "SELECT commit_position, prepare_position, version FROM checkpoint WHERE projection = $1",
		ProjectionName).Scan(&c, &pr, &version)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return unavailable("read the checkpoint", err)
	}
	checkpoint := eventstore.Position{Commit: uint64(c), Prepare: uint64(pr)}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var dir *projections.Directory
	if errors.Is(err, pgx.ErrNoRows) || version != ProjectionVersion {
		head, err := headOf(lctx, p.log)
		if err != nil {
			return err
		}
		start := time.Now()
		if dir, err = projections.Rebuild(lctx, p.log, p.reg, head, nil); err != nil {
			return err
		}
		advance(dir, head)
		st, err := load(lctx, conn, p.s.opts.Schema, dir, head)
		if err != nil {
			return err
		}
		p.s.opts.Logger.Info("pgstore: tables rebuilt from the log", "position", head.String(), "users", st.Users,
			"elapsed", time.Since(start))
	} else {
		// Take over: fold up to the stored checkpoint without writing (the tables hold it).
		if dir, err = projections.Rebuild(lctx, p.log, p.reg, checkpoint, nil); err != nil {
			return err
		}
		advance(dir, checkpoint)
	}

	var connMu sync.Mutex
	w := &Writer{conn: conn, schema: p.s.opts.Schema, dir: dir}
	r := projections.NewRunner(p.log, p.reg, dir)
	r.OnApplied(func(changes []projections.Change, upTo eventstore.Position) error {
		connMu.Lock()
		defer connMu.Unlock()
		err := w.Persist(lctx, changes, upTo)
		if err != nil {
			p.s.opts.Logger.Warn("pgstore: write a batch", "upTo", upTo.String(), "err", err)
			if conn.IsClosed() {
				cancel() // the lease went with the connection: stop applying
			}
		}
		return err
	})
	if err := r.Start(lctx); err != nil {
		return err
	}
	p.setRunner(r)
	defer func() {
		cancel()
		<-r.Done()
		p.setRunner(nil)
	}()
	tick := time.NewTicker(p.RetryInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.Done():
			return r.Err()
		case <-lctx.Done():
			return fmt.Errorf("pgstore: lost the lease: %w", lctx.Err())
		case <-tick.C:
			connMu.Lock()
			err := conn.Ping(lctx)
			connMu.Unlock()
			if err != nil {
				return unavailable("the lease's connection failed", err)
			}
		}
	}
}

// advance sets dir's checkpoint to pos (after the last directory event at or before it).
func advance(dir *projections.Directory, pos eventstore.Position) {
	if dir.Position().Less(pos) {
		dir.Apply(projections.Change{Position: pos}) // no payload: only the checkpoint moves
	}
}

// Lease describes the process holding the applier's lease.
type Lease struct {
	Host  string
	PID   int
	Since time.Time
	// Held is false when the last holder's connection is gone and nobody took over yet.
	Held bool
}

// Lease returns the last holder of the applier's lease (ok false if there was none).
func (s *Store) Lease(ctx context.Context) (l Lease, ok bool, err error) {
	var pid, backend int32
	err = s.pool.QueryRow(ctx, `SELECT host, pid, backend_pid, since,
		EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = backend_pid AND granted
			AND classid = $2 AND objid = hashtext($3)::oid)
		FROM lease WHERE projection = $1`, ProjectionName, lockApplier, s.opts.Schema).Scan(&l.Host, &pid, &backend, &l.Since, &l.Held)
	if errors.Is(err, pgx.ErrNoRows) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, unavailable("read the lease", err)
	}
	l.PID = int(pid)
	return l, true, nil
}

// LeaseBackendPID returns the PostgreSQL backend of the lease's connection (tests terminate it).
func (s *Store) LeaseBackendPID(ctx context.Context) (int, error) {
	var pid int32
	err := s.pool.QueryRow(ctx, "SELECT backend_pid FROM lease WHERE projection = $1", ProjectionName).Scan(&pid)
	return int(pid), err
}

// Rebuild replaces the tables by a fold of the whole log (read up to its head as of the call):
// it folds into memory (projections.Rebuild, progress as there), then bulk-loads with COPY into
// fresh tables switched in one transaction with the checkpoint. It takes the applier's lease
// for its duration, so it fails with an error of kind domain.ErrConflict while a Projector
// applies (stop it, or let it rebuild: a Projector rebuilds tables of no checkpoint or of
// another ProjectionVersion when it takes the lease).
func (s *Store) Rebuild(ctx context.Context, log eventstore.Store, reg *eventstore.Registry,
	progress func(projections.RebuildProgress)) (LoadStats, error) {
	conn, err := pgx.ConnectConfig(ctx, s.conn)
	if err != nil {
		return LoadStats{}, unavailable("connect", err)
	}
	defer conn.Close(context.Background())
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, hashtext($2))", lockApplier, s.opts.Schema).Scan(&got); err != nil {
		return LoadStats{}, unavailable("take the lease", err)
	}
	if !got {
		return LoadStats{}, domain.Conflictf("pgstore: an applier holds the lease of schema %s: stop it to rebuild", s.opts.Schema)
	}
	head, err := headOf(ctx, log)
	if err != nil {
		return LoadStats{}, err
	}
	dir, err := projections.Rebuild(ctx, log, reg, head, progress)
	if err != nil {
		return LoadStats{}, err
	}
	advance(dir, head)
	return load(ctx, conn, s.opts.Schema, dir, head)
}

// Load replaces the tables by dir's state at dir's position (bulk COPY, one switching
// transaction), under the applier's lease like Rebuild.
func (s *Store) Load(ctx context.Context, dir *projections.Directory) (LoadStats, error) {
	conn, err := pgx.ConnectConfig(ctx, s.conn)
	if err != nil {
		return LoadStats{}, unavailable("connect", err)
	}
	defer conn.Close(context.Background())
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, hashtext($2))", lockApplier, s.opts.Schema).Scan(&got); err != nil {
		return LoadStats{}, unavailable("take the lease", err)
	}
	if !got {
		return LoadStats{}, domain.Conflictf("pgstore: an applier holds the lease of schema %s: stop it to load", s.opts.Schema)
	}
	return load(ctx, conn, s.opts.Schema, dir, dir.Position())
}
