package propagation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// Config is what a Runtime runs on.
type Config struct {
	Store    eventstore.Store
	Registry *eventstore.Registry
	// Directory is the directory read model, Runner what waits for it to reach a position.
	Directory Directory
	Runner    Waiter
	// Revisions answers the published revisions; nil: the runtime's own RevisionLog.
	Revisions Revisions
	Factories connectors.Factories
	// OpenCredentials opens a store's sealed credentials (commands/secret).
	OpenCredentials func(domain.PropagationStore) (map[string]string, error)
	// BusURL: "" or "gochannel", or "nats://host:port".
	BusURL string
	// Namespace names the bus topics (default "idstream"); every process sharing a bus and
	// a log uses the same.
	Namespace   string
	Checkpoints Checkpoints
	Logger      *slog.Logger
	// Workers is the number of identity shards handled concurrently and of resync workers
	// (default 16: a change order mostly waits on the target, so shards, not cores, bound the rate).
	Workers int
	// Shards is the number of identity topics (default Workers). Every process sharing a bus
	// must use the same number.
	Shards int
	// WritesPerMinute overrides a store's write rate bound, by store ID.
	WritesPerMinute map[string]int
	// MaxRetries (default 5), RetryInitial (100ms), RetryMax (30s) shape the retry back-off;
	// Timeout bounds one attempt (default 30s).
	MaxRetries   int
	RetryInitial time.Duration
	RetryMax     time.Duration
	Timeout      time.Duration
	// ProbeInterval (default 1s) is the first wait between health probes of an unavailable
	// store, doubling up to ProbeMax (default 10s).
	ProbeInterval time.Duration
	ProbeMax      time.Duration
	// Metrics registers the runtime's metrics (nil: none).
	Metrics prometheus.Registerer
	// Forward: run the forwarder in this process (default true; workers-only processes set
	// NoForward).
	NoForward bool
	// ReconcileInterval is how often every published rule is reconciled (drift.go): default 1h,
	// negative: never. Only a process running the forwarder reconciles (there is one of them
	// per deployment), so that several workers do not each reconcile every rule.
	ReconcileInterval time.Duration
	Now               func() time.Time
	NewID             func() string
}

// Validate reports every missing or bad setting in one error.
func (c *Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, domain.Invalidf("store", "missing"))
	}
	if c.Registry == nil {
		errs = append(errs, domain.Invalidf("registry", "missing"))
	}
	if c.Directory == nil {
		errs = append(errs, domain.Invalidf("directory", "missing"))
	}
	if c.Factories == nil {
		errs = append(errs, domain.Invalidf("factories", "missing"))
	}
	if c.Checkpoints == nil && !c.NoForward {
		errs = append(errs, domain.Invalidf("checkpoints", "missing"))
	}
	if c.Workers < 0 || c.Shards < 0 || c.MaxRetries < 0 {
		errs = append(errs, domain.Invalidf("workers", "workers, shards and retries may not be negative"))
	}
	return errors.Join(errs...)
}

// ackWait bounds the handling of one message, every retry included (the NATS ack wait).
//
// Each retry waits up to RetryMax for the store's Retry-After, then up to RetryMax×1.2 of
// back-off (its randomization): 2.2×RetryMax per retry, on top of every attempt's Timeout.
func (c *Config) ackWait() time.Duration {
	perRetry := c.RetryMax*2 + c.RetryMax/5
	return c.Timeout*time.Duration(c.MaxRetries+1) + perRetry*time.Duration(c.MaxRetries) + 5*time.Second
}

func (c *Config) defaults() {
	if c.Workers == 0 {
		c.Workers = 16
	}
	if c.Shards == 0 {
		c.Shards = c.Workers
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 5
	}
	if c.RetryInitial == 0 {
		c.RetryInitial = 100 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 30 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = time.Second
	}
	if c.ProbeMax <= 0 {
		c.ProbeMax = 10 * time.Second
	}
	c.ProbeMax = max(c.ProbeMax, c.ProbeInterval)
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NewID == nil {
		c.NewID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
}

// Runtime is the propagation runtime of one process: forwarder, bus, router, reconciler,
// resyncs. Start it once; Close stops it. Methods are safe for concurrent use.
type Runtime struct {
	cfg    Config
	log    *slog.Logger
	wlog   watermill.LoggerAdapter
	topics Topics
	revLog *RevisionLog
	index  *accountIndex
	rec    *Reconciler
	bus    *Bus
	fwd    *Forwarder
	router *message.Router
	avail  *availability

	cancel    context.CancelFunc // the read models, the router and the resyncs
	runCtx    context.Context
	fwdCancel context.CancelFunc
	wg        sync.WaitGroup
	resyncWG  sync.WaitGroup
	availWG   sync.WaitGroup // probers and drains
	fwdDone   chan struct{}

	handled atomic.Int64 // identity messages handled

	mu      sync.Mutex
	resyncs map[string]*ResyncProgress
	runErr  error
}

// New builds a runtime from cfg (opening the bus).
func New(cfg Config) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("propagation runtime: %w", err)
	}
	cfg.defaults()
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("propagation runtime: metrics: %w", err)
	}
	rt := &Runtime{cfg: cfg, log: cfg.Logger, wlog: watermill.NewSlogLogger(cfg.Logger), resyncs: map[string]*ResyncProgress{}, topics: NewTopics(cfg.Namespace)}
	rt.revLog = NewRevisionLog(cfg.Store, cfg.Registry)
	rt.index = newAccountIndex(cfg.Store, cfg.Registry)
	rt.rec = &Reconciler{store: cfg.Store, reg: cfg.Registry, dir: cfg.Directory, wait: cfg.Runner, revisions: rt.revisions(),
		conns: newConnections(cfg.Factories, cfg.OpenCredentials), limits: newLimiter(cfg.Now, cfg.WritesPerMinute),
		now: cfg.Now, log: cfg.Logger, metrics: m, rails: newRails(cfg.Store, cfg.Registry, cfg.Now)}
	rt.rec.quarantine = newQuarantine(cfg.Store, cfg.Registry, cfg.Now)
	rt.index.observe = func(e *eventstore.RecordedEvent, p any) {
		rt.rec.rails.observe(e, p)
		rt.rec.quarantine.observe(e, p)
	}
	rt.avail = newAvailability(rt)
	rt.rec.gate = rt.avail
	if rt.bus, err = NewBus(cfg.BusURL, rt.topics, cfg.ackWait(), rt.wlog); err != nil {
		return nil, fmt.Errorf("propagation runtime: %w", err)
	}
	if rt.router, err = rt.newRouter(); err != nil {
		_ = rt.bus.Close()
		return nil, fmt.Errorf("propagation runtime: router: %w", err)
	}
	if !cfg.NoForward {
		rt.fwd = NewForwarder("propagation", cfg.Store, cfg.Registry, rt.bus.Publisher, cfg.Checkpoints, cfg.Directory, cfg.Runner,
			rt.topics, cfg.Shards, cfg.Logger)
		rt.fwd.OnlyPublished(rt.revisions())
	}
	return rt, nil
}

func (rt *Runtime) revisions() Revisions {
	if rt.cfg.Revisions != nil {
		return rt.cfg.Revisions
	}
	return rt.revLog
}

func (rt *Runtime) waitDirectory(ctx context.Context, pos eventstore.Position) error {
	if pos.IsZero() {
		return nil
	}
	if rt.cfg.Runner != nil {
		if err := rt.cfg.Runner.WaitFor(ctx, pos); err != nil {
			return err
		}
	}
	if rt.cfg.Revisions == nil {
		return rt.revLog.WaitFor(ctx, pos)
	}
	if w, ok := rt.cfg.Revisions.(Waiter); ok {
		return w.WaitFor(ctx, pos)
	}
	return nil
}

// Start starts the read models, the router and the forwarder in the background; it returns
// once the router runs.
func (rt *Runtime) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	rt.cancel, rt.runCtx = cancel, ctx
	if err := rt.revLog.Start(ctx); err != nil {
		cancel()
		return err
	}
	if err := rt.index.start(ctx); err != nil {
		cancel()
		return err
	}
	if err := rt.startRails(ctx); err != nil {
		cancel()
		return err
	}
	if err := rt.startQuarantine(ctx); err != nil {
		cancel()
		return err
	}
	// Before the router runs: no order may reach a store this log says is down.
	if err := rt.avail.load(ctx); err != nil {
		cancel()
		return err
	}
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		if err := rt.router.Run(ctx); err != nil {
			rt.fail(fmt.Errorf("propagation router: %w", err))
		}
	}()
	select {
	case <-rt.router.Running():
	case <-ctx.Done():
		return ctx.Err()
	}
	// The forwarder skips environments without a published revision: the revisions must be
	// known up to the log's head before it starts (its checkpoint is at most there).
	if c, ok := rt.revisions().(interface{ CatchUp(context.Context) error }); ok && rt.fwd != nil {
		if err := c.CatchUp(ctx); err != nil {
			return fmt.Errorf("propagation runtime: revisions: %w", err)
		}
	}
	rt.avail.resume()
	rt.fwdDone = make(chan struct{})
	fctx, fcancel := context.WithCancel(ctx)
	rt.fwdCancel = fcancel
	if rt.fwd == nil {
		close(rt.fwdDone)
		return nil
	}
	go func() {
		defer close(rt.fwdDone)
		if err := rt.fwd.Run(fctx); err != nil {
			rt.fail(err)
		}
	}()
	if rt.cfg.ReconcileInterval > 0 {
		rt.wg.Add(1) // not resyncWG: waiting for the resyncs must not wait for the next period
		go func() {
			defer rt.wg.Done()
			rt.reconcileEvery(ctx, rt.cfg.ReconcileInterval)
		}()
	}
	return nil
}

func (rt *Runtime) fail(err error) {
	rt.log.Error("propagation runtime stopped", "err", err)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.runErr == nil {
		rt.runErr = err
	}
}

// Err returns the error that stopped a part of the runtime, or nil.
func (rt *Runtime) Err() error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.runErr
}

// Forwarder returns the runtime's forwarder (nil with NoForward).
func (rt *Runtime) Forwarder() *Forwarder { return rt.fwd }

// Close stops the forwarder (its checkpoint saved), then the router (in-flight orders
// finish), then closes the bus and the connectors.
//
// The forwarder stops first, while the router still runs: with gochannel a publish returns
// once a handler acknowledged it, and a message published with no handler subscribed would be
// dropped, so the router must outlive every publish.
func (rt *Runtime) Close() error {
	if rt.fwdCancel != nil {
		rt.fwdCancel()
		<-rt.fwdDone
	}
	var err error
	if rt.runCtx != nil { // a router never run has nothing to close (its Close would wait)
		err = rt.router.Close()
	}
	if rt.cancel != nil {
		rt.cancel()
	}
	rt.resyncWG.Wait()
	rt.avail.close()
	rt.availWG.Wait()
	rt.wg.Wait()
	if berr := rt.bus.Close(); err == nil {
		err = berr
	}
	rt.rec.conns.close()
	return err
}

// ProvisionUserNow runs user userID through rule ruleID of env's published revision now,
// writing to the target, and returns the step-by-step trace.
func (rt *Runtime) ProvisionUserNow(ctx context.Context, env, ruleID, userID string) (domain.ProvisionTrace, error) {
	if err := rt.catchUp(ctx); err != nil {
		return domain.ProvisionTrace{}, err
	}
	return rt.rec.Reconcile(ctx, Order{Env: env, RuleID: ruleID, Kind: domain.IdentityUser, IdentityID: userID,
		Trigger: TriggerOnDemand, Cause: rt.cfg.NewID(), Attempt: 1})
}

// catchUp waits until the directory and revisions reflect the log's head as of the call.
func (rt *Runtime) catchUp(ctx context.Context) error {
	head, _, err := projections.LastEvent(ctx, rt.cfg.Store)
	if err != nil {
		return err
	}
	return rt.waitDirectory(ctx, head)
}

// Handled returns the number of identity change messages this runtime's router handled.
func (rt *Runtime) Handled() int64 { return rt.handled.Load() }
