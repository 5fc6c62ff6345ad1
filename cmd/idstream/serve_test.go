package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
)

// openEmbedded opens a real embedded store in a temporary directory.
func openEmbedded(t *testing.T) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(t.TempDir(), embedded.Options{CacheBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestHTTPEndpoints(t *testing.T) {
	t.Parallel()
	store := openEmbedded(t)
	ready := &readiness{store: store}
	h := newHTTPHandler(ready.check, newMetricsRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)

	if code, body := get(t, h, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, h, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %q, want 200", code, body)
	}
	code, body := get(t, h, "/metrics")
	if code != http.StatusOK {
		t.Errorf("/metrics = %d", code)
	}
	for _, m := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "go_build_info"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	closed := openEmbedded(t)
	closed.Close() // a store that no longer answers
	unready := &readiness{store: closed}
	h = newHTTPHandler(unready.check, newMetricsRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if code, body := get(t, h, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "event store closed") {
		t.Errorf("/readyz with a closed store = %d %q, want 503 naming the store", code, body)
	}
	if code, body := get(t, h, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with a failing store = %d %q, want 200", code, body)
	}

	ready.draining.Store(true)
	h = newHTTPHandler(ready.check, newMetricsRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if code, body := get(t, h, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz while draining = %d %q, want 503 shutting down", code, body)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	t.Parallel()
	store := openEmbedded(t)
	open := func(context.Context, Config, *slog.Logger) (eventstore.Store, error) { return store, nil }
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, open, slog.New(slog.NewTextHandler(io.Discard, nil)), w)
		w.Close()
	}()
	lines := bufio.NewScanner(out)
	var base string
	for base == "" && lines.Scan() {
		if b, ok := strings.CutPrefix(lines.Text(), "idstream listening on "); ok {
			base = b
		}
	}
	if base == "" {
		t.Fatalf("serve printed no listen address (serve: %v)", <-done)
	}
	go io.Copy(io.Discard, out)
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after cancel, want nil", err)
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("serve did not return after its context was cancelled")
	}
	if _, _, _, err := store.GetStreamMetadata(t.Context(), "user-1"); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("after serve returned, the event store answers %v; want it closed", err)
	}
}

func TestServeReportsOpenFailure(t *testing.T) {
	t.Parallel()
	errLocked := errors.New("data directory in use")
	open := func(context.Context, Config, *slog.Logger) (eventstore.Store, error) { return nil, errLocked }
	err := serve(t.Context(), DefaultConfig(), open, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if !errors.Is(err, errLocked) {
		t.Errorf("serve = %v, want the opener's error", err)
	}
}

func TestReadinessWithUnreachableESDB(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused

	cfg := DefaultConfig()
	cfg.EventStore = "esdb://admin:changeit@" + addr + "?tls=false"
	store, err := openEventStore(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("openEventStore: %v", err)
	}
	defer store.Close()
	err = (&readiness{store: store}).check(t.Context())
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Errorf("readiness with no server = %v, want eventstore.ErrUnavailable", err)
	}
}
