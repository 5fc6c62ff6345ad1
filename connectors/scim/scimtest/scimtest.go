// Package scimtest runs a real, third-party SCIM 2.0 service provider for tests: an in-memory
// server built on the npm packages scimmy and scimmy-routers (express 4), in
// connectors/scim/testdata/scimserver. idstream did not write the SCIM protocol handling it
// tests against; server.js only stores resources in memory and adds test hooks.
//
// Start needs node and npm. Without them a test skips with a loud reason, except under
// CI=true, where it fails. The first Start on a machine runs `npm ci` (guarded by a file lock,
// so parallel test binaries install once).
package scimtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a running scimmy SCIM server. Its methods are safe for concurrent use except Stop and
// Start, which a test calls from one goroutine.
type Server struct {
	// URL is the base URL of the SCIM root (http://127.0.0.1:PORT/scim/v2), without a trailing slash.
	URL string
	// Token is the accepted bearer token ("" with basic authentication).
	Token string
	// Username and Password are the accepted basic credentials ("" with a bearer token).
	Username, Password string

	t    testing.TB
	cfg  config
	dir  string
	root string // http://127.0.0.1:PORT
	port string

	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *bytes.Buffer
	exited chan struct{}
}

type config struct {
	token   string
	basic   string
	noPatch bool
	keep    bool
	state   string // the state file with keep
}

// Option configures Start.
type Option func(*config)

// WithToken makes the server accept bearer token tok (default: a random token).
func WithToken(tok string) Option { return func(c *config) { c.token = tok } }

// WithBasic makes the server accept HTTP basic authentication with user and pass instead of a
// bearer token.
func WithBasic(user, pass string) Option { return func(c *config) { c.basic = user + ":" + pass } }

// WithoutPatch makes the server declare PATCH unsupported in /ServiceProviderConfig and answer
// PATCH requests 501.
func WithoutPatch() Option { return func(c *config) { c.noPatch = true } }

// WithPersistence makes the server keep its users and groups across Stop and Start (in a file
// under the test's temporary directory): an outage test stops the target and brings it back with
// its data, as a real server would come back. Stop then ends the server through its stdin, so
// it saves what it has applied; requests in flight are cut off as a crash would cut them.
func WithPersistence() Option { return func(c *config) { c.keep = true } }

// Start installs (once) and starts a SCIM server on a free loopback port and stops it in
// t.Cleanup. It skips t when node or npm is missing, failing instead when CI=true.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.token == "" && cfg.basic == "" {
		cfg.token = rand.Text()
	}
	dir := ServerDir()
	if err := requireNode(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("scimtest: %v (CI=true: the SCIM test server is required)", err)
		}
		t.Skipf("scimtest: SKIPPING, the SCIM test server cannot run: %v", err)
	}
	if err := Install(dir); err != nil {
		t.Fatalf("scimtest: %v", err)
	}
	if cfg.keep {
		cfg.state = filepath.Join(t.TempDir(), "scim-state.json")
	}
	s := &Server{t: t, cfg: cfg, dir: dir, Token: cfg.token, port: "0"}
	if cfg.basic != "" {
		s.Token = ""
		s.Username, s.Password, _ = strings.Cut(cfg.basic, ":")
	}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// ServerDir returns the folder of the SCIM server's node project.
func ServerDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "scimserver")
}

func requireNode() error {
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is not installed (apt-get install nodejs npm): %w", bin, err)
		}
	}
	return nil
}

// Install runs `npm ci` in dir unless node_modules already matches package-lock.json. It holds
// an exclusive file lock meanwhile, so concurrent test processes install once.
func Install(dir string) error {
	lock, err := os.OpenFile(filepath.Join(dir, "node_modules.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("install scim server: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("install scim server: lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it too

	lockfile, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return fmt.Errorf("install scim server: %w", err)
	}
	sum := sha256.Sum256(lockfile)
	want := hex.EncodeToString(sum[:])
	marker := filepath.Join(dir, "node_modules", ".idstream-installed")
	if got, err := os.ReadFile(marker); err == nil && string(got) == want {
		return nil
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("install scim server: npm ci in %s: %w\n%s", dir, err, out)
	}
	if err := os.WriteFile(marker, []byte(want), 0o644); err != nil {
		return fmt.Errorf("install scim server: %w", err)
	}
	return nil
}

// Start starts the server again after Stop, on the same port, with no resources (the server
// keeps them in memory) unless WithPersistence was given. The first Start picks a free port.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatalf("scimtest: Start: the server is running")
	}
	args := []string{"server.js", "--port", s.port}
	if s.cfg.basic != "" {
		args = append(args, "--basic", s.cfg.basic)
	} else {
		args = append(args, "--token", s.cfg.token)
	}
	if s.cfg.noPatch {
		args = append(args, "--no-patch")
	}
	if s.cfg.state != "" {
		args = append(args, "--state", s.cfg.state)
	}
	cmd := exec.Command("node", args...)
	cmd.Dir = s.dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		s.t.Fatalf("scimtest: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatalf("scimtest: %v", err)
	}
	stderr := &bytes.Buffer{}
	cmd.Stderr = &lockedWriter{w: stderr}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("scimtest: start node: %v", err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	var line string
	select {
	case l, ok := <-lines:
		if !ok {
			<-exited
			s.t.Fatalf("scimtest: the SCIM server exited before listening: %s", stderr)
		}
		line = l
	case <-time.After(60 * time.Second): // a start-up bound, not an assertion on speed
		_ = cmd.Process.Kill()
		<-exited
		s.t.Fatalf("scimtest: the SCIM server did not start in 60s: %s", stderr)
	}
	addr, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		_ = cmd.Process.Kill()
		<-exited
		s.t.Fatalf("scimtest: unexpected first line %q", line)
	}
	_, port, _ := strings.Cut(addr, ":")
	s.port = port
	s.root = "http://" + addr
	s.URL = s.root + "/scim/v2"
	s.cmd, s.stdin, s.stderr, s.exited = cmd, stdin, stderr, exited
}

// Stop kills the server and waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.stdin.Close()
	if s.cfg.keep {
		// The server saves its state and exits when its stdin closes; a bound, not an assertion.
		select {
		case <-s.exited:
			s.cmd = nil
			return
		case <-time.After(30 * time.Second):
		}
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Fault makes the next count SCIM requests answer status, with a Retry-After header when
// retryAfter is not empty (seconds or an HTTP date).
func (s *Server) Fault(status, count int, retryAfter string) {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"status": status, "count": count, "retryAfter": retryAfter})
	if err := s.admin(http.MethodPost, "/_test/fault", body, nil); err != nil {
		s.t.Fatalf("scimtest: fault: %v", err)
	}
}

// Writes returns the number of successful writes (POST, PUT, PATCH, DELETE) the server served
// since it started.
func (s *Server) Writes() int {
	s.t.Helper()
	var out struct{ Writes int }
	if err := s.admin(http.MethodGet, "/_test/count", nil, &out); err != nil {
		s.t.Fatalf("scimtest: count: %v", err)
	}
	return out.Writes
}

// Reset forgets every resource, fault and write count.
func (s *Server) Reset() {
	s.t.Helper()
	if err := s.admin(http.MethodPost, "/_test/reset", nil, nil); err != nil {
		s.t.Fatalf("scimtest: reset: %v", err)
	}
}

func (s *Server) admin(method, path string, body []byte, out any) error {
	req, err := http.NewRequest(method, s.root+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// MeasureWriteRate creates n users at the SCIM root url with bearer token, from workers
// concurrent clients, with plain net/http (not idstream's connector), and returns the users
// created per second: the target's own write rate, to compare the connector's throughput with.
// Each user is RateUser's. The users are left in the store, named with a unique
// prefix.
func MeasureWriteRate(ctx context.Context, url, token string, n, workers int) (float64, error) {
	if n <= 0 || workers <= 0 {
		return 0, errors.New("measure write rate: n and workers must be positive")
	}
	prefix := fmt.Sprintf("rate-%d-", time.Now().UnixNano())
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := postUser(ctx, client, url, token, fmt.Sprintf("%s%d@example.com", prefix, i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := 0; i < n; i++ {
		select {
		case jobs <- i:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return 0, fmt.Errorf("measure write rate: %w", err)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// RateUser returns the attributes of the users MeasureWriteRate creates: what a provisioned
// user typically has (userName, displayName, name, a work email, externalId, active). Use it
// to compare the connector's rate with the target's on the same payload.
func RateUser(userName string) map[string]any {
	return map[string]any{
		"userName":    userName,
		"displayName": "Rate " + userName,
		"name":        map[string]any{"givenName": "Rate", "familyName": "Measure"},
		"emails":      []any{map[string]any{"type": "work", "value": userName, "primary": true}},
		"externalId":  "ext-" + userName,
		"active":      true,
	}
}

func postUser(ctx context.Context, client *http.Client, url, token, userName string) error {
	u := RateUser(userName)
	u["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:User"}
	body, _ := json.Marshal(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/Users", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create user: status %d", resp.StatusCode)
	}
	return nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
