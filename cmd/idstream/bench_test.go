package main

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestBenchEventStore runs "idstream bench eventstore" with tiny sizes on the embedded store
// and checks that the table has every row with positive figures. It asserts no timing.
func TestBenchEventStore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every benchmark workload for a few seconds; skipped by -short")
	}
	t.Parallel()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"bench", "eventstore", "--dir", dir, "--events", "2000", "--duration", "200ms", "--live-rate", "500", "--live-duration", "200ms"}
	if code := run(t.Context(), args, envOf(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	t.Logf("table:\n%s", out)

	// number parses a figure of the table ("1,234" or "0.512").
	number := func(s string) float64 {
		t.Helper()
		x, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
		if err != nil {
			t.Errorf("%q is not a number", s)
		}
		return x
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		if cells := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1); len(cells) > 1 {
			rows[cells[0]] = cells[1:]
		}
	}
	for _, label := range []string{
		"append writers=1 batch=1", "append writers=1 batch=100",
		"append writers=16 batch=1", "append writers=16 batch=100",
		"append writers=64 batch=1", "append writers=64 batch=100",
	} {
		cells := rows[label]
		if len(cells) != 3 {
			t.Errorf("row %q: cells %q, want events/s, baseline events/s and ratio", label, cells)
			continue
		}
		for _, c := range cells {
			if number(c) <= 0 {
				t.Errorf("row %q: %q is not positive", label, c)
			}
		}
	}
	for _, label := range []string{"scan 2000 events (warm)", "catch-up 2000 events"} {
		if cells := rows[label]; len(cells) != 1 || number(cells[0]) <= 0 {
			t.Errorf("row %q: cells %q, want one positive events/s", label, cells)
		}
	}
	for _, label := range []string{"live p50", "live p99", "live max"} {
		// A backend may deliver an event before its Append returns: 0 ms is a valid latency.
		if cells := rows[label]; len(cells) != 1 || number(cells[0]) < 0 {
			t.Errorf("row %q: cells %q, want one latency in ms", label, cells)
		}
	}
	if rows["live max"] != nil && number(rows["live max"][0]) <= 0 {
		t.Errorf("live max is %s ms: no latency was measured", rows["live max"][0])
	}

	// Everything the benchmark wrote under --dir is gone.
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Errorf("--dir holds %v after the run (err %v), want nothing", left, err)
	}
}

func TestBenchEventStoreRejectsBadFlags(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	args := []string{"bench", "eventstore", "--events", "0", "--duration", "-1s", "--backend", "mysql://x"}
	if code := run(t.Context(), args, envOf(nil), &stdout, &stderr); code == 0 {
		t.Fatal("exit 0 with bad flags")
	}
	for _, want := range []string{"--events", "--duration", "--backend"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not name %s:\n%s", want, stderr.String())
		}
	}
}
