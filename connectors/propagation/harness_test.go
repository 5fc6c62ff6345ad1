package propagation

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/commands/secret"
	"github.com/idstream/idstream/commands/subjectkeys"
	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/mapping"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
	"github.com/idstream/idstream/projections"
)

// memStore is an in-memory target store: a test double of the connector contract (SCIM-shaped
// resources, case-insensitive Find on a top-level or dotted attribute). Faults injects errors.
type memStore struct {
	mu     sync.Mutex
	next   int
	res    map[connectors.Kind]map[string]map[string]any
	writes atomic.Int64
	// fail, when set, is asked before each call; a non-nil error is returned instead.
	fail func(op string) error
	// features
	feat connectors.Features
}

func newMemStore() *memStore {
	return &memStore{res: map[connectors.Kind]map[string]map[string]any{connectors.KindUser: {}, connectors.KindGroup: {}},
		feat: connectors.DefaultFeatures}
}

type memConn struct{ s *memStore }

func (c memConn) Features() connectors.Features { return c.s.feat }

func (s *memStore) check(op string) error {
	s.mu.Lock()
	f := s.fail
	s.mu.Unlock()
	if f != nil {
		return f(op)
	}
	return nil
}

func (s *memStore) setFail(f func(op string) error) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (c memConn) Get(_ context.Context, kind connectors.Kind, id string) (connectors.Resource, error) {
	if err := c.s.check("get"); err != nil {
		return connectors.Resource{}, err
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	r, ok := c.s.res[kind][id]
	if !ok {
		return connectors.Resource{}, &connectors.Error{Class: connectors.ClassNotFound, Op: "get " + string(kind)}
	}
	return connectors.Resource{ID: id, Attributes: clone(r)}, nil
}

func (c memConn) Find(_ context.Context, kind connectors.Kind, attr, value string) ([]connectors.Resource, error) {
	if err := c.s.check("find"); err != nil {
		return nil, err
	}
	p, err := mapping.ParsePath(attr)
	if err != nil {
		return nil, &connectors.Error{Class: connectors.ClassInvalid, Op: "find", Err: err}
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	var out []connectors.Resource
	for id, r := range c.s.res[kind] {
		if v, ok := p.Get(r); ok {
			if sv, ok := v.(string); ok && strings.EqualFold(sv, value) {
				out = append(out, connectors.Resource{ID: id, Attributes: clone(r)})
			}
		}
	}
	return out, nil
}

func (c memConn) Create(_ context.Context, kind connectors.Kind, attrs map[string]any) (connectors.Resource, error) {
	if err := c.s.check("create"); err != nil {
		return connectors.Resource{}, err
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if kind == connectors.KindUser {
		for _, r := range c.s.res[kind] {
			if n, _ := r["userName"].(string); n != "" && strings.EqualFold(n, fmt.Sprint(attrs["userName"])) {
				return connectors.Resource{}, &connectors.Error{Class: connectors.ClassConflict, Op: "create user", Status: 409}
			}
		}
	}
	return c.s.insert(kind, attrs), nil
}

// insert stores a resource without any check.
func (s *memStore) insert(kind connectors.Kind, attrs map[string]any) connectors.Resource {
	c := memConn{s: s}
	c.s.writes.Add(1)
	c.s.next++
	id := fmt.Sprintf("t%04d", c.s.next)
	r := clone(attrs)
	r["id"] = id
	c.s.res[kind][id] = r
	return connectors.Resource{ID: id, Attributes: clone(r)}
}

func (c memConn) Update(_ context.Context, kind connectors.Kind, id string, changes []connectors.Change) (connectors.Resource, error) {
	if err := c.s.check("update"); err != nil {
		return connectors.Resource{}, err
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	r, ok := c.s.res[kind][id]
	if !ok {
		return connectors.Resource{}, &connectors.Error{Class: connectors.ClassNotFound, Op: "update " + string(kind)}
	}
	c.s.writes.Add(1)
	r = clone(r)
	if err := mapping.Apply(r, changes); err != nil {
		return connectors.Resource{}, &connectors.Error{Class: connectors.ClassInvalid, Op: "update", Err: err}
	}
	c.s.res[kind][id] = r
	return connectors.Resource{ID: id, Attributes: clone(r)}, nil
}

func (c memConn) Delete(_ context.Context, kind connectors.Kind, id string) error {
	if err := c.s.check("delete"); err != nil {
		return err
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if _, ok := c.s.res[kind][id]; !ok {
		return &connectors.Error{Class: connectors.ClassNotFound, Op: "delete " + string(kind)}
	}
	c.s.writes.Add(1)
	delete(c.s.res[kind], id)
	return nil
}

func (c memConn) Close() error { return nil }

// users returns the store's users by userName.
func (s *memStore) users() map[string]map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]any{}
	for _, r := range s.res[connectors.KindUser] {
		out[fmt.Sprint(r["userName"])] = clone(r)
	}
	return out
}

func (s *memStore) groups() map[string]map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]any{}
	for _, r := range s.res[connectors.KindGroup] {
		out[fmt.Sprint(r["displayName"])] = clone(r)
	}
	return out
}

// env is a test environment: an embedded store, the directory's commands and read model, and
// an environment with a published revision.
type env struct {
	t       testing.TB
	ctx     context.Context
	dir     string
	store   eventstore.Store
	reg     *eventstore.Registry
	deps    *commands.Deps
	cmds    *commands.Directory
	read    *projections.Directory
	runner  *projections.Runner
	envID   string
	target  *memStore
	revN    int
	lastRev string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, ctx: t.Context(), dir: dir, target: newMemStore()}
	e.open()
	res, err := e.cmds.CreateEnvironment.Handle(e.ctx, commands.CreateEnvironment{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	e.envID = res.EnvironmentID
	return e
}

// open opens (or reopens, after closeStore) the store, the codec and the directory.
func (e *env) open() {
	t := e.t
	store, err := embedded.Open(e.dir+"/log", embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := commands.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := secret.NewSealer(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := subjectkeys.Open(e.dir+"/keys", sealer)
	if err != nil {
		t.Fatal(err)
	}
	reg.UseSubjectKeys(keys)
	e.store, e.reg = store, reg
	e.deps = &commands.Deps{Store: store, Registry: reg, Now: time.Now, NewID: func() string { return uuid.Must(uuid.NewV7()).String() }}
	e.read = projections.NewDirectory()
	e.cmds = commands.NewDirectory(e.deps, commands.DirectoryPorts{AttributeUsage: e.read, PopulationUsage: e.read})
	e.runner = projections.NewRunner(store, reg, e.read)
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-e.runner.Done()
		store.Close()
		keys.Close()
	})
}

// factories returns connector factories opening the memory target.
func (e *env) factories() connectors.Factories {
	return connectors.Factories{domain.StoreSCIM: func(connectors.StoreConfig) (connectors.Connector, error) {
		return memConn{s: e.target}, nil
	}}
}

// runtime starts a runtime on the environment.
func (e *env) runtime(mod func(*Config)) *Runtime {
	e.t.Helper()
	cfg := Config{Store: e.store, Registry: e.reg, Directory: e.read, Runner: e.runner, Factories: e.factories(),
		Checkpoints: FileCheckpoints{Dir: e.dir + "/data"}, Logger: testLogger(), Workers: 2, RetryInitial: time.Millisecond,
		RetryMax: 20 * time.Millisecond, MaxRetries: 3, Timeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	rt, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := rt.Start(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	return rt
}

func testLogger() *slog.Logger {
	if os.Getenv("PROPAGATION_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// content returns a configuration: the directory, one SCIM target, one plan, one rule
// (filter, mappings with an expression) selecting groups.
func (e *env) content(filter string, actions domain.StoreActions, groups ...string) domain.PropagationContent {
	return domain.PropagationContent{
		Stores: []domain.PropagationStore{
			{ID: "s-dir", Name: "Directory", Type: domain.StoreDirectory, Status: domain.StoreActive},
			{ID: "s-scim", Name: "App", Type: domain.StoreSCIM, Status: domain.StoreActive, Managed: true, Actions: actions,
				Config: map[string]string{"baseUrl": "http://example.invalid"}},
		},
		Plans: []domain.PropagationPlan{{ID: "p1", Name: "Plan", Status: domain.PlanActive}},
		Rules: []domain.PropagationRule{{ID: "r1", PlanID: "p1", Name: "to app", SourceStoreID: "s-dir", TargetStoreID: "s-scim",
			Filter: filter, GroupIDs: groups, Active: true, CorrelationAttribute: "userName",
			Mappings: []domain.AttributeMapping{
				{ID: "m1", Target: "userName", Source: domain.MapAttribute, Value: "username", ApplyOn: domain.ApplyAlways},
				{ID: "m2", Target: "name.givenName", Source: domain.MapAttribute, Value: "name.given", ApplyOn: domain.ApplyAlways},
				{ID: "m3", Target: `emails[type eq "work"].value`, Source: domain.MapAttribute, Value: "email", ApplyOn: domain.ApplyAlways},
				{ID: "m4", Target: "displayName", Source: domain.MapExpression, Value: `upper(username)`, ApplyOn: domain.ApplyAlways},
				{ID: "m5", Target: "active", Source: domain.MapAttribute, Value: "enabled", ApplyOn: domain.ApplyAlways},
			}}},
	}
}

func allActions() domain.StoreActions {
	return domain.StoreActions{Create: true, Update: true, Disable: true, Deprovision: true, RemoveAction: domain.RemoveDelete}
}

// publish appends a revision_published event of content and returns its position.
func (e *env) publish(c domain.PropagationContent) eventstore.Position {
	e.t.Helper()
	e.revN++
	rev := domain.PropagationRevisionPublished{EnvironmentID: e.envID, RevisionID: uuid.NewString(), Number: e.revN, Content: c,
		ContentHash: c.Hash(), PreviousRevisionID: e.lastRev}
	e.lastRev = rev.RevisionID
	ev, err := e.reg.Encode(uuid.New(), rev, eventstore.Metadata{EnvironmentID: e.envID, Actor: "test", OccurredAt: time.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.store.Append(e.ctx, domain.CategoryPropagation+"-"+e.envID, eventstore.Any, ev)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Position
}

func (e *env) user(name, given string, custom domain.CustomValues) (string, eventstore.Position) {
	e.t.Helper()
	res, err := e.cmds.CreateUser.Handle(e.ctx, commands.CreateUser{EnvironmentID: e.envID,
		Profile: domain.Profile{Username: name, Email: name + "@example.com", Name: domain.Name{Given: given}}, Custom: custom})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.UserID, res.Position
}

// outcomes returns the decoded outcome events of an account stream.
func (e *env) outcomes(rule, identity string) []any {
	e.t.Helper()
	return e.events(AccountStream(rule, identity))
}

// settle waits until the runtime's forwarder has every change up to the log's head acknowledged
// by the handlers (gochannel publishes return once handled).
func (e *env) settle(rt *Runtime) {
	e.t.Helper()
	head, _, err := projections.LastEvent(e.ctx, e.store)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	if err := rt.Forwarder().WaitFor(ctx, head); err != nil {
		e.t.Fatal(err)
	}
}
