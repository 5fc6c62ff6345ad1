package commands

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/idstream/idstream/commands/secret"
	"github.com/idstream/idstream/domain"
)

// propFixture is a fixture with the propagation handlers, a real sealer and checkers that
// record their calls.
type propFixture struct {
	*fixture
	prop    *Propagation
	sealer  *secret.Sealer
	env     string
	checked []string
	mu      sync.Mutex
}

func newPropFixture(t *testing.T) *propFixture {
	t.Helper()
	f := &propFixture{fixture: newFixture(t)}
	key := make([]byte, secret.KeySize)
	key[0] = 7
	var err error
	if f.sealer, err = secret.NewSealer(key); err != nil {
		t.Fatal(err)
	}
	f.prop = NewPropagation(f.d, PropagationPorts{Secrets: f.sealer,
		Mappings: func(m domain.AttributeMapping) error {
			f.mu.Lock()
			f.checked = append(f.checked, "mapping:"+m.Target)
			f.mu.Unlock()
			if strings.Contains(m.Value, "((") {
				return domain.Invalidf("value", "expression does not compile")
			}
			return nil
		},
		StoreConfig: func(typ domain.StoreType, config map[string]string) error {
			f.mu.Lock()
			f.checked = append(f.checked, "store:"+string(typ))
			f.mu.Unlock()
			if typ == domain.StoreSCIM && config["baseUrl"] == "" {
				return errors.New("baseUrl is required") // no kind: reported on "config"
			}
			return nil
		}})
	f.env, _ = f.fixture.env()
	return f
}

func (f *propFixture) stream() string { return domain.StreamName(domain.CategoryPropagation, f.env) }

// setup creates the directory store, a SCIM store with credentials, a plan and a rule.
func (f *propFixture) setup() (dir, app, plan, rule string) {
	f.t.Helper()
	p := f.prop
	d, err := p.CreateStore.Handle(f.ctx, CreatePropagationStore{EnvironmentID: f.env, Name: "Directory", Type: domain.StoreDirectory})
	if err != nil {
		f.t.Fatal(err)
	}
	a, err := p.CreateStore.Handle(f.ctx, CreatePropagationStore{EnvironmentID: f.env, Name: "App", Type: domain.StoreSCIM, Managed: true,
		Config: map[string]string{"baseUrl": "http://127.0.0.1:1/scim", "authType": "bearer"}, Credentials: map[string]string{"token": "s3cr3t-T0KEN-value"},
		Actions: domain.StoreActions{Create: true, Update: true, Disable: true}})
	if err != nil {
		f.t.Fatal(err)
	}
	pl, err := p.CreatePlan.Handle(f.ctx, CreatePropagationPlan{EnvironmentID: f.env, Name: "Main"})
	if err != nil {
		f.t.Fatal(err)
	}
	r, err := p.CreateRule.Handle(f.ctx, CreatePropagationRule{EnvironmentID: f.env, PlanID: pl.Plan.ID, Name: "to app",
		SourceStoreID: d.Store.ID, TargetStoreID: a.Store.ID, Filter: `title eq "Engineer"`, Active: true,
		Mappings: []domain.AttributeMapping{{Target: "userName", Source: domain.MapAttribute, Value: "username"}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return d.Store.ID, a.Store.ID, pl.Plan.ID, r.Rule.ID
}

func TestPropagationStoreCommands(t *testing.T) {
	f := newPropFixture(t)
	_, app, _, _ := f.setup()
	evs := f.events(f.stream())
	if _, ok := evs[1].(domain.PropagationStoreCreated); !ok {
		t.Fatalf("event 1 %T", evs[1])
	}
	cs, ok := evs[2].(domain.PropagationStoreCredentialsSet)
	if !ok || cs.Version != 1 || !strings.HasPrefix(cs.Credentials, "v1:") {
		t.Fatalf("event 2 %#v", evs[2])
	}
	// The credentials are in the log only sealed, bound to the store.
	if f.rawLogContains("s3cr3t-T0KEN-value") {
		t.Fatal("the log holds the plain credentials")
	}
	creds, err := OpenStoreCredentials(f.sealer, domain.PropagationStore{ID: app, Credentials: cs.Credentials})
	if err != nil || creds["token"] != "s3cr3t-T0KEN-value" {
		t.Fatalf("open: %v %v", creds, err)
	}
	if _, err := OpenStoreCredentials(f.sealer, domain.PropagationStore{ID: f.d.NewID(), Credentials: cs.Credentials}); err == nil ||
		strings.Contains(err.Error(), cs.Credentials) {
		t.Fatalf("sealed credentials opened for another store, or the error quotes them: %v", err)
	}
	if creds, err := OpenStoreCredentials(f.sealer, domain.PropagationStore{ID: app}); err != nil || creds != nil {
		t.Fatalf("no credentials: %v %v", creds, err)
	}

	// New credentials: version 2; an update keeps them.
	res, err := f.prop.SetCredentials.Handle(f.ctx, SetPropagationStoreCredentials{EnvironmentID: f.env, StoreID: app, Credentials: map[string]string{"token": "another"}})
	if err != nil || res.Store.CredentialsVersion != 2 || res.Position.IsZero() {
		t.Fatalf("set credentials: %+v %v", res, err)
	}
	name := "App 2"
	up, err := f.prop.UpdateStore.Handle(f.ctx, UpdatePropagationStore{EnvironmentID: f.env, StoreID: app, Name: &name})
	if err != nil || up.Store.Name != name || up.Store.CredentialsVersion != 2 || up.Store.Config["baseUrl"] == "" {
		t.Fatalf("update: %+v %v", up, err)
	}
	if again, err := f.prop.UpdateStore.Handle(f.ctx, UpdatePropagationStore{EnvironmentID: f.env, StoreID: app, Name: &name}); err != nil || !again.Position.IsZero() {
		t.Fatalf("no-op update: %+v %v", again, err)
	}

	// Refusals.
	_, err = f.prop.CreateStore.Handle(f.ctx, CreatePropagationStore{EnvironmentID: f.env, Name: "Other", Type: domain.StoreSCIM})
	wantKind(t, err, domain.ErrInvalid, "config")
	_, err = f.prop.CreateStore.Handle(f.ctx, CreatePropagationStore{EnvironmentID: f.env, Name: "app 2", Type: domain.StoreZoom})
	wantKind(t, err, domain.ErrConflict, "name")
	_, err = f.prop.SetCredentials.Handle(f.ctx, SetPropagationStoreCredentials{EnvironmentID: f.env, StoreID: app, Credentials: map[string]string{}})
	wantKind(t, err, domain.ErrInvalid, "credentials")
	_, err = f.prop.SetCredentials.Handle(f.ctx, SetPropagationStoreCredentials{EnvironmentID: f.env, StoreID: "x", Credentials: map[string]string{"a": "b"}})
	wantKind(t, err, domain.ErrInvalid, "storeId")
	_, err = f.prop.SetCredentials.Handle(f.ctx, SetPropagationStoreCredentials{EnvironmentID: f.env, StoreID: f.d.NewID(), Credentials: map[string]string{"a": "b"}})
	wantKind(t, err, domain.ErrNotFound, "storeId")
	noKey := NewSetPropagationStoreCredentials(f.d, nil)
	_, err = noKey.Handle(f.ctx, SetPropagationStoreCredentials{EnvironmentID: f.env, StoreID: app, Credentials: map[string]string{"a": "b"}})
	wantKind(t, err, domain.ErrUnavailable, "")
	_, err = f.prop.CreatePlan.Handle(f.ctx, CreatePropagationPlan{EnvironmentID: f.d.NewID(), Name: "x"})
	wantKind(t, err, domain.ErrNotFound, "")
	if !strings.Contains(strings.Join(f.checked, ","), "store:SCIM") {
		t.Fatalf("store config checker not called: %v", f.checked)
	}
}

func TestPropagationRuleCommands(t *testing.T) {
	f := newPropFixture(t)
	dir, app, plan, rule := f.setup()
	base := CreatePropagationRule{EnvironmentID: f.env, PlanID: plan, Name: "r", SourceStoreID: dir, TargetStoreID: app}
	bad := func(mod func(*CreatePropagationRule), kind error, field string) {
		t.Helper()
		in := base
		mod(&in)
		_, err := f.prop.CreateRule.Handle(f.ctx, in)
		wantKind(t, err, kind, field)
	}
	bad(func(in *CreatePropagationRule) { in.Filter = `shoeSize gt 4` }, domain.ErrInvalid, "filter")
	bad(func(in *CreatePropagationRule) { in.Filter = `title eq` }, domain.ErrInvalid, "filter")
	bad(func(in *CreatePropagationRule) { in.GroupIDs = []string{f.d.NewID()} }, domain.ErrNotFound, "groupIds[0]")
	bad(func(in *CreatePropagationRule) { in.TargetStoreID = dir }, domain.ErrInvalid, "targetStoreId")
	bad(func(in *CreatePropagationRule) {
		in.Mappings = []domain.AttributeMapping{{Target: "userName", Source: domain.MapExpression, Value: "lower(("}}
	}, domain.ErrInvalid, "mappings[0].value")

	g, err := f.dir.CreateGroup.Handle(f.ctx, CreateGroup{EnvironmentID: f.env, Name: "Eng", Kind: domain.GroupDirect})
	if err != nil {
		t.Fatal(err)
	}
	groups := []string{g.GroupID}
	inactive := false
	up, err := f.prop.UpdateRule.Handle(f.ctx, UpdatePropagationRule{EnvironmentID: f.env, RuleID: rule, GroupIDs: &groups, Active: &inactive})
	if err != nil || up.Rule.Active || len(up.Rule.GroupIDs) != 1 || len(up.Rule.Mappings) != 1 || up.Rule.Filter == "" {
		t.Fatalf("update rule: %+v %v", up, err)
	}

	// Mappings: set (new ID), replace, conflict on target, remove.
	set, err := f.prop.SetMapping.Handle(f.ctx, SetPropagationMapping{EnvironmentID: f.env, RuleID: rule,
		Mapping: domain.AttributeMapping{Target: `emails[type eq "work"].value`, Source: domain.MapAttribute, Value: "email"}})
	if err != nil || set.Mapping.ID == "" || len(set.Rule.Mappings) != 2 || set.Mapping.ApplyOn != domain.ApplyAlways {
		t.Fatalf("set mapping: %+v %v", set, err)
	}
	m := set.Mapping
	m.Source, m.Value = domain.MapExpression, `lower(email)`
	if rep, err := f.prop.SetMapping.Handle(f.ctx, SetPropagationMapping{EnvironmentID: f.env, RuleID: rule, Mapping: m}); err != nil || len(rep.Rule.Mappings) != 2 || rep.Mapping.Source != domain.MapExpression {
		t.Fatalf("replace mapping: %+v %v", rep, err)
	}
	_, err = f.prop.SetMapping.Handle(f.ctx, SetPropagationMapping{EnvironmentID: f.env, RuleID: rule,
		Mapping: domain.AttributeMapping{Target: "USERNAME", Source: domain.MapConstant, Value: "x"}})
	wantKind(t, err, domain.ErrConflict, "target")
	if rm, err := f.prop.RemoveMapping.Handle(f.ctx, RemovePropagationMapping{EnvironmentID: f.env, RuleID: rule, MappingID: m.ID}); err != nil || len(rm.Rule.Mappings) != 1 {
		t.Fatalf("remove mapping: %+v %v", rm, err)
	}

	// Deletions: the plan holds the rule; a managed store takes its rules with it.
	_, err = f.prop.DeletePlan.Handle(f.ctx, DeletePropagationPlan{EnvironmentID: f.env, PlanID: plan})
	wantKind(t, err, domain.ErrConflict, "")
	_, err = f.prop.DeleteStore.Handle(f.ctx, DeletePropagationStore{EnvironmentID: f.env, StoreID: dir})
	wantKind(t, err, domain.ErrConflict, "")
	del, err := f.prop.DeleteStore.Handle(f.ctx, DeletePropagationStore{EnvironmentID: f.env, StoreID: app})
	if err != nil || !del.Deprovision || len(del.DeletedRuleIDs) != 1 || del.DeletedRuleIDs[0] != rule {
		t.Fatalf("delete managed store: %+v %v", del, err)
	}
	if _, err := f.prop.DeletePlan.Handle(f.ctx, DeletePropagationPlan{EnvironmentID: f.env, PlanID: plan}); err != nil {
		t.Fatal(err)
	}
	_, err = f.prop.DeleteRule.Handle(f.ctx, DeletePropagationRule{EnvironmentID: f.env, RuleID: rule})
	wantKind(t, err, domain.ErrNotFound, "ruleId")
}

func TestPropagationPublishRollbackCommands(t *testing.T) {
	f := newPropFixture(t)
	_, app, _, rule := f.setup()
	r1, err := f.prop.Publish.Handle(f.ctx, PublishPropagationRevision{EnvironmentID: f.env, Description: "first"})
	if err != nil || r1.Revision.Number != 1 || r1.Revision.Description != "first" || len(r1.Revision.Content.Stores) != 2 {
		t.Fatalf("publish: %+v %v", r1, err)
	}
	_, err = f.prop.Publish.Handle(f.ctx, PublishPropagationRevision{EnvironmentID: f.env})
	wantKind(t, err, domain.ErrConflict, "")
	if !strings.Contains(err.Error(), "nothing to publish") {
		t.Fatal(err)
	}
	if _, err := f.prop.SetCredentials.Handle(f.ctx, SetPropagationStoreCredentials{EnvironmentID: f.env, StoreID: app, Credentials: map[string]string{"token": "second"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.prop.SetMapping.Handle(f.ctx, SetPropagationMapping{EnvironmentID: f.env, RuleID: rule,
		Mapping: domain.AttributeMapping{Target: "title", Source: domain.MapConstant, Value: "Staff"}}); err != nil {
		t.Fatal(err)
	}
	r2, err := f.prop.Publish.Handle(f.ctx, PublishPropagationRevision{EnvironmentID: f.env})
	if err != nil || r2.Revision.Number != 2 || r2.Revision.PreviousRevisionID != r1.Revision.RevisionID || r2.Revision.PreviousHash != r1.Revision.ContentHash {
		t.Fatalf("publish 2: %+v %v", r2, err)
	}

	rb, err := f.prop.Rollback.Handle(f.ctx, RollbackPropagationRevision{EnvironmentID: f.env, RevisionID: r1.Revision.RevisionID})
	if err != nil || rb.Revision.Number != 3 || rb.Revision.RestoredFrom != r1.Revision.RevisionID || rb.Revision.ContentHash == r2.Revision.ContentHash {
		t.Fatalf("rollback: %+v %v", rb, err)
	}
	// One append: the reset and the revision are the stream's last two events, at one position.
	evs := f.events(f.stream())
	if _, ok := evs[len(evs)-2].(domain.PropagationDraftReset); !ok {
		t.Fatalf("event before the restored revision: %T", evs[len(evs)-2])
	}
	store, _ := rb.Revision.Content.Store(app)
	creds, err := OpenStoreCredentials(f.sealer, store)
	if err != nil || creds["token"] != "second" { // the current credentials: a rotated token never comes back
		t.Fatalf("rolled-back credentials %v %v", creds, err)
	}
	_, err = f.prop.Rollback.Handle(f.ctx, RollbackPropagationRevision{EnvironmentID: f.env, RevisionID: r1.Revision.RevisionID})
	wantKind(t, err, domain.ErrConflict, "")
	_, err = f.prop.Rollback.Handle(f.ctx, RollbackPropagationRevision{EnvironmentID: f.env, RevisionID: f.d.NewID()})
	wantKind(t, err, domain.ErrNotFound, "revisionId")
}

// TestPropagationEditsCommute runs concurrent edits of one environment: each is retried on the
// stream's conflict, none is lost; names stay unique.
func TestPropagationEditsCommute(t *testing.T) {
	f := newPropFixture(t)
	// 2n writers: each round of conflicts lets one through, so none needs more than 2n <= maxAttempts attempts.
	const n = 3
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, errs[i] = f.prop.CreatePlan.Handle(f.ctx, CreatePropagationPlan{EnvironmentID: f.env, Name: "plan " + string(rune('a'+i))})
		}()
		go func() {
			defer wg.Done()
			_, errs[n+i] = f.prop.CreatePlan.Handle(f.ctx, CreatePropagationPlan{EnvironmentID: f.env, Name: "Same"})
		}()
	}
	wg.Wait()
	conflicts := 0
	for i, err := range errs {
		switch {
		case err == nil:
		case i >= n && errors.Is(err, domain.ErrConflict):
			conflicts++
		default:
			t.Fatalf("edit %d: %v", i, err)
		}
	}
	p, _, err := f.d.loadPropagation(f.ctx, f.env)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(p.Content().Plans); got != n+1 || conflicts != n-1 {
		t.Fatalf("%d plans, %d conflicts; want %d and %d", got, conflicts, n+1, n-1)
	}
}
