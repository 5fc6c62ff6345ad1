package projections

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

func feedDrift(d *PropagationDrift, at time.Time, payloads ...any) {
	for i, p := range payloads {
		d.fold(&eventstore.RecordedEvent{Metadata: eventstore.Metadata{OccurredAt: at.Add(time.Duration(i) * time.Second)}},
			eventstore.Decoded{Payload: p})
	}
}

func drift(user, target string, kind domain.DriftKind, repaired bool, attrs ...string) domain.PropagationDriftDetected {
	return domain.PropagationDriftDetected{EnvironmentID: "e1", RuleID: "r1", StoreID: "app", Kind: domain.IdentityUser, IdentityID: user,
		TargetID: target, Drift: kind, Attributes: attrs, Policy: domain.DriftReport, Repaired: repaired, Trigger: "reconcile"}
}

// TestPropagationDriftOpen: open drift per rule and store opens with drift_detected and closes
// with the outcome that ends it: a write of the drifted paths, a recreate, a link of an
// unowned account, or a repair.
func TestPropagationDriftOpen(t *testing.T) {
	d := NewPropagationDrift(nil, nil)
	mod := drift("u1", "t1", domain.DriftModified, false, "displayName", "name.givenName")
	del := drift("u2", "t2", domain.DriftDeleted, false)
	created := drift("", "t9", domain.DriftCreated, false)
	feedDrift(d, statusT0, mod, del, created)
	if st := d.Rule("e1", "r1"); st.Accounts != 2 || st.Unowned != 1 || !st.LastDriftAt.Equal(statusT0.Add(2*time.Second)) {
		t.Fatalf("rule r1 %+v", st)
	}
	if st := d.Store("e1", "app"); st.Accounts != 2 || st.Unowned != 1 {
		t.Errorf("store app %+v", st)
	}
	if st := d.Rule("e2", "r1"); st.Accounts+st.Unowned != 0 {
		t.Errorf("another environment sees %+v", st)
	}
	// Writing one drifted path leaves the account open; writing the other closes it.
	w := applied("r1", "app", "u1", domain.OpUpdate, "t1", "displayName")
	w.Digests = map[string]string{"displayname": "x"}
	feedDrift(d, statusT0.Add(time.Minute), w)
	if st := d.Rule("e1", "r1"); st.Accounts != 2 {
		t.Errorf("after one path written: %+v", st)
	}
	w.Digests = map[string]string{"name.givenname": "y"}
	feedDrift(d, statusT0.Add(time.Minute), w)
	// The deleted account recreated, the unowned account linked by an identity.
	c := applied("r1", "app", "u2", domain.OpCreate, "t3")
	l := applied("r1", "app", "u3", domain.OpLink, "t9")
	feedDrift(d, statusT0.Add(time.Minute), c, l)
	if st := d.Rule("e1", "r1"); st.Accounts != 0 || st.Unowned != 0 {
		t.Errorf("after every drift closed: %+v", st)
	}
	// Drift reverted in the target is resolved.
	feedDrift(d, statusT0.Add(2*time.Minute), drift("u5", "t5", domain.DriftModified, false, "displayName", "title"))
	feedDrift(d, statusT0.Add(3*time.Minute), domain.PropagationDriftResolved{EnvironmentID: "e1", RuleID: "r1", StoreID: "app",
		Kind: domain.IdentityUser, IdentityID: "u5", TargetID: "t5", Attributes: []string{"title"}})
	if st := d.Rule("e1", "r1"); st.Accounts != 1 {
		t.Errorf("after one path reverted: %+v", st)
	}
	feedDrift(d, statusT0.Add(3*time.Minute), domain.PropagationDriftResolved{EnvironmentID: "e1", RuleID: "r1", StoreID: "app",
		Kind: domain.IdentityUser, IdentityID: "u5", TargetID: "t5", Attributes: []string{"displayName"}})
	if st := d.Rule("e1", "r1"); st.Accounts != 0 {
		t.Errorf("after every path reverted: %+v", st)
	}
	// A repaired drift is never open.
	feedDrift(d, statusT0.Add(time.Hour), drift("u4", "t4", domain.DriftModified, true, "displayName"))
	if st := d.Rule("e1", "r1"); st.Accounts != 0 || !st.LastDriftAt.Equal(statusT0.Add(time.Hour)) {
		t.Errorf("after a repair: %+v", st)
	}
}

// TestPropagationDriftRecords: records page newest first, filtered by rule, with cursors; a bad
// cursor or page size names its field.
func TestPropagationDriftRecords(t *testing.T) {
	d := NewPropagationDrift(nil, nil)
	var ps []any
	for i := range 5 {
		r := drift("u1", "t1", domain.DriftModified, false, "displayName")
		if i%2 == 1 {
			r.RuleID = "r2"
		}
		r.TargetID = string(rune('a' + i))
		ps = append(ps, r)
	}
	feedDrift(d, statusT0, ps...)
	page, err := d.Records("e1", "", 2, "", nil)
	if err != nil || len(page.Records) != 2 || page.Records[0].TargetID != "e" || page.Records[1].TargetID != "d" || !page.HasNextPage {
		t.Fatalf("first page %+v, %v", page, err)
	}
	page, err = d.Records("e1", "", 2, page.EndCursor, nil)
	if err != nil || len(page.Records) != 2 || page.Records[0].TargetID != "c" || page.Records[1].TargetID != "b" || !page.HasNextPage {
		t.Fatalf("second page %+v, %v", page, err)
	}
	page, err = d.Records("e1", "", 2, page.EndCursor, nil)
	if err != nil || len(page.Records) != 1 || page.Records[0].TargetID != "a" || page.HasNextPage {
		t.Fatalf("last page %+v, %v", page, err)
	}
	page, err = d.Records("e1", "r1", 10, "", nil)
	if err != nil || len(page.Records) != 3 || page.Records[2].TargetID != "a" {
		t.Fatalf("rule r1 %+v, %v", page, err)
	}
	if page.Records[0].Attributes[0] != "displayName" || page.Records[0].Drift != domain.DriftModified {
		t.Errorf("record %+v", page.Records[0])
	}
	if _, err := d.Records("e1", "", 2, "bogus", nil); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("bad cursor: %v", err)
	}
	if _, err := d.Records("e1", "", 0, "", nil); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("first 0: %v", err)
	}
}

// TestAuditPropagationDrift: drift found on an identity's account is an audit record of the
// identity, in its history, naming the attributes and no value.
func TestAuditPropagationDrift(t *testing.T) {
	s := openStore(t)
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	appendPayloads(t, s, reg, "user-u1", "e1", domain.UserCreated{EnvironmentID: "e1", UserID: "u1", PopulationID: "p1", Enabled: true})
	appendPayloads(t, s, reg, "propaccount-r1_u1", "e1", drift("u1", "t1", domain.DriftModified, false, "displayName"))
	a := NewAuditLog(s, reg)
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := a.Events(ctx, AuditQuery{EnvironmentID: "e1", ResourceType: domain.CategoryUser, ResourceID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 2 || page.Records[0].Type != domain.EvPropDriftDetected || page.Records[0].ResourceID != "u1" ||
		!strings.Contains(string(page.Records[0].Data), `"attributes":["displayName"]`) {
		t.Fatalf("u1's records %+v", page.Records)
	}
	hist, err := a.ResourceHistory(ctx, "e1", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[1].Type != domain.EvPropDriftDetected {
		t.Errorf("u1's history %+v", hist)
	}
}
