package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// TestAuditRedactionCoversSensitiveFields fails when an event payload gains a field whose name
// looks secret without the audit:"redact" tag, so a new event cannot leak into the audit trail.
func TestAuditRedactionCoversSensitiveFields(t *testing.T) {
	sensitive := []string{"hash", "secret", "sha256", "token", "password", "key", "credential"}
	allowed := map[string]bool{ // looks sensitive, is not
		"TokenID": true, "PasswordPolicy": true, // an ID; the policy's rules
		"ContentHash": true, "PreviousHash": true, "FromHash": true, "ToHash": true, // configuration hashes
	}
	for _, et := range domain.EventTypes() {
		ty := reflect.TypeOf(et.Payload)
		for i := range ty.NumField() {
			f := ty.Field(i)
			name := strings.ToLower(f.Name)
			for _, s := range sensitive {
				if strings.Contains(name, s) && !allowed[f.Name] && f.Tag.Get("audit") != "redact" {
					t.Errorf("%s.%s looks sensitive but has no audit:\"redact\" tag", ty.Name(), f.Name)
				}
			}
		}
	}
}

func TestAuditLog(t *testing.T) {
	f := newHistFixture(t)
	env, ann, _ := f.story()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := NewAuditLog(f.deps.Store, f.deps.Registry)
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}

	// Resource history: ann's own events, oldest first, each with the actor of the commands.
	hist, err := a.ResourceHistory(ctx, env, ann)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for i, r := range hist {
		types = append(types, r.Type)
		if r.Actor != "apiclient:admin" || r.ResourceType != domain.CategoryUser || r.ResourceID != ann || r.EnvironmentID != env {
			t.Errorf("record %d: %+v", i, r)
		}
		if i > 0 && !hist[i-1].Position.Less(r.Position) {
			t.Errorf("history out of order at %d", i)
		}
		for _, leak := range []string{"$argon2id$", "Correct horse"} {
			if strings.Contains(string(r.Data), leak) {
				t.Errorf("%s shows %q: %s", r.Type, leak, r.Data)
			}
		}
	}
	for _, want := range []string{domain.EvUserCreated, domain.EvUserPasswordSet, domain.EvUserMFAEnrolled, domain.EvUserDeleted} {
		if !slices.Contains(types, want) {
			t.Errorf("history %v lacks %s", types, want)
		}
	}
	for _, r := range hist {
		if r.Type == domain.EvUserPasswordSet && !strings.Contains(string(r.Data), `"hash":"`+Redacted+`"`) {
			t.Errorf("password set rendered %s, want the hash redacted", r.Data)
		}
		if r.Type == domain.EvUserMFAEnrolled && !strings.Contains(string(r.Data), `"sealedSecret":"`+Redacted+`"`) {
			t.Errorf("MFA enrolment rendered %s, want the sealed secret redacted", r.Data)
		}
	}
	if _, err := a.ResourceHistory(ctx, "another-env", ann); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("history from another environment: %v, want NOT_FOUND", err)
	}

	// Pages newest first, complete and without overlap; filters narrow.
	var all []AuditRecord
	q := AuditQuery{EnvironmentID: env, First: 3}
	for {
		p, err := a.Events(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Records...)
		if !p.HasNextPage {
			break
		}
		q.After = p.EndCursor
	}
	for i := 1; i < len(all); i++ {
		if !all[i].Position.Less(all[i-1].Position) {
			t.Fatalf("page order broken at %d", i)
		}
	}
	for _, r := range all {
		if r.EnvironmentID != env || strings.HasPrefix(r.Type, "reservation.") {
			t.Errorf("record of another environment or a reservation: %+v", r)
		}
	}
	users, err := a.Events(ctx, AuditQuery{EnvironmentID: env, ResourceID: ann, First: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(users.Records) != len(hist) {
		t.Errorf("filter resourceId: %d records, history has %d", len(users.Records), len(hist))
	}
	upd, _ := a.Events(ctx, AuditQuery{EnvironmentID: env, EventType: "user.updated", First: 1000})
	pfx, _ := a.Events(ctx, AuditQuery{EnvironmentID: env, EventType: "user.", First: 1000})
	if len(upd.Records) != 3 || len(pfx.Records) <= len(upd.Records) {
		t.Errorf("user.updated: %d, user.*: %d", len(upd.Records), len(pfx.Records))
	}
	if none, _ := a.Events(ctx, AuditQuery{EnvironmentID: env, ActorID: "apiclient:nobody"}); len(none.Records) != 0 {
		t.Errorf("actor filter let %d through", len(none.Records))
	}
	rec, err := a.Event(ctx, env, hist[0].Position)
	if err != nil || rec.EventID != hist[0].EventID {
		t.Errorf("Event(%s) = %+v, %v", hist[0].Position, rec, err)
	}
	for _, bad := range []AuditQuery{{}, {EnvironmentID: env, First: 1001}, {EnvironmentID: env, After: "nope"},
		{EnvironmentID: env, From: time.Now(), To: time.Now().Add(-time.Hour)}} {
		if _, err := a.Events(ctx, bad); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Events(%+v): %v, want INVALID", bad, err)
		}
	}

	// The live feed: the next change of the environment, in order, filtered.
	sub, errc, err := a.Subscribe(ctx, AuditQuery{EnvironmentID: env, EventType: "population."}, eventstore.Position{})
	if err != nil {
		t.Fatal(err)
	}
	f.ok(f.dir.CreateUser.Handle(f.ctx, commands.CreateUser{EnvironmentID: env, Profile: domain.Profile{Username: "noise"}}))
	p := must(f.dir.CreatePopulation.Handle(f.ctx, commands.CreatePopulation{EnvironmentID: env, Name: "Live"}))
	select {
	case r := <-sub:
		if r.Type != domain.EvPopulationCreated || r.ResourceID != p.PopulationID {
			t.Errorf("feed delivered %+v", r)
		}
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("the feed delivered nothing")
	}
}

// TestAuditPropagationOutcomes: every change order outcome is an audit record of the identity it
// is about (resource user or group, though its stream is the rule's account stream), showing the
// attribute names written and never the digests of their values.
func TestAuditPropagationOutcomes(t *testing.T) {
	s := openStore(t)
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	appendPayloads(t, s, reg, "user-u1", "e1", domain.UserCreated{EnvironmentID: "e1", UserID: "u1", PopulationID: "p1", Enabled: true})
	appendPayloads(t, s, reg, "propaccount-r1_u1", "e1",
		applied("r1", "app", "u1", domain.OpCreate, "t1", "userName", "name.givenName"),
		failed("r1", "app", "u1", domain.OpUpdate, true))
	appendPayloads(t, s, reg, "propaccount-r1_u2", "e1", applied("r1", "app", "u2", domain.OpCreate, "t2", "userName"))
	group := applied("r1", "app", "g1", domain.OpCreate, "tg", "displayName")
	group.Kind = domain.IdentityGroup
	appendPayloads(t, s, reg, "propaccount-r1_g1", "e1", group)
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
	var types []string
	for _, r := range page.Records {
		types = append(types, r.Type)
	}
	if want := []string{domain.EvPropChangeFailed, domain.EvPropChangeApplied, domain.EvUserCreated}; !slices.Equal(types, want) {
		t.Fatalf("u1's records %v, want %v", types, want)
	}
	appliedRec := page.Records[1]
	if appliedRec.Stream != "propaccount-r1_u1" || appliedRec.ResourceID != "u1" || appliedRec.ResourceType != domain.CategoryUser {
		t.Errorf("outcome record %+v", appliedRec)
	}
	var data map[string]any
	if err := json.Unmarshal(appliedRec.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data["ruleId"] != "r1" || data["identityId"] != "u1" || data["operation"] != "CREATE" || data["targetId"] != "t1" ||
		fmt.Sprint(data["attributes"]) != "[userName name.givenName]" || data["digests"] != Redacted {
		t.Errorf("applied outcome rendered %s: want the outcome's fields flat, its attribute names, digests redacted", appliedRec.Data)
	}
	if strings.Contains(string(appliedRec.Data), "secretdigest") || strings.Contains(string(appliedRec.Data), "ChangeOutcome") {
		t.Errorf("applied outcome rendered %s", appliedRec.Data)
	}
	if !strings.Contains(string(page.Records[0].Data), `"class":"UNAVAILABLE"`) {
		t.Errorf("failed outcome rendered %s", page.Records[0].Data)
	}
	if g, _ := a.Events(ctx, AuditQuery{EnvironmentID: "e1", ResourceType: domain.CategoryGroup, ResourceID: "g1"}); len(g.Records) != 1 {
		t.Errorf("group g1: %d records, want its outcome", len(g.Records))
	}

	hist, err := a.ResourceHistory(ctx, "e1", "u1")
	if err != nil {
		t.Fatal(err)
	}
	types = types[:0]
	for _, r := range hist {
		types = append(types, r.Type)
	}
	if want := []string{domain.EvUserCreated, domain.EvPropChangeApplied, domain.EvPropChangeFailed}; !slices.Equal(types, want) {
		t.Errorf("u1's history %v, want %v", types, want)
	}
	if _, err := a.ResourceHistory(ctx, "e2", "u1"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("history from another environment: %v, want NOT_FOUND", err)
	}

	// The live feed filters outcomes by their identity too.
	sub, errc, err := a.Subscribe(ctx, AuditQuery{EnvironmentID: "e1", ResourceID: "u2"}, eventstore.Position{})
	if err != nil {
		t.Fatal(err)
	}
	appendPayloads(t, s, reg, "propaccount-r1_u1", "e1", applied("r1", "app", "u1", domain.OpUpdate, "t1", "title"))
	appendPayloads(t, s, reg, "propaccount-r1_u2", "e1", applied("r1", "app", "u2", domain.OpUpdate, "t2", "title"))
	select {
	case rec := <-sub:
		if rec.ResourceID != "u2" || rec.Type != domain.EvPropChangeApplied {
			t.Errorf("live record %+v, want u2's outcome", rec)
		}
	case err := <-errc:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no live record")
	}
}
