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

// TestBenchAuditFirst runs "idstream bench audit-first" at tiny sizes and checks that the
// table has every measurement with figures that parse and are positive, and that --dir is left
// empty. It asserts no timing.
func TestBenchAuditFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("fills two logs and runs every audit-first measurement; skipped by -short")
	}
	t.Parallel()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"bench", "audit-first", "--dir", dir, "--events", "3000", "--runs", "1", "--reads", "20",
		"--lag-rate", "500", "--lag-duration", "200ms"}
	if code := run(t.Context(), args, envOf(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	t.Logf("table:\n%s", out)
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		cells := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1)
		if len(cells) > 1 {
			label, _, _ := strings.Cut(cells[0], ",")
			rows[label] = cells[1:]
		}
	}
	// figures returns the numbers of a cell ("1,234 events/s", "0.125 / 0.244 ms", "0.04 s").
	figures := func(cell string) []float64 {
		var out []float64
		for _, m := range regexp.MustCompile(`\d[\d,]*(\.\d+)?`).FindAllString(cell, -1) {
			x, err := strconv.ParseFloat(strings.ReplaceAll(m, ",", ""), 64)
			if err != nil {
				t.Errorf("%q in %q is not a number", m, cell)
			}
			out = append(out, x)
		}
		return out
	}
	for label, want := range map[string]int{
		"rebuild into memory":                      1,
		"user(asOf:) p50 / p99":                    2,
		"DirectoryAt the head":                     1,
		"projections verify":                       1,
		"projection lag p50 / p99 at 500 events/s": 2,
	} {
		cells, ok := rows[label]
		if !ok {
			t.Errorf("no row %q", label)
			continue
		}
		got := figures(cells[0])
		if len(got) != want {
			t.Errorf("row %q: median %q, want %d figures", label, cells[0], want)
		}
		for _, x := range got {
			// A latency may round to 0.000 ms only for the lag (a runner may apply before the ack).
			if x <= 0 && !strings.HasPrefix(label, "projection lag") {
				t.Errorf("row %q: median %q holds a figure that is not positive", label, cells[0])
			}
		}
		if label != "projections verify" && (len(cells) < 2 || len(figures(cells[1])) == 0) {
			t.Errorf("row %q: no baseline in %q", label, cells)
		}
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Errorf("--dir holds %v after the run (err %v), want nothing", left, err)
	}
}

func TestBenchAuditFirstRejectsBadFlags(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	args := []string{"bench", "audit-first", "--events", "10", "--runs", "0", "--lag-rate", "-1", "--backend", "mysql://x"}
	if code := run(t.Context(), args, envOf(nil), &stdout, &stderr); code == 0 {
		t.Fatal("exit 0 with bad flags")
	}
	for _, want := range []string{"--events", "--runs", "--lag-rate", "--backend"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not name %s:\n%s", want, stderr.String())
		}
	}
}
