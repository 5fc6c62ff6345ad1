package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/bench"
	"github.com/idstream/idstream/projections"
)

// benchAuditOptions are the flags of "idstream bench audit-first".
type benchAuditOptions struct {
	Backend     string
	Dir         string
	Events      int
	Runs        int
	Reads       int
	LagRate     float64
	LagDuration time.Duration
	ProfileDir  string
}

// auditBenchSnapshotEvery is how far behind the head DirectoryAt's snapshot is: serve's
// snapshot interval (projections.SnapshotterOptions.Every's default), the worst case between
// two snapshots.
const auditBenchSnapshotEvery = 100_000

// auditBenchSteps is the number of events of each user of the benchmark's log; the history
// targets have theirs spread evenly through the log, one per tenth of it.
const auditBenchSteps = 10

func newBenchAuditCommand(stdout, stderr io.Writer) *cobra.Command {
	o := benchAuditOptions{Backend: EventStoreEmbedded, Events: 1_000_000, Runs: 3, Reads: 2000, LagRate: 1000, LagDuration: 5 * time.Second}
	cmd := &cobra.Command{
		Use:   "audit-first",
		Short: "Benchmark the audit-first targets: rebuild, user(asOf:), DirectoryAt, projections verify, projection lag",
		Long: "Fills a log with --events directory events (users of ten events each: user.created, then\n" +
			"user.updated; 1,000,000 events hold 100,000 users), and a second log a tenth as long, then\n" +
			"measures, --runs times each, and prints the medians with a baseline:\n" +
			"  rebuild of the memory read model from the log (events/s), against a plain scan of the log;\n" +
			"  user(asOf:) as the API answers it (TimeTravel.PositionAt, then projections.History.UserAt;\n" +
			"    p50/p99) at instants through the log, against the same on the short log;\n" +
			"  the environment-wide DirectoryAt the head from a snapshot 100,000 events behind (seconds),\n" +
			"    against a replay of the whole log;\n" +
			"  projections verify (a rebuild to the live position and a checksum of both, seconds);\n" +
			"  projection lag while single events are appended at --lag-rate for --lag-duration (from\n" +
			"    the append's acknowledgement to the Runner's WaitFor returning, p50/p99), against the\n" +
			"    store's own live delivery latency at the same rate.\n" +
			"Prints the table on stdout, progress on stderr.",
		Args: cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Backend, "backend", o.Backend, `event store: "embedded", or an esdb:// or kurrentdb:// connection string`)
	fs.StringVar(&o.Dir, "dir", "", "directory for the embedded stores and the snapshots (default: a temporary directory); what the benchmark writes there is removed afterwards")
	fs.IntVar(&o.Events, "events", o.Events, "events in the log (a tenth of them: users); the short log holds a tenth as many")
	fs.IntVar(&o.Runs, "runs", o.Runs, "runs of each measurement; the table shows their median")
	fs.IntVar(&o.Reads, "reads", o.Reads, "user(asOf:) reads per run")
	fs.Float64Var(&o.LagRate, "lag-rate", o.LagRate, "appends per second during the lag measurement")
	fs.DurationVar(&o.LagDuration, "lag-duration", o.LagDuration, "duration of each lag measurement")
	fs.StringVar(&o.ProfileDir, "profile-dir", "", "write a CPU profile of the first run's rebuild, verify and DirectoryAt from a snapshot to this directory")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		return benchAuditFirst(cmd.Context(), o, openEventStore, log, stdout, stderr)
	}
	return cmd
}

// validate reports every problem of o at once.
func (o benchAuditOptions) validate() error {
	var errs []error
	if o.Events < 1000 {
		errs = append(errs, fmt.Errorf("--events: %d: want at least 1000", o.Events))
	}
	if o.Runs < 1 {
		errs = append(errs, fmt.Errorf("--runs: %d: want at least 1", o.Runs))
	}
	if o.Reads < 1 {
		errs = append(errs, fmt.Errorf("--reads: %d: want at least 1", o.Reads))
	}
	if o.LagRate <= 0 {
		errs = append(errs, fmt.Errorf("--lag-rate: %v: want a positive rate", o.LagRate))
	}
	if o.LagDuration <= 0 {
		errs = append(errs, fmt.Errorf("--lag-duration: %v: want a positive duration", o.LagDuration))
	}
	if err := (benchOptions{Backend: o.Backend}).config("").Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--backend: %w", err))
	}
	return errors.Join(errs...)
}

// auditLog is a log the benchmark filled.
type auditLog struct {
	store   eventstore.Store
	env     string
	events  int // appended
	users   int
	targets []string // users with events spread through the log
	noise   []string // users with all their events in one place
	head    eventstore.Position
	// marks[k] is an instant after step k's event of every target and before anything of step
	// k+1: each target's title then is "step k" (k ≥ 1).
	marks []time.Time
	// tt answers PositionAt as the server does: its index of the log is built once, before the
	// first timed read.
	tt *projections.TimeTravel
}

// fillAuditLog appends about n events to store: an environment with its default population
// and a custom attribute, then auditBenchSteps rounds of (users created with nine updates, ten
// events in one append, from 16 writers; then one event of each target user: its creation,
// then updates of its profile and custom attribute). Every event carries the metadata an API
// request gives (actor, correlation, client address, user agent, token). It then lets a store
// with a Compact method settle.
func fillAuditLog(ctx context.Context, store eventstore.Store, reg *eventstore.Registry, n int) (*auditLog, error) {
	l := &auditLog{store: store, env: newUUID()}
	targets := max(1, min(100, n/100))
	noise := max(0, (n-3-targets*auditBenchSteps)/auditBenchSteps)
	pop := newUUID()
	var head atomic.Uint64
	var appended atomic.Int64
	appendAll := func(stream string, expected eventstore.ExpectedRevision, payloads ...any) error {
		meta := eventstore.Metadata{EnvironmentID: l.env, Actor: "apiclient:" + l.env, CorrelationID: newUUID(),
			OccurredAt: time.Now().UTC(), Extra: map[string]string{"addr": "192.0.2.10", "ua": "idstream-bench/1", "token": l.env}}
		evs := make([]eventstore.EventData, len(payloads))
		for i, p := range payloads {
			id, err := eventstore.NewEventID(rand.Reader)
			if err != nil {
				return err
			}
			if evs[i], err = reg.Encode(id, p, meta); err != nil {
				return err
			}
		}
		res, err := store.Append(ctx, stream, expected, evs...)
		if err != nil {
			return fmt.Errorf("bench: fill %s: %w", stream, err)
		}
		appended.Add(int64(len(evs)))
		for h := head.Load(); h < res.Position.Commit && !head.CompareAndSwap(h, res.Position.Commit); h = head.Load() {
		}
		return nil
	}
	custom := func(v string) domain.CustomValues {
		return domain.CustomValues{"badge": json.RawMessage(`"` + v + `"`)}
	}
	profile := func(k int, title string) domain.Profile {
		return domain.Profile{Username: fmt.Sprintf("user%07d", k), Email: fmt.Sprintf("user%07d@example.com", k),
			Name:       domain.Name{Given: fmt.Sprint("Given", k%1000), Family: fmt.Sprint("Family", k%5000)},
			ExternalID: fmt.Sprintf("EXT-%07d", k), Title: title}
	}
	setup := []struct {
		stream  string
		payload any
	}{
		{domain.StreamName(domain.CategoryEnvironment, l.env), domain.EnvironmentCreated{EnvironmentID: l.env, Name: "bench", DefaultPopulationID: pop}},
		{domain.StreamName(domain.CategoryPopulation, pop), domain.PopulationCreated{EnvironmentID: l.env, PopulationID: pop, Name: "Default"}},
		{domain.StreamName(domain.CategorySchema, l.env), domain.SchemaAttributeAdded{EnvironmentID: l.env, Attribute: domain.AttributeDef{Name: "badge", Type: domain.AttributeString}}},
	}
	for _, s := range setup {
		if err := appendAll(s.stream, eventstore.NoStream, s.payload); err != nil {
			return nil, err
		}
	}
	for range targets {
		l.targets = append(l.targets, newUUID())
	}
	var mu sync.Mutex
	var k atomic.Int64
	for step := range auditBenchSteps {
		perStep := noise / auditBenchSteps
		if step < noise%auditBenchSteps {
			perStep++
		}
		ctx, cancel := context.WithCancelCause(ctx)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for ctx.Err() == nil && next.Add(1) <= int64(perStep) {
					id, n := newUUID(), int(k.Add(1))+targets
					payloads := []any{domain.UserCreated{EnvironmentID: l.env, UserID: id, PopulationID: pop, Profile: profile(n, ""),
						Custom: custom(fmt.Sprintf("B-%07d", n)), Enabled: true}}
					for u := range auditBenchSteps - 1 {
						payloads = append(payloads, domain.UserUpdated{EnvironmentID: l.env, UserID: id, Profile: profile(n, fmt.Sprint("title ", u)),
							Custom: custom(fmt.Sprintf("B-%07d", n))})
					}
					if err := appendAll(domain.StreamName(domain.CategoryUser, id), eventstore.NoStream, payloads...); err != nil {
						cancel(err)
						return
					}
					mu.Lock()
					l.noise = append(l.noise, id)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		err := context.Cause(ctx)
		cancel(nil)
		if err != nil {
			return nil, err
		}
		for i, id := range l.targets {
			var p any = domain.UserUpdated{EnvironmentID: l.env, UserID: id, Profile: profile(i+1, fmt.Sprint("step ", step)), Custom: custom(fmt.Sprint("S-", step))}
			expected := eventstore.Exact(uint64(step - 1))
			if step == 0 {
				p, expected = domain.UserCreated{EnvironmentID: l.env, UserID: id, PopulationID: pop, Profile: profile(i+1, ""), Enabled: true}, eventstore.NoStream
			}
			if err := appendAll(domain.StreamName(domain.CategoryUser, id), expected, p); err != nil {
				return nil, err
			}
		}
		l.marks = append(l.marks, time.Now())
	}
	if c, ok := store.(interface{ Compact(context.Context) error }); ok {
		if err := c.Compact(ctx); err != nil {
			return nil, fmt.Errorf("bench: settle after fill: %w", err)
		}
	}
	var err error
	if l.head, err = headOf(ctx, store); err != nil {
		return nil, err
	}
	l.events, l.users = int(appended.Load()), len(l.noise)+len(l.targets)
	return l, nil
}

func newUUID() string {
	id, err := eventstore.NewEventID(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return id.String()
}

// positionBehind returns the position of the event n events before the head of store's log.
func positionBehind(ctx context.Context, store eventstore.Store, n int) (eventstore.Position, error) {
	var pos eventstore.Position
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: uint64(n) + 1}) {
		if err != nil {
			return pos, fmt.Errorf("bench: read back %d events: %w", n, err)
		}
		pos = e.Position
	}
	return pos, nil
}

// userCount returns the users of env in d.
func userCount(d *projections.Directory, env string) int {
	p, err := d.Users(env, projections.UserQuery{First: 1})
	if err != nil {
		return -1
	}
	return p.TotalCount
}

// asOfLatency reads targets of l as of instants through the log, reads times (round robin
// over targets and instants), as user(asOf:) does: TimeTravel.PositionAt, then History.UserAt.
// It returns the latencies of the whole read and of UserAt alone; a user that does not read as
// the log had it then is an error.
func asOfLatency(ctx context.Context, l *auditLog, reg *eventstore.Registry, reads int) (total, userAt *latencies, err error) {
	if l.tt == nil {
		l.tt = projections.NewTimeTravel(l.store, reg, nil)
		if _, err := l.tt.PositionAt(ctx, time.Now()); err != nil { // builds the index
			return nil, nil, err
		}
	}
	h := projections.NewHistory(l.store, reg)
	total, userAt = &latencies{}, &latencies{}
	for i := range reads {
		id := l.targets[i%len(l.targets)]
		step := 1 + (i/len(l.targets))%(len(l.marks)-1)
		t0 := time.Now()
		pos, err := l.tt.PositionAt(ctx, l.marks[step])
		if err != nil {
			return nil, nil, err
		}
		t1 := time.Now()
		u, err := h.UserAt(ctx, l.env, id, pos)
		if err != nil {
			return nil, nil, fmt.Errorf("bench: user %s as of %s: %w", id, pos, err)
		}
		userAt.add(time.Since(t1))
		total.add(time.Since(t0))
		if want := fmt.Sprint("step ", step); u.Profile.Title != want {
			return nil, nil, fmt.Errorf("bench: user %s as of %s has title %q, want %q", id, l.marks[step].Format(time.RFC3339Nano), u.Profile.Title, want)
		}
	}
	return total, userAt, nil
}

// projectionLag starts a Runner on d (which holds l's log up to its position), then appends
// single user.updated events to l's users at rate for d, each timed from its Append returning
// to the Runner's WaitFor of its position returning.
func projectionLag(ctx context.Context, l *auditLog, reg *eventstore.Registry, d *projections.Directory, rate float64, dur time.Duration) (*latencies, float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := projections.NewRunner(l.store, reg, d)
	if err := r.Start(ctx); err != nil {
		return nil, 0, err
	}
	defer func() { cancel(); <-r.Done() }()
	if err := r.CatchUp(ctx); err != nil {
		return nil, 0, err
	}
	meta := eventstore.Metadata{EnvironmentID: l.env, Actor: "apiclient:" + l.env, OccurredAt: time.Now().UTC()}
	events := max(1, int(rate*dur.Seconds()))
	interval := time.Duration(float64(time.Second) / rate)
	lat := &latencies{}
	waitErr := make(chan error, 1)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range events {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		id := l.noise[i%len(l.noise)]
		meta.CorrelationID = newUUID()
		evID, err := eventstore.NewEventID(rand.Reader)
		if err != nil {
			return nil, 0, err
		}
		ev, err := reg.Encode(evID, domain.UserUpdated{EnvironmentID: l.env, UserID: id,
			Profile: domain.Profile{Username: "lag-" + id, Title: fmt.Sprint("lag ", i)}}, meta)
		if err != nil {
			return nil, 0, err
		}
		res, err := l.store.Append(ctx, domain.StreamName(domain.CategoryUser, id), eventstore.Any, ev)
		if err != nil {
			return nil, 0, fmt.Errorf("bench: lag append: %w", err)
		}
		acked := time.Now()
		wg.Go(func() {
			if err := r.WaitFor(ctx, res.Position); err != nil {
				select {
				case waitErr <- err:
				default:
				}
				return
			}
			lat.add(time.Since(acked))
		})
	}
	achieved := float64(events) / time.Since(start).Seconds()
	wg.Wait()
	select {
	case err := <-waitErr:
		return nil, 0, fmt.Errorf("bench: lag: wait for the runner: %w", err)
	default:
	}
	return lat, achieved, nil
}

// auditRuns collects one figure per run and gives their median.
type auditRuns []float64

func (r auditRuns) median() float64 {
	s := slices.Clone(r)
	slices.Sort(s)
	return s[len(s)/2]
}

// list formats every run's figure with f.
func (r auditRuns) list(f func(float64) string) string {
	parts := make([]string, len(r))
	for i, x := range r {
		parts[i] = f(x)
	}
	return strings.Join(parts, ", ")
}

func fmtRate(x float64) string    { return bench.Count(x) }
func fmtSeconds(x float64) string { return fmt.Sprintf("%.3f", x) }
func fmtMillis(x float64) string  { return bench.Millis(time.Duration(x)) }
func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

// benchAuditFirst fills the logs and runs every measurement o.Runs times, then prints the
// medians.
func benchAuditFirst(ctx context.Context, o benchAuditOptions, open storeOpener, log *slog.Logger, stdout, stderr io.Writer) (err error) {
	if err := o.validate(); err != nil {
		return fmt.Errorf("bench audit-first:\n%w", err)
	}
	root := o.Dir
	if root == "" {
		if root, err = os.MkdirTemp("", "idstream-bench-audit-*"); err != nil {
			return fmt.Errorf("bench audit-first: %w", err)
		}
		defer os.RemoveAll(root)
	} else {
		if err := os.MkdirAll(root, 0o700); err != nil {
			return fmt.Errorf("bench audit-first: %w", err)
		}
		defer func() {
			for _, sub := range []string{"long", "short", "snapshots"} {
				err = errors.Join(err, os.RemoveAll(filepath.Join(root, sub)))
			}
		}()
	}
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	reg, err := projections.NewRegistry()
	if err != nil {
		return err
	}
	openLog := func(name string, n int) (*auditLog, error) {
		s, err := open(ctx, benchOptions{Backend: o.Backend}.config(filepath.Join(root, name)), log)
		if err != nil {
			return nil, fmt.Errorf("bench audit-first: %w", err)
		}
		progress("filling the %s log with %d events", name, n)
		t0 := time.Now()
		l, err := fillAuditLog(ctx, s, reg, n)
		if err != nil {
			return nil, errors.Join(err, s.Close())
		}
		progress("  %d events (%d users) in %s", l.events, l.users, time.Since(t0).Round(time.Millisecond))
		return l, nil
	}
	big, err := openLog("long", o.Events)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, big.store.Close()) }()
	short, err := openLog("short", o.Events/10)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, short.store.Close()) }()
	snaps, err := projections.OpenSnapshotStore(filepath.Join(root, "snapshots"))
	if err != nil {
		return err
	}
	tail := min(auditBenchSnapshotEvery, big.events/2)
	snapAt, err := positionBehind(ctx, big.store, tail)
	if err != nil {
		return err
	}
	{
		d, err := projections.Rebuild(ctx, big.store, reg, snapAt, nil)
		if err != nil {
			return err
		}
		if _, err := snaps.Save(d); err != nil {
			return err
		}
	}

	// profileFirst profiles a phase of the first run into --profile-dir (when set).
	profileFirst := func(run int, phase string) (stop func()) {
		if run != 1 {
			return func() {}
		}
		stop, perr := startPhaseProfile(o.ProfileDir, phase)
		if perr != nil {
			progress("  no CPU profile of %s: %v", phase, perr)
			return func() {}
		}
		return stop
	}
	var scanRate, rebuildRate, verifySecs, atSnap, atReplay auditRuns
	var histP50, histP99 auditRuns // History.UserAt alone
	var uaP50, uaP99, uaShortP50, uaShortP99, lagP50, lagP99, lagRate, liveP50, liveP99 auditRuns
	var live *projections.Directory
	for run := 1; run <= o.Runs; run++ {
		progress("run %d of %d", run, o.Runs)
		runtime.GC()
		scan, err := bench.ScanPass(ctx, big.store, int64(big.events))
		if err != nil {
			return err
		}
		scanRate = append(scanRate, scan.EventsPerSec())
		runtime.GC()
		stopProfile := profileFirst(run, "rebuild")
		t0 := time.Now()
		d, err := projections.Rebuild(ctx, big.store, reg, big.head, nil)
		el := time.Since(t0)
		stopProfile()
		if err != nil {
			return err
		}
		if got := userCount(d, big.env); got != big.users {
			return fmt.Errorf("bench: the rebuilt directory holds %d users, want %d", got, big.users)
		}
		rebuildRate = append(rebuildRate, float64(big.events)/el.Seconds())
		progress("  rebuild: %s events/s (scan %s events/s)", fmtRate(rebuildRate[len(rebuildRate)-1]), fmtRate(scanRate[len(scanRate)-1]))

		live = d
		runtime.GC()
		stopProfile = profileFirst(run, "verify")
		res, err := projections.Verify(ctx, big.store, reg, live, nil)
		stopProfile()
		if err != nil {
			return err
		}
		if !res.Equal {
			return fmt.Errorf("bench: projections verify found the rebuild unequal to the live model at %s", res.Position)
		}
		verifySecs = append(verifySecs, res.Duration.Seconds())
		progress("  verify: %.2f s (%d events)", res.Duration.Seconds(), res.EventsReplayed)

		for _, l := range []*auditLog{big, short} {
			lat, userAt, err := asOfLatency(ctx, l, reg, o.Reads)
			if err != nil {
				return err
			}
			p50, p99 := float64(lat.quantile(.5)), float64(lat.quantile(.99))
			if l == big {
				uaP50, uaP99 = append(uaP50, p50), append(uaP99, p99)
				histP50, histP99 = append(histP50, float64(userAt.quantile(.5))), append(histP99, float64(userAt.quantile(.99)))
			} else {
				uaShortP50, uaShortP99 = append(uaShortP50, p50), append(uaShortP99, p99)
			}
		}
		progress("  user(asOf:) p50/p99: %s / %s ms (short log %s / %s ms)", fmtMillis(uaP50[len(uaP50)-1]), fmtMillis(uaP99[len(uaP99)-1]),
			fmtMillis(uaShortP50[len(uaShortP50)-1]), fmtMillis(uaShortP99[len(uaShortP99)-1]))

		for _, s := range []*projections.SnapshotStore{snaps, nil} {
			runtime.GC()
			stopProfile := func() {}
			if s != nil {
				stopProfile = profileFirst(run, "directoryat")
			}
			t0 := time.Now()
			d, err := projections.NewTimeTravel(big.store, reg, s).DirectoryAt(ctx, big.head)
			el := time.Since(t0).Seconds()
			stopProfile()
			if err != nil {
				return err
			}
			if got := userCount(d, big.env); got != big.users {
				return fmt.Errorf("bench: DirectoryAt the head holds %d users, want %d", got, big.users)
			}
			if s != nil {
				atSnap = append(atSnap, el)
			} else {
				atReplay = append(atReplay, el)
			}
		}
		progress("  DirectoryAt: %.2f s from a snapshot, %.2f s replaying the log", atSnap[len(atSnap)-1], atReplay[len(atReplay)-1])
	}
	// The lag runs last: they add events to the log the other measurements read.
	for run := 1; run <= o.Runs; run++ {
		runtime.GC()
		lat, achieved, err := projectionLag(ctx, big, reg, live, o.LagRate, o.LagDuration)
		if err != nil {
			return err
		}
		lagP50, lagP99, lagRate = append(lagP50, float64(lat.quantile(.5))), append(lagP99, float64(lat.quantile(.99))), append(lagRate, achieved)
		// The baseline: the store's own delivery to a subscriber, on the short log (its
		// generated events are not the directory's payloads: they stay out of the long log).
		lv, err := bench.Live(ctx, short.store, bench.LiveOptions{Rate: o.LagRate, Events: max(1, int(o.LagRate*o.LagDuration.Seconds())),
			StreamPrefix: bench.StreamPrefix("live")})
		if err != nil {
			return err
		}
		liveP50, liveP99 = append(liveP50, float64(lv.P50)), append(liveP99, float64(lv.P99))
		progress("  lag run %d: p50 %s ms, p99 %s ms at %s appends/s (store delivery p50 %s, p99 %s ms)", run, fmtMillis(lagP50[run-1]), fmtMillis(lagP99[run-1]),
			fmtRate(achieved), bench.Millis(lv.P50), bench.Millis(lv.P99))
	}

	rows := [][]string{
		{fmt.Sprintf("rebuild into memory, %s events", fmtRate(float64(big.events))), fmtRate(rebuildRate.median()) + " events/s",
			"scan " + fmtRate(scanRate.median()) + " events/s", "≥ 500,000 events/s", verdict(rebuildRate.median() >= 500_000),
			fmt.Sprintf("%s users; runs %s; ratio to scan %.2f", fmtRate(float64(big.users)), rebuildRate.list(fmtRate), rebuildRate.median()/scanRate.median())},
		{fmt.Sprintf("user(asOf:) p50 / p99, log of %s events", fmtRate(float64(big.events))), fmtMillis(uaP50.median()) + " / " + fmtMillis(uaP99.median()) + " ms",
			fmt.Sprintf("log of %s: %s / %s ms", fmtRate(float64(short.events)), fmtMillis(uaShortP50.median()), fmtMillis(uaShortP99.median())),
			"p99 < 5 ms, flat in the log", verdict(uaP99.median() < float64(5*time.Millisecond)),
			fmt.Sprintf("PositionAt then History.UserAt (UserAt alone %s / %s ms); %d reads per run of %d users with %d events, as of instants through the log; p50 ratio to the short log %.2f",
				fmtMillis(histP50.median()), fmtMillis(histP99.median()), o.Reads, len(big.targets), auditBenchSteps, uaP50.median()/uaShortP50.median())},
		{fmt.Sprintf("DirectoryAt the head, %s users", fmtRate(float64(big.users))), fmtSeconds(atSnap.median()) + " s",
			"replay of the log " + fmtSeconds(atReplay.median()) + " s", "< 1 s", verdict(atSnap.median() < 1),
			fmt.Sprintf("from a snapshot %s events behind; runs %s s", fmtRate(float64(tail)), atSnap.list(fmtSeconds))},
		{fmt.Sprintf("projections verify, %s events", fmtRate(float64(big.events))), fmtSeconds(verifySecs.median()) + " s", "", "< 30 s",
			verdict(verifySecs.median() < 30), "runs " + verifySecs.list(fmtSeconds) + " s"},
		{fmt.Sprintf("projection lag p50 / p99 at %s events/s", fmtRate(o.LagRate)), fmtMillis(lagP50.median()) + " / " + fmtMillis(lagP99.median()) + " ms",
			"store delivery " + fmtMillis(liveP50.median()) + " / " + fmtMillis(liveP99.median()) + " ms", "", "",
			fmt.Sprintf("memory read model; %s appends/s achieved; %s each run; p99 runs %s ms", fmtRate(lagRate.median()), o.LagDuration, lagP99.list(fmtMillis))},
	}
	fmt.Fprintf(stdout, "event store %s; medians of %d runs; %d CPUs\n\n", redact(o.Backend), o.Runs, runtime.NumCPU())
	return writeTable(stdout, []string{"measurement", "median", "baseline", "target", "result", "note"}, rows)
}
