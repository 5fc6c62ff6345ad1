package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// benchTarget is the server "idstream bench api" loads: one it runs in this process, or one at
// --url. restart and heapPerUser exist only in-process.
type benchTarget struct {
	url, token  string
	restart     func(ctx context.Context) (time.Duration, uint64, error)
	heapPerUser func(users int) float64
	close       func()
}

// openBenchTarget starts idstream in this process on a temporary (or --dir) data directory with
// the embedded defaults, unless --url names a running server.
func openBenchTarget(ctx context.Context, o benchAPIOptions, lookupEnv func(string) (string, bool), stderr io.Writer) (*benchTarget, error) {
	if o.server.URL != "" {
		if err := o.server.resolve(lookupEnv); err != nil {
			return nil, err
		}
		return &benchTarget{url: o.server.URL, token: o.server.Token, close: func() {}}, nil
	}
	dir := o.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "idstream-bench-api-")
		if err != nil {
			return nil, err
		}
		dir = tmp
	}
	cfg := DefaultConfig()
	cfg.DataDir = dir
	if o.probeInterval != "" {
		cfg.PropagationProbeInterval = o.probeInterval
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	var srv *http.Server
	var stopApp context.CancelFunc
	var closeStore func() error
	var current *app
	var addr string
	start := func() error {
		store, err := openEventStore(ctx, cfg, log)
		if err != nil {
			return err
		}
		appCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		a, err := buildApp(appCtx, cfg, store, log, nil)
		if err != nil {
			cancel()
			store.Close()
			return err
		}
		if err := a.bootstrap(ctx, dir, io.Discard, log); err != nil {
			cancel()
			store.Close()
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			cancel()
			store.Close()
			return err
		}
		srv = &http.Server{Handler: newHTTPHandler(func(context.Context) error { return a.ready() }, newMetricsRegistry(), log, a.api),
			ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		stopApp, closeStore, current, addr = cancel, store.Close, a, ln.Addr().String()
		return nil
	}
	stop := func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		err := srv.Shutdown(sctx)
		current.stopPropagation(log)
		stopApp()
		return errors.Join(err, closeStore())
	}
	if err := start(); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, adminTokenFile))
	if err != nil {
		stop()
		return nil, fmt.Errorf("bench api: a fresh data directory is needed for the bootstrap token (--dir %s): %w", dir, err)
	}
	t := &benchTarget{token: strings.TrimSpace(string(raw))}
	t.url = "http://" + addr
	t.restart = func(ctx context.Context) (time.Duration, uint64, error) {
		if err := stop(); err != nil {
			return 0, 0, err
		}
		runtime.GC()
		t0 := time.Now()
		if err := start(); err != nil {
			return 0, 0, err
		}
		d := time.Since(t0)
		t.url = "http://" + addr
		return d, current.live.Position().Commit, nil
	}
	t.heapPerUser = func(users int) float64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapInuse) / float64(max(1, users))
	}
	t.close = func() {
		if err := stop(); err != nil {
			fmt.Fprintf(stderr, "bench api: stop: %v\n", err)
		}
		if o.Dir == "" {
			os.RemoveAll(dir)
		}
	}
	return t, nil
}
