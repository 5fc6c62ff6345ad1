package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
)

// benchAPIOptions are the flags of "idstream bench api".
type benchAPIOptions struct {
	server      serverFlags
	Clients     int
	Duration    time.Duration
	ImportUsers int
	ImportBatch int
	Reads       int
	Restart     bool
	Dir         string
	ProfileDir  string
	// probeInterval, when set, is the in-process server's propagation probe interval.
	probeInterval string
}

func newBenchAPICommand(lookupEnv func(string) (string, bool), stdout, stderr io.Writer) *cobra.Command {
	o := benchAPIOptions{Clients: 32, Duration: 10 * time.Second, ImportUsers: 200_000, ImportBatch: 1000, Reads: 2000, Restart: true}
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Load the GraphQL API over loopback: createUser, importUsers, user(id), users(filter), restart",
		Long: "Starts idstream in this process on a temporary data directory (or loads the server at --url) and\n" +
			"measures, over HTTP on loopback: createUser with --clients concurrent clients for --duration\n" +
			"(users/s, p50/p95/p99); importUsers of --import-users users with pre-hashed passwords (users/s);\n" +
			"user(id) and users(filter) on indexed attributes (p50/p99) once the environment holds them all;\n" +
			"and, in-process only, the heap per user and a restart until the read models are ready.",
		Args: cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&o.server.URL, "url", "", "load this server instead of starting one (with --token or IDSTREAM_TOKEN)")
	fs.StringVar(&o.server.Token, "token", "", "API token of an organization admin, with --url")
	fs.IntVar(&o.Clients, "clients", o.Clients, "concurrent createUser clients")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long createUser runs")
	fs.IntVar(&o.ImportUsers, "import-users", o.ImportUsers, "users imported through importUsers (1,000,000 for the read targets)")
	fs.IntVar(&o.ImportBatch, "import-batch", o.ImportBatch, "users per importUsers request")
	fs.IntVar(&o.Reads, "reads", o.Reads, "requests per read measurement")
	fs.BoolVar(&o.Restart, "restart", o.Restart, "in-process only: restart and time until the read models are ready")
	fs.StringVar(&o.Dir, "dir", "", "in-process only: data directory (default: a temporary one, removed afterwards)")
	fs.StringVar(&o.ProfileDir, "profile-dir", "", "write a CPU profile of each phase (createuser, import, restart) to this directory")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return benchAPI(cmd.Context(), o, lookupEnv, stdout, stderr)
	}
	return cmd
}

// latencies collects request durations from several goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

// quantile returns the q-quantile (0..1) of the recorded durations.
func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	return l.d[min(len(l.d)-1, int(q*float64(len(l.d))))]
}

// benchRow is one line of the report.
type benchRow struct{ what, rate, p50, p95, p99, note string }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

const createEnvironmentMutation = `mutation($input: CreateEnvironmentInput!) {
  createEnvironment(input: $input) { environment { id } position }
}`

const createUserMutation = `mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } position } }`

// benchAPI runs every measurement against one environment created for the purpose.
func benchAPI(ctx context.Context, o benchAPIOptions, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	target, err := openBenchTarget(ctx, o, lookupEnv, stderr)
	if err != nil {
		return err
	}
	defer target.close()
	c := newGQLClient(target.url, target.token)
	var env struct {
		CreateEnvironment struct{ Environment struct{ ID string } } `json:"createEnvironment"`
	}
	name := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	if err := c.do(ctx, createEnvironmentMutation, map[string]any{"input": map[string]any{"name": name}}, &env); err != nil {
		return fmt.Errorf("create the benchmark's environment: %w", err)
	}
	envID := env.CreateEnvironment.Environment.ID
	var rows []benchRow

	// createUser, concurrent clients, no password.
	fmt.Fprintf(stderr, "createUser: %d clients for %s\n", o.Clients, o.Duration)
	stopProfile, err := startPhaseProfile(o.ProfileDir, "createuser")
	if err != nil {
		return err
	}
	var lat latencies
	var created, failed atomic.Int64
	var ids sync.Map
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range o.Clients {
		wg.Go(func() {
			for i := 0; runCtx.Err() == nil; i++ {
				u := fmt.Sprintf("cu-%d-%d", w, i)
				t0 := time.Now()
				var out struct {
					CreateUser struct{ User struct{ ID string } } `json:"createUser"`
				}
				err := c.do(ctx, createUserMutation, map[string]any{"input": map[string]any{"environmentId": envID,
					"username": u, "email": u + "@example.com", "name": map[string]any{"given": "Bench", "family": u}}}, &out)
				if err != nil {
					failed.Add(1)
					if failed.Load() == 1 {
						fmt.Fprintf(stderr, "createUser failed: %v\n", err)
					}
					continue
				}
				lat.add(time.Since(t0))
				created.Add(1)
				ids.Store(out.CreateUser.User.ID, u)
			}
		})
	}
	wg.Wait()
	cancel()
	el := time.Since(start)
	stopProfile()
	rows = append(rows, benchRow{"createUser (GraphQL, no password)", fmt.Sprintf("%.0f users/s", float64(created.Load())/el.Seconds()),
		ms(lat.quantile(.5)), ms(lat.quantile(.95)), ms(lat.quantile(.99)),
		fmt.Sprintf("%d clients, %d created, %d failed", o.Clients, created.Load(), failed.Load())})

	// importUsers with pre-hashed passwords.
	if o.ImportUsers > 0 {
		fmt.Fprintf(stderr, "importUsers: %d users in batches of %d\n", o.ImportUsers, o.ImportBatch)
		stopProfile, err := startPhaseProfile(o.ProfileDir, "import")
		if err != nil {
			return err
		}
		// One real bcrypt hash (cost 4) for every user: the import checks its format; the
		// password is verified, and rehashed, only at the user's first check.
		raw, err := bcrypt.GenerateFromPassword([]byte("Imported-pass-1"), 4)
		if err != nil {
			return err
		}
		hash := string(raw)
		var imported atomic.Int64
		var importErr atomic.Value
		next := atomic.Int64{}
		var ilat latencies
		start := time.Now()
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					b := int(next.Add(1) - 1)
					if b*o.ImportBatch >= o.ImportUsers || ctx.Err() != nil {
						return
					}
					n := min(o.ImportBatch, o.ImportUsers-b*o.ImportBatch)
					users := make([]map[string]any, n)
					for i := range users {
						k := b*o.ImportBatch + i
						users[i] = map[string]any{"username": fmt.Sprintf("im-%d", k), "email": fmt.Sprintf("im-%d@example.com", k),
							"externalId": fmt.Sprintf("ext-%d", k), "name": map[string]any{"given": "Imported", "family": fmt.Sprint(k)},
							"passwordHash": hash}
					}
					var out struct {
						ImportUsers struct{ Created, Failed int } `json:"importUsers"`
					}
					t0 := time.Now()
					err := c.do(ctx, importUsersMutation, map[string]any{"input": map[string]any{"environmentId": envID, "users": users}}, &out)
					ilat.add(time.Since(t0))
					if err != nil {
						importErr.CompareAndSwap(nil, err)
						return
					}
					imported.Add(int64(out.ImportUsers.Created))
					if out.ImportUsers.Failed > 0 {
						importErr.CompareAndSwap(nil, fmt.Errorf("batch %d: %d users failed", b, out.ImportUsers.Failed))
					}
				}
			})
		}
		wg.Wait()
		el := time.Since(start)
		stopProfile()
		if e, _ := importErr.Load().(error); e != nil {
			fmt.Fprintf(stderr, "importUsers: %v\n", e)
		}
		rows = append(rows, benchRow{"importUsers (pre-hashed passwords)", fmt.Sprintf("%.0f users/s", float64(imported.Load())/el.Seconds()),
			ms(ilat.quantile(.5)), ms(ilat.quantile(.95)), ms(ilat.quantile(.99)),
			fmt.Sprintf("%d users, batches of %d, 4 in flight", imported.Load(), o.ImportBatch)})
	}

	// Reads, one client at a time so that latency is the server's, not a queue's.
	var sample []string
	ids.Range(func(k, _ any) bool { sample = append(sample, k.(string)); return len(sample) < 10000 })
	total := int(created.Load()) + o.ImportUsers
	reads := []struct {
		what, query string
		vars        func(i int) map[string]any
	}{
		{"user(id)", `query($e: ID!, $id: ID!) { user(environmentId: $e, id: $id) { id username email } }`,
			func(i int) map[string]any { return map[string]any{"e": envID, "id": sample[rand.IntN(len(sample))]} }},
		{"users(filter: username eq)", `query($e: ID!, $f: String) { users(environmentId: $e, filter: $f, first: 10) { totalCount edges { node { id } } } }`,
			func(i int) map[string]any {
				return map[string]any{"e": envID, "f": fmt.Sprintf(`username eq "im-%d"`, rand.IntN(max(1, o.ImportUsers)))}
			}},
		{"users(filter: email eq)", `query($e: ID!, $f: String) { users(environmentId: $e, filter: $f, first: 10) { totalCount edges { node { id } } } }`,
			func(i int) map[string]any {
				return map[string]any{"e": envID, "f": fmt.Sprintf(`email eq "im-%d@example.com"`, rand.IntN(max(1, o.ImportUsers)))}
			}},
		{"users(filter: externalId eq)", `query($e: ID!, $f: String) { users(environmentId: $e, filter: $f, first: 10) { totalCount edges { node { id } } } }`,
			func(i int) map[string]any {
				return map[string]any{"e": envID, "f": fmt.Sprintf(`externalId eq "ext-%d"`, rand.IntN(max(1, o.ImportUsers)))}
			}},
	}
	for _, r := range reads {
		if len(sample) == 0 {
			break
		}
		var l latencies
		var errs int
		for i := range o.Reads {
			t0 := time.Now()
			if err := c.do(ctx, r.query, r.vars(i), nil); err != nil {
				errs++
				if errs == 1 {
					fmt.Fprintf(stderr, "%s: %v\n", r.what, err)
				}
				continue
			}
			l.add(time.Since(t0))
		}
		rows = append(rows, benchRow{r.what, "", ms(l.quantile(.5)), ms(l.quantile(.95)), ms(l.quantile(.99)),
			fmt.Sprintf("%d requests over %d users, %d errors", o.Reads, total, errs)})
	}

	if target.heapPerUser != nil {
		rows = append(rows, benchRow{"heap in use per user (whole process)", fmt.Sprintf("%.0f B/user", target.heapPerUser(total)), "", "", "", ""})
	}
	if o.Restart && target.restart != nil {
		fmt.Fprintln(stderr, "restart: closing and reopening until the read models are ready")
		stopProfile, err := startPhaseProfile(o.ProfileDir, "restart")
		if err != nil {
			return err
		}
		d, events, err := target.restart(ctx)
		stopProfile()
		if err != nil {
			return fmt.Errorf("restart: %w", err)
		}
		rows = append(rows, benchRow{"restart until read models ready", fmt.Sprintf("%.2f s", d.Seconds()), "", "", "",
			fmt.Sprintf("%d events in the log", events)})
	}

	table := make([][]string, len(rows))
	for i, r := range rows {
		table[i] = []string{r.what, r.rate, r.p50, r.p95, r.p99, r.note}
	}
	return writeTable(stdout, []string{"measurement", "rate", "p50", "p95", "p99", "note"}, table)
}

// writeTable prints a header and rows as columns two spaces apart.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, r := range append([][]string{header}, rows...) {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// startPhaseProfile starts a CPU profile of one phase into dir/<phase>.pprof; with dir empty it
// does nothing. The returned function stops it.
func startPhaseProfile(dir, phase string) (stop func(), err error) {
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.Create(filepath.Join(dir, phase+".pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
