package projections

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

var statusT0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// testClock is an injected clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func newTestStatus(t *testing.T, retention time.Duration, clock *testClock) *PropagationStatus {
	t.Helper()
	s, err := NewPropagationStatus(nil, nil, StatusOptions{SummaryRetention: retention, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// feed folds payloads, each occurring at its own time.
type fed struct {
	at      time.Time
	payload any
}

func feed(s *PropagationStatus, events ...fed) {
	for _, e := range events {
		s.fold(&eventstore.RecordedEvent{Metadata: eventstore.Metadata{OccurredAt: e.at}}, eventstore.Decoded{Payload: e.payload})
	}
}

// revision returns a revision of env e1 with stores dir (source), app (active target) and off
// (inactive), plan p1 (active) with rules r1 (dir → app) and r2 (dir → off), and plan p2
// (inactive) with rule r3.
func revision(id string) domain.PropagationRevisionPublished {
	return domain.PropagationRevisionPublished{EnvironmentID: "e1", RevisionID: id, Content: domain.PropagationContent{
		Stores: []domain.PropagationStore{
			{ID: "app", Name: "App", Type: domain.StoreSCIM, Status: domain.StoreActive},
			{ID: "dir", Name: "Directory", Type: domain.StoreDirectory, Status: domain.StoreActive},
			{ID: "off", Name: "Off", Type: domain.StoreSlack, Status: domain.StoreInactive},
		},
		Plans: []domain.PropagationPlan{{ID: "p1", Status: domain.PlanActive}, {ID: "p2", Status: domain.PlanInactive}},
		Rules: []domain.PropagationRule{
			{ID: "r1", PlanID: "p1", Name: "To app", SourceStoreID: "dir", TargetStoreID: "app", Active: true},
			{ID: "r2", PlanID: "p1", Name: "To off", SourceStoreID: "dir", TargetStoreID: "off", Active: true},
			{ID: "r3", PlanID: "p2", Name: "Inactive plan", SourceStoreID: "dir", TargetStoreID: "app", Active: true},
		},
	}}
}

func outcome(rule, store, user string, op domain.ChangeOperation) domain.ChangeOutcome {
	return domain.ChangeOutcome{EnvironmentID: "e1", ChangeOrderID: "co-" + user + string(op), RuleID: rule, StoreID: store,
		RevisionID: "rev1", Kind: domain.IdentityUser, IdentityID: user, Operation: op, Trigger: "event"}
}

func applied(rule, store, user string, op domain.ChangeOperation, target string, attrs ...string) domain.PropagationChangeApplied {
	o := outcome(rule, store, user, op)
	o.TargetID = target
	return domain.PropagationChangeApplied{ChangeOutcome: o, Subject: user, Attributes: attrs,
		Digests: map[string]string{"userName": "sha256:secretdigest"}, CreatedByIdstream: op == domain.OpCreate}
}

func failed(rule, store, user string, op domain.ChangeOperation, final bool) domain.PropagationChangeFailed {
	return domain.PropagationChangeFailed{ChangeOutcome: outcome(rule, store, user, op), Class: "UNAVAILABLE", Message: "503 from target", Attempt: 3, Final: final}
}

func TestPropagationStatusAccountFold(t *testing.T) {
	at := func(m int) time.Time { return statusT0.Add(time.Duration(m) * time.Minute) }
	disputed := domain.PropagationChangeDisputed{ChangeOutcome: outcome("r1", "app", "u1", domain.OpLink), Candidates: []string{"t1", "t2"}}
	skipped := domain.PropagationChangeSkipped{ChangeOutcome: outcome("r1", "app", "u1", domain.OpNone), Reason: "out of scope"}
	linked := applied("r1", "app", "u1", domain.OpLink, "t9", "displayName")
	cases := []struct {
		name    string
		events  []any
		want    AccountStatus
		details ChangeDetails
	}{
		{"created", []any{applied("r1", "app", "u1", domain.OpCreate, "t1", "userName", "emails[type eq \"work\"].value")},
			AccountStatus{Status: AccountSynced, LastOperation: domain.OpCreate, TargetID: "t1", LastSyncAt: at(0), Live: true, CreatedByIdstream: true},
			ChangeDetails{Attributes: []string{"userName", "emails[type eq \"work\"].value"}}},
		{"update keeps target and creator", []any{applied("r1", "app", "u1", domain.OpCreate, "t1"), applied("r1", "app", "u1", domain.OpUpdate, "", "title")},
			AccountStatus{Status: AccountSynced, LastOperation: domain.OpUpdate, TargetID: "t1", LastSyncAt: at(1), Live: true, CreatedByIdstream: true},
			ChangeDetails{Attributes: []string{"title"}}},
		{"linked is not created by idstream", []any{linked},
			AccountStatus{Status: AccountSynced, LastOperation: domain.OpLink, TargetID: "t9", LastSyncAt: at(0), Live: true},
			ChangeDetails{Attributes: []string{"displayName"}}},
		{"disabled is removed", []any{applied("r1", "app", "u1", domain.OpCreate, "t1"), applied("r1", "app", "u1", domain.OpDisable, "t1", "active")},
			AccountStatus{Status: AccountRemoved, LastOperation: domain.OpDisable, TargetID: "t1", LastSyncAt: at(1), CreatedByIdstream: true},
			ChangeDetails{Attributes: []string{"active"}}},
		{"deleted", []any{applied("r1", "app", "u1", domain.OpCreate, "t1"), applied("r1", "app", "u1", domain.OpDelete, "t1")},
			AccountStatus{Status: AccountRemoved, LastOperation: domain.OpDelete, TargetID: "t1", LastSyncAt: at(1)}, ChangeDetails{}},
		{"retrying failure is pending, account stays live", []any{applied("r1", "app", "u1", domain.OpCreate, "t1"), failed("r1", "app", "u1", domain.OpUpdate, false)},
			AccountStatus{Status: AccountPending, LastOperation: domain.OpUpdate, TargetID: "t1", LastSyncAt: at(0), Live: true, CreatedByIdstream: true},
			ChangeDetails{ErrorClass: "UNAVAILABLE", ErrorMessage: "503 from target", Attempt: 3}},
		{"final failure", []any{failed("r1", "app", "u1", domain.OpCreate, true)},
			AccountStatus{Status: AccountFailed, LastOperation: domain.OpCreate},
			ChangeDetails{ErrorClass: "UNAVAILABLE", ErrorMessage: "503 from target", Attempt: 3}},
		{"skipped", []any{skipped}, AccountStatus{Status: AccountSkipped, LastOperation: domain.OpNone}, ChangeDetails{Reason: "out of scope"}},
		{"disputed", []any{disputed}, AccountStatus{Status: AccountDisputed, LastOperation: domain.OpLink}, ChangeDetails{Candidates: []string{"t1", "t2"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStatus(t, 0, &testClock{now: at(10)})
			feed(s, fed{statusT0.Add(-time.Hour), revision("rev1")})
			for i, p := range tc.events {
				feed(s, fed{at(i), p})
			}
			got, ok := s.Account("r1", "u1")
			if !ok {
				t.Fatal("no account status")
			}
			last := len(tc.events) - 1
			want := tc.want
			want.EnvironmentID, want.RuleID, want.StoreID, want.Kind, want.IdentityID, want.LastOutcomeAt = "e1", "r1", "app", domain.IdentityUser, "u1", at(last)
			gotDetails := got.Details
			got.Details = nil
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("status\n got %+v\nwant %+v", got, want)
			}
			if gotDetails == nil {
				t.Fatal("no details")
			}
			wantDetails := tc.details
			wantDetails.At, wantDetails.Trigger = at(last), "event"
			gotDetails.ChangeOrderID = ""
			if fmt.Sprint(*gotDetails) != fmt.Sprint(wantDetails) {
				t.Errorf("details\n got %+v\nwant %+v", *gotDetails, wantDetails)
			}
		})
	}
}

func TestPropagationStatusStoresRulesAndCountersResetOnPublish(t *testing.T) {
	clock := &testClock{now: statusT0.Add(time.Hour)}
	s := newTestStatus(t, 0, clock)
	at := func(m int) time.Time { return statusT0.Add(time.Duration(m) * time.Minute) }
	feed(s, fed{at(0), revision("rev1")},
		fed{at(1), applied("r1", "app", "u1", domain.OpCreate, "t1", "userName")},
		fed{at(2), applied("r1", "app", "u2", domain.OpLink, "t2", "userName")},
		fed{at(3), applied("r1", "app", "u3", domain.OpCreate, "t3")},
		fed{at(4), failed("r1", "app", "u3", domain.OpDisable, true)}, // deprovision failed, u3 still live
		fed{at(5), failed("r1", "app", "u4", domain.OpCreate, false)}, // pending
		fed{at(6), failed("r1", "app", "u4", domain.OpCreate, true)},  // then final
		fed{at(7), applied("r1", "app", "u2", domain.OpDelete, "t2")}, // u2 removed: not in scope
		fed{at(8), domain.PropagationChangeSkipped{ChangeOutcome: outcome("r1", "app", "u5", domain.OpNone), Reason: "out of scope"}},
		fed{at(9), applied("r3", "app", "u1", domain.OpLink, "t1")}, // a second rule to the same store: u1 counted once
	)
	st, err := s.Store("e1", "app")
	if err != nil {
		t.Fatal(err)
	}
	want := StoreStatus{EnvironmentID: "e1", StoreID: "app", Name: "App", Type: domain.StoreSCIM, State: StoreStateActive, InRevision: true,
		RevisionID: "rev1", LastSyncAt: at(9), Success: 5, Failed: 2, DeprovisionFailed: 1, UsersInScope: 2}
	le := st.LastError
	st.LastError = nil
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("store\n got %+v\nwant %+v", st, want)
	}
	if le == nil || le.IdentityID != "u4" || le.Class != "UNAVAILABLE" || !le.At.Equal(at(6)) {
		t.Errorf("last error %+v, want u4's at %s", le, at(6))
	}
	if off, err := s.Store("e1", "off"); err != nil || off.State != StoreStateInactive || !off.InRevision {
		t.Errorf("inactive store: %+v, %v", off, err)
	}
	if _, err := s.Store("e2", "app"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("store of another environment: %v, want NOT_FOUND", err)
	}
	if got := s.Stores("e1"); len(got) != 3 || got[0].StoreID != "app" || got[2].StoreID != "off" {
		t.Errorf("stores %+v", got)
	}

	r1, err := s.Rule("e1", "r1")
	if err != nil {
		t.Fatal(err)
	}
	// u1 synced, u2 removed, u3 failed, u4 failed, u5 skipped.
	wantRule := RuleSummary{EnvironmentID: "e1", RuleID: "r1", Name: "To app", PlanID: "p1", SourceStoreID: "dir", TargetStoreID: "app",
		Active: true, InRevision: true, RevisionID: "rev1", Impacted: 5, Success: 2, Unsynced: 1, Failed: 2}
	if fmt.Sprint(r1) != fmt.Sprint(wantRule) {
		t.Errorf("rule\n got %+v\nwant %+v", r1, wantRule)
	}
	if r3, _ := s.Rule("e1", "r3"); r3.Active {
		t.Error("a rule of an inactive plan is active")
	}
	if _, err := s.Rule("e2", "r1"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("rule of another environment: %v, want NOT_FOUND", err)
	}

	// Publish again, without r2 and store off: counters reset, state stays.
	rev2 := revision("rev2")
	rev2.Content.Rules = rev2.Content.Rules[:1]
	rev2.Content.Stores = rev2.Content.Stores[:2]
	feed(s, fed{at(20), rev2})
	st, _ = s.Store("e1", "app")
	if st.Success != 0 || st.Failed != 0 || st.DeprovisionFailed != 0 || st.RevisionID != "rev2" || st.UsersInScope != 2 || st.LastSyncAt != at(9) {
		t.Errorf("store after publish %+v: want counters 0, revision rev2, users 2, last sync kept", st)
	}
	r1, _ = s.Rule("e1", "r1")
	if r1.Impacted != 0 || r1.Success != 0 || r1.Failed != 0 || r1.Unsynced != 0 || r1.RevisionID != "rev2" {
		t.Errorf("rule after publish %+v: want counts 0", r1)
	}
	if a, _ := s.Account("r1", "u3"); a.Status != AccountFailed {
		t.Errorf("account status after publish %s, want FAILED kept", a.Status)
	}
	if r2, _ := s.Rule("e1", "r2"); r2.InRevision || r2.Active {
		t.Errorf("rule removed from the revision: %+v", r2)
	}
	if off, _ := s.Store("e1", "off"); off.InRevision || off.State != StoreStateInactive {
		t.Errorf("store removed from the revision: %+v", off)
	}
	// An outcome after the publish counts once per identity, by its latest status.
	feed(s, fed{at(21), failed("r1", "app", "u3", domain.OpDisable, false)}, fed{at(22), applied("r1", "app", "u3", domain.OpDisable, "t3")})
	r1, _ = s.Rule("e1", "r1")
	st, _ = s.Store("e1", "app")
	if r1.Impacted != 1 || r1.Success != 1 || r1.Unsynced != 0 || st.Success != 1 || st.UsersInScope != 1 {
		t.Errorf("after u3's disable: rule %+v store %+v", r1, st)
	}
}

func TestPropagationStatusIdentityAccountsAndIteration(t *testing.T) {
	s := newTestStatus(t, 0, &testClock{now: statusT0.Add(time.Hour)})
	group := applied("r1", "app", "g1", domain.OpCreate, "tg")
	group.Kind = domain.IdentityGroup
	feed(s, fed{statusT0, revision("rev1")}, fed{statusT0, applied("r3", "app", "u1", domain.OpLink, "t1")},
		fed{statusT0, applied("r1", "app", "u1", domain.OpCreate, "t1")}, fed{statusT0, applied("r1", "app", "u2", domain.OpCreate, "t2")},
		fed{statusT0, group})
	got := s.IdentityAccounts("e1", "u1")
	if len(got) != 2 || got[0].RuleID != "r1" || got[1].RuleID != "r3" {
		t.Errorf("u1's accounts %+v, want r1 and r3", got)
	}
	if got := s.IdentityAccounts("e2", "u1"); len(got) != 0 {
		t.Errorf("u1 seen from another environment: %+v", got)
	}
	if g := s.IdentityAccounts("e1", "g1"); len(g) != 1 || g[0].Kind != domain.IdentityGroup {
		t.Errorf("group accounts %+v", g)
	}
	if st, _ := s.Store("e1", "app"); st.UsersInScope != 2 {
		t.Errorf("users in scope %d, want 2 (groups are not users)", st.UsersInScope)
	}
	var ids []string
	s.Accounts("r1", func(a AccountStatus) bool { ids = append(ids, a.IdentityID); return true })
	if fmt.Sprint(ids) != "[g1 u1 u2]" {
		t.Errorf("iteration %v, want [g1 u1 u2]", ids)
	}
	ids = nil
	s.AccountsAfter("r1", "g1", func(a AccountStatus) bool { ids = append(ids, a.IdentityID); return false })
	if fmt.Sprint(ids) != "[u1]" {
		t.Errorf("iteration after g1 stopping at the first: %v, want [u1]", ids)
	}
	// fn may call the model (no lock is held while it runs).
	s.Accounts("r1", func(a AccountStatus) bool { _, _ = s.Account("r1", a.IdentityID); _ = s.Stores("e1"); return true })
	if _, ok := s.Account("r9", "u1"); ok {
		t.Error("account of an unknown rule")
	}
}

func TestPropagationStatusResync(t *testing.T) {
	s := newTestStatus(t, 0, &testClock{now: statusT0.Add(time.Hour)})
	resynced := func(user string) domain.PropagationChangeApplied {
		a := applied("r1", "app", user, domain.OpCreate, "t-"+user)
		a.Trigger = "resync"
		return a
	}
	feed(s, fed{statusT0, revision("rev1")},
		fed{statusT0, domain.PropagationResyncStarted{EnvironmentID: "e1", ResyncID: "rs1", RuleID: "r1", RevisionID: "rev1", Trigger: "manual"}},
		fed{statusT0, resynced("u1")}, fed{statusT0, applied("r1", "app", "u9", domain.OpCreate, "t9")}, fed{statusT0, resynced("u2")})
	r, _ := s.Rule("e1", "r1")
	if rs := r.LastResync; rs == nil || !rs.Running || rs.Processed != 2 || rs.ResyncID != "rs1" {
		t.Fatalf("running resync %+v, want rs1 running with 2 processed", rs)
	}
	end := statusT0.Add(time.Minute)
	feed(s, fed{end, domain.PropagationResyncFinished{EnvironmentID: "e1", ResyncID: "rs1", RuleID: "r1", RevisionID: "rev1",
		Identities: 2, Created: 2}})
	r, _ = s.Rule("e1", "r1")
	if rs := r.LastResync; rs == nil || rs.Running || rs.Identities != 2 || rs.Created != 2 || !rs.FinishedAt.Equal(end) {
		t.Errorf("finished resync %+v", rs)
	}
	// The copy returned is the caller's.
	r.LastResync.Created = 99
	if r2, _ := s.Rule("e1", "r1"); r2.LastResync.Created != 2 {
		t.Error("a query's copy aliases the model")
	}
}

func TestPropagationStatusRetention(t *testing.T) {
	clock := &testClock{now: statusT0}
	s := newTestStatus(t, 2*time.Hour, clock)
	feed(s, fed{statusT0.Add(-time.Hour), revision("rev1")},
		fed{statusT0.Add(-3 * time.Hour), applied("r1", "app", "old", domain.OpCreate, "t0", "userName")}, // already past: replayed without details
		fed{statusT0, applied("r1", "app", "u1", domain.OpCreate, "t1", "userName")},
		fed{statusT0, failed("r1", "app", "u2", domain.OpCreate, true)})
	if a, _ := s.Account("r1", "old"); a.Details != nil || a.Status != AccountSynced {
		t.Errorf("an outcome older than the retention: %+v", a)
	}
	if a, _ := s.Account("r1", "u1"); a.Details == nil {
		t.Fatal("fresh details missing")
	}
	clock.Set(statusT0.Add(2*time.Hour + time.Second))
	// Queries hide expired details at once, before any fold.
	a, _ := s.Account("r1", "u1")
	if a.Details != nil || a.Status != AccountSynced || a.TargetID != "t1" {
		t.Errorf("after the retention: %+v, want status kept and details gone", a)
	}
	if st, _ := s.Store("e1", "app"); st.LastError != nil || st.Failed != 1 {
		t.Errorf("store after the retention: %+v, want last error gone, counters kept", st)
	}
	// The next fold drops them from memory.
	feed(s, fed{clock.Now(), applied("r1", "app", "u3", domain.OpCreate, "t3")})
	s.mu.RLock()
	dropped := s.rules["r1"].accounts["u1"].Details == nil && s.envs["e1"].stores["app"].LastError == nil
	fresh := s.rules["r1"].accounts["u3"].Details != nil
	s.mu.RUnlock()
	if !dropped || !fresh {
		t.Errorf("after a fold: expired dropped %v, fresh kept %v", dropped, fresh)
	}
	if _, err := NewPropagationStatus(nil, nil, StatusOptions{SummaryRetention: -time.Second}); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("negative retention: %v, want INVALID", err)
	}
}

// TestPropagationStatusFollowsTheLog runs the model on a real store, with queries racing the
// fold (run with -race).
func TestPropagationStatusFollowsTheLog(t *testing.T) {
	store := openStore(t)
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	appendPayloads(t, store, reg, "propagation-e1", "e1", revision("rev1"))
	s, err := NewPropagationStatus(store, reg, StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	const users = 200
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				_, _ = s.Store("e1", "app")
				_, _ = s.Rule("e1", "r1")
				_ = s.IdentityAccounts("e1", "u7")
				s.Accounts("r1", func(AccountStatus) bool { return true })
			}
		}()
	}
	var last eventstore.Position
	for i := range users {
		u := fmt.Sprintf("u%03d", i)
		last = appendPayloads(t, store, reg, "propaccount-r1_"+u, "e1", applied("r1", "app", u, domain.OpCreate, "t"+u, "userName"))
	}
	if err := s.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}
	close(done)
	wg.Wait()
	st, err := s.Store("e1", "app")
	if err != nil {
		t.Fatal(err)
	}
	if st.Success != users || st.UsersInScope != users {
		t.Errorf("store %+v, want %d successes and users", st, users)
	}
	n := 0
	s.Accounts("r1", func(a AccountStatus) bool { n++; return a.Status == AccountSynced })
	if n != users {
		t.Errorf("iterated %d synced accounts, want %d", n, users)
	}
	if err := s.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
}
