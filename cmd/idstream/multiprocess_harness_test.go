package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The multi-process harness: several "idstream serve" processes on one event store. The
// embedded store is single-process (its data directory is locked), and EventStoreDB cannot run
// on the CI machines, so the shared store is fakeesdb, the fake EventStoreDB of
// eventstore/esdb/internal/fakeserver served over gRPC in its own process. IT IS AN ADAPTER
// CONTRACT TEST, NEVER A CLAIM OF COMPATIBILITY with EventStoreDB: with IDSTREAM_TEST_ESDB set to
// a real server's connection string the harness uses that server instead.
//
// The serve processes are this test binary run as idstream (see execMainEnv), like the other
// end-to-end tests: built once, with the race detector when the tests have it.

// fakeESDBPackage is the import path of the fake server's main package. It is internal to the
// eventstore/esdb backend, so it builds only from this module.
const fakeESDBPackage = "github.com/idstream/idstream/eventstore/esdb/internal/fakeserver/fakeesdb"

// testBuilds are the binaries this test binary built; TestMain removes their directory.
var testBuilds struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  string
}

// removeTestBuilds removes what fakeESDBBinary built. TestMain calls it after the tests.
func removeTestBuilds() {
	if testBuilds.dir != "" {
		os.RemoveAll(testBuilds.dir)
	}
}

// skipOrFail skips with a loud reason, or fails under CI=true, where every service must be
// present.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf("SKIPPED: "+format, args...)
}

// fakeESDBBinary builds fakeesdb once per test binary and returns its path.
func fakeESDBBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		skipOrFail(t, "the multi-process tests build fakeesdb with the go tool, which is not on PATH: %v", err)
	}
	testBuilds.once.Do(func() {
		dir, err := os.MkdirTemp("", "idstream-test-builds-")
		if err != nil {
			testBuilds.err = err
			return
		}
		testBuilds.dir = dir
		bin := filepath.Join(dir, "fakeesdb")
		cmd := exec.Command(goTool, "build", "-o", bin, fakeESDBPackage)
		out, err := cmd.CombinedOutput()
		testBuilds.bin, testBuilds.err, testBuilds.out = bin, err, string(out)
	})
	if testBuilds.err != nil {
		t.Fatalf("go build %s: %v\n%s", fakeESDBPackage, testBuilds.err, testBuilds.out)
	}
	return testBuilds.bin
}

// startSharedEventStore returns the connection string of an event store for several servers:
// IDSTREAM_TEST_ESDB when set (a real EventStoreDB; its log is shared with whatever else uses
// it, so tests scope their data by new IDs), else a new fakeesdb process, stopped at cleanup.
func startSharedEventStore(t *testing.T) string {
	t.Helper()
	if conn := os.Getenv("IDSTREAM_TEST_ESDB"); conn != "" {
		return conn
	}
	bin := fakeESDBBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start fakeesdb: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		cancel()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	conn := strings.TrimSpace(line)
	if err != nil || !strings.HasPrefix(conn, "esdb://") {
		t.Fatalf("fakeesdb printed %q (%v), want an esdb:// connection string first; stderr:\n%s", line, err, stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	return conn
}

// cluster is a set of serve processes on one event store, with one read-model setting.
type cluster struct {
	t *testing.T
	// eventStore is the shared store's connection string; readModels is IDSTREAM_READMODELS of
	// every server ("memory", or a postgres:// URL they share).
	eventStore, readModels string
	// keyFile is the operator key every server uses (IDSTREAM_SECRET_KEY_FILE), subjectKeys the
	// PostgreSQL schema of the subject keys they share: servers of one log must seal and open
	// secrets and personal data with the same keys.
	keyFile, subjectKeys string
	// token is the bootstrap admin's token, written by the server that bootstrapped the log.
	token string
}

// newCluster starts a shared event store; servers are started with start.
func newCluster(t *testing.T, readModels string) *cluster {
	t.Helper()
	return &cluster{t: t, eventStore: startSharedEventStore(t), readModels: readModels,
		keyFile: filepath.Join(t.TempDir(), "shared-secret.key"), subjectKeys: sharedSubjectKeys(t)}
}

// server is one running "idstream serve" of a cluster.
type server struct {
	name, base, dataDir string
	// bootstrapped: this server created the first admin and wrote admin.token.
	bootstrapped bool
	client       *gqlClient
	cmd          *exec.Cmd
	stderr       *syncBuffer
	exited       chan struct{}
	waitErr      error
	stopOnce     sync.Once
	// pending is stdout until awaitListening has read the listen address.
	pending io.Reader
}

// start runs a server with its own new data directory and a free loopback port, and waits
// until it listens (which it does once its read model has caught up with the log). The first
// server started on a fresh log bootstraps the admin token; later ones reuse it.
func (c *cluster) start(name string) *server {
	c.t.Helper()
	return c.startAt(name, "")
}

// startAt is start on dataDir, new when "" (a server's data directory holds its operator key,
// token file and read-model snapshots; the log is in the shared store).
func (c *cluster) startAt(name, dataDir string) *server {
	t := c.t
	t.Helper()
	s := c.launch(name, dataDir)
	if err := s.awaitListening(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	c.adopt(s)
	return s
}

// launch starts a server process on dataDir (new when "") without waiting for it.
func (c *cluster) launch(name, dataDir string) *server {
	t := c.t
	t.Helper()
	if dataDir == "" {
		dataDir = filepath.Join(t.TempDir(), name)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Servers of one log share the operator key and the subject keys (in PostgreSQL).
	env := []string{"IDSTREAM_EVENTSTORE=" + c.eventStore, "IDSTREAM_READMODELS=" + c.readModels,
		"IDSTREAM_DATA_DIR=" + dataDir, "IDSTREAM_LISTEN=127.0.0.1:0", "IDSTREAM_BUS=" + BusGoChannel,
		"IDSTREAM_SECRET_KEY_FILE=" + c.keyFile, "IDSTREAM_SUBJECT_KEYS=" + c.subjectKeys}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	cmd, stdout, stderr := idstreamProcessEnv(ctx, t, env, "serve")
	s := &server{name: name, dataDir: dataDir, cmd: cmd, stderr: stderr, exited: make(chan struct{})}
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.stop()
		cancel()
		if t.Failed() {
			t.Logf("%s's stderr:\n%s", name, stderr.String())
		}
	})
	s.pending = stdout
	return s
}

// awaitListening reads the server's stdout until it prints its listen address.
func (s *server) awaitListening() error {
	lines := bufio.NewScanner(s.pending)
	for lines.Scan() {
		line := lines.Text()
		if strings.HasPrefix(line, "admin token written to ") {
			s.bootstrapped = true
		}
		if b, ok := strings.CutPrefix(line, "idstream listening on "); ok {
			s.base = b
			break
		}
	}
	if s.base == "" {
		<-s.exited
		return errors.New("serve printed no listen address (exit: " + errString(s.waitErr) + "); stderr:\n" + s.stderr.String())
	}
	go io.Copy(io.Discard, s.pending)
	return nil
}

func errString(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// adopt takes the cluster's token and operator key from a server that bootstrapped, and gives
// the server a client with the token.
func (c *cluster) adopt(s *server) {
	t := c.t
	t.Helper()
	if s.bootstrapped {
		if c.token != "" {
			t.Fatalf("%s bootstrapped a log that an earlier server had bootstrapped", s.name)
		}
		raw, err := os.ReadFile(filepath.Join(s.dataDir, adminTokenFile))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		c.token = strings.TrimSpace(string(raw))
	}
	s.client = newGQLClient(s.base, c.token)
}

// stop ends the server with SIGTERM and waits for it (SIGKILL after 30 s). Harmless twice.
func (s *server) stop() {
	s.stopOnce.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// kill ends the server with SIGKILL, as a crash would, and waits for it.
func (s *server) kill() {
	s.stopOnce.Do(func() {
		s.cmd.Process.Kill()
		<-s.exited
	})
}

// sharedSubjectKeys returns a postgres:// URL of a fresh schema for a cluster's subject keys; it
// skips loudly without PostgreSQL, except under CI=true.
func sharedSubjectKeys(t *testing.T) string {
	t.Helper()
	base := os.Getenv("IDSTREAM_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	schema := fmt.Sprintf("mp_keys_%d", time.Now().UnixNano())
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("servers sharing one log share their subject keys in PostgreSQL, which is needed under CI=true: %v", err)
		}
		t.Skipf("SKIPPING: servers sharing one log need PostgreSQL for their subject keys: %v", err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`)
		conn.Close(context.Background())
	})
	return base + "&schema=" + schema
}
