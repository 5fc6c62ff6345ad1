package projections_test

import (
	"context"
	"crypto/rand"
	"reflect"
	"testing"
	"time"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/commands/password"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
	"github.com/idstream/idstream/projections"
)

// e2e is the real write side on an embedded store, with the revision ports answered by replays
// of the log (projections.ConfigurationReplay) and usage counts by a Directory replayed to the
// head.
type e2e struct {
	t      *testing.T
	ctx    context.Context
	store  eventstore.Store
	reg    *eventstore.Registry
	replay projections.ConfigurationReplay
	dir    *commands.Directory
}

var end = eventstore.Position{Commit: ^uint64(0), Prepare: ^uint64(0)}

// headUsage counts users on a Directory replayed to the log's head.
type headUsage struct {
	r projections.ConfigurationReplay
}

func (u headUsage) UsersWithAttribute(ctx context.Context, env, name string) (int, error) {
	d, err := u.r.DirectoryAt(ctx, end)
	if err != nil {
		return 0, err
	}
	return d.UsersWithAttribute(ctx, env, name)
}

func (u headUsage) PopulationUserCount(ctx context.Context, env, pop string) (int, error) {
	d, err := u.r.DirectoryAt(ctx, end)
	if err != nil {
		return 0, err
	}
	return d.PopulationUserCount(ctx, env, pop)
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	store, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	reg, err := commands.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	replay := projections.ConfigurationReplay{Store: store, Registry: reg}
	deps := &commands.Deps{Store: store, Registry: reg, Now: func() time.Time { return time.Now().UTC() },
		NewID: func() string {
			id, err := eventstore.NewEventID(rand.Reader)
			if err != nil {
				panic(err)
			}
			return id.String()
		}}
	usage := headUsage{r: replay}
	dir := commands.NewDirectory(deps, commands.DirectoryPorts{AttributeUsage: usage, PopulationUsage: usage,
		PasswordHasher: hasher, Configurations: replay})
	return &e2e{t: t, ctx: context.Background(), store: store, reg: reg, replay: replay, dir: dir}
}

func (e *e2e) must(_ any, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *e2e) config(env string, pos eventstore.Position) projections.Configuration {
	e.t.Helper()
	c, err := e.replay.ConfigurationAt(e.ctx, env, pos)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *e2e) revision(env, name string) domain.ConfigRevision {
	e.t.Helper()
	res, err := e.dir.CreateConfigRevision.Handle(e.ctx, commands.CreateConfigRevision{EnvironmentID: env, Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Revision
}

func TestConfigurationRevisionsEndToEnd(t *testing.T) {
	e := newE2E(t)
	ctx := e.ctx
	created, err := e.dir.CreateEnvironment.Handle(ctx, commands.CreateEnvironment{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	env := created.EnvironmentID
	r0 := e.revision(env, "empty")

	// Step 1: schema, a population, groups with nesting and roles.
	dept := domain.AttributeDef{Name: "department", Type: domain.AttributeString, Enum: []string{"sales", "eng"}}
	e.must(e.dir.CreateSchemaAttribute.Handle(ctx, commands.CreateSchemaAttribute{EnvironmentID: env, Attribute: dept}))
	pop, err := e.dir.CreatePopulation.Handle(ctx, commands.CreatePopulation{EnvironmentID: env, Name: "Staff", Description: "employees"})
	if err != nil {
		t.Fatal(err)
	}
	sales, err := e.dir.CreateGroup.Handle(ctx, commands.CreateGroup{EnvironmentID: env, Name: "Sales", Kind: domain.GroupDynamic, Filter: `department eq "sales"`})
	if err != nil {
		t.Fatal(err)
	}
	all, err := e.dir.CreateGroup.Handle(ctx, commands.CreateGroup{EnvironmentID: env, Name: "Everyone", Kind: domain.GroupDirect})
	if err != nil {
		t.Fatal(err)
	}
	e.must(e.dir.AddGroupMember.Handle(ctx, commands.AddGroupMember{EnvironmentID: env, GroupID: all.GroupID, MemberType: domain.MemberGroup, MemberID: sales.GroupID}))
	e.must(e.dir.AssignRole.Handle(ctx, commands.AssignRole{EnvironmentID: env, SubjectType: commands.SubjectGroup, SubjectID: sales.GroupID,
		Role: domain.RoleIdentityDataReadOnly, PopulationID: pop.PopulationID}))
	// Identity data is not configuration: a user and a direct membership change no hash.
	before := e.config(env, end).Hash()
	u, err := e.dir.CreateUser.Handle(ctx, commands.CreateUser{EnvironmentID: env, PopulationID: pop.PopulationID, Profile: domain.Profile{Username: "ann"}})
	if err != nil {
		t.Fatal(err)
	}
	e.must(e.dir.AddGroupMember.Handle(ctx, commands.AddGroupMember{EnvironmentID: env, GroupID: all.GroupID, MemberType: domain.MemberUser, MemberID: u.UserID}))
	if after := e.config(env, end).Hash(); after != before {
		t.Fatal("a user and a direct member changed the configuration's hash")
	}
	r1 := e.revision(env, "v1")

	// Step 2: narrow the enum, harden the policy, rename a group, unnest, rename the environment.
	dept2 := dept
	dept2.Enum = []string{"sales", "eng", "ops"}
	e.must(e.dir.UpdateSchemaAttribute.Handle(ctx, commands.UpdateSchemaAttribute{EnvironmentID: env, Attribute: dept2}))
	policy := domain.DefaultPasswordPolicy()
	policy.MinLength = 14
	e.must(e.dir.Credentials.SetPasswordPolicy.Handle(ctx, commands.SetPasswordPolicy{EnvironmentID: env, Policy: policy}))
	e.must(e.dir.UpdateGroup.Handle(ctx, commands.UpdateGroup{EnvironmentID: env, GroupID: sales.GroupID, Name: "Sales EMEA", Filter: `department eq "sales"`}))
	e.must(e.dir.RemoveGroupMember.Handle(ctx, commands.RemoveGroupMember{EnvironmentID: env, GroupID: all.GroupID, MemberType: domain.MemberGroup, MemberID: sales.GroupID}))
	e.must(e.dir.RenameEnvironment.Handle(ctx, commands.RenameEnvironment{EnvironmentID: env, Name: "Acme Corp"}))
	r2 := e.revision(env, "v2")

	// Step 3: delete a group and a schema attribute (no user holds a value), add another.
	e.must(e.dir.DeleteGroup.Handle(ctx, commands.DeleteGroup{EnvironmentID: env, GroupID: sales.GroupID}))
	e.must(e.dir.DeleteSchemaAttribute.Handle(ctx, commands.DeleteSchemaAttribute{EnvironmentID: env, Name: "department"}))
	e.must(e.dir.CreateSchemaAttribute.Handle(ctx, commands.CreateSchemaAttribute{EnvironmentID: env, Attribute: domain.AttributeDef{Name: "badge", Type: domain.AttributeBoolean}}))
	r3 := e.revision(env, "v3")

	// Every revision's configuration, recomputed by replay to its position, has its hash.
	revs, err := projections.ConfigRevisions(ctx, e.store, e.reg, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 4 {
		t.Fatalf("%d revisions listed, want 4", len(revs))
	}
	hashes := map[string]bool{}
	for i, rev := range revs {
		pos, err := eventstore.ParsePosition(rev.Position)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.config(env, pos).Hash(); got != rev.ContentHash {
			t.Fatalf("revision %s: replay hashes %s, stored %s", rev.Name, got, rev.ContentHash)
		}
		if i > 0 && (rev.PreviousRevisionID != revs[i-1].RevisionID || rev.PreviousHash != revs[i-1].ContentHash) {
			t.Fatalf("revision %s not chained to %s", rev.Name, revs[i-1].Name)
		}
		hashes[rev.ContentHash] = true
	}
	if len(hashes) != 4 {
		t.Fatal("two different configurations share a hash")
	}

	// The diff of v1 and v2 names exactly what step 2 changed.
	at := func(r domain.ConfigRevision) projections.Configuration {
		c, err := e.replay.RevisionConfiguration(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	got := projections.DiffConfigurations(at(r1), at(r2))
	want := []projections.ConfigChange{
		{Path: "name", Kind: projections.ChangeChanged, Before: "Acme", After: "Acme Corp"},
		{Path: "passwordPolicy.minLength", Kind: projections.ChangeChanged, Before: 8, After: 14},
		{Path: "schema.department.enum", Kind: projections.ChangeChanged, Name: "department", Before: []string{"sales", "eng"}, After: []string{"sales", "eng", "ops"}},
		{Path: "groups." + sales.GroupID + ".name", Kind: projections.ChangeChanged, Name: "Sales EMEA", Before: "Sales", After: "Sales EMEA"},
		{Path: "groups." + all.GroupID + ".children", Kind: projections.ChangeChanged, Name: "Everyone", Before: []string{sales.GroupID}, After: []string(nil)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("diff v1→v2:\n got %+v\nwant %+v", got, want)
	}
	got = projections.DiffConfigurations(at(r2), at(r3))
	if len(got) != 3 || got[0].Path != "schema.badge" || got[0].Kind != projections.ChangeAdded ||
		got[1].Path != "schema.department" || got[1].Kind != projections.ChangeRemoved ||
		got[2].Path != "groups."+sales.GroupID || got[2].Kind != projections.ChangeRemoved || got[2].Name != "Sales EMEA" {
		t.Fatalf("diff v2→v3: %+v", got)
	}
	if d := projections.DiffConfigurations(at(r3), at(r3)); len(d) != 0 {
		t.Fatalf("a configuration differs from itself: %+v", d)
	}

	// Restore v1: the schema, policy, name, groups (Sales re-created with a new ID), nesting and
	// roles come back.
	res, err := e.dir.RestoreConfigRevision.Handle(ctx, commands.RestoreConfigRevision{EnvironmentID: env, RevisionID: r1.RevisionID})
	if err != nil {
		t.Fatal(err)
	}
	now := e.config(env, end)
	full, err := e.replay.DirectoryAt(ctx, end) // every event, users included: the same configuration
	if err != nil {
		t.Fatal(err)
	}
	if fc, err := full.Configuration(env); err != nil || !reflect.DeepEqual(fc, now) {
		t.Fatalf("full replay's configuration %+v, %v; the configuration-only replay's %+v", fc, err, now)
	}
	if res.ToHash != r1.ContentHash || now.Hash() != r1.ContentHash || res.FromHash != r3.ContentHash {
		t.Fatalf("restore: %+v; now %s; want %s from %s", res, now.Hash(), r1.ContentHash, r3.ContentHash)
	}
	newSales := res.Created[sales.GroupID]
	g, ok := now.Group(newSales)
	if newSales == "" || newSales == sales.GroupID || !ok || g.Name != "Sales" || g.Filter != `department eq "sales"` ||
		len(g.Roles) != 1 || g.Roles[0] != (domain.ConfigRole{Role: domain.RoleIdentityDataReadOnly, PopulationID: pop.PopulationID}) {
		t.Fatalf("re-created Sales: %q %+v", newSales, g)
	}
	if everyone, _ := now.Group(all.GroupID); !reflect.DeepEqual(everyone.Children, []string{newSales}) {
		t.Fatalf("Everyone's children %v, want [%s]", everyone.Children, newSales)
	}
	// The diff against v1 by ID shows only the re-creation.
	if d := projections.DiffConfigurations(at(r1), now); len(d) != 3 {
		t.Fatalf("v1 → restored: %+v", d)
	}
	// The restore is audited, and running it again changes nothing.
	again, err := e.dir.RestoreConfigRevision.Handle(ctx, commands.RestoreConfigRevision{EnvironmentID: env, RevisionID: r1.RevisionID})
	if err != nil || again.Changes != 0 || !again.Position.IsZero() {
		t.Fatalf("second restore: %+v, %v", again, err)
	}
	restored := 0
	for ev, err := range e.store.ReadStream(ctx, "configrevision-"+env, eventstore.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == domain.EvConfigRevisionRestored {
			restored++
		}
	}
	if restored != 1 {
		t.Fatalf("%d revision_restored events, want 1", restored)
	}

	// Restoring the empty revision removes every group and the population (ann moved out first).
	e.must(e.dir.MoveUser.Handle(ctx, commands.MoveUser{EnvironmentID: env, UserID: u.UserID, PopulationID: created.DefaultPopulationID}))
	if _, err := e.dir.RestoreConfigRevision.Handle(ctx, commands.RestoreConfigRevision{EnvironmentID: env, RevisionID: r0.RevisionID}); err != nil {
		t.Fatal(err)
	}
	if got := e.config(env, end); got.Hash() != r0.ContentHash || len(got.Groups) != 0 || len(got.Populations) != 1 {
		t.Fatalf("after restoring the empty revision: %+v", got)
	}
}

// The same configuration reached by different events, in different orders, hashes the same.
func TestConfigurationHashIgnoresHistory(t *testing.T) {
	e := newE2E(t)
	ctx := e.ctx
	build := func(reverse bool) string {
		created, err := e.dir.CreateEnvironment.Handle(ctx, commands.CreateEnvironment{Name: "Twin"})
		if err != nil {
			t.Fatal(err)
		}
		env := created.EnvironmentID
		steps := []func(){
			func() {
				e.must(e.dir.CreateSchemaAttribute.Handle(ctx, commands.CreateSchemaAttribute{EnvironmentID: env,
					Attribute: domain.AttributeDef{Name: "site", Type: domain.AttributeString, MaxLength: 5}}))
			},
			func() {
				e.must(e.dir.CreateSchemaAttribute.Handle(ctx, commands.CreateSchemaAttribute{EnvironmentID: env,
					Attribute: domain.AttributeDef{Name: "Contractor", Type: domain.AttributeBoolean}}))
			},
			func() {
				e.must(e.dir.CreatePopulation.Handle(ctx, commands.CreatePopulation{EnvironmentID: env, Name: "Partners"}))
			},
			func() {
				e.must(e.dir.CreateGroup.Handle(ctx, commands.CreateGroup{EnvironmentID: env, Name: "Ops", Kind: domain.GroupDirect}))
			},
			func() {
				e.must(e.dir.CreateGroup.Handle(ctx, commands.CreateGroup{EnvironmentID: env, Name: "Dev", Kind: domain.GroupDirect}))
			},
		}
		if reverse {
			for i := len(steps) - 1; i >= 0; i-- {
				steps[i]()
			}
			// A detour that ends where it started.
			e.must(e.dir.CreateGroup.Handle(ctx, commands.CreateGroup{EnvironmentID: env, Name: "Temp", Kind: domain.GroupDirect}))
			c := e.config(env, end)
			for _, g := range c.Groups {
				if g.Name == "Temp" {
					e.must(e.dir.DeleteGroup.Handle(ctx, commands.DeleteGroup{EnvironmentID: env, GroupID: g.ID}))
				}
			}
		} else {
			for _, s := range steps {
				s()
			}
		}
		return e.config(env, end).Hash()
	}
	a, b := build(false), build(true)
	if a != b {
		t.Fatalf("same configuration, different hashes: %s, %s", a, b)
	}
}
