package projections

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
)

func TestPropagationConfigFollowsDraftAndRevisions(t *testing.T) {
	s := openStore(t)
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := &domain.Propagation{}
	decide := func(events []any, err error) []any {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			p.Apply(e)
		}
		return events
	}
	stream := "propagation-e1"
	appendPayloads(t, s, reg, stream, "e1", decide(p.CreateStore("e1", domain.PropagationStore{ID: "d1", Name: "Directory", Type: domain.StoreDirectory}))...)
	appendPayloads(t, s, reg, stream, "e1", decide(p.CreateStore("e1", domain.PropagationStore{ID: "s1", Name: "App", Type: domain.StoreSCIM}))...)
	appendPayloads(t, s, reg, stream, "e1", decide(p.SetStoreCredentials("e1", "s1", "v1:k:SEALED"))...)
	appendPayloads(t, s, reg, stream, "e1", decide(p.CreatePlan("e1", domain.PropagationPlan{ID: "p1", Name: "Main"}))...)
	appendPayloads(t, s, reg, stream, "e1", decide(p.CreateRule("e1", domain.PropagationRule{ID: "r1", PlanID: "p1", Name: "to app",
		SourceStoreID: "d1", TargetStoreID: "s1", Mappings: []domain.AttributeMapping{{ID: "m1", Target: "userName", Source: domain.MapAttribute, Value: "username"}}}))...)
	// Outcome streams are not read (this one would not even be a configuration event).
	appendPayloads(t, s, reg, "propaccount-r1_u1", "e1", domain.PropagationChangeSkipped{ChangeOutcome: domain.ChangeOutcome{EnvironmentID: "e1", RuleID: "r1"}, Reason: "out of scope"})
	pos := appendPayloads(t, s, reg, stream, "e1", decide(p.Publish("e1", "rev1", "first"))...)

	m := NewPropagationConfig(s, reg)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	if d := m.Draft("e1"); d.Hash() != p.Content().Hash() || len(d.Stores) != 2 || len(d.Rules) != 1 {
		t.Fatalf("draft %+v", d)
	}
	pub, ok := m.Published("e1")
	if !ok || pub.RevisionID != "rev1" || pub.Number != 1 {
		t.Fatalf("published %+v %v", pub, ok)
	}
	if st, ok := m.Store("e1", "s1"); !ok || st.Credentials != "v1:k:SEALED" || st.CredentialsVersion != 1 {
		t.Fatalf("store %+v", st)
	}
	if _, ok := m.Plan("e1", "p1"); !ok {
		t.Fatal("plan missing")
	}
	if r, ok := m.Rule("e1", "r1"); !ok || len(r.Mappings) != 1 {
		t.Fatalf("rule %+v", r)
	}
	if got := m.Environments(); len(got) != 1 || got[0] != "e1" {
		t.Fatalf("environments %v", got)
	}

	// Live: a change and revision 2, then a rollback to 1.
	appendPayloads(t, s, reg, stream, "e1", decide(p.UpdatePlan("e1", domain.PropagationPlan{ID: "p1", Name: "Main 2"}))...)
	appendPayloads(t, s, reg, stream, "e1", decide(p.Publish("e1", "rev2", ""))...)
	pos = appendPayloads(t, s, reg, stream, "e1", decide(p.Rollback("e1", "rev1", "rev3", ""))...)
	if err := m.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	revs := m.Revisions("e1")
	if len(revs) != 3 || revs[0].RevisionID != "rev3" || revs[0].RestoredFrom != "rev1" || revs[0].Position.IsZero() || revs[0].PublishedAt.IsZero() {
		t.Fatalf("revisions %+v", revs)
	}
	if pl, _ := m.Plan("e1", "p1"); pl.Name != "Main" {
		t.Fatalf("rollback not folded: %+v", pl)
	}
	if r, ok := m.Revision("e1", "rev2"); !ok || r.Number != 2 {
		t.Fatalf("revision 2 %+v", r)
	}
	if _, ok := m.Revision("e2", "rev2"); ok {
		t.Fatal("revision of another environment")
	}
	if d := m.Draft("nope"); d.Stores == nil || len(d.Stores) != 0 {
		t.Fatalf("draft of an unknown environment %+v", d)
	}
}

func TestDiffPropagation(t *testing.T) {
	a := domain.PropagationContent{
		Stores: []domain.PropagationStore{{ID: "s1", Name: "App", Type: domain.StoreSCIM, Config: map[string]string{"baseUrl": "a", "old": "x"},
			Credentials: "v1:k:ONE", CredentialsVersion: 1}, {ID: "s2", Name: "Gone"}},
		Plans: []domain.PropagationPlan{{ID: "p1", Name: "Main", Status: domain.PlanActive}},
		Rules: []domain.PropagationRule{{ID: "r1", Name: "R", PlanID: "p1", Mappings: []domain.AttributeMapping{
			{ID: "m1", Target: "userName", Source: domain.MapAttribute, Value: "username"},
			{ID: "m2", Target: "title", Source: domain.MapConstant, Value: "x"}}}},
	}
	b := domain.PropagationContent{
		Stores: []domain.PropagationStore{{ID: "s3", Name: "New"}, {ID: "s1", Name: "App", Type: domain.StoreSCIM, Config: map[string]string{"baseUrl": "b", "new": "y"},
			Credentials: "v1:k:TWO", CredentialsVersion: 2, Actions: domain.StoreActions{Create: true}}},
		Plans: []domain.PropagationPlan{{ID: "p1", Name: "Main", Status: domain.PlanInactive}},
		Rules: []domain.PropagationRule{{ID: "r1", Name: "R", PlanID: "p1", Filter: `title pr`, Mappings: []domain.AttributeMapping{
			{ID: "m1", Target: "userName", Source: domain.MapExpression, Value: "lower(username)"},
			{ID: "m3", Target: "displayName", Source: domain.MapAttribute, Value: "name.formatted"}}}},
	}
	var got []string
	for _, c := range DiffPropagation(a, b) {
		got = append(got, c.String())
	}
	want := []string{
		"changed store s1 (App): config.baseUrl, config.new, config.old, credentials, actions.create",
		"added store s3 (New)",
		"removed store s2 (Gone)",
		"changed plan p1 (Main): status",
		"changed rule r1 (R): filter",
		"changed mapping m1 (userName): source, value",
		"added mapping m3 (displayName)",
		"removed mapping m2 (title)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range got {
		if strings.Contains(c, "ONE") || strings.Contains(c, "TWO") {
			t.Fatal("a diff shows credentials")
		}
	}
	if d := DiffPropagation(b, b); len(d) != 0 {
		t.Fatalf("self diff %v", d)
	}
}

func TestAuditRedactsPropagationCredentials(t *testing.T) {
	for _, p := range []any{
		domain.PropagationStoreCredentialsSet{EnvironmentID: "e1", StoreID: "s1", Credentials: "v1:k:SEALED", Version: 1},
		domain.PropagationRevisionPublished{EnvironmentID: "e1", RevisionID: "r1", Content: domain.PropagationContent{
			Stores: []domain.PropagationStore{{ID: "s1", Name: "App", Credentials: "v1:k:SEALED"}}}},
		domain.PropagationDraftReset{EnvironmentID: "e1", Content: domain.PropagationContent{
			Stores: []domain.PropagationStore{{ID: "s1", Name: "App", Credentials: "v1:k:SEALED"}}}},
	} {
		data, err := RenderAuditPayload(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "SEALED") || !strings.Contains(string(data), Redacted) {
			t.Fatalf("%T renders %s", p, data)
		}
	}
}
