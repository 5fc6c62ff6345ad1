package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/bench"
)

// benchOptions are the flags of "idstream bench eventstore".
type benchOptions struct {
	Backend      string
	Dir          string
	Events       int64
	Duration     time.Duration
	LiveRate     float64
	LiveDuration time.Duration
}

func newBenchCommand(lookupEnv func(string) (string, bool), stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure idstream's components end to end",
	}
	cmd.AddCommand(newBenchEventStoreCommand(stdout, stderr), newBenchAPICommand(lookupEnv, stdout, stderr), newBenchAuditCommand(stdout, stderr),
		newBenchPropagationCommand(lookupEnv, stdout, stderr))
	return cmd
}

func newBenchEventStoreCommand(stdout, stderr io.Writer) *cobra.Command {
	o := benchOptions{Backend: EventStoreEmbedded, Events: 1_000_000, Duration: 3 * time.Second, LiveRate: 1000, LiveDuration: 3 * time.Second}
	cmd := &cobra.Command{
		Use:   "eventstore",
		Short: "Benchmark the event store against a raw-disk baseline: appends, scan, catch-up, live latency",
		Long: "Runs durable appends with 1, 16 and 64 writers and batches of 1 and 100 events, each also\n" +
			"against a raw-disk baseline of the same shape (a plain file, one fsync per commit group);\n" +
			"then fills a log with --events events and measures a warm scan, a subscription's catch-up,\n" +
			"and live delivery latency. Prints a table on stdout, progress on stderr.",
		Args: cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Backend, "backend", o.Backend, `event store: "embedded", or an esdb:// or kurrentdb:// connection string`)
	fs.StringVar(&o.Dir, "dir", "", "directory for the embedded store and the raw baseline's file (default: a temporary directory); what the benchmark writes there is removed afterwards")
	fs.Int64Var(&o.Events, "events", o.Events, "events in the log that the scan and the catch-up read")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "duration of each append shape, and of its baseline")
	fs.Float64Var(&o.LiveRate, "live-rate", o.LiveRate, "appends per second during the live-latency measurement")
	fs.DurationVar(&o.LiveDuration, "live-duration", o.LiveDuration, "duration of the live-latency measurement")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		return benchEventStore(cmd.Context(), o, openEventStore, log, stdout, stderr)
	}
	return cmd
}

// validate reports every problem of o at once.
func (o benchOptions) validate() error {
	var errs []error
	if o.Events < 1 {
		errs = append(errs, fmt.Errorf("--events: %d: want at least 1", o.Events))
	}
	if o.Duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration: %v: want a positive duration", o.Duration))
	}
	if o.LiveRate <= 0 {
		errs = append(errs, fmt.Errorf("--live-rate: %v: want a positive rate", o.LiveRate))
	}
	if o.LiveDuration <= 0 {
		errs = append(errs, fmt.Errorf("--live-duration: %v: want a positive duration", o.LiveDuration))
	}
	if err := o.config("").Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--backend: %w", err))
	}
	return errors.Join(errs...)
}

// config is the configuration serve would use for the benchmarked backend, with its embedded
// files in dataDir.
func (o benchOptions) config(dataDir string) Config {
	cfg := DefaultConfig()
	cfg.EventStore = o.Backend
	if dataDir != "" {
		cfg.DataDir = dataDir
	}
	return cfg
}

// benchEventStore runs every workload of package bench on the backend o names, opened by open
// as serve opens it, and prints the table. Each append shape gets a fresh embedded store; the
// reads get one more, filled with o.Events events.
func benchEventStore(ctx context.Context, o benchOptions, open storeOpener, log *slog.Logger, stdout, stderr io.Writer) (err error) {
	if err := o.validate(); err != nil {
		return fmt.Errorf("bench eventstore:\n%w", err)
	}
	root := o.Dir
	if root == "" {
		if root, err = os.MkdirTemp("", "idstream-bench-*"); err != nil {
			return fmt.Errorf("bench eventstore: %w", err)
		}
		defer os.RemoveAll(root)
	} else if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("bench eventstore: %w", err)
	}
	// phase runs f with a store in a fresh subdirectory of root, removed afterwards.
	phase := func(name string, f func(dir string, s eventstore.Store) error) (err error) {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("bench eventstore: %w", err)
		}
		defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
		s, err := open(ctx, o.config(dir), log)
		if err != nil {
			return fmt.Errorf("bench eventstore: %w", err)
		}
		defer func() { err = errors.Join(err, s.Close()) }()
		return f(dir, s)
	}
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }

	var r bench.Report
	for i, shape := range bench.Shapes() {
		err := phase(fmt.Sprintf("append-w%d-b%d", shape.Writers, shape.Batch), func(dir string, s eventstore.Store) error {
			ao := bench.AppendOptions{Shape: shape, Duration: o.Duration, Seed: uint64(i), StreamPrefix: bench.StreamPrefix("append")}
			res, err := bench.Append(ctx, s, ao)
			if err != nil {
				return err
			}
			base, err := bench.RawBaseline(ctx, dir, ao)
			if err != nil {
				return err
			}
			r.Append, r.Baseline = append(r.Append, res), append(r.Baseline, base)
			progress("append %v: %s events/s, raw baseline %s events/s", shape, bench.Count(res.EventsPerSec()), bench.Count(base.EventsPerSec()))
			return nil
		})
		if err != nil {
			return err
		}
	}
	err = phase("reads", func(_ string, s eventstore.Store) error {
		progress("filling the log with %d events", o.Events)
		if err := bench.Fill(ctx, s, o.Events, bench.StreamPrefix("fill")); err != nil {
			return err
		}
		var err error
		if r.Scan, err = bench.Scan(ctx, s, o.Events); err != nil {
			return err
		}
		progress("scan: %s events/s", bench.Count(r.Scan.EventsPerSec()))
		if r.CatchUp, err = bench.CatchUp(ctx, s, o.Events); err != nil {
			return err
		}
		progress("catch-up: %s events/s", bench.Count(r.CatchUp.EventsPerSec()))
		events := max(int(o.LiveRate*o.LiveDuration.Seconds()), 1)
		if r.Live, err = bench.Live(ctx, s, bench.LiveOptions{Rate: o.LiveRate, Events: events, StreamPrefix: bench.StreamPrefix("live")}); err != nil {
			return err
		}
		progress("live: p50 %s ms, p99 %s ms", bench.Millis(r.Live.P50), bench.Millis(r.Live.P99))
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "event store %s; raw baseline in a file of %s\n\n", redact(o.Backend), root)
	return r.WriteTable(stdout)
}
