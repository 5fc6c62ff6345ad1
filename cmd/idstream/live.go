package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/graph"
	"github.com/idstream/idstream/projections"
)

// directoryProjection is the name of the directory read model in status, rebuild and verify.
const directoryProjection = "directory"

// liveDirectory owns the live directory read model and its runner, and rebuilds it beside
// itself: a rebuild replays the log into a fresh Directory, starts a runner on it, and once that
// runner has caught up switches every later request to it and stops the old one. Requests take
// the current model once (graph.Config.Current), so none mixes two models. Safe for concurrent
// use.
type liveDirectory struct {
	ctx   context.Context // the server's: runners and snapshotters stop when it ends
	store eventstore.Store
	reg   *eventstore.Registry
	snaps *projections.SnapshotStore
	log   *slog.Logger

	mu      sync.Mutex
	dir     *projections.Directory
	runner  *projections.Runner
	stop    context.CancelFunc // stops the current runner and its snapshotter
	swapped chan struct{}      // closed and replaced at every switch
	rebuild *rebuildState
	// snapshotters counts the running snapshotters: each writes a last snapshot when stopped.
	snapshotters sync.WaitGroup
}

// drain waits, at most timeout, for the snapshotters stopped with the server's context to write
// their last snapshot.
func (l *liveDirectory) drain(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		l.snapshotters.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
		l.log.Warn("the last snapshot did not finish in time", "timeout", timeout)
	}
}

// rebuildState is the last rebuild's progress or outcome.
type rebuildState struct {
	progress projections.RebuildProgress
	started  time.Time
	err      error
	done     bool
}

// startLive loads the directory from the newest snapshot (when one is readable) and starts a
// runner from its position; the snapshotter keeps writing snapshots beside it.
func startLive(ctx context.Context, store eventstore.Store, reg *eventstore.Registry, snaps *projections.SnapshotStore, log *slog.Logger) (*liveDirectory, error) {
	l := &liveDirectory{ctx: ctx, store: store, reg: reg, snaps: snaps, log: log, swapped: make(chan struct{})}
	dir := projections.NewDirectory()
	if ref, ok, err := snaps.Latest(); err != nil {
		log.Warn("snapshots unreadable: replaying the whole log", "error", err)
	} else if ok {
		d, _, err := snaps.Load(ref)
		if err != nil {
			log.Warn("newest snapshot unreadable: replaying the whole log", "snapshot", ref.Path, "error", err)
		} else {
			dir = d
			log.Info("read model loaded from a snapshot", "position", d.Position().String())
		}
	}
	if err := l.switchTo(dir); err != nil {
		return nil, err
	}
	return l, nil
}

// switchTo starts a runner (and a snapshotter) on dir and makes it the live model, stopping the
// previous one.
func (l *liveDirectory) switchTo(dir *projections.Directory) error {
	ctx, cancel := context.WithCancel(l.ctx)
	runner := projections.NewRunner(l.store, l.reg, dir)
	if err := runner.Start(ctx); err != nil {
		cancel()
		return err
	}
	snap := projections.NewSnapshotter(dir, l.snaps, projections.SnapshotterOptions{Logf: func(format string, args ...any) {
		l.log.Info(fmt.Sprintf(format, args...), "component", "snapshots")
	}})
	l.snapshotters.Go(func() { snap.Run(ctx) })
	l.mu.Lock()
	old := l.stop
	l.dir, l.runner, l.stop = dir, runner, cancel
	close(l.swapped)
	l.swapped = make(chan struct{})
	l.mu.Unlock()
	if old != nil {
		old()
	}
	return nil
}

func (l *liveDirectory) current() (*projections.Directory, *projections.Runner, chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dir, l.runner, l.swapped
}

// Current returns the live read model.
func (l *liveDirectory) Current() graph.ReadModel { d, _, _ := l.current(); return d }

// WaitFor waits for the live model to apply pos; a switch meanwhile moves the wait to the new
// model.
func (l *liveDirectory) WaitFor(ctx context.Context, pos eventstore.Position) error {
	for {
		_, r, swapped := l.current()
		wctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-swapped:
				cancel()
			case <-wctx.Done():
			}
		}()
		err := r.WaitFor(wctx, pos)
		cancel()
		select {
		case <-swapped:
			if ctx.Err() == nil {
				continue
			}
		default:
		}
		return err
	}
}

// CatchUp waits until the live model has applied the log's head as of the call.
func (l *liveDirectory) CatchUp(ctx context.Context) error {
	head, err := headOf(ctx, l.store)
	if err != nil {
		return err
	}
	return l.WaitFor(ctx, head)
}

func (l *liveDirectory) runnerNow() *projections.Runner { _, r, _ := l.current(); return r }

// UsersWithAttribute and PopulationUserCount are commands' ports, answered by the live model.
func (l *liveDirectory) UsersWithAttribute(ctx context.Context, env, name string) (int, error) {
	d, _, _ := l.current()
	return d.UsersWithAttribute(ctx, env, name)
}

func (l *liveDirectory) PopulationUserCount(ctx context.Context, env, pop string) (int, error) {
	d, _, _ := l.current()
	return d.PopulationUserCount(ctx, env, pop)
}

// Status reports the directory projection.
func (l *liveDirectory) Status(ctx context.Context) []graph.ProjectionStatus {
	d, r, _ := l.current()
	s := graph.ProjectionStatus{Name: directoryProjection, Version: projections.DirectoryVersion, Checkpoint: d.Position(),
		EventsApplied: r.Position().Commit, State: "CATCHING_UP"}
	if lag, err := r.Lag(ctx); err == nil {
		s.LagEvents, s.LagSeconds = lag.Positions, lag.Seconds
	}
	switch {
	case r.Err() != nil:
		s.State, s.Error = "FAILED", r.Err().Error()
	case r.Ready():
		s.State = "LIVE"
	}
	l.mu.Lock()
	if rb := l.rebuild; rb != nil {
		p := &graph.RebuildStatus{Target: rb.progress.Target, Applied: rb.progress.Position, Events: rb.progress.Applied,
			Rate: rb.progress.Rate, StartedAt: rb.started, Done: rb.done}
		if rb.err != nil {
			p.Error = rb.err.Error()
		}
		if !rb.done {
			s.State = "REBUILDING"
		}
		s.Rebuild = p
	}
	l.mu.Unlock()
	return []graph.ProjectionStatus{s}
}

// Rebuild starts rebuilding the named projection beside the live one and returns at once.
func (l *liveDirectory) Rebuild(_ context.Context, name string) error {
	if name != directoryProjection {
		return domain.Invalidf("input.name", "no projection %q (there is %q)", name, directoryProjection)
	}
	l.mu.Lock()
	if l.rebuild != nil && !l.rebuild.done {
		l.mu.Unlock()
		return domain.Conflictf("a rebuild of %s is already running", name)
	}
	rb := &rebuildState{started: time.Now()}
	l.rebuild = rb
	l.mu.Unlock()
	go func() {
		err := l.rebuildDirectory(rb)
		l.mu.Lock()
		rb.err, rb.done = err, true
		l.mu.Unlock()
		if err != nil {
			l.log.Error("rebuild failed; the live read model keeps serving", "projection", name, "error", err)
		} else {
			l.log.Info("rebuild switched", "projection", name, "seconds", time.Since(rb.started).Seconds())
		}
	}()
	return nil
}

func (l *liveDirectory) rebuildDirectory(rb *rebuildState) error {
	head, err := headOf(l.ctx, l.store)
	if err != nil {
		return err
	}
	d, err := projections.Rebuild(l.ctx, l.store, l.reg, head, func(p projections.RebuildProgress) {
		l.mu.Lock()
		rb.progress = p
		l.mu.Unlock()
	})
	if err != nil {
		return err
	}
	return l.switchTo(d) // the new runner resumes after head; queries switch at once
}

// Verify rebuilds the named projections (all when name is empty) into memory and compares.
func (l *liveDirectory) Verify(ctx context.Context, name string) ([]graph.VerifyResult, error) {
	if name != "" && name != directoryProjection {
		return nil, domain.Invalidf("input.name", "no projection %q (there is %q)", name, directoryProjection)
	}
	d, _, _ := l.current()
	res, err := projections.Verify(ctx, l.store, l.reg, d, nil)
	if err != nil {
		return nil, err
	}
	return []graph.VerifyResult{{Name: directoryProjection, Position: res.Position, Events: res.EventsReplayed,
		LiveChecksum: res.LiveChecksum, RebuiltChecksum: res.RebuiltChecksum, Equal: res.Equal, Duration: res.Duration,
		Rate: res.Rate}}, nil
}

// headOf returns the position of the log's last event (zero when empty).
func headOf(ctx context.Context, store eventstore.Store) (eventstore.Position, error) {
	pos, _, err := projections.LastEvent(ctx, store)
	return pos, err
}

// timeTravel answers the API's queries about the past: environment-wide from snapshots, one
// user from its own streams.
type timeTravel struct {
	tt   *projections.TimeTravel
	hist *projections.History
}

func (t timeTravel) PositionAt(ctx context.Context, at time.Time) (eventstore.Position, error) {
	return t.tt.PositionAt(ctx, at)
}

func (t timeTravel) DirectoryAt(ctx context.Context, pos eventstore.Position) (graph.ReadModel, error) {
	return t.tt.DirectoryAt(ctx, pos)
}

func (t timeTravel) UserAt(ctx context.Context, env, id string, pos eventstore.Position) (*projections.User, error) {
	if pos.IsZero() { // before the first event: nobody existed
		return nil, domain.NotFoundf("user %s as of the start of the log", id)
	}
	return t.hist.UserAt(ctx, env, id, pos)
}
