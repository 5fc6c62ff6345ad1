package bench

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestPayloadsAreRealistic(t *testing.T) {
	g := newGenerator(1)
	seen := map[string]bool{}
	var all bytes.Buffer
	for _, p := range g.payloads {
		if len(p) < PayloadBytes-20 || len(p) > PayloadBytes+60 {
			t.Errorf("payload of %d bytes, want about %d: %s", len(p), PayloadBytes, p)
		}
		if !json.Valid(p) {
			t.Errorf("payload is not JSON: %s", p)
		}
		seen[string(p)] = true
		all.Write(p)
	}
	if len(seen) != len(g.payloads) {
		t.Errorf("%d distinct payloads of %d", len(seen), len(g.payloads))
	}
	// Varied content: JSON keys and vocabulary repeat, as in real identities, so DEFLATE shrinks
	// the pool to about a quarter; a repeated character would shrink to under 1%.
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.BestCompression)
	zw.Write(all.Bytes())
	zw.Close()
	if z.Len()*6 < all.Len() {
		t.Errorf("payloads compress from %d to %d bytes: too repetitive", all.Len(), z.Len())
	}

	evs, err := g.events(3)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		m := e.Metadata
		if m.EnvironmentID == "" || m.Actor == "" || m.CorrelationID == "" || m.CausationID == "" || m.OccurredAt.IsZero() {
			t.Errorf("metadata not filled: %+v", m)
		}
		if e.ID == [16]byte{} || e.Type == "" || e.PayloadVersion != 1 {
			t.Errorf("event not filled: %+v", e)
		}
	}
	if evs[0].ID == evs[1].ID {
		t.Error("two events share an ID")
	}
}

func TestCountAndPercentile(t *testing.T) {
	for x, want := range map[float64]string{0: "0", 999.6: "1,000", 1234567.4: "1,234,567", 12: "12"} {
		if got := Count(x); got != want {
			t.Errorf("Count(%v) = %q, want %q", x, got, want)
		}
	}
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i))
	}
	if p50, p99 := percentile(d, 50), percentile(d, 99); p50 != 100 || p99 != 198 {
		t.Errorf("p50, p99 of 1..200 = %v, %v; want 100, 198", p50, p99)
	}
	if p := percentile(d[:1], 99); p != 1 {
		t.Errorf("p99 of one sample = %v", p)
	}
}

func TestWriteTable(t *testing.T) {
	s := Shape{Writers: 16, Batch: 100}
	r := Report{
		Append:   []AppendResult{{Shape: s, Throughput: Throughput{Events: 1000, Elapsed: time.Second}}},
		Baseline: []AppendResult{{Shape: s, Throughput: Throughput{Events: 4000, Elapsed: time.Second}}},
		Scan:     Throughput{Events: 5000, Elapsed: time.Second},
		Live:     Latency{Events: 10, Rate: 1000, P50: time.Millisecond, P99: 2 * time.Millisecond, Max: 3 * time.Millisecond},
	}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"append writers=16 batch=100", "1,000", "4,000", "0.25", "scan 5000 events (warm)", "5,000", "live p99", "2.000"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "catch-up") {
		t.Errorf("table shows a catch-up that was not run:\n%s", out)
	}
}
