package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/graph"
	"github.com/idstream/idstream/projections"
	"github.com/idstream/idstream/projections/pgstore"
)

// readModels is the directory read model the app serves: in memory (liveDirectory) or in
// PostgreSQL shared with other processes (pgDirectory).
type readModels interface {
	// Current returns the read model a request reads, taken once per request.
	Current() graph.ReadModel
	WaitFor(ctx context.Context, pos eventstore.Position) error
	CatchUp(ctx context.Context) error
	UsersWithAttribute(ctx context.Context, env, name string) (int, error)
	PopulationUserCount(ctx context.Context, env, pop string) (int, error)
	graph.Projections
	// Lag measures how far the read model is behind the head of the log.
	Lag(ctx context.Context) (projections.Lag, error)
	// Health is nil when the read model is usable: caught up once and not failed.
	Health() error
	// Position is the read model's checkpoint.
	Position() eventstore.Position
	// drain waits, at most timeout, for background writers (snapshots) to finish at shutdown.
	drain(timeout time.Duration)
}

var (
	_ readModels = (*liveDirectory)(nil)
	_ readModels = (*pgDirectory)(nil)
)

func (l *liveDirectory) Lag(ctx context.Context) (projections.Lag, error) {
	return l.runnerNow().Lag(ctx)
}

func (l *liveDirectory) Health() error {
	r := l.runnerNow()
	if err := r.Err(); err != nil {
		return fmt.Errorf("read model: %w", err)
	}
	if !r.Ready() {
		return errCatchingUp
	}
	return nil
}

func (l *liveDirectory) Position() eventstore.Position { return l.runnerNow().Position() }

// pgDirectory serves the directory from PostgreSQL (IDSTREAM_READMODELS=postgres://…): every
// process answers queries from the shared tables and waits for positions there; the one
// holding the lease applies the log (pgstore.Projector), the others take over when it dies.
type pgDirectory struct {
	store *pgstore.Store
	proj  *pgstore.Projector
	log   eventstore.Store
	done  chan struct{}
}

// startPostgres opens the PostgreSQL read models (migrating the schema) and starts contending
// for the applier's lease; everything stops when ctx ends.
func startPostgres(ctx context.Context, url string, log eventstore.Store, reg *eventstore.Registry, lg *slog.Logger) (*pgDirectory, error) {
	s, err := pgstore.Open(ctx, pgstore.Options{URL: url, Log: log, Logger: lg})
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL read models: %w", err)
	}
	p := &pgDirectory{store: s, proj: s.NewProjector(log, reg), log: log, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		_ = p.proj.Run(ctx) // returns when ctx ends
		s.Close()
	}()
	return p, nil
}

func (p *pgDirectory) Current() graph.ReadModel { return p.store }

// drain: the PostgreSQL read model writes no snapshots (its checkpoint commits with its rows).
func (p *pgDirectory) drain(time.Duration) {}

func (p *pgDirectory) WaitFor(ctx context.Context, pos eventstore.Position) error {
	return p.store.WaitFor(ctx, pos)
}

func (p *pgDirectory) CatchUp(ctx context.Context) error { return p.store.CatchUp(ctx) }

func (p *pgDirectory) UsersWithAttribute(ctx context.Context, env, name string) (int, error) {
	return p.store.UsersWithAttribute(ctx, env, name)
}

func (p *pgDirectory) PopulationUserCount(ctx context.Context, env, pop string) (int, error) {
	return p.store.PopulationUserCount(ctx, env, pop)
}

func (p *pgDirectory) Position() eventstore.Position {
	ctx, cancel := context.WithTimeout(context.Background(), readinessTimeout)
	defer cancel()
	pos, _ := p.store.Position(ctx)
	return pos
}

func (p *pgDirectory) Lag(ctx context.Context) (projections.Lag, error) {
	head, err := headOf(ctx, p.log)
	if err != nil {
		return projections.Lag{}, err
	}
	pos, err := p.store.Position(ctx)
	if err != nil {
		return projections.Lag{}, err
	}
	if !pos.Less(head) {
		return projections.Lag{}, nil
	}
	return projections.Lag{Positions: head.Commit - pos.Commit}, nil // seconds: not measured on PostgreSQL yet
}

func (p *pgDirectory) Health() error {
	if r := p.proj.Runner(); r != nil && r.Err() != nil {
		return fmt.Errorf("read model applier: %w", r.Err())
	}
	ctx, cancel := context.WithTimeout(context.Background(), readinessTimeout)
	defer cancel()
	if _, err := p.store.Position(ctx); err != nil {
		return fmt.Errorf("read model: %w", err)
	}
	return nil
}

// Status reports the directory projection as the shared checkpoint and lease say.
func (p *pgDirectory) Status(ctx context.Context) []graph.ProjectionStatus {
	s := graph.ProjectionStatus{Name: directoryProjection, Version: pgstore.ProjectionVersion, State: "LIVE"}
	pos, err := p.store.Position(ctx)
	if err != nil {
		s.State, s.Error = "FAILED", err.Error()
		return []graph.ProjectionStatus{s}
	}
	s.Checkpoint, s.EventsApplied = pos, pos.Commit
	if lag, err := p.Lag(ctx); err == nil {
		s.LagEvents = lag.Positions
		if lag.Positions > 0 {
			s.State = "CATCHING_UP"
		}
	}
	if r := p.proj.Runner(); r != nil && r.Err() != nil {
		s.State, s.Error = "FAILED", r.Err().Error()
	} else if l, ok, err := p.store.Lease(ctx); err == nil && ok && !l.Held && time.Since(l.Since) > 0 {
		s.Error = fmt.Sprintf("no process holds the applier's lease (the last was %s pid %d)", l.Host, l.PID)
	}
	return []graph.ProjectionStatus{s}
}

// Rebuild and Verify are not offered while serving from PostgreSQL: the applier rebuilds the
// tables itself when their ProjectionVersion changes.
func (p *pgDirectory) Rebuild(context.Context, string) error {
	return domain.Conflictf("rebuilding the PostgreSQL read models while serving is not supported: the applier rebuilds them when their version changes")
}

func (p *pgDirectory) Verify(context.Context, string) ([]graph.VerifyResult, error) {
	return nil, domain.Conflictf("verifying the PostgreSQL read models is not supported yet")
}
