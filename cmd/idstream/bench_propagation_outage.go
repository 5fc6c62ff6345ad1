package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idstream/idstream/connectors/scim/scimtest"
)

// restartableSCIM is the bundled scimmy server run with a state file, so that it can be stopped
// (an outage: connections refused) and started again on the same port with its data.
type restartableSCIM struct {
	dir, token, state, port string
	url                     string
	cmd                     *exec.Cmd
	stdin                   io.WriteCloser
}

func (s *restartableSCIM) start() error {
	cmd := exec.Command("node", "server.js", "--port", s.port, "--token", s.token, "--state", s.state)
	cmd.Dir = s.dir
	stdin, err := cmd.StdinPipe() // the server saves its state and exits when its stdin closes
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the bundled SCIM server: %w", err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return errors.New("the bundled SCIM server exited before listening")
	}
	addr, ok := strings.CutPrefix(sc.Text(), "listening ")
	if !ok {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("the bundled SCIM server said %q", sc.Text())
	}
	go io.Copy(io.Discard, out)
	_, s.port, _ = strings.Cut(addr, ":")
	s.url = "http://" + addr + "/scim/v2"
	s.cmd, s.stdin = cmd, stdin
	return nil
}

func (s *restartableSCIM) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.stdin.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// titles reads every user's title from the target, by userName.
func (s *restartableSCIM) titles(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	for start := 1; ; {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/Users?startIndex=%d&count=200&attributes=userName,title", s.url, start), nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		var page struct {
			TotalResults int
			Resources    []struct{ UserName, Title string }
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		for _, u := range page.Resources {
			out[u.UserName] = u.Title
		}
		start += len(page.Resources)
		if len(page.Resources) == 0 || start > page.TotalResults {
			return out, nil
		}
	}
}

// benchPropagationOutage: --pool users provisioned to the bundled SCIM target, which is then
// stopped for --outage while --rate changes/s (titles of the pool's users) go on; the target is
// started again (same port, its data kept) and the load stops; the figure is the time from its
// return until it holds every user's last title (the backlog drained, the target converged).
func benchPropagationOutage(ctx context.Context, o benchPropagationOptions, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	tmp, err := os.MkdirTemp("", "idstream-bench-outage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dir := scimtest.ServerDir()
	if err := scimtest.Install(dir); err != nil {
		return fmt.Errorf("the bundled SCIM server (needs node, npm and a source checkout): %w", err)
	}
	target := &restartableSCIM{dir: dir, token: rand.Text(), state: filepath.Join(tmp, "scim-state.json"), port: "0"}
	if err := target.start(); err != nil {
		return err
	}
	defer target.stop()
	// Probes every 200 ms (the runtime's knob), so the return is seen at once; the figure then
	// is the drain's.
	idp, err := openBenchTarget(ctx, benchAPIOptions{Dir: o.Dir, probeInterval: "200ms"}, lookupEnv, stderr)
	if err != nil {
		return err
	}
	defer idp.close()
	c := newGQLClient(idp.url, idp.token)
	envID, _, err := benchPropagationRule(ctx, c, fmt.Sprintf("bench-outage-%d", time.Now().UnixNano()), target.url, target.token, true)
	if err != nil {
		return fmt.Errorf("configure propagation: %w", err)
	}
	fmt.Fprintf(stderr, "outage: %d users, then %d changes/s with the target down for %s\n", o.Pool, o.Rate, o.Outage)
	ids := make([]string, o.Pool)
	last := make([]string, o.Pool) // each user's last title sent
	for i := range ids {
		var out struct {
			CreateUser struct{ User struct{ ID string } } `json:"createUser"`
		}
		u := fmt.Sprintf("ou-%d", i)
		last[i] = "start"
		if err := c.do(ctx, createUserMutation, map[string]any{"input": map[string]any{"environmentId": envID, "username": u,
			"email": u + "@example.com", "title": last[i], "name": map[string]any{"given": "Out", "family": u}}}, &out); err != nil {
			return err
		}
		ids[i] = out.CreateUser.User.ID
	}
	convergedAt := func() (int, error) {
		got, err := target.titles(ctx)
		if err != nil {
			return 0, err
		}
		behind := 0
		for i := range ids {
			if got[fmt.Sprintf("ou-%d", i)] != last[i] {
				behind++
			}
		}
		return behind, nil
	}
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		behind, err := convergedAt()
		if err == nil && behind == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("outage: the pool's users did not reach the target (%d behind, %v)", behind, err)
		}
	}
	target.stop()
	downAt := time.Now()
	var sent, failed atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	// One user's changes go to one worker (user i to worker i%16), in order, so that its last
	// title sent is its last one committed.
	const workers = 16
	jobs := make([]chan int, workers)
	for w := range jobs {
		jobs[w] = make(chan int, 1024)
		wg.Go(func() {
			for n := range jobs[w] {
				i := n % len(ids)
				title := fmt.Sprintf("out-%d", n)
				err := c.do(ctx, `mutation($in: PatchUserInput!) { patchUser(input: $in) { position } }`, map[string]any{"in": map[string]any{
					"environmentId": envID, "id": ids[i], "title": title}}, nil)
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				last[i] = title
				mu.Unlock()
				sent.Add(1)
			}
		})
	}
	tick := time.NewTicker(time.Second / time.Duration(max(1, o.Rate)))
	for n := 0; time.Since(downAt) < o.Outage; n++ {
		<-tick.C
		jobs[(n%len(ids))%workers] <- n
	}
	tick.Stop()
	for _, j := range jobs {
		close(j)
	}
	wg.Wait()
	if err := target.start(); err != nil {
		return err
	}
	up := time.Now()
	fmt.Fprintf(stderr, "outage: target back after %.1f s down, %d changes sent (%d failed); waiting for convergence\n",
		up.Sub(downAt).Seconds(), sent.Load(), failed.Load())
	var took time.Duration
	for deadline := up.Add(10 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		behind, err := convergedAt()
		mu.Unlock()
		if err == nil && behind == 0 {
			took = time.Since(up)
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("outage: not converged 10 min after the target's return (%d users behind, %v)", behind, err)
		}
	}
	fmt.Fprintln(stdout, "| measurement | rate | outage | return → converged | notes |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|")
	fmt.Fprintf(stdout, "| recovery of a SCIM target | %d changes/s offered, %.0f/s committed | %.1f s | %.2f s | %d changes over %d users during the outage, %d failed to commit; issue target ≤ 30 s |\n",
		o.Rate, float64(sent.Load())/up.Sub(downAt).Seconds(), up.Sub(downAt).Seconds(), took.Seconds(), sent.Load(), o.Pool, failed.Load())
	return nil
}
