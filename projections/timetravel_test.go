package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
)

// testLog is a real embedded log of richHistory, appended in batches of 7 with a reservation
// event between batches, recorded by a clock that advances one second per append.
type testLog struct {
	store *embedded.Store
	reg   *eventstore.Registry
	ends  []eventstore.Position // the last position of each append
	start time.Time
}

func buildLog(t testing.TB, users int) *testLog {
	t.Helper()
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	tick := 0
	s, err := embedded.Open(t.TempDir(), embedded.Options{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return start.Add(time.Duration(tick) * time.Second)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{store: s, reg: reg, start: start}
	h := richHistory(users)
	for i := 0; i < len(h); i += 7 {
		mu.Lock()
		tick++
		mu.Unlock()
		batch := h[i:min(i+7, len(h))]
		batch = append([]any{domain.ReservationClaimed{EnvironmentID: env1, Kind: domain.UniqueUsername, Owner: fmt.Sprint("o", i)}}, batch...)
		l.ends = append(l.ends, appendPayloads(t, s, reg, fmt.Sprintf("batch-%d", i), env1, batch...))
	}
	return l
}

// naiveFold folds the log up to pos one event at a time, decoding each with the registry
// alone: the reference the optimised paths are compared with.
func naiveFold(t testing.TB, l *testLog, pos eventstore.Position) *Directory {
	t.Helper()
	d := NewDirectory()
	for e, err := range l.store.ReadAll(context.Background(), eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if pos.Less(e.Position) {
			break
		}
		if strings.HasPrefix(e.Type, reservationPrefix) {
			continue
		}
		p, err := l.reg.Decode(e)
		if err != nil {
			t.Fatal(err)
		}
		d.Apply(Change{Position: e.Position, Type: e.Type, Metadata: e.Metadata, Payload: p})
	}
	return d
}

func sameModel(t *testing.T, what string, got, want *Directory) {
	t.Helper()
	gp, gs := got.Checksum()
	wp, ws := want.Checksum()
	if gp != wp || gs != ws {
		t.Fatalf("%s: position %s checksum %x, want %s %x", what, gp, gs[:6], wp, ws[:6])
	}
}

func TestDirectoryAtEqualsFoldFromScratch(t *testing.T) {
	l := buildLog(t, 120)
	ctx := t.Context()
	snaps, err := OpenSnapshotStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	head := l.ends[len(l.ends)-1]
	targets := []eventstore.Position{{}, l.ends[0], l.ends[3], l.ends[len(l.ends)/3], l.ends[len(l.ends)/2],
		{Commit: l.ends[len(l.ends)/2].Commit + 1, Prepare: l.ends[len(l.ends)/2].Prepare + 1}, // a reservation's position
		l.ends[len(l.ends)-2], head}
	check := func(tt *TimeTravel, label string) {
		for _, pos := range targets {
			d, err := tt.DirectoryAt(ctx, pos)
			if err != nil {
				t.Fatal(err)
			}
			sameModel(t, fmt.Sprintf("%s at %s", label, pos), d, naiveFold(t, l, pos))
		}
		d, err := tt.DirectoryAt(ctx, eventstore.Position{Commit: head.Commit + 1000, Prepare: head.Prepare + 1000})
		if err != nil {
			t.Fatal(err)
		}
		sameModel(t, label+" past the head", d, naiveFold(t, l, head))
	}
	check(NewTimeTravel(l.store, l.reg, nil), "no snapshot store")
	check(NewTimeTravel(l.store, l.reg, snaps), "empty snapshot store")

	// Snapshots at a third and at the half: targets before the first, exactly at one, between.
	for _, p := range []eventstore.Position{l.ends[len(l.ends)/3], l.ends[len(l.ends)/2]} {
		if _, err := snaps.Save(naiveFold(t, l, p)); err != nil {
			t.Fatal(err)
		}
	}
	check(NewTimeTravel(l.store, l.reg, snaps), "with snapshots")

	// A damaged snapshot is passed over, never trusted.
	refs, _ := snaps.List()
	b, _ := readFile(refs[1].Path)
	b[len(b)/2] ^= 1
	writeFile(t, refs[1].Path, b)
	check(NewTimeTravel(l.store, l.reg, snaps), "with a damaged snapshot")
}

func TestPositionAt(t *testing.T) {
	l := buildLog(t, 2500) // more than timeIndexEvery events
	ctx := t.Context()
	tt := NewTimeTravel(l.store, l.reg, nil)
	var all []eventstore.RecordedEvent
	for e, err := range l.store.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, eventstore.RecordedEvent{Position: e.Position, RecordedAt: e.RecordedAt})
	}
	if len(all) <= timeIndexEvery {
		t.Fatalf("only %d events", len(all))
	}
	want := func(at time.Time) eventstore.Position {
		var p eventstore.Position
		for _, e := range all {
			if !e.RecordedAt.After(at) {
				p = e.Position
			}
		}
		return p
	}
	instants := []time.Time{l.start.Add(-time.Hour), l.start, all[0].RecordedAt, all[0].RecordedAt.Add(-time.Nanosecond),
		all[len(all)-1].RecordedAt, all[len(all)-1].RecordedAt.Add(-time.Millisecond), time.Now().Add(24 * time.Hour)}
	for i := 0; i < len(all); i += 97 {
		instants = append(instants, all[i].RecordedAt, all[i].RecordedAt.Add(500*time.Millisecond), all[i].RecordedAt.Add(-time.Nanosecond))
	}
	for _, at := range instants {
		got, err := tt.PositionAt(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		if w := want(at); got != w {
			t.Fatalf("PositionAt(%s) = %s, want %s", at, got, w)
		}
	}
	if _, err := tt.PositionAt(ctx, time.Time{}); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("zero instant: %v", err)
	}
	// The index follows the log as it grows.
	p := appendPayloads(t, l.store, l.reg, "late", env1, domain.EnvironmentRenamed{EnvironmentID: env1, Name: "late"})
	if got, err := tt.PositionAt(ctx, time.Now().Add(time.Hour)); err != nil || got != p {
		t.Fatalf("after an append: %s, %v; want %s", got, err, p)
	}
	empty := NewTimeTravel(openStore(t), l.reg, nil)
	if got, err := empty.PositionAt(ctx, time.Now()); err != nil || !got.IsZero() {
		t.Fatalf("empty log: %s, %v", got, err)
	}
}

func TestVerifyAndRebuild(t *testing.T) {
	l := buildLog(t, 200)
	ctx := t.Context()
	live := NewDirectory()
	r := startRunner(t, l.store, live)
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	var reports []VerifyProgress
	res, err := Verify(ctx, l.store, l.reg, live, func(p VerifyProgress) { reports = append(reports, p) })
	if err != nil {
		t.Fatal(err)
	}
	head := l.ends[len(l.ends)-1]
	if !res.Equal || res.Position != head || res.LiveChecksum != res.RebuiltChecksum || len(res.LiveChecksum) != 64 || res.EventsReplayed == 0 {
		t.Fatalf("verify %+v", res)
	}
	if n := len(reports); n == 0 || reports[n-1].Applied != res.EventsReplayed || reports[n-1].Target != head {
		t.Fatalf("progress %+v", reports)
	}

	rebuilt, err := Rebuild(ctx, l.store, l.reg, l.ends[10], nil)
	if err != nil {
		t.Fatal(err)
	}
	sameModel(t, "rebuild", rebuilt, naiveFold(t, l, l.ends[10]))

	// Verify can fail: a live model that drifted from the log.
	live.Apply(Change{Position: head, Payload: domain.UserDisabled{EnvironmentID: env1, UserID: userID(2)}})
	res, err = Verify(ctx, l.store, l.reg, live, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Equal || res.LiveChecksum == res.RebuiltChecksum {
		t.Fatalf("verify of a drifted model: %+v", res)
	}
}

func TestLoadLatest(t *testing.T) {
	l := buildLog(t, 100)
	ctx := t.Context()
	snaps, err := OpenSnapshotStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	head := l.ends[len(l.ends)-1]
	d, err := LoadLatest(ctx, l.store, l.reg, snaps)
	if err != nil {
		t.Fatal(err)
	}
	sameModel(t, "no snapshot", d, naiveFold(t, l, head))
	if _, err := snaps.Save(naiveFold(t, l, l.ends[len(l.ends)/2])); err != nil {
		t.Fatal(err)
	}
	if d, err = LoadLatest(ctx, l.store, l.reg, snaps); err != nil {
		t.Fatal(err)
	}
	sameModel(t, "snapshot and tail", d, naiveFold(t, l, head))
	// A runner resumes from there.
	p := appendPayloads(t, l.store, l.reg, "late", env1, domain.EnvironmentRenamed{EnvironmentID: env1, Name: "late"})
	r := startRunner(t, l.store, d)
	if err := r.WaitFor(ctx, p); err != nil {
		t.Fatal(err)
	}
	sameModel(t, "resumed", d, naiveFold(t, l, p))
}
