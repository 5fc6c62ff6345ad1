package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// execMainEnv, when set to 1 in a test binary's environment, makes the binary run idstream's
// main instead of its tests: the smoke test runs real idstream processes without a separate
// build, and with the race detector when the tests have it.
const execMainEnv = "IDSTREAM_TEST_EXEC_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(execMainEnv) == "1" {
		os.Exit(runMain())
	}
	code := m.Run()
	removeTestBuilds()
	os.Exit(code)
}

// syncBuffer collects a child's stderr while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// idstreamProcess starts "idstream args..." as a child process.
func idstreamProcess(ctx context.Context, t *testing.T, args ...string) (*exec.Cmd, io.Reader, *syncBuffer) {
	t.Helper()
	return idstreamProcessEnv(ctx, t, nil, args...)
}

// idstreamProcessEnv starts "idstream args..." as a child process with env ("KEY=value") added
// to this process's environment, winning over it.
func idstreamProcessEnv(ctx context.Context, t *testing.T, env []string, args ...string) (*exec.Cmd, io.Reader, *syncBuffer) {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), env...), execMainEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout, stderr
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// TestServeSmoke runs "idstream serve" on the embedded defaults in a temporary data directory
// and a free loopback port, checks its endpoints, checks that a second serve on the same data
// directory is refused because of the lock, and stops the first with SIGTERM.
func TestServeSmoke(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	common := []string{"--data-dir", dataDir, "--listen", "127.0.0.1:0", "--eventstore", "embedded", "--readmodels", "memory", "--bus", "gochannel"}

	first, stdout, stderr := idstreamProcess(ctx, t, append([]string{"serve"}, common...)...)
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = first.Wait(); close(exited) }()
	defer func() {
		first.Process.Kill() // a no-op once it has exited
		<-exited
	}()
	lines := bufio.NewScanner(stdout)
	var base string
	for base == "" && lines.Scan() {
		if b, ok := strings.CutPrefix(lines.Text(), "idstream listening on "); ok {
			base = b
		}
	}
	if base == "" {
		<-exited
		t.Fatalf("serve printed no listen address (exit: %v); stderr:\n%s", waitErr, stderr.String())
	}
	go io.Copy(io.Discard, stdout)

	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %q, want 200 with the embedded store open", code, body)
	}
	if code, body := httpGet(t, base+"/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines ") || !strings.Contains(body, "process_resident_memory_bytes ") {
		t.Errorf("/metrics = %d, without Go and process metrics:\n%.500s", code, body)
	}

	second, _, secondErr := idstreamProcess(ctx, t, append([]string{"serve"}, common...)...)
	err := second.Wait()
	if code := second.ProcessState.ExitCode(); code != 1 {
		t.Errorf("a second serve on the same data directory exited with %d (%v), want 1", code, err)
	}
	if msg := secondErr.String(); !strings.Contains(msg, "in use by another process") || !strings.Contains(msg, "idstream.lock") {
		t.Errorf("a second serve on the same data directory did not name the lock; stderr:\n%s", msg)
	}

	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("serve exited with %v after SIGTERM, want 0; stderr:\n%s", waitErr, stderr.String())
		}
	case <-time.After(shutdownTimeout + 10*time.Second):
		t.Fatalf("serve did not stop after SIGTERM; stderr:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "msg=stopped") {
		t.Errorf("serve did not log a clean stop; stderr:\n%s", stderr.String())
	}
}
