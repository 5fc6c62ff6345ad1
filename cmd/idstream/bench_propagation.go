package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/idstream/idstream/connectors/scim/scimtest"
)

type benchPropagationOptions struct {
	SCIMURL, SCIMToken string
	Pool               int
	Rate               int
	Duration           time.Duration
	Users              int
	RateSample         int
	Dir                string
	Outage             time.Duration
}

func newBenchPropagationCommand(lookupEnv func(string) (string, bool), stdout, stderr io.Writer) *cobra.Command {
	o := benchPropagationOptions{Pool: 400, Rate: 200, Duration: 20 * time.Second, Users: 100_000, RateSample: 5000}
	cmd := &cobra.Command{
		Use:   "propagation",
		Short: "Propagation to a local SCIM 2.0 target: commit-to-write latency at a steady change rate, and a full resync",
		Long: "Starts idstream in this process on a temporary data directory and a SCIM 2.0 target (the bundled scimmy\n" +
			"server of connectors/scim/testdata, which needs node and a source checkout, or the one at --scim-url), behind a\n" +
			"recording proxy. Measures: (1) from a user change (the mutation's sending: an upper bound on its commit) to the target's answer\n" +
			"to the write carrying it, at --rate changes/s for --duration over --pool users (p50/p99); (2) a full resync of\n" +
			"--users users, published after they were imported (users/s), against the target's own write rate measured in\n" +
			"the same run (plain HTTP creates, --rate-sample users, 8 workers).",
		Args: cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&o.SCIMURL, "scim-url", "", "SCIM 2.0 base URL of the target (default: start the bundled scimmy server)")
	fs.StringVar(&o.SCIMToken, "scim-token", "", "bearer token of --scim-url")
	fs.IntVar(&o.Pool, "pool", o.Pool, "users changed by the latency phase")
	fs.IntVar(&o.Rate, "rate", o.Rate, "user changes per second in the latency phase")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "length of the latency phase")
	fs.IntVar(&o.Users, "users", o.Users, "users of the resync phase (0: skip it)")
	fs.IntVar(&o.RateSample, "rate-sample", o.RateSample, "users created to measure the target's own write rate")
	fs.StringVar(&o.Dir, "dir", "", "data directory (default: a temporary one, removed afterwards)")
	fs.DurationVar(&o.Outage, "outage", 0, "run only the recovery phase: the bundled SCIM target stopped for this long under --rate changes/s "+
		"over --pool users, started again on the same port with its data; measures the time from its return to convergence")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return benchPropagation(cmd.Context(), o, lookupEnv, stdout, stderr)
	}
	return cmd
}

// writeRecorder is a reverse proxy in front of the SCIM target that records when the target
// answered each write (POST, PUT, PATCH) carrying a marker "lat-<n>".
type writeRecorder struct {
	srv    *http.Server
	url    string
	writes atomic.Int64
	mu     sync.Mutex
	seen   map[int]time.Time
}

var latencyMarker = regexp.MustCompile(`lat-([0-9]+)`)

func newWriteRecorder(target string) (*writeRecorder, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("--scim-url: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &writeRecorder{seen: map[int]time.Time{}}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	proxy.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	w.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			proxy.ServeHTTP(rw, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		sr := &statusRecorder{ResponseWriter: rw, status: http.StatusOK}
		proxy.ServeHTTP(sr, r)
		now := time.Now()
		if sr.status >= 300 {
			return
		}
		w.writes.Add(1)
		if m := latencyMarker.FindSubmatch(body); m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			w.mu.Lock()
			if _, ok := w.seen[n]; !ok {
				w.seen[n] = now
			}
			w.mu.Unlock()
		}
	})}
	go w.srv.Serve(ln)
	w.url = "http://" + ln.Addr().String() + u.Path
	return w, nil
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (w *writeRecorder) at(n int) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.seen[n]
	return t, ok
}

// startBundledSCIM runs the scimmy server of connectors/scim/testdata (installing its packages
// once) and returns its base URL, token and a stop function.
func startBundledSCIM(ctx context.Context) (base, token string, stop func(), err error) {
	dir := scimtest.ServerDir()
	if err := scimtest.Install(dir); err != nil {
		return "", "", nil, fmt.Errorf("the bundled SCIM server (needs node, npm and a source checkout; or give --scim-url): %w", err)
	}
	token = rand.Text()
	cmd := exec.CommandContext(ctx, "node", "server.js", "--port", "0", "--token", token)
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe() // the server exits when its stdin closes: with this process
	if err != nil {
		return "", "", nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", "", nil, fmt.Errorf("start the bundled SCIM server: %w", err)
	}
	stop = func() { _ = stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() }
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		stop()
		return "", "", nil, errors.New("the bundled SCIM server exited before listening")
	}
	addr, ok := strings.CutPrefix(sc.Text(), "listening ")
	if !ok {
		stop()
		return "", "", nil, fmt.Errorf("the bundled SCIM server said %q", sc.Text())
	}
	go io.Copy(io.Discard, out)
	return "http://" + addr + "/scim/v2", token, stop, nil
}

// benchPropagationRule creates, in a new environment, a directory store, a SCIM store at
// target, a plan and a rule with typical mappings (one an expression), and returns the
// environment and rule IDs. The revision is published only when publish is set.
func benchPropagationRule(ctx context.Context, c *gqlClient, name, target, token string, publish bool) (envID, ruleID string, err error) {
	var env struct {
		CreateEnvironment struct{ Environment struct{ ID string } } `json:"createEnvironment"`
	}
	if err := c.do(ctx, createEnvironmentMutation, map[string]any{"input": map[string]any{"name": name}}, &env); err != nil {
		return "", "", err
	}
	envID = env.CreateEnvironment.Environment.ID
	var src, dst struct {
		CreatePropagationStore struct{ Store struct{ ID string } } `json:"createPropagationStore"`
	}
	const store = `mutation($in: CreatePropagationStoreInput!) { createPropagationStore(input: $in) { store { id } } }`
	if err := c.do(ctx, store, map[string]any{"in": map[string]any{"environmentId": envID, "name": "Directory", "type": "DIRECTORY"}}, &src); err != nil {
		return "", "", err
	}
	if err := c.do(ctx, store, map[string]any{"in": map[string]any{"environmentId": envID, "name": "Target", "type": "SCIM",
		"config": []any{map[string]any{"key": "baseUrl", "value": target}}, "credentials": []any{map[string]any{"key": "token", "value": token}},
		"actions": map[string]any{"create": true, "update": true, "disable": true, "deprovision": true}}}, &dst); err != nil {
		return "", "", err
	}
	var plan struct {
		CreatePropagationPlan struct{ Plan struct{ ID string } } `json:"createPropagationPlan"`
	}
	if err := c.do(ctx, `mutation($e: ID!) { createPropagationPlan(input: {environmentId: $e, name: "Bench"}) { plan { id } } }`,
		map[string]any{"e": envID}, &plan); err != nil {
		return "", "", err
	}
	var rule struct {
		CreatePropagationRule struct{ Rule struct{ ID string } } `json:"createPropagationRule"`
	}
	mappings := []any{
		map[string]any{"target": "userName", "source": "ATTRIBUTE", "value": "username"},
		map[string]any{"target": "name.givenName", "source": "ATTRIBUTE", "value": "name.given"},
		map[string]any{"target": "name.familyName", "source": "ATTRIBUTE", "value": "name.family"},
		map[string]any{"target": `emails[type eq "work"].value`, "source": "ATTRIBUTE", "value": "email"},
		map[string]any{"target": "displayName", "source": "EXPRESSION", "value": `concat(name.given, " ", upper(name.family))`},
		map[string]any{"target": "title", "source": "ATTRIBUTE", "value": "title"},
	}
	if err := c.do(ctx, `mutation($in: CreatePropagationRuleInput!) { createPropagationRule(input: $in) { rule { id } } }`,
		map[string]any{"in": map[string]any{"environmentId": envID, "planId": plan.CreatePropagationPlan.Plan.ID, "name": "Bench rule",
			"sourceStoreId": src.CreatePropagationStore.Store.ID, "targetStoreId": dst.CreatePropagationStore.Store.ID, "mappings": mappings}}, &rule); err != nil {
		return "", "", err
	}
	if publish {
		if err := benchPublish(ctx, c, envID); err != nil {
			return "", "", err
		}
	}
	return envID, rule.CreatePropagationRule.Rule.ID, nil
}

func benchPublish(ctx context.Context, c *gqlClient, envID string) error {
	return c.do(ctx, `mutation($e: ID!) { publishPropagationRevision(input: {environmentId: $e}) { position } }`, map[string]any{"e": envID}, nil)
}

// benchPropagation runs both phases and prints the report.
func benchPropagation(ctx context.Context, o benchPropagationOptions, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	if o.Outage > 0 {
		return benchPropagationOutage(ctx, o, lookupEnv, stdout, stderr)
	}
	target, token := o.SCIMURL, o.SCIMToken
	if target == "" {
		base, tok, stop, err := startBundledSCIM(ctx)
		if err != nil {
			return err
		}
		defer stop()
		target, token = base, tok
	}
	rec, err := newWriteRecorder(target)
	if err != nil {
		return err
	}
	defer rec.srv.Close()
	idp, err := openBenchTarget(ctx, benchAPIOptions{Dir: o.Dir}, lookupEnv, stderr)
	if err != nil {
		return err
	}
	defer idp.close()
	c := newGQLClient(idp.url, idp.token)
	var rows []benchRow

	// Phase 1: latency at a steady rate.
	envID, _, err := benchPropagationRule(ctx, c, fmt.Sprintf("bench-latency-%d", time.Now().UnixNano()), rec.url, token, true)
	if err != nil {
		return fmt.Errorf("configure propagation: %w", err)
	}
	fmt.Fprintf(stderr, "latency: %d users, then %d changes/s for %s\n", o.Pool, o.Rate, o.Duration)
	ids := make([]string, o.Pool)
	for i := range ids {
		var out struct {
			CreateUser struct{ User struct{ ID string } } `json:"createUser"`
		}
		u := fmt.Sprintf("lu-%d", i)
		if err := c.do(ctx, createUserMutation, map[string]any{"input": map[string]any{"environmentId": envID, "username": u,
			"email": u + "@example.com", "name": map[string]any{"given": "Lat", "family": u}}}, &out); err != nil {
			return err
		}
		ids[i] = out.CreateUser.User.ID
	}
	for deadline := time.Now().Add(2 * time.Minute); rec.writes.Load() < int64(o.Pool); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("latency: the pool's %d users did not all reach the target (%d writes)", o.Pool, rec.writes.Load())
		}
	}
	changes := o.Rate * int(o.Duration.Seconds())
	committed := make([]time.Time, changes)
	var failed atomic.Int64
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(max(1, o.Rate)))
	jobs := make(chan int, 1024)
	for range 16 {
		wg.Go(func() {
			for n := range jobs {
				// The change commits while the request is in flight: timing from its sending
				// counts the request's own latency in (an upper bound, never an underestimate).
				sent := time.Now()
				err := c.do(ctx, `mutation($in: PatchUserInput!) { patchUser(input: $in) { position } }`, map[string]any{"in": map[string]any{
					"environmentId": envID, "id": ids[n%len(ids)], "title": fmt.Sprintf("lat-%d", n)}}, nil)
				if err != nil {
					failed.Add(1)
					continue
				}
				committed[n] = sent
			}
		})
	}
	for n := range changes {
		<-tick.C
		jobs <- n
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	var lat latencies
	missing := 0
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		missing = 0
		for n := range changes {
			if _, ok := rec.at(n); !ok && !committed[n].IsZero() {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
	}
	for n := range changes {
		if at, ok := rec.at(n); ok && !committed[n].IsZero() {
			lat.add(at.Sub(committed[n]))
		}
	}
	rows = append(rows, benchRow{"commit → SCIM write", fmt.Sprintf("%d changes/s", o.Rate), ms(lat.quantile(.5)), ms(lat.quantile(.95)),
		ms(lat.quantile(.99)), fmt.Sprintf("%d changes over %d users; %d superseded before written, %d failed", changes, o.Pool, missing, failed.Load())})

	// Phase 2: a full resync of users imported before the first publish.
	if o.Users > 0 {
		fmt.Fprintf(stderr, "resync: the target's own write rate (%d users)\n", o.RateSample)
		own, err := scimtest.MeasureWriteRate(ctx, target, token, o.RateSample, 8)
		if err != nil {
			return err
		}
		rows = append(rows, benchRow{"SCIM target's own creates", fmt.Sprintf("%.0f users/s", own), "", "", "", "plain HTTP POST /Users, 8 workers"})
		envID, ruleID, err := benchPropagationRule(ctx, c, fmt.Sprintf("bench-resync-%d", time.Now().UnixNano()), rec.url, token, false)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "resync: importing %d users\n", o.Users)
		for b := 0; b*1000 < o.Users; b++ {
			users := make([]map[string]any, min(1000, o.Users-b*1000))
			for i := range users {
				k := b*1000 + i
				users[i] = map[string]any{"username": fmt.Sprintf("rs-%d", k), "email": fmt.Sprintf("rs-%d@example.com", k),
					"name": map[string]any{"given": "Resync", "family": fmt.Sprint(k)}}
			}
			if err := c.do(ctx, importUsersMutation, map[string]any{"input": map[string]any{"environmentId": envID, "users": users}}, nil); err != nil {
				return err
			}
		}
		fmt.Fprintf(stderr, "resync: publishing\n")
		before := rec.writes.Load()
		t0 := time.Now()
		if err := benchPublish(ctx, c, envID); err != nil {
			return err
		}
		var done int64
		for {
			done = rec.writes.Load() - before
			if done >= int64(o.Users) {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			var s struct {
				PropagationRuleSummary struct {
					LastResync *struct {
						Running bool
						Failed  int
					}
				} `json:"propagationRuleSummary"`
			}
			if err := c.do(ctx, `query($e: ID!, $r: ID!) { propagationRuleSummary(environmentId: $e, ruleId: $r) { lastResync { running failed } } }`,
				map[string]any{"e": envID, "r": ruleID}, &s); err == nil && s.PropagationRuleSummary.LastResync != nil &&
				!s.PropagationRuleSummary.LastResync.Running {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		el := time.Since(t0)
		rate := float64(done) / el.Seconds()
		rows = append(rows, benchRow{"full resync to SCIM", fmt.Sprintf("%.0f users/s", rate), "", "", "",
			fmt.Sprintf("%d users written in %.1f s: %.0f%% of the target's own rate", done, el.Seconds(), 100*rate/own)})
	}

	fmt.Fprintln(stdout, "| measurement | rate | p50 | p95 | p99 | notes |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(stdout, "| %s | %s | %s | %s | %s | %s |\n", r.what, r.rate, r.p50, r.p95, r.p99, r.note)
	}
	return nil
}
