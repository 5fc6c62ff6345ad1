package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/idstream/idstream/eventstore"
)

const (
	// shutdownTimeout bounds how long in-flight requests may take to finish after SIGINT/SIGTERM.
	shutdownTimeout = 15 * time.Second
	// readinessTimeout bounds the event-store read behind /readyz.
	readinessTimeout = 2 * time.Second
)

func newServeCommand(lookupEnv func(string) (string, bool), stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the directory: GraphQL at /graphql, GraphiQL at /, /healthz, /readyz, /metrics, until SIGINT or SIGTERM",
		Long: "Opens the event log, replays it into the read model, and serves the API. On first start with an empty\n" +
			"log it creates an organization-wide admin API client and writes its bearer token to <data dir>/admin.token\n" +
			"(mode 0600), printing that path. Secrets are sealed with the operator key in <data dir>/secret.key.",
		Args: cobra.NoArgs,
	}
	flags := addConfigFlags(cmd.Flags(), lookupEnv)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := flags.Config()
		if err != nil {
			return fmt.Errorf("configuration:\n%w", err)
		}
		log := slog.New(slog.NewTextHandler(stderr, nil))
		return serve(cmd.Context(), cfg, openEventStore, log, stdout)
	}
	return cmd
}

// storeOpener opens the event store a configuration names. openEventStore is the real one.
type storeOpener func(ctx context.Context, cfg Config, log *slog.Logger) (eventstore.Store, error)

// serve opens the event store, serves HTTP on cfg.Listen until ctx is done, then shuts down
// gracefully: in-flight requests get shutdownTimeout to finish, and the store is closed last.
// It prints the listen address on stdout once the listener is open.
func serve(ctx context.Context, cfg Config, open storeOpener, log *slog.Logger, stdout io.Writer) (err error) {
	metrics := newMetricsRegistry()
	store, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	store = withMetrics(store, metrics)
	defer func() {
		if cerr := store.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close event store: %w", cerr))
		}
	}()

	appCtx, stopApp := context.WithCancel(context.WithoutCancel(ctx))
	defer stopApp()
	a, err := buildApp(appCtx, cfg, store, log, metrics)
	if err != nil {
		return err
	}
	if err := a.bootstrap(ctx, cfg.DataDir, stdout, log); err != nil {
		return err
	}
	a.registerMetrics(metrics)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	ready := &readiness{store: store, app: a.ready}
	srv := &http.Server{
		Handler:           newHTTPHandler(ready.check, metrics, log, a.api),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	addr := ln.Addr().String()
	log.Info("serving", "addr", addr, "eventstore", redact(cfg.EventStore), "readmodels", cfg.ReadModels, "bus", cfg.Bus)
	if _, err := fmt.Fprintf(stdout, "idstream listening on http://%s\n", addr); err != nil {
		log.Warn("print listen address", "err", err)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve HTTP on %s: %w", addr, err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", shutdownTimeout)
	ready.draining.Store(true)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down HTTP server: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP on %s: %w", addr, err)
	}
	a.stopPropagation(log)
	stopApp()
	a.live.drain(shutdownTimeout) // the last snapshot, so that the next start need not replay
	log.Info("stopped")
	return nil
}

// readiness answers whether this process can serve: its event store is open and answers a read.
type readiness struct {
	store eventstore.Store
	// app reports the read model's readiness; nil when there is none.
	app      func() error
	draining atomic.Bool
}

// check reads the last event of the log (or finds the log empty), bounded by readinessTimeout.
func (r *readiness) check(ctx context.Context) error {
	if r.draining.Load() {
		return errShuttingDown
	}
	if r.app != nil {
		if err := r.app(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, readinessTimeout)
	defer cancel()
	opts := eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: 1}
	for _, err := range r.store.ReadAll(ctx, opts) {
		if err != nil {
			return fmt.Errorf("event store: read the head of $all: %w", err)
		}
	}
	return nil
}

// newMetricsRegistry builds the registry /metrics serves: a value, never the global default.
func newMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	return reg
}

// errShuttingDown is readiness's answer while the server drains.
var errShuttingDown = errors.New("shutting down")

// publicReason is what /readyz tells an unauthenticated caller: the kind of the problem, never
// its details (paths, addresses), which go to the log.
func publicReason(err error) string {
	for _, kind := range []error{errShuttingDown, errCatchingUp, errPropagationStopped, eventstore.ErrClosed, eventstore.ErrCorrupt, eventstore.ErrUnavailable,
		context.DeadlineExceeded} {
		if errors.Is(err, kind) {
			return kind.Error()
		}
	}
	return "event store not answering"
}

// newHTTPHandler routes the operational endpoints and, when api is not nil, the API (/graphql
// and GraphiQL at /). /healthz answers while the process runs; /readyz answers 200 only while
// ready returns nil, else 503 with the kind of reason (the details are logged).
func newHTTPHandler(ready func(context.Context) error, reg *prometheus.Registry, log *slog.Logger, api http.Handler) http.Handler {
	mux := http.NewServeMux()
	if api != nil {
		mux.Handle("/graphql", api)
		mux.Handle("GET /{$}", api)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := ready(r.Context()); err != nil {
			log.Warn("not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %s\n", publicReason(err))
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}
