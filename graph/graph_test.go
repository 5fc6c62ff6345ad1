package graph_test

import (
	"bytes"
	"crypto/rand"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/commands/password"
	"github.com/idstream/idstream/commands/secret"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/embedded"
	"github.com/idstream/idstream/graph"
	"github.com/idstream/idstream/projections"
)

// env is a running API on a real embedded store, real commands and a real projection runner.
type env struct {
	t      testing.TB
	srv    *httptest.Server
	store  eventstore.Store
	reg    *eventstore.Registry
	runner *projections.Runner
	reads  *countingReadModel
}

// countingReadModel counts the read model's calls, to show dataloader batching.
type countingReadModel struct {
	*projections.Directory
	populations atomic.Int64
}

func (c *countingReadModel) Populations(env string) ([]projections.Population, error) {
	c.populations.Add(1)
	return c.Directory.Populations(env)
}

func newEnv(t testing.TB) *env {
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
	deps := &commands.Deps{Store: store, Registry: reg, Now: func() time.Time { return time.Now().UTC() },
		NewID: func() string { return uuid.Must(uuid.NewV7()).String() }}
	dir := projections.NewDirectory()
	runner := projections.NewRunner(store, reg, dir)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	reads := &countingReadModel{Directory: dir}
	hasher, err := password.NewHasher(password.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := secret.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	cmds := commands.NewDirectory(deps, commands.DirectoryPorts{AttributeUsage: dir, PasswordHasher: hasher, PopulationUsage: dir,
		Credentials: commands.CredentialPorts{Passwords: hasher, Secrets: sealer}})
	h := graph.NewHandler(graph.Config{Commands: cmds, ReadModel: reads, Runner: runner})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, store: store, reg: reg, runner: runner, reads: reads}
}

// client appends an API client with roles and a token (as the bootstrap does) and returns the token.
func (e *env) client(envID string, roles ...domain.RoleAssignment) string {
	e.t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	token := "tok-" + uuid.NewString()
	for i := range roles {
		roles[i].ID = uuid.NewString()
	}
	e.appendEvents(domain.StreamName(domain.CategoryAPIClient, id), envID,
		domain.APIClientCreated{EnvironmentID: envID, ClientID: id, Name: "test", Roles: roles},
		domain.APIClientTokenIssued{EnvironmentID: envID, ClientID: id, TokenID: uuid.NewString(), SHA256: graph.HashToken(token)})
	return token
}

func (e *env) appendEvents(stream, envID string, payloads ...any) {
	e.t.Helper()
	var evs []eventstore.EventData
	for _, p := range payloads {
		ev, err := e.reg.Encode(uuid.Must(uuid.NewV7()), p, eventstore.Metadata{EnvironmentID: envID, OccurredAt: time.Now().UTC()})
		if err != nil {
			e.t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if _, err := e.store.Append(context.Background(), stream, eventstore.Any, evs...); err != nil {
		e.t.Fatal(err)
	}
}

type gqlResponse struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
	status int
}

func (r gqlResponse) code(i int) string {
	if i >= len(r.Errors) {
		return ""
	}
	c, _ := r.Errors[i].Extensions["code"].(string)
	return c
}

func (e *env) do(token, query string, vars map[string]any) gqlResponse {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out gqlResponse
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		e.t.Fatalf("decode response (status %d): %v", res.StatusCode, err)
	}
	out.status = res.StatusCode
	return out
}

func admin() domain.RoleAssignment { return domain.RoleAssignment{Role: domain.RoleEnvironmentAdmin} }

// createEnvironment creates an environment through the API and returns its ID.
func (e *env) createEnvironment(token, name string) (id, position string) {
	e.t.Helper()
	res := e.do(token, `mutation($n: String!) { createEnvironment(input: {name: $n}) { environment { id name } position } }`,
		map[string]any{"n": name})
	if len(res.Errors) > 0 {
		e.t.Fatalf("createEnvironment: %+v", res.Errors)
	}
	var out struct {
		Environment struct{ ID, Name string }
		Position    string
	}
	if err := json.Unmarshal(res.Data["createEnvironment"], &out); err != nil {
		e.t.Fatal(err)
	}
	return out.Environment.ID, out.Position
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	token := e.client("", admin())
	for name, tok := range map[string]string{"missing": "", "unknown": "nope", "revoked-looking": "tok-" + uuid.NewString()} {
		res := e.do(tok, `{ environments { id } }`, nil)
		if res.status != http.StatusUnauthorized || res.code(0) != graph.CodeUnauthenticated {
			t.Errorf("%s token: status %d code %q, want 401 UNAUTHENTICATED", name, res.status, res.code(0))
		}
	}
	res := e.do(token, `{ me { id roles { role } } }`, nil)
	if res.status != http.StatusOK || len(res.Errors) > 0 || !strings.Contains(string(res.Data["me"]), "ENVIRONMENT_ADMIN") {
		t.Fatalf("me with a fresh token: %d %s %+v", res.status, res.Data["me"], res.Errors)
	}
}

func TestIsolationAndForbidden(t *testing.T) {
	e := newEnv(t)
	org := e.client("", admin())
	envA, _ := e.createEnvironment(org, "A")
	envB, pos := e.createEnvironment(org, "B")
	if err := e.runner.WaitFor(context.Background(), mustPos(t, pos)); err != nil {
		t.Fatal(err)
	}
	tokB := e.client(envB, domain.RoleAssignment{Role: domain.RoleEnvironmentAdmin, EnvironmentID: envB})
	random := uuid.NewString()

	shape := func(res gqlResponse, id string) string {
		if len(res.Errors) != 1 {
			return fmt.Sprintf("%d errors", len(res.Errors))
		}
		return res.code(0) + " " + strings.ReplaceAll(res.Errors[0].Message, id, "<id>")
	}
	queries := []string{
		`query($e: ID!) { environment(id: $e) { id } }`,
		`query($e: ID!) { users(environmentId: $e) { totalCount } }`,
		`query($e: ID!) { groups(environmentId: $e) { totalCount } }`,
		`query($e: ID!) { schema(environmentId: $e) { environmentId } }`,
		`mutation($e: ID!) { renameEnvironment(input: {id: $e, name: "x"}) { position } }`,
		`mutation($e: ID!) { deleteEnvironment(input: {id: $e}) { position } }`,
	}
	for _, q := range queries {
		a := e.do(tokB, q, map[string]any{"e": envA})
		r := e.do(tokB, q, map[string]any{"e": random})
		if got, want := shape(a, envA), shape(r, random); got != want || !strings.HasPrefix(got, "NOT_FOUND") {
			t.Errorf("%s: another environment answers %q, a random ID %q; want the same NOT_FOUND", q, got, want)
		}
	}
	if res := e.do(tokB, `{ environments { id } }`, nil); strings.Contains(string(res.Data["environments"]), envA) ||
		!strings.Contains(string(res.Data["environments"]), envB) {
		t.Errorf("environments for B's token: %s", res.Data["environments"])
	}
	if res := e.do(org, `query($e: ID!) { environment(id: $e) { name } }`, map[string]any{"e": envA}); len(res.Errors) > 0 {
		t.Errorf("the organization admin cannot read A: %+v", res.Errors)
	}

	readOnly := e.client(envB, domain.RoleAssignment{Role: domain.RoleIdentityDataReadOnly, EnvironmentID: envB})
	res := e.do(readOnly, `mutation($e: ID!) { renameEnvironment(input: {id: $e, name: "x"}) { position } }`, map[string]any{"e": envB})
	if res.code(0) != graph.CodeForbidden {
		t.Errorf("read-only rename: %+v, want FORBIDDEN", res.Errors)
	}
	if res := e.do(readOnly, `query($e: ID!) { environment(id: $e) { name } }`, map[string]any{"e": envB}); len(res.Errors) > 0 {
		t.Errorf("read-only read: %+v", res.Errors)
	}
}

func mustPos(t *testing.T, s string) eventstore.Position {
	t.Helper()
	p, err := eventstore.ParsePosition(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestErrorsNameFieldsAndCodes(t *testing.T) {
	e := newEnv(t)
	org := e.client("", admin())
	res := e.do(org, `mutation { createEnvironment(input: {name: ""}) { position } }`, nil)
	if res.code(0) != graph.CodeInvalid || res.Errors[0].Extensions["field"] != "input.name" {
		t.Errorf("empty name: %+v, want INVALID on input.name", res.Errors)
	}
	res = e.do(org, `{ environments { id } }`, nil)
	res = e.do(org, `query { environment(id: "x", minPosition: "not-a-position") { id } }`, nil)
	if res.code(0) != graph.CodeInvalid || res.Errors[0].Extensions["field"] != "minPosition" {
		t.Errorf("bad minPosition: %+v", res.Errors)
	}
	if res = e.do(org, `{ environments { id `, nil); res.code(0) != "GRAPHQL_PARSE_FAILED" {
		t.Errorf("parse error: %+v", res.Errors)
	}
	if res = e.do(org, `{ nope }`, nil); res.code(0) != "GRAPHQL_VALIDATION_FAILED" {
		t.Errorf("validation error: %+v", res.Errors)
	}
}

func TestMinPositionReadsYourWrites(t *testing.T) {
	e := newEnv(t)
	org := e.client("", admin())
	id, pos := e.createEnvironment(org, "ryw")
	res := e.do(org, `mutation($e: ID!) { renameEnvironment(input: {id: $e, name: "renamed"}) { environment { name } position } }`,
		map[string]any{"e": id})
	if len(res.Errors) > 0 || !strings.Contains(string(res.Data["renameEnvironment"]), "renamed") {
		t.Fatalf("rename: %s %+v", res.Data["renameEnvironment"], res.Errors)
	}
	var out struct{ Position string }
	_ = json.Unmarshal(res.Data["renameEnvironment"], &out)
	res = e.do(org, `query($e: ID!, $p: String) { environment(id: $e, minPosition: $p) { name } }`, map[string]any{"e": id, "p": out.Position})
	if !strings.Contains(string(res.Data["environment"]), "renamed") {
		t.Errorf("after %s (created at %s): %s %+v", out.Position, pos, res.Data["environment"], res.Errors)
	}
	start := time.Now()
	res = e.do(org, `query($e: ID!) { environment(id: $e, minPosition: "999999") { name } }`, map[string]any{"e": id})
	if res.code(0) != graph.CodeUnavailable || time.Since(start) > 10*time.Second {
		t.Errorf("position never reached: %+v after %s, want UNAVAILABLE after about 5s", res.Errors, time.Since(start))
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t)
	org := e.client("", admin())
	deep := `{ environments { populations { id } } }`
	for range 12 {
		deep = strings.Replace(deep, "{ id }", "{ ... on Population { environmentId } id }", 1)
	}
	q := "{ me { " + strings.Repeat("roles { id } ", 1) + "} }"
	if res := e.do(org, q, nil); len(res.Errors) > 0 {
		t.Fatalf("shallow: %+v", res.Errors)
	}
	level := "id"
	for range 7 {
		level = "members { ... on User { groups { " + level + " } } }"
	}
	nested := "query($e: ID!) { groups(environmentId: $e) { edges { node { " + level + " } } } }"
	if res := e.do(org, nested, map[string]any{"e": uuid.NewString()}); res.code(0) != "DEPTH_LIMIT_EXCEEDED" &&
		res.code(1) != "DEPTH_LIMIT_EXCEEDED" {
		t.Errorf("deep query: %+v", res.Errors)
	}
	wide := `query($e: ID!) { users(environmentId: $e, first: 1000) { edges { node { id username groups { id name } } } } }`
	if res := e.do(org, wide, map[string]any{"e": uuid.NewString()}); res.code(0) != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Errorf("complex query: %+v", res.Errors)
	}
	big := `{"query":"{ me { id } }","variables":{"x":"` + strings.Repeat("a", graph.MaxBodyBytes) + `"}}`
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", strings.NewReader(big))
	req.Header.Set("Authorization", "Bearer "+org)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 4 MiB query: status %d, want 413", res.StatusCode)
	}
}

func TestDataloaderBatchesPopulations(t *testing.T) {
	e := newEnv(t)
	org := e.client("", admin())
	id, pos := e.createEnvironment(org, "dl")
	if err := e.runner.WaitFor(context.Background(), mustPos(t, pos)); err != nil {
		t.Fatal(err)
	}
	// The default population's event precedes its environment's in the log, and the read model
	// drops it (reported to projections/commands); a population created afterwards is kept.
	popID := uuid.Must(uuid.NewV7()).String()
	e.appendEvents(domain.StreamName(domain.CategoryPopulation, popID), id,
		domain.PopulationCreated{EnvironmentID: id, PopulationID: popID, Name: "staff"})
	for i := range 30 {
		uid := uuid.Must(uuid.NewV7()).String()
		e.appendEvents(domain.StreamName(domain.CategoryUser, uid), id, domain.UserCreated{EnvironmentID: id, UserID: uid,
			PopulationID: popID, Profile: domain.Profile{Username: fmt.Sprintf("u%d", i)}, Enabled: true})
	}
	if err := e.runner.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := e.reads.populations.Load()
	res := e.do(org, `query($e: ID!) { users(environmentId: $e, first: 100) { totalCount edges { node { population { id } } } } }`,
		map[string]any{"e": id})
	if len(res.Errors) > 0 {
		t.Fatal(res.Errors)
	}
	if !strings.Contains(string(res.Data["users"]), `"totalCount":30`) {
		t.Fatalf("users: %s", res.Data["users"])
	}
	if n := e.reads.populations.Load() - before; n != 1 {
		t.Errorf("%d Populations calls for one page", n)
	}
}

func FuzzGraphQLRequest(f *testing.F) {
	for _, s := range []string{`{"query":"{ me { id } }"}`, `{"query":"mutation { createEnvironment(input: {name: 1}) { position } }"}`,
		`{"query":"{ __schema { types { name } } }"}`, `[1,2]`, `{"query": 5}`, `{"query":"{ users(environmentId: \"x\", first: -1) { totalCount } }"}`, ``, `nul`} {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	token := e.client("", admin())
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Errorf("status %d for %q", res.StatusCode, body)
		}
	})
}
