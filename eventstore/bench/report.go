package bench

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Report gathers the results of a full run, for WriteTable.
type Report struct {
	// Append holds the store's results; Baseline the raw-disk results of the same shapes.
	Append   []AppendResult
	Baseline []AppendResult
	Scan     Throughput
	CatchUp  Throughput
	Live     Latency
}

// Ratio returns the store's throughput over the baseline's for the same shape, and false when
// either is missing or zero.
func (r Report) Ratio(a AppendResult) (float64, bool) {
	for _, b := range r.Baseline {
		if b.Shape == a.Shape && b.EventsPerSec() > 0 {
			return a.EventsPerSec() / b.EventsPerSec(), true
		}
	}
	return 0, false
}

// WriteTable prints r as an aligned table: one row per append shape (events/s, the raw
// baseline's events/s, their ratio), then the scan, the catch-up and the live latencies (ms).
// A workload that was not run (zero result) is left out.
func (r Report) WriteTable(w io.Writer) error {
	type row struct{ label, rate, base, ratio string }
	rows := []row{{"workload", "events/s", "raw baseline events/s", "ratio"}}
	for _, a := range r.Append {
		rw := row{"append " + a.Shape.String(), Count(a.EventsPerSec()), "-", "-"}
		if x, ok := r.Ratio(a); ok {
			rw.ratio = fmt.Sprintf("%.2f", x)
			for _, b := range r.Baseline {
				if b.Shape == a.Shape {
					rw.base = Count(b.EventsPerSec())
				}
			}
		}
		rows = append(rows, rw)
	}
	if r.Scan.Events > 0 {
		rows = append(rows, row{label: fmt.Sprintf("scan %d events (warm)", r.Scan.Events), rate: Count(r.Scan.EventsPerSec())})
	}
	if r.CatchUp.Events > 0 {
		rows = append(rows, row{label: fmt.Sprintf("catch-up %d events", r.CatchUp.Events), rate: Count(r.CatchUp.EventsPerSec())})
	}
	if r.Live.Events > 0 {
		rows = append(rows, row{}, row{label: fmt.Sprintf("live delivery, %d events at %s/s", r.Live.Events, Count(r.Live.Rate)), rate: "ms"})
		rows = append(rows,
			row{label: "live p50", rate: Millis(r.Live.P50)},
			row{label: "live p99", rate: Millis(r.Live.P99)},
			row{label: "live max", rate: Millis(r.Live.Max)})
	}
	width := 0
	for _, rw := range rows {
		width = max(width, len(rw.label))
	}
	var b strings.Builder
	for _, rw := range rows {
		line := fmt.Sprintf("%-*s  %12s  %21s  %5s", width, rw.label, rw.rate, rw.base, rw.ratio)
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Count formats a rate as a whole number with thousands separators: 1234567.8 → "1,234,568".
func Count(x float64) string {
	s := strconv.FormatInt(int64(x+0.5), 10)
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// Millis formats d in milliseconds with three decimals.
func Millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}
