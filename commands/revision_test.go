package commands

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// revisionFixture is a fixture with the revision handlers, whose configurations are replays of
// the fixture's log (projections.ConfigurationReplay: the real fold).
type revisionFixture struct {
	*fixture
	replay  projections.ConfigurationReplay
	create  *CreateConfigRevisionHandler
	restore *RestoreConfigRevisionHandler
}

func newRevisionFixture(t *testing.T) *revisionFixture {
	f := newFixture(t)
	replay := projections.ConfigurationReplay{Store: f.d.Store, Registry: f.d.Registry}
	counts := logCounts{d: f.d}
	return &revisionFixture{fixture: f, replay: replay, create: NewCreateConfigRevision(f.d, replay),
		restore: NewRestoreConfigRevision(f.d, RevisionPorts{Configurations: replay, AttributeUsage: counts, PopulationUsage: counts})}
}

func (f *revisionFixture) head() eventstore.Position {
	f.t.Helper()
	p, err := f.d.head(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *revisionFixture) hashAt(env string, pos eventstore.Position) string {
	f.t.Helper()
	c, err := f.replay.ConfigurationAt(f.ctx, env, pos)
	if err != nil {
		f.t.Fatal(err)
	}
	return c.Hash()
}

func (f *revisionFixture) revision(env, name string) domain.ConfigRevision {
	f.t.Helper()
	res, err := f.create.Handle(f.ctx, CreateConfigRevision{EnvironmentID: env, Name: name})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.Revision
}

func TestCreateConfigRevision(t *testing.T) {
	f := newRevisionFixture(t)
	env, _ := f.env()
	head := f.head()
	res, err := f.create.Handle(f.ctx, CreateConfigRevision{EnvironmentID: env, Name: " Baseline ", Description: "first"})
	if err != nil {
		t.Fatal(err)
	}
	first := res.Revision
	want := domain.ConfigRevisionCreated{RevisionID: first.RevisionID, EnvironmentID: env, Name: "Baseline", Description: "first",
		Position: head.String(), ContentHash: f.hashAt(env, head)}
	if got := f.last("configrevision-" + env); got != want {
		t.Fatalf("revision_created %+v, want %+v", got, want)
	}
	if !strings.HasPrefix(first.ContentHash, "sha256:") || len(first.ContentHash) != len("sha256:")+64 {
		t.Fatalf("content hash %q", first.ContentHash)
	}

	if _, err := f.dir.Credentials.SetPasswordPolicy.Handle(f.ctx, SetPasswordPolicy{EnvironmentID: env,
		Policy: domain.PasswordPolicy{MinLength: 12, MaxLength: 64}}); err != nil {
		t.Fatal(err)
	}
	second := f.revision(env, "hardened")
	if second.PreviousRevisionID != first.RevisionID || second.PreviousHash != first.ContentHash || second.ContentHash == first.ContentHash {
		t.Fatalf("second revision %+v not chained to %+v, or the same hash", second, first)
	}
	// An explicit past position hashes the configuration there, not now.
	res, err = f.create.Handle(f.ctx, CreateConfigRevision{EnvironmentID: env, Name: "back then", Position: head})
	if err != nil || res.Revision.ContentHash != first.ContentHash || res.Revision.Position != head.String() {
		t.Fatalf("revision at %s: %+v, %v; want hash %s", head, res.Revision, err, first.ContentHash)
	}

	bad := []struct {
		in    CreateConfigRevision
		kind  error
		field string
	}{
		{CreateConfigRevision{EnvironmentID: env, Name: "BASELINE"}, domain.ErrConflict, "input.name"},
		{CreateConfigRevision{EnvironmentID: env, Name: "  "}, domain.ErrInvalid, "input.name"},
		{CreateConfigRevision{EnvironmentID: env, Name: strings.Repeat("n", 101)}, domain.ErrInvalid, "input.name"},
		{CreateConfigRevision{EnvironmentID: env, Name: "future", Position: eventstore.Position{Commit: 1 << 40, Prepare: 1 << 40}}, domain.ErrInvalid, "input.position"},
		// Position 1 is the default population's creation, before its environment existed.
		{CreateConfigRevision{EnvironmentID: env, Name: "before", Position: eventstore.Position{Commit: 1, Prepare: 1}}, domain.ErrInvalid, "input.position"},
		{CreateConfigRevision{EnvironmentID: "01900000-0000-7000-8000-ffffffffffff", Name: "x"}, domain.ErrNotFound, ""},
	}
	for _, tt := range bad {
		_, err := f.create.Handle(f.ctx, tt.in)
		wantKind(t, err, tt.kind, tt.field)
	}
	if n := len(f.events("configrevision-" + env)); n != 3 {
		t.Fatalf("%d revisions recorded, want 3 (refusals append nothing)", n)
	}
	// Names are per environment.
	other, _ := f.env()
	if _, err := f.create.Handle(f.ctx, CreateConfigRevision{EnvironmentID: other, Name: "Baseline"}); err != nil {
		t.Fatalf("same name in another environment: %v", err)
	}
}

func TestRestoreConfigRevisionRefusals(t *testing.T) {
	f := newRevisionFixture(t)
	env, _ := f.env()
	base := f.revision(env, "base")
	if _, err := f.dir.CreateSchemaAttribute.Handle(f.ctx, CreateSchemaAttribute{EnvironmentID: env,
		Attribute: domain.AttributeDef{Name: "badge", Type: domain.AttributeString}}); err != nil {
		t.Fatal(err)
	}
	pop, err := f.dir.CreatePopulation.Handle(f.ctx, CreatePopulation{EnvironmentID: env, Name: "Contractors"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.dir.CreateUser.Handle(f.ctx, CreateUser{EnvironmentID: env, PopulationID: pop.PopulationID,
		Profile: domain.Profile{Username: "ann"}, Custom: domain.CustomValues{"badge": json.RawMessage(`"B-1"`)}})
	if err != nil {
		t.Fatal(err)
	}
	before := f.head()
	_, err = f.restore.Handle(f.ctx, RestoreConfigRevision{EnvironmentID: env, RevisionID: base.RevisionID})
	wantKind(t, err, domain.ErrConflict, "")
	for _, says := range []string{`"badge"`, `"Contractors"`} {
		if !strings.Contains(err.Error(), says) {
			t.Fatalf("refusal %v does not name %s", err, says)
		}
	}
	if f.head() != before {
		t.Fatal("a refused restore appended events")
	}
	_, err = f.restore.Handle(f.ctx, RestoreConfigRevision{EnvironmentID: env, RevisionID: "01900000-0000-7000-8000-ffffffffffff"})
	wantKind(t, err, domain.ErrNotFound, "revisionId")
	_, err = f.restore.Handle(f.ctx, RestoreConfigRevision{EnvironmentID: env, RevisionID: "nope"})
	wantKind(t, err, domain.ErrInvalid, "revisionId")

	// Force drops the attribute's values; the population still holds ann, so still refused.
	_, err = f.restore.Handle(f.ctx, RestoreConfigRevision{EnvironmentID: env, RevisionID: base.RevisionID, Force: true})
	wantKind(t, err, domain.ErrConflict, "")
	if strings.Contains(err.Error(), `"badge"`) || !strings.Contains(err.Error(), `"Contractors"`) {
		t.Fatalf("forced refusal %v: want only the population named", err)
	}
	if _, err := f.dir.DeleteUser.Handle(f.ctx, DeleteUser{EnvironmentID: env, UserID: res.UserID}); err != nil {
		t.Fatal(err)
	}
	out, err := f.restore.Handle(f.ctx, RestoreConfigRevision{EnvironmentID: env, RevisionID: base.RevisionID, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if out.ToHash != base.ContentHash || out.Changes != 2 {
		t.Fatalf("restore %+v: want hash %s by 2 changes", out, base.ContentHash)
	}
	if got := f.last("schema-" + env); got != (domain.SchemaAttributeRemoved{EnvironmentID: env, Name: "badge", Forced: false}) {
		t.Fatalf("schema: %+v (ann was deleted, so nothing was held)", got)
	}
	if got := f.last("configrevision-" + env); got != (domain.ConfigRevisionRestored{RevisionID: base.RevisionID, EnvironmentID: env,
		FromHash: out.FromHash, ToHash: base.ContentHash, Changes: 2}) {
		t.Fatalf("revision_restored %+v", got)
	}
}

// failingStore fails the append numbered failAt (counting from 1) with ErrUnavailable.
type failingStore struct {
	eventstore.Store
	appends atomic.Int64
	failAt  int64
}

func (s *failingStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if s.appends.Add(1) == s.failAt {
		return eventstore.AppendResult{}, eventstore.ErrUnavailable
	}
	return s.Store.Append(ctx, stream, expected, events...)
}

// A restore that fails midway leaves its committed steps; run again, it converges.
func TestRestoreConfigRevisionConvergesAfterFailure(t *testing.T) {
	f := newRevisionFixture(t)
	env, _ := f.env()
	for _, n := range []string{"dept", "site", "level"} {
		if _, err := f.dir.CreateSchemaAttribute.Handle(f.ctx, CreateSchemaAttribute{EnvironmentID: env,
			Attribute: domain.AttributeDef{Name: n, Type: domain.AttributeString, Enum: []string{"a", "b"}}}); err != nil {
			t.Fatal(err)
		}
	}
	grp, err := f.dir.CreateGroup.Handle(f.ctx, CreateGroup{EnvironmentID: env, Name: "Sales", Kind: domain.GroupDynamic, Filter: `dept eq "a"`})
	if err != nil {
		t.Fatal(err)
	}
	base := f.revision(env, "base")
	if _, err := f.dir.RenameEnvironment.Handle(f.ctx, RenameEnvironment{EnvironmentID: env, Name: "Renamed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dir.DeleteGroup.Handle(f.ctx, DeleteGroup{EnvironmentID: env, GroupID: grp.GroupID}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"dept", "site", "level"} {
		if _, err := f.dir.DeleteSchemaAttribute.Handle(f.ctx, DeleteSchemaAttribute{EnvironmentID: env, Name: n}); err != nil {
			t.Fatal(err)
		}
	}

	// The restore's third append (rename, dept, then level: attributes go by name) fails.
	broken := *f.d
	fs := &failingStore{Store: f.d.Store, failAt: 3}
	broken.Store = fs
	counts := logCounts{d: f.d}
	h := NewRestoreConfigRevision(&broken, RevisionPorts{Configurations: f.replay, AttributeUsage: counts, PopulationUsage: counts})
	res, err := h.Handle(f.ctx, RestoreConfigRevision{EnvironmentID: env, RevisionID: base.RevisionID})
	wantKind(t, err, domain.ErrUnavailable, "")
	if res.Changes != 2 || !strings.Contains(err.Error(), "2 steps committed") || !strings.Contains(err.Error(), "level") {
		t.Fatalf("failed restore: %+v, %v", res, err)
	}
	if got := f.hashAt(env, f.head()); got == base.ContentHash {
		t.Fatal("a half restore already has the revision's hash")
	}
	for _, ev := range f.events("configrevision-" + env) {
		if _, ok := ev.(domain.ConfigRevisionRestored); ok {
			t.Fatal("a failed restore recorded revision_restored")
		}
	}

	out, err := f.restore.Handle(f.ctx, RestoreConfigRevision{EnvironmentID: env, RevisionID: base.RevisionID})
	if err != nil {
		t.Fatal(err)
	}
	// level, site and the group re-created (with a new ID): three steps.
	if out.ToHash != base.ContentHash || out.Changes != 3 || out.Created[grp.GroupID] == "" || out.Created[grp.GroupID] == grp.GroupID {
		t.Fatalf("re-run: %+v, want hash %s by 3 changes and a new group ID", out, base.ContentHash)
	}
	if got := f.hashAt(env, f.head()); got != base.ContentHash {
		t.Fatalf("configuration after the re-run hashes %s, want %s", got, base.ContentHash)
	}
	again, err := f.restore.Handle(f.ctx, RestoreConfigRevision{EnvironmentID: env, RevisionID: base.RevisionID})
	if err != nil || again.Changes != 0 || !again.Position.IsZero() || again.ToHash != base.ContentHash {
		t.Fatalf("third run: %+v, %v; want a no-op", again, err)
	}
}

func TestConfigRevisionWithoutConfigurationSource(t *testing.T) {
	f := newFixture(t)
	env, _ := f.env()
	_, err := f.dir.CreateConfigRevision.Handle(f.ctx, CreateConfigRevision{EnvironmentID: env, Name: "x"})
	wantKind(t, err, domain.ErrUnavailable, "")
	_, err = f.dir.RestoreConfigRevision.Handle(f.ctx, RestoreConfigRevision{EnvironmentID: env, RevisionID: env})
	wantKind(t, err, domain.ErrUnavailable, "")
}

// Names are unique under concurrent creations: one revision stream per environment, appended
// with its expected revision.
func TestCreateConfigRevisionConcurrentNames(t *testing.T) {
	f := newRevisionFixture(t)
	env, _ := f.env()
	const n = 3 // 2n creations: each retry follows another's success, so 2n-1 < maxAttempts retries suffice
	errs := make(chan error, 2*n)
	for i := range 2 * n {
		go func() {
			name := "same"
			if i%2 == 1 {
				name = "distinct-" + string(rune('a'+i))
			}
			_, err := f.create.Handle(f.ctx, CreateConfigRevision{EnvironmentID: env, Name: name})
			errs <- err
		}()
	}
	ok := 0
	for range 2 * n {
		if err := <-errs; err == nil {
			ok++
		} else {
			wantKind(t, err, domain.ErrConflict, "input.name")
		}
	}
	revs := f.events("configrevision-" + env)
	if ok != n+1 || len(revs) != n+1 {
		t.Fatalf("%d creations succeeded, %d recorded; want %d (one \"same\", every distinct name)", ok, len(revs), n+1)
	}
	for i := 1; i < len(revs); i++ { // the chain holds under concurrency
		if revs[i].(domain.ConfigRevisionCreated).PreviousRevisionID != revs[i-1].(domain.ConfigRevisionCreated).RevisionID {
			t.Fatalf("revision %d not chained to %d", i, i-1)
		}
	}
}
