package embedded_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
)

// The crash test runs this test binary as a child that appends with concurrent writers and
// prints a line for every acknowledged append; the parent kills it with SIGKILL at a random
// moment, reopens the store and checks every acknowledged event, many times over one directory.
const crashChildEnv = "IDSTREAM_CRASH_CHILD_DIR"

const crashWriters = 8

type crashPayload struct {
	Writer int    `json:"w"`
	Seq    uint64 `json:"seq"`
	Pad    string `json:"pad"`
}

// crashData is the payload of writer w's event number seq: derived, so the parent can check it.
func crashData(w int, seq uint64) []byte {
	b, _ := json.Marshal(crashPayload{Writer: w, Seq: seq, Pad: strings.Repeat(strconv.Itoa(int(seq%10)), int(seq%300))})
	return b
}

func crashStream(w int) string { return fmt.Sprintf("crash-%d", w) }

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("runs only as the crash test's child process")
	}
	s, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		fmt.Printf("open-error %v\n", err)
		os.Exit(3)
	}
	ctx := context.Background()
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			next := uint64(0)
			exp := eventstore.NoStream
			for e, err := range s.ReadStream(ctx, crashStream(w), eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: 1}) {
				if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
					fmt.Printf("read-error %v\n", err)
					os.Exit(3)
				}
				if err == nil {
					next, exp = e.Revision+1, eventstore.Exact(e.Revision)
				}
			}
			for {
				n := 1 + mrand.IntN(8)
				batch := make([]eventstore.EventData, n)
				for i := range batch {
					id, _ := eventstore.NewEventID(rand.Reader)
					batch[i] = eventstore.EventData{ID: id, Type: "crash.wrote", PayloadVersion: 1, Data: crashData(w, next+uint64(i)),
						Metadata: eventstore.Metadata{EnvironmentID: "crash", Actor: fmt.Sprint(w), OccurredAt: time.Now()}}
				}
				res, err := s.Append(ctx, crashStream(w), exp, batch...)
				if err != nil {
					fmt.Printf("append-error %v\n", err)
					os.Exit(3)
				}
				out.Lock()
				// ack <writer> <last revision> <last position> <count>
				fmt.Printf("ack %d %d %d %d\n", w, res.NextExpectedRevision, res.Position.Commit, n)
				out.Unlock()
				next, exp = res.NextExpectedRevision+1, eventstore.Exact(res.NextExpectedRevision)
			}
		})
	}
	wg.Wait()
}

type ack struct {
	rev, pos, count uint64
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode: it kills and reopens a child process 25 times")
	}
	const kills = 25
	dir := t.TempDir()
	acked := map[int]ack{} // the highest acknowledged append of each writer
	total := 0
	for round := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		// Kill after a random number of acknowledgements (the first ones prove the child runs),
		// at a random moment from the first few milliseconds to a third of a second in.
		killAfter := time.After(time.Duration(5+mrand.IntN(300)) * time.Millisecond)
		seen := 0
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("round %d: child exited on its own: %v", round, cmd.Wait())
				}
				if !strings.HasPrefix(l, "ack ") {
					if strings.Contains(l, "error") {
						t.Fatalf("round %d: child: %s", round, l)
					}
					continue
				}
				var w int
				var a ack
				if _, err := fmt.Sscanf(l, "ack %d %d %d %d", &w, &a.rev, &a.pos, &a.count); err != nil {
					t.Fatalf("round %d: bad line %q", round, l)
				}
				if prev, ok := acked[w]; ok && a.rev <= prev.rev {
					t.Fatalf("round %d: writer %d acknowledged revision %d after %d", round, w, a.rev, prev.rev)
				}
				acked[w] = a
				seen++
			case <-killAfter:
				if seen == 0 {
					killAfter = time.After(10 * time.Millisecond)
					continue
				}
				break read
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for l := range lines { // acknowledgements printed before the kill landed
			var w int
			var a ack
			if _, err := fmt.Sscanf(l, "ack %d %d %d %d", &w, &a.rev, &a.pos, &a.count); err == nil && a.rev > acked[w].rev {
				acked[w] = a
				seen++
			}
		}
		cmd.Wait()
		total += seen
		checkAfterCrash(t, round, dir, acked)
	}
	t.Logf("%d kills, %d acknowledged appends checked", kills, total)
}

// checkAfterCrash reopens the store and checks: positions 1..head with no hole, every record
// intact, every writer's stream dense from revision 0 with the payloads it wrote, and every
// acknowledged append present at its acknowledged position.
func checkAfterCrash(t *testing.T, round int, dir string, acked map[int]ack) {
	t.Helper()
	s, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
	}
	defer s.Close()
	ctx := context.Background()
	var pos uint64
	for e, err := range s.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatalf("round %d: $all after position %d: %v", round, pos, err)
		}
		if e.Position.Commit != pos+1 {
			t.Fatalf("round %d: $all jumps from position %d to %d", round, pos, e.Position.Commit)
		}
		pos = e.Position.Commit
	}
	if head := s.Head().Commit; head != pos {
		t.Fatalf("round %d: head %d but $all ends at %d", round, head, pos)
	}
	for w, a := range acked {
		var rev uint64
		for e, err := range s.ReadStream(ctx, crashStream(w), eventstore.ReadStreamOptions{}) {
			if err != nil {
				t.Fatalf("round %d: writer %d: %v (acknowledged up to revision %d)", round, w, err, a.rev)
			}
			if e.Revision != rev {
				t.Fatalf("round %d: writer %d: revision %d where %d was due", round, w, e.Revision, rev)
			}
			if string(e.Data) != string(crashData(w, rev)) {
				t.Fatalf("round %d: writer %d revision %d: payload %s differs from what was written", round, w, rev, e.Data)
			}
			if e.Revision == a.rev && e.Position.Commit != a.pos {
				t.Fatalf("round %d: writer %d revision %d at position %d, acknowledged at %d", round, w, rev, e.Position.Commit, a.pos)
			}
			rev++
		}
		if rev <= a.rev {
			t.Fatalf("round %d: writer %d: stream ends before revision %d, which was acknowledged at position %d", round, w, a.rev, a.pos)
		}
	}
}
