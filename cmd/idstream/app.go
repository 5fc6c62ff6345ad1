package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/commands/password"
	"github.com/idstream/idstream/commands/secret"
	"github.com/idstream/idstream/commands/subjectkeys"
	"github.com/idstream/idstream/connectors/propagation"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/graph"
	"github.com/idstream/idstream/projections"
)

// Files of the data directory besides the embedded event store.
const (
	// adminTokenFile holds the bootstrap admin's bearer token, written once on an empty log.
	adminTokenFile = "admin.token"
	// secretKeyFile holds the operator key that seals secrets (TOTP seeds) before they enter
	// the log. Losing it makes those secrets unreadable; back it up with the data directory.
	secretKeyFile = "secret.key"
	// subjectKeysDir holds the per-subject keys sealing personal data (commands/subjectkeys).
	subjectKeysDir = "subject-keys"
	// snapshotsDir holds snapshots of the directory read model: where time travel starts and
	// where a restart resumes. Losing them costs time only (the log replays).
	snapshotsDir = "snapshots"
)

// app is the directory wired on an open event store: commands, the read model and its runner,
// and the GraphQL API.
type app struct {
	store eventstore.Store
	live  readModels
	cmds  *commands.Directory
	// propagation is the propagation configuration: its commands and read model.
	propagation     *commands.Propagation
	propagationConf *projections.PropagationConfig
	// runtime propagates identities to the target stores; close it before the event store.
	runtime *propagation.Runtime
	api     http.Handler
	// replay is how long the read model took to catch up with the log at start.
	replay time.Duration
}

// newID returns a new UUIDv7 string for resources and events.
func newID() string {
	id, err := eventstore.NewEventID(rand.Reader)
	if err != nil {
		// crypto/rand does not fail on Linux; if it ever does, no ID can be made safely.
		panic(fmt.Sprintf("generate an ID: %v", err))
	}
	return id.String()
}

// buildApp wires the directory on store and replays the log into the read model; it returns
// once the read model has caught up with the log as it was at the call, or ctx ends. The runner
// stops when ctx ends.
func buildApp(ctx context.Context, cfg Config, store eventstore.Store, log *slog.Logger, metrics prometheus.Registerer) (*app, error) {
	reg, err := commands.NewRegistry()
	if err != nil {
		return nil, err
	}
	keyFile := cfg.SecretKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(cfg.DataDir, secretKeyFile)
	}
	key, err := secret.LoadOrCreateKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("operator key: %w", err)
	}
	sealer, err := secret.NewSealer(key)
	if err != nil {
		return nil, fmt.Errorf("operator key: %w", err)
	}
	keys, err := openSubjectKeys(ctx, cfg, sealer)
	if err != nil {
		return nil, err
	}
	go func() { // the key store lives as long as the app
		<-ctx.Done()
		keys.Close()
	}()
	reg.UseSubjectKeys(keys)
	hasher, err := password.NewHasher(password.DefaultParams())
	if err != nil {
		return nil, err
	}
	deps := &commands.Deps{Store: store, Registry: reg, Now: func() time.Time { return time.Now().UTC() }, NewID: newID}
	preg, err := projections.NewRegistry()
	if err != nil {
		return nil, err
	}
	preg.UseSubjectKeys(keys)
	snaps, err := projections.OpenSnapshotStore(filepath.Join(cfg.DataDir, snapshotsDir))
	if err != nil {
		return nil, fmt.Errorf("read-model snapshots: %w", err)
	}
	start := time.Now()
	var live readModels
	if cfg.ReadModels == ReadModelsMemory || cfg.ReadModels == "" {
		live, err = startLive(ctx, store, preg, snaps, log.With("component", "projections"))
	} else {
		live, err = startPostgres(ctx, cfg.ReadModels, store, preg, log.With("component", "projections"))
	}
	if err != nil {
		return nil, err
	}
	if err := live.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("replay the log into the read model: %w", err)
	}
	replay := projections.ConfigurationReplay{Store: store, Registry: preg}
	cmds := commands.NewDirectory(deps, commands.DirectoryPorts{
		AttributeUsage:  live,
		PasswordHasher:  hasher,
		PopulationUsage: live,
		Credentials:     commands.CredentialPorts{Passwords: hasher, Secrets: sealer},
		Configurations:  replay,
	})
	audit := projections.NewAuditLog(store, preg)
	if err := audit.Start(ctx); err != nil {
		return nil, err
	}
	// Propagation configuration: its own small read model, rebuilt from the log at every start.
	// The mapping and store configuration checkers (connectors) and the store tester are wired
	// where the connectors are.
	propConf := projections.NewPropagationConfig(store, preg)
	if err := propConf.Start(ctx); err != nil {
		return nil, err
	}
	if err := propConf.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("replay the propagation configuration: %w", err)
	}
	factories := connectorFactories()
	prop := commands.NewPropagation(deps, propagationPorts(sealer, factories))
	propStatus, err := startPropagationStatus(ctx, cfg, store, preg)
	if err != nil {
		return nil, err
	}
	propDrift, err := startPropagationDrift(ctx, store, preg)
	if err != nil {
		return nil, err
	}
	// The stores' held changes (safety rails): their own small read model.
	propHeld := projections.NewPropagationHeld(store, preg)
	if err := propHeld.Start(ctx); err != nil {
		return nil, err
	}
	runtime, err := startPropagation(ctx, cfg, store, reg, live, propConf, sealer, factories, metrics, log.With("component", "propagation"))
	if err != nil {
		return nil, err
	}
	hist := projections.NewHistory(store, preg)
	a := &app{store: store, live: live, cmds: cmds, propagation: prop, propagationConf: propConf, runtime: runtime, replay: time.Since(start)}
	a.api = graph.NewHandler(graph.Config{Commands: cmds, Current: live.Current, ReadModel: live.Current(), Runner: live,
		Log: log.With("component", "graphql"), History: hist, Revisions: revisions{replay}, Projections: live, Audit: audit,
		TimeTravel:  timeTravel{tt: projections.NewTimeTravel(store, preg, snaps), hist: hist},
		Propagation: prop, PropagationConfig: propConf, Secrets: sealer, PropagationStatus: propStatus, PropagationDrift: propDrift,
		PropagationHeld: propHeld,
		StoreTester:     storeTester{factories}, Propagator: apiPropagator(runtime, propConf)})
	log.Info("read model ready", "position", live.Position().String(), "replay", a.replay.Round(time.Millisecond))
	return a, nil
}

// subjectKeyStore is a subject key store that closes.
type subjectKeyStore interface {
	eventstore.SubjectKeys
	Close() error
}

// openSubjectKeys opens the store of the keys sealing personal data that cfg names.
func openSubjectKeys(ctx context.Context, cfg Config, sealer *secret.Sealer) (subjectKeyStore, error) {
	where := cfg.SubjectKeys
	if where == "" {
		where = SubjectKeysLocal
		if s := schemeOf(cfg.ReadModels); s == "postgres" || s == "postgresql" {
			where = cfg.ReadModels
		}
	}
	if where == SubjectKeysLocal && cfg.EventStore != EventStoreEmbedded {
		slog.Warn("subject keys are local to this data directory while the event store is shared: other servers on it " +
			"will read this server's users' personal data as erased. Set IDSTREAM_SUBJECT_KEYS to a postgres:// URL they share")
	}
	if where == SubjectKeysLocal {
		keys, err := subjectkeys.Open(filepath.Join(cfg.DataDir, subjectKeysDir), sealer)
		if err != nil {
			return nil, fmt.Errorf("subject keys: %w", err)
		}
		return keys, nil
	}
	return subjectkeys.OpenPostgres(ctx, where, "", sealer)
}

// bootstrap creates the organization-wide admin API client when the log is empty, writes its
// token to <data dir>/admin.token (mode 0600) and prints that path on stdout. On a log that
// holds anything it does nothing: the token is issued once, on first start. Of several servers
// starting at once on one empty shared log (EventStoreDB), exactly one creates the client and
// writes the token, into its own data directory; the others go on without one.
func (a *app) bootstrap(ctx context.Context, dataDir string, stdout io.Writer, log *slog.Logger) error {
	for _, err := range a.store.ReadAll(ctx, eventstore.ReadAllOptions{MaxCount: 1}) {
		return err // the log holds an event (or cannot be read): no bootstrap
	}
	token, pos, created, err := a.cmds.Bootstrap.HandleFirst(commands.WithActor(ctx, commands.Actor{ID: "system:bootstrap"}))
	if err != nil {
		return fmt.Errorf("bootstrap the admin API client: %w", err)
	}
	if !created {
		log.Info("bootstrap admin API client created by another server on this log: no token written here",
			"client", commands.FirstAdminClientID)
		return nil
	}
	clientID := commands.FirstAdminClientID
	path, err := writeAdminToken(dataDir, token)
	if err != nil {
		// The client exists in the log, so the next start will not bootstrap again.
		return fmt.Errorf("%w (the admin API client %s was created but its token is lost: stop idstream and run "+
			"\"idstream token bootstrap\" to issue a new one)", err, clientID)
	}
	if err := a.live.WaitFor(ctx, pos); err != nil {
		return err
	}
	log.Info("bootstrap admin API client created", "client", clientID, "token_file", path)
	_, err = fmt.Fprintf(stdout, "admin token written to %s\n", path)
	return err
}

// adminTokenPresent reports whether <dataDir>/admin.token exists and holds anything but white
// space.
func adminTokenPresent(dataDir string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, adminTokenFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return len(bytes.TrimSpace(b)) > 0, err
}

// writeAdminToken writes token to <dataDir>/admin.token, mode 0600, and returns the path. The
// file is replaced atomically (a temporary file synced, then renamed), so a crash leaves either
// the old file or the whole new one.
func writeAdminToken(dataDir, token string) (string, error) {
	path := filepath.Join(dataDir, adminTokenFile)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return path, fmt.Errorf("write the admin token: %w", err)
	}
	f, err := os.CreateTemp(dataDir, adminTokenFile+".*.tmp") // mode 0600
	if err != nil {
		return path, fmt.Errorf("write the admin token: %w", err)
	}
	tmp := f.Name()
	_, werr := fmt.Fprintln(f, token)
	if err := errors.Join(werr, f.Chmod(0o600), f.Sync(), f.Close()); err != nil {
		os.Remove(tmp)
		return path, fmt.Errorf("write the admin token to %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return path, fmt.Errorf("write the admin token to %s: %w", path, err)
	}
	if d, err := os.Open(dataDir); err == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return path, nil
}

// registerMetrics exports the read model's lag.
func (a *app) registerMetrics(reg *prometheus.Registry) {
	lag := func(pick func(projections.Lag) float64) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), readinessTimeout)
			defer cancel()
			l, err := a.live.Lag(ctx)
			if err != nil {
				return -1
			}
			return pick(l)
		}
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "idstream_projection_lag_positions",
			Help: "How far the directory read model is behind the head of the log, in log positions (events on the embedded store); -1 when unknown."},
			lag(func(l projections.Lag) float64 { return float64(l.Positions) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "idstream_projection_lag_seconds",
			Help: "Recording time of the head of the log minus that of the last event the read model applied; -1 when unknown."},
			lag(func(l projections.Lag) float64 { return l.Seconds })),
	)
}

// stopPropagation stops the propagation runtime, if any: in-flight change orders finish and the
// forwarder's checkpoint is saved. Call it before the app's context ends and the store closes.
//
// It waits at most shutdownTimeout: a resync that a publication started runs inside the
// revision's handling, which the forwarder waits for. Abandoned, it loses nothing — the
// forwarder's checkpoint has not passed the revision, so the next start handles it again.
func (a *app) stopPropagation(log *slog.Logger) {
	if a.runtime == nil {
		return
	}
	done := make(chan error, 1)
	go func() { done <- a.runtime.Close() }()
	select {
	case err := <-done:
		if err != nil {
			log.Warn("stop propagation", "err", err)
		}
	case <-time.After(shutdownTimeout):
		log.Warn("propagation did not stop in time: its running work is abandoned and handled again at the next start",
			"timeout", shutdownTimeout)
	}
}

// ready reports whether the read model is usable: caught up once and not failed.
func (a *app) ready() error {
	if err := a.live.Health(); err != nil {
		return err
	}
	if a.runtime != nil {
		if err := a.runtime.Err(); err != nil {
			return fmt.Errorf("%w: %w", errPropagationStopped, err)
		}
	}
	return nil
}

// errPropagationStopped: a part of the propagation runtime (forwarder, router) stopped with an
// error; the server must be restarted (nothing is lost: the forwarder's checkpoint holds).
var errPropagationStopped = errors.New("propagation stopped")

// errCatchingUp is readiness's answer while the read model replays the log.
var errCatchingUp = errors.New("read model catching up")

// revisions reads configuration revisions for the API: their stream, and their configurations
// replayed from the log.
type revisions struct {
	projections.ConfigurationReplay
}

func (r revisions) ConfigRevisions(ctx context.Context, env string) ([]projections.ConfigRevisionRecord, error) {
	return projections.ConfigRevisionRecords(ctx, r.Store, r.Registry, env)
}
