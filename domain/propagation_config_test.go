package domain

import (
	"errors"
	"strings"
	"testing"
)

// decided applies a decision's events, failing the test on an error.
func decided(t *testing.T, p *Propagation) func(events []any, err error) []any {
	t.Helper()
	return func(events []any, err error) []any {
		t.Helper()
		if err != nil {
			t.Fatalf("decision: %v", err)
		}
		for _, e := range events {
			p.Apply(e)
		}
		return events
	}
}

func wantKind(t *testing.T, err, kind error, field string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want kind %v", err, kind)
	}
	if field == "" {
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v names no field, want %q", err, field)
	}
	if !strings.Contains(err.Error(), field+":") {
		t.Fatalf("error %v does not name field %q", err, field)
	}
}

const env = "env1"

// base returns a draft with the directory store d1, a SCIM store s1 (managed), a Slack store
// k1, plan p1 and rule r1 (d1 → s1) mapping userName.
func base(t *testing.T) *Propagation {
	p := &Propagation{}
	decided(t, p)(p.CreateStore(env, PropagationStore{ID: "d1", Name: "Directory", Type: StoreDirectory}))
	decided(t, p)(p.CreateStore(env, PropagationStore{ID: "s1", Name: "App", Type: StoreSCIM, Managed: true,
		Config: map[string]string{"baseUrl": "http://x"}, Actions: StoreActions{Create: true, Update: true}}))
	decided(t, p)(p.CreateStore(env, PropagationStore{ID: "k1", Name: "Slack", Type: StoreSlack}))
	decided(t, p)(p.CreatePlan(env, PropagationPlan{ID: "p1", Name: "Main"}))
	decided(t, p)(p.CreateRule(env, PropagationRule{ID: "r1", PlanID: "p1", Name: "to app", SourceStoreID: "d1", TargetStoreID: "s1",
		Active: true, Mappings: []AttributeMapping{{ID: "m1", Target: "userName", Source: MapAttribute, Value: "username"}}}))
	return p
}

func TestPropagationStoreDecisions(t *testing.T) {
	p := base(t)
	s, _ := p.Store("s1")
	if s.Status != StoreActive || s.Actions.RemoveAction != RemoveDisable {
		t.Fatalf("defaults not applied: %+v", s)
	}
	_, err := p.CreateStore(env, PropagationStore{ID: "s2", Name: " app ", Type: StoreSCIM})
	wantKind(t, err, ErrConflict, "name")
	_, err = p.CreateStore(env, PropagationStore{ID: "s2", Name: "Dir 2", Type: StoreDirectory})
	wantKind(t, err, ErrConflict, "type")
	_, err = p.CreateStore(env, PropagationStore{ID: "s2", Name: "X", Type: "LDAPX"})
	wantKind(t, err, ErrInvalid, "type")
	_, err = p.CreateStore(env, PropagationStore{ID: "s2", Name: "", Type: StoreSCIM})
	wantKind(t, err, ErrInvalid, "name")
	_, err = p.CreateStore(env, PropagationStore{ID: "s2", Name: "LDAP", Type: StoreLDAP, Safety: &StoreSafety{MaxRemovalsPerHour: -1}})
	wantKind(t, err, ErrInvalid, "safety.maxRemovalsPerHour")
	evs := decided(t, p)(p.CreateStore(env, PropagationStore{ID: "s3", Name: "Table", Type: StoreSQL, Safety: &StoreSafety{}}))
	if got := evs[0].(PropagationStoreCreated).Store; got.Safety != nil {
		t.Fatalf("empty safety rails should be dropped: %+v", got.Safety)
	}
	_, err = p.CreateStore(env, PropagationStore{ID: "s2", Name: strings.Repeat("n", 129), Type: StoreSCIM})
	wantKind(t, err, ErrInvalid, "name")
	_, err = p.CreateStore(env, PropagationStore{ID: "s2", Name: "Slack 2", Type: StoreSlack, Actions: StoreActions{RemoveAction: RemoveDelete}})
	wantKind(t, err, ErrInvalid, "actions.removeAction")
	_, err = p.UpdateStore(env, PropagationStore{ID: "k1", Name: "Slack", Type: StoreSlack, Actions: StoreActions{RemoveAction: RemoveDelete}})
	wantKind(t, err, ErrInvalid, "actions.removeAction")
	_, err = p.CreateStore(env, PropagationStore{ID: "s2", Name: "Z", Type: StoreZoom, Status: "PAUSED"})
	wantKind(t, err, ErrInvalid, "status")
	_, err = p.CreateStore(env, PropagationStore{ID: "s2", Name: "Z", Type: StoreZoom, Config: map[string]string{"": "x"}})
	wantKind(t, err, ErrInvalid, "config")
	_, err = p.UpdateStore(env, PropagationStore{ID: "s1", Name: "App", Type: StoreZoom})
	wantKind(t, err, ErrInvalid, "type")
	_, err = p.UpdateStore(env, PropagationStore{ID: "nope", Name: "App", Type: StoreZoom})
	wantKind(t, err, ErrNotFound, "storeId")

	// Every problem at once.
	_, err = p.CreateStore(env, PropagationStore{ID: "s2", Name: "", Type: StoreSlack, Status: "X", Actions: StoreActions{RemoveAction: RemoveDelete}})
	for _, f := range []string{"name:", "status:", "actions.removeAction:"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("joined error %v lacks %s", err, f)
		}
	}

	// Credentials: versioned, kept by updates, out of the hash but their version in it.
	h0 := p.Content().Hash()
	decided(t, p)(p.SetStoreCredentials(env, "s1", "v1:k:AAA"))
	s, _ = p.Store("s1")
	if s.Credentials != "v1:k:AAA" || s.CredentialsVersion != 1 {
		t.Fatalf("credentials not set: %+v", s)
	}
	h1 := p.Content().Hash()
	if h1 == h0 {
		t.Fatal("setting credentials did not change the hash")
	}
	c := p.Content()
	c.Stores[2].Credentials = "v1:k:BBB" // another seal of the same version
	if c.Hash() != h1 {
		t.Fatal("the ciphertext counts in the hash")
	}
	ev := decided(t, p)(p.UpdateStore(env, PropagationStore{ID: "s1", Name: "App 2", Type: StoreSCIM, Managed: true}))
	if u := ev[0].(PropagationStoreUpdated); u.Store.Credentials != "" {
		t.Fatal("store_updated carries the credentials")
	}
	s, _ = p.Store("s1")
	if s.Credentials != "v1:k:AAA" || s.CredentialsVersion != 1 || s.Name != "App 2" {
		t.Fatalf("update lost credentials: %+v", s)
	}
	if ev, err := p.UpdateStore(env, s); err != nil || len(ev) != 0 {
		t.Fatalf("no-op update: %v %v", ev, err)
	}
	_, err = p.SetStoreCredentials(env, "s9", "v1:x")
	wantKind(t, err, ErrNotFound, "storeId")
}

func TestPropagationStoreDeletion(t *testing.T) {
	p := base(t)
	// The directory is a rule's source: refused, naming the rule.
	_, err := p.DeleteStore(env, "d1")
	wantKind(t, err, ErrConflict, "")
	if !strings.Contains(err.Error(), `"to app"`) || !strings.Contains(err.Error(), "r1") {
		t.Fatalf("conflict does not name the rule: %v", err)
	}
	// A non-managed target used by a rule: refused.
	decided(t, p)(p.CreateRule(env, PropagationRule{ID: "r2", PlanID: "p1", Name: "to slack", SourceStoreID: "d1", TargetStoreID: "k1"}))
	_, err = p.DeleteStore(env, "k1")
	wantKind(t, err, ErrConflict, "")
	// A managed target: its rules go with it and deprovisioning is asked for.
	ev := decided(t, p)(p.DeleteStore(env, "s1"))
	if len(ev) != 2 || ev[0] != (PropagationRuleDeleted{EnvironmentID: env, RuleID: "r1"}) ||
		ev[1] != (PropagationStoreDeleted{EnvironmentID: env, StoreID: "s1", Deprovision: true}) {
		t.Fatalf("events %#v", ev)
	}
	if _, ok := p.Rule("r1"); ok {
		t.Fatal("rule r1 survived its store")
	}
	decided(t, p)(p.DeleteRule(env, "r2"))
	ev = decided(t, p)(p.DeleteStore(env, "k1"))
	if ev[0] != (PropagationStoreDeleted{EnvironmentID: env, StoreID: "k1"}) {
		t.Fatalf("events %#v", ev)
	}
	_, err = p.DeleteStore(env, "k1")
	wantKind(t, err, ErrNotFound, "storeId")
}

func TestPropagationPlanDecisions(t *testing.T) {
	p := base(t)
	_, err := p.CreatePlan(env, PropagationPlan{ID: "p2", Name: "MAIN"})
	wantKind(t, err, ErrConflict, "name")
	_, err = p.CreatePlan(env, PropagationPlan{ID: "p2", Name: "Other", Status: "ON"})
	wantKind(t, err, ErrInvalid, "status")
	decided(t, p)(p.CreatePlan(env, PropagationPlan{ID: "p2", Name: "Other"}))
	_, err = p.UpdatePlan(env, PropagationPlan{ID: "p2", Name: "main"})
	wantKind(t, err, ErrConflict, "name")
	decided(t, p)(p.UpdatePlan(env, PropagationPlan{ID: "p1", Name: "main", Status: PlanInactive})) // its own name, another case
	_, err = p.DeletePlan(env, "p1")
	wantKind(t, err, ErrConflict, "")
	if !strings.Contains(err.Error(), "r1") {
		t.Fatalf("conflict does not name the rule: %v", err)
	}
	decided(t, p)(p.DeletePlan(env, "p2"))
	_, err = p.DeletePlan(env, "p2")
	wantKind(t, err, ErrNotFound, "planId")
}

func TestPropagationRuleDecisions(t *testing.T) {
	p := base(t)
	r, _ := p.Rule("r1")
	if r.CorrelationAttribute != DefaultCorrelationAttr {
		t.Fatalf("correlation default: %+v", r)
	}
	cases := []struct {
		rule  PropagationRule
		kind  error
		field string
	}{
		{PropagationRule{ID: "r2", PlanID: "p9", Name: "x", SourceStoreID: "d1", TargetStoreID: "s1"}, ErrNotFound, "planId"},
		{PropagationRule{ID: "r2", PlanID: "p1", Name: "x", SourceStoreID: "s1", TargetStoreID: "k1"}, ErrInvalid, "sourceStoreId"},
		{PropagationRule{ID: "r2", PlanID: "p1", Name: "x", SourceStoreID: "d1", TargetStoreID: "d1"}, ErrInvalid, "targetStoreId"},
		{PropagationRule{ID: "r2", PlanID: "p1", Name: "x", SourceStoreID: "d1", TargetStoreID: "zz"}, ErrNotFound, "targetStoreId"},
		{PropagationRule{ID: "r2", PlanID: "p1", Name: " ", SourceStoreID: "d1", TargetStoreID: "s1"}, ErrInvalid, "name"},
		{PropagationRule{ID: "r2", PlanID: "p1", Name: "x", SourceStoreID: "d1", TargetStoreID: "s1",
			Mappings: []AttributeMapping{{ID: "a", Target: "displayName", Source: MapConstant}}}, ErrInvalid, "correlationAttribute"},
		{PropagationRule{ID: "r2", PlanID: "p1", Name: "x", SourceStoreID: "d1", TargetStoreID: "s1",
			Mappings: []AttributeMapping{{ID: "a", Target: "userName", Source: MapConstant}, {ID: "b", Target: "USERNAME", Source: MapConstant}}}, ErrInvalid, "mappings[1].target"},
		{PropagationRule{ID: "r2", PlanID: "p1", Name: "x", SourceStoreID: "d1", TargetStoreID: "s1",
			Mappings: []AttributeMapping{{ID: "a", Target: "userName", Source: "SQL"}}}, ErrInvalid, "mappings[0].source"},
		{PropagationRule{ID: "r2", PlanID: "p1", Name: "x", SourceStoreID: "d1", TargetStoreID: "s1",
			Mappings: []AttributeMapping{{ID: "a", Target: "userName", Source: MapExpression}}}, ErrInvalid, "mappings[0].value"},
		{PropagationRule{ID: "r2", PlanID: "p1", Name: "x", SourceStoreID: "d1", TargetStoreID: "s1", GroupIDs: []string{""}}, ErrInvalid, "groupIds[0]"},
		{PropagationRule{ID: "r2", PlanID: "p1", Name: "x", SourceStoreID: "d1", TargetStoreID: "s1", DriftPolicy: "FIX"}, ErrInvalid, "driftPolicy"},
		{PropagationRule{ID: "r2", PlanID: "p1", Name: "x", SourceStoreID: "d1", TargetStoreID: "s1",
			TargetConfig: map[string]string{"usersBaseDN": "ou=a\nb\x00"}}, ErrInvalid, "targetConfig.usersBaseDN"},
	}
	for i, c := range cases {
		_, err := p.CreateRule(env, c.rule)
		if err == nil {
			t.Fatalf("case %d: accepted", i)
		}
		wantKind(t, err, c.kind, c.field)
	}

	// Update keeps the mappings; a no-op records nothing.
	ev := decided(t, p)(p.UpdateRule(env, PropagationRule{ID: "r1", PlanID: "p1", Name: "to app", SourceStoreID: "d1", TargetStoreID: "s1",
		Filter: `title eq "x"`, GroupIDs: []string{"g2", "g1", "g2"}}))
	u := ev[0].(PropagationRuleUpdated).Rule
	if len(u.Mappings) != 1 || u.Active || strings.Join(u.GroupIDs, ",") != "g1,g2" {
		t.Fatalf("updated rule %+v", u)
	}
	if ev, err := p.UpdateRule(env, u); err != nil || len(ev) != 0 {
		t.Fatalf("no-op: %v %v", ev, err)
	}
	// A change of the drift policy alone, or of the target configuration alone, is a change.
	drift := u
	drift.DriftPolicy = DriftOverwrite
	if ev, err := p.UpdateRule(env, drift); err != nil || len(ev) != 1 {
		t.Fatalf("drift policy only: %v %v, want one event", ev, err)
	}
	tc := u
	tc.TargetConfig = map[string]string{"usersBaseDN": "ou=other,dc=example,dc=com"}
	if ev, err := p.UpdateRule(env, tc); err != nil || len(ev) != 1 {
		t.Fatalf("target configuration only: %v %v, want one event", ev, err)
	}
	_, err := p.UpdateRule(env, PropagationRule{ID: "r1", PlanID: "p1", Name: "to app", SourceStoreID: "d1", TargetStoreID: "s1", CorrelationAttribute: "externalId"})
	wantKind(t, err, ErrInvalid, "correlationAttribute")
	_, err = p.DeleteRule(env, "r9")
	wantKind(t, err, ErrNotFound, "ruleId")
}

func TestPropagationMappingDecisions(t *testing.T) {
	p := base(t)
	decided(t, p)(p.SetMapping(env, "r1", AttributeMapping{ID: "m2", Target: `emails[type eq "work"].value`, Source: MapAttribute, Value: "email"}))
	_, err := p.SetMapping(env, "r1", AttributeMapping{ID: "m3", Target: "USERNAME", Source: MapConstant, Value: "x"})
	wantKind(t, err, ErrConflict, "target")
	// Replacing by ID, even onto its own target.
	decided(t, p)(p.SetMapping(env, "r1", AttributeMapping{ID: "m2", Target: `emails[type eq "work"].value`, Source: MapExpression, Value: "lower(email)", ApplyOn: ApplyOnCreate}))
	r, _ := p.Rule("r1")
	if len(r.Mappings) != 2 || r.Mappings[1].Source != MapExpression || r.Mappings[1].ApplyOn != ApplyOnCreate {
		t.Fatalf("mappings %+v", r.Mappings)
	}
	if ev, err := p.SetMapping(env, "r1", r.Mappings[1]); err != nil || len(ev) != 0 {
		t.Fatalf("no-op set: %v %v", ev, err)
	}
	_, err = p.SetMapping(env, "r1", AttributeMapping{ID: "m4", Target: "title", Source: MapConstant, ApplyOn: "SOMETIMES"})
	wantKind(t, err, ErrInvalid, "applyOn")
	_, err = p.SetMapping(env, "r9", AttributeMapping{ID: "m4", Target: "title", Source: MapConstant})
	wantKind(t, err, ErrNotFound, "ruleId")
	decided(t, p)(p.RemoveMapping(env, "r1", "m2"))
	_, err = p.RemoveMapping(env, "r1", "m2")
	wantKind(t, err, ErrNotFound, "mappingId")
}

func TestPropagationPublishAndRollback(t *testing.T) {
	p := &Propagation{}
	_, err := p.Publish(env, "rev0", "")
	wantKind(t, err, ErrConflict, "")
	p = base(t)
	decided(t, p)(p.SetStoreCredentials(env, "s1", "v1:k:ONE"))
	ev := decided(t, p)(p.Publish(env, "rev1", "first"))
	r1 := ev[0].(PropagationRevisionPublished)
	if r1.Number != 1 || r1.PreviousRevisionID != "" || r1.ContentHash != p.Content().Hash() || len(r1.Content.Rules) != 1 {
		t.Fatalf("revision 1 %+v", r1)
	}
	_, err = p.Publish(env, "revX", "")
	wantKind(t, err, ErrConflict, "")
	if !strings.Contains(err.Error(), "nothing to publish") {
		t.Fatalf("error %v", err)
	}

	// Edit, publish revision 2: chained to 1.
	decided(t, p)(p.SetStoreCredentials(env, "s1", "v1:k:TWO"))
	decided(t, p)(p.SetMapping(env, "r1", AttributeMapping{ID: "m2", Target: "title", Source: MapConstant, Value: "Staff"}))
	r2 := decided(t, p)(p.Publish(env, "rev2", ""))[0].(PropagationRevisionPublished)
	if r2.Number != 2 || r2.PreviousRevisionID != "rev1" || r2.PreviousHash != r1.ContentHash || r2.ContentHash == r1.ContentHash {
		t.Fatalf("revision 2 %+v", r2)
	}

	// A rule not mapping its correlation attribute blocks a publish.
	decided(t, p)(p.RemoveMapping(env, "r1", "m1"))
	_, err = p.Publish(env, "rev3", "")
	wantKind(t, err, ErrConflict, "")
	if !strings.Contains(err.Error(), "correlation") {
		t.Fatalf("error %v", err)
	}

	// Rollback to 1: draft reset + revision 3 restored from 1, with 1's configuration and the
	// current credentials (a secret is not configuration: a rotated token never comes back).
	ev = decided(t, p)(p.Rollback(env, "rev1", "rev3", ""))
	if len(ev) != 2 {
		t.Fatalf("rollback events %#v", ev)
	}
	reset, r3 := ev[0].(PropagationDraftReset), ev[1].(PropagationRevisionPublished)
	if reset.RevisionID != "rev1" || r3.RestoredFrom != "rev1" || r3.Number != 3 || r3.ContentHash == r1.ContentHash ||
		r3.ContentHash != p.Content().Hash() || r3.PreviousRevisionID != "rev2" {
		t.Fatalf("rollback %+v %+v", reset, r3)
	}
	s, _ := p.Store("s1")
	if s.Credentials != "v1:k:TWO" || s.CredentialsVersion != 2 {
		t.Fatalf("rolled back store %+v", s)
	}
	// The credentials version never goes back: setting new ones is version 3, not 2.
	decided(t, p)(p.SetStoreCredentials(env, "s1", "v1:k:THREE"))
	s, _ = p.Store("s1")
	if s.CredentialsVersion != 3 {
		t.Fatalf("credentials version after rollback %d", s.CredentialsVersion)
	}
	decided(t, p)(p.Publish(env, "rev4", "new credentials"))
	// Rolling back to the latest revision's content only resets the draft.
	decided(t, p)(p.RemoveMapping(env, "r1", "m1"))
	ev = decided(t, p)(p.Rollback(env, "rev4", "rev5", ""))
	if len(ev) != 1 {
		t.Fatalf("events %#v", ev)
	}
	_, err = p.Rollback(env, "rev4", "rev5", "")
	wantKind(t, err, ErrConflict, "")
	_, err = p.Rollback(env, "nope", "rev5", "")
	wantKind(t, err, ErrNotFound, "revisionId")
	if got := len(p.Revisions()); got != 4 {
		t.Fatalf("%d revisions", got)
	}
}

func TestPropagationContentHash(t *testing.T) {
	p := base(t)
	c := p.Content()
	h := c.Hash()
	// Order does not count.
	c.Stores[0], c.Stores[2] = c.Stores[2], c.Stores[0]
	if c.Hash() != h {
		t.Fatal("order changed the hash")
	}
	// Content() is a copy.
	c.Rules[0].Mappings[0].Value = "changed"
	c.Stores[0].Config["k"] = "v"
	if p.Content().Hash() != h {
		t.Fatal("changing Content() changed the aggregate")
	}
	if c.Hash() == h {
		t.Fatal("a mapping's value does not count")
	}
}

func FuzzPropagationMapping(f *testing.F) {
	f.Add("userName", "ATTRIBUTE", "username", "ALWAYS", "")
	f.Add(`emails[type eq "work"].value`, "EXPRESSION", "lower(email)", "ON_CREATE", "x")
	f.Add("\x00", "", "\xff", "X", "")
	f.Fuzz(func(t *testing.T, target, source, value, apply, def string) {
		p := base(t)
		ev, err := p.SetMapping(env, "r1", AttributeMapping{ID: "mz", Target: target, Source: MappingSource(source), Value: value, ApplyOn: MappingApply(apply), Default: def})
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrConflict) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		decided(t, p)(ev, nil)
	})
}
