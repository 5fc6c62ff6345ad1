package graph_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/idstream/idstream/domain"
)

// fakeStoreTester records the last testStoreConnection call and answers err.
type fakeStoreTester struct {
	mu     sync.Mutex
	err    error
	typ    domain.StoreType
	config map[string]string
	creds  map[string]string
}

func (f *fakeStoreTester) TestStore(_ context.Context, _ string, typ domain.StoreType, config, creds map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.typ, f.config, f.creds = typ, config, creds
	return f.err
}

// classedError is a connector-like error with a class.
type classedError struct{ class string }

func (c classedError) Error() string      { return "check: " + c.class + " (status 401)" }
func (c classedError) ErrorClass() string { return c.class }

func TestPropagationRolesAndIsolation(t *testing.T) {
	e := newEnv(t)
	org := e.client("", admin())
	envA, _ := e.createEnvironment(org, "A")
	envB, pos := e.createEnvironment(org, "B")
	if err := e.runner.WaitFor(context.Background(), mustPos(t, pos)); err != nil {
		t.Fatal(err)
	}
	adminA := e.client(envA, domain.RoleAssignment{Role: domain.RoleEnvironmentAdmin, EnvironmentID: envA})
	readerA := e.client(envA, domain.RoleAssignment{Role: domain.RoleIdentityDataReadOnly, EnvironmentID: envA})
	adminB := e.client(envB, domain.RoleAssignment{Role: domain.RoleEnvironmentAdmin, EnvironmentID: envB})

	var created struct {
		CreatePropagationStore struct {
			Store    struct{ ID string }
			Position string
		} `json:"createPropagationStore"`
	}
	e.ok(adminA, `mutation($e: ID!) { createPropagationStore(input: {environmentId: $e, name: "App", type: SCIM, credentials: [{key: "token", value: "graph-S3CRET"}]}) { store { id } position } }`,
		map[string]any{"e": envA}, &created)
	store, p := created.CreatePropagationStore.Store.ID, created.CreatePropagationStore.Position

	// A reader reads (with minPosition), never writes; the store says only that credentials are set.
	res := e.do(readerA, `query($e: ID!, $p: String) { propagationStores(environmentId: $e, minPosition: $p) { id credentialsSet } }`,
		map[string]any{"e": envA, "p": p})
	if len(res.Errors) > 0 || !strings.Contains(string(res.Data["propagationStores"]), `"credentialsSet":true`) {
		t.Fatalf("reader: %s %+v", res.Data["propagationStores"], res.Errors)
	}
	e.fails(readerA, `mutation($e: ID!) { createPropagationPlan(input: {environmentId: $e, name: "P"}) { position } }`, map[string]any{"e": envA}, "FORBIDDEN", "")
	e.fails(readerA, `mutation($e: ID!) { testStoreConnection(input: {environmentId: $e, type: SCIM}) { ok } }`, map[string]any{"e": envA}, "FORBIDDEN", "")
	// Another environment's admin sees nothing of A: NOT_FOUND, as for a random ID.
	for _, q := range []string{
		`query($e: ID!) { propagationStores(environmentId: $e) { id } }`,
		`query($e: ID!) { propagationRevisions(environmentId: $e) { totalCount } }`,
		`mutation($e: ID!) { createPropagationPlan(input: {environmentId: $e, name: "P"}) { position } }`,
	} {
		e.fails(adminB, q, map[string]any{"e": envA}, "NOT_FOUND", "")
	}
	// An environment that does not exist is NOT_FOUND for the organization admin too.
	e.fails(org, `query($e: ID!) { propagationStores(environmentId: $e) { id } }`, map[string]any{"e": uuid.NewString()}, "NOT_FOUND", "")
	e.fails(adminA, `query($e: ID!, $id: ID!) { propagationStore(environmentId: $e, id: $id) { id } }`,
		map[string]any{"e": envA, "id": uuid.NewString()}, "NOT_FOUND", "id")
	e.fails(adminA, `query($e: ID!) { propagationRevisions(environmentId: $e, after: "bm9wZQ") { totalCount } }`,
		map[string]any{"e": envA}, "INVALID", "after")
	e.fails(adminA, `mutation($e: ID!) { createPropagationStore(input: {environmentId: $e, name: "Z", type: ZOOM, config: [{key: "a", value: "1"}, {key: "a", value: "2"}]}) { position } }`,
		map[string]any{"e": envA}, "INVALID", "input.config[1].key")

	// testStoreConnection: the store's own credentials, opened; failures are a payload with the class.
	var tested struct {
		TestStoreConnection struct {
			Ok            bool
			Message, Code *string
		} `json:"testStoreConnection"`
	}
	// The stored credentials never go to a caller's configuration (they are write-only).
	e.fails(adminA, `mutation($e: ID!, $s: ID!) { testStoreConnection(input: {environmentId: $e, type: SCIM, storeId: $s, config: [{key: "baseUrl", value: "http://attacker.example"}]}) { ok } }`,
		map[string]any{"e": envA, "s": store}, "INVALID", "input.config")
	e.fails(adminA, `mutation($e: ID!, $s: ID!) { testStoreConnection(input: {environmentId: $e, type: SLACK, storeId: $s}) { ok } }`,
		map[string]any{"e": envA, "s": store}, "INVALID", "input.type")
	e.ok(adminA, `mutation($e: ID!, $s: ID!) { testStoreConnection(input: {environmentId: $e, type: SCIM, storeId: $s}) { ok message code } }`,
		map[string]any{"e": envA, "s": store}, &tested)
	e.tester.mu.Lock()
	got := e.tester.creds["token"] + " " + e.tester.config["baseUrl"] + " " + string(e.tester.typ)
	e.tester.err = classedError{class: "AUTH"}
	e.tester.mu.Unlock()
	if !tested.TestStoreConnection.Ok || got != "graph-S3CRET  SCIM" {
		t.Fatalf("test connection %+v, tester saw %q", tested, got)
	}
	res = e.do(adminA, `mutation($e: ID!) { testStoreConnection(input: {environmentId: $e, type: SCIM, credentials: [{key: "token", value: "wrong"}]}) { ok message code } }`,
		map[string]any{"e": envA})
	if len(res.Errors) > 0 || !strings.Contains(string(res.Data["testStoreConnection"]), `"code":"AUTH"`) ||
		!strings.Contains(string(res.Data["testStoreConnection"]), `"ok":false`) {
		t.Fatalf("failed test: %s %+v", res.Data["testStoreConnection"], res.Errors)
	}
	e.tester.mu.Lock()
	e.tester.err = errors.New("dial tcp: connection refused")
	e.tester.mu.Unlock()
	res = e.do(adminA, `mutation($e: ID!) { testStoreConnection(input: {environmentId: $e, type: SCIM}) { ok code } }`, map[string]any{"e": envA})
	if !strings.Contains(string(res.Data["testStoreConnection"]), `"code":"UNAVAILABLE"`) {
		t.Fatalf("unclassified failure: %s %+v", res.Data["testStoreConnection"], res.Errors)
	}
}
