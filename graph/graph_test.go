package graph_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
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
	// tester answers testStoreConnection: it records the last call and returns its err.
	tester *fakeStoreTester
	// held is the held changes read model.
	held *projections.PropagationHeld
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
	propConf := projections.NewPropagationConfig(store, reg)
	if err := propConf.Start(ctx); err != nil {
		t.Fatal(err)
	}
	held := projections.NewPropagationHeld(store, reg)
	if err := held.Start(ctx); err != nil {
		t.Fatal(err)
	}
	tester := &fakeStoreTester{}
	h := graph.NewHandler(graph.Config{Commands: cmds, ReadModel: reads, Runner: runner, PropagationHeld: held,
		Propagation: commands.NewPropagation(deps, commands.PropagationPorts{Secrets: sealer}), PropagationConfig: propConf,
		StoreTester: tester, Secrets: sealer})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, store: store, reg: reg, runner: runner, reads: reads, tester: tester, held: held}
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
		domain.APIClientTokenIssued{EnvironmentID: envID, ClientID: id, TokenID: uuid.NewString(), SHA256: commands.HashToken(token)})
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

// ok runs a request that must succeed and decodes its data into out (when not nil).
func (e *env) ok(token, query string, vars map[string]any, out any) {
	e.t.Helper()
	res := e.do(token, query, vars)
	if len(res.Errors) > 0 || res.status != http.StatusOK {
		e.t.Fatalf("%s\n→ status %d, errors %+v", strings.Join(strings.Fields(query), " "), res.status, res.Errors)
	}
	if out != nil {
		b, _ := json.Marshal(res.Data)
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatal(err)
		}
	}
}

// fails runs a request that must fail with code, on field when field is not empty.
func (e *env) fails(token, query string, vars map[string]any, code, field string) gqlResponse {
	e.t.Helper()
	res := e.do(token, query, vars)
	for _, er := range res.Errors {
		if er.Extensions["code"] == code && (field == "" || er.Extensions["field"] == field) {
			return res
		}
	}
	e.t.Fatalf("%s\n→ %+v, want code %s on field %q", strings.Join(strings.Fields(query), " "), res.Errors, code, field)
	return res
}

// directory sets up an environment with two custom attributes and a second population, through
// the API, and returns the organization admin's token, the environment and the population.
func (e *env) directory() (org, envID, popID string) {
	e.t.Helper()
	org = e.client("", admin())
	envID, _ = e.createEnvironment(org, "acme-"+uuid.NewString()[:8])
	var pop struct {
		CreatePopulation struct{ Population struct{ ID string } }
	}
	e.ok(org, `mutation($e: ID!) { createPopulation(input: {environmentId: $e, name: "Engineering"}) { population { id } position } }`,
		map[string]any{"e": envID}, &pop)
	e.ok(org, `mutation($e: ID!) { createSchemaAttribute(input: {environmentId: $e, attribute: {
		name: "department", type: STRING, enum: ["eng", "sales"]}}) { attribute { name enum } position } }`, map[string]any{"e": envID}, nil)
	e.ok(org, `mutation($e: ID!) { createSchemaAttribute(input: {environmentId: $e, attribute: {
		name: "badge", type: STRING, unique: true, regex: "[0-9]{6}", maxLength: 6}}) { attribute { name } position } }`, map[string]any{"e": envID}, nil)
	return org, envID, pop.CreatePopulation.Population.ID
}

const createUserMutation = `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id username populationId customAttributes } position } }`

// createUser creates a user through the API and returns its ID.
func (e *env) createUser(token, envID, username, dept, badge, popID string) string {
	e.t.Helper()
	in := map[string]any{"environmentId": envID, "username": username, "email": username + "@acme.test",
		"name": map[string]any{"given": username, "family": "Example"}, "customAttributes": map[string]any{"department": dept, "badge": badge}}
	if popID != "" {
		in["populationId"] = popID
	}
	var out struct {
		CreateUser struct{ User struct{ ID string } }
	}
	e.ok(token, createUserMutation, map[string]any{"in": in}, &out)
	return out.CreateUser.User.ID
}

func TestUsersThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org, envID, popID := e.directory()
	alice := e.createUser(org, envID, "alice", "eng", "100001", popID)

	// Every rejected field is named, under input.; nothing is stored.
	res := e.fails(org, createUserMutation, map[string]any{"in": map[string]any{"environmentId": envID, "username": "mallory",
		"email": "not-an-email", "customAttributes": map[string]any{"department": "hr", "badge": "12ab"}}}, graph.CodeInvalid, "")
	var named []string
	for _, er := range res.Errors {
		if f, _ := er.Extensions["field"].(string); er.Extensions["code"] == graph.CodeInvalid {
			named = append(named, f)
		}
	}
	for _, want := range []string{"input.email", "input.customAttributes.department", "input.customAttributes.badge"} {
		if !slices.Contains(named, want) {
			t.Errorf("the rejection names %v, missing %s", named, want)
		}
	}
	e.fails(org, createUserMutation, map[string]any{"in": map[string]any{"environmentId": envID, "username": "ALICE"}}, graph.CodeConflict, "input.username")
	e.fails(org, createUserMutation, map[string]any{"in": map[string]any{"environmentId": envID, "username": "eve",
		"customAttributes": map[string]any{"badge": "100001"}}}, graph.CodeConflict, "input.customAttributes.badge")
	e.fails(org, `mutation($e: ID!) { createSchemaAttribute(input: {environmentId: $e, attribute: {name: "x", type: STRING, regex: "("}}) { position } }`,
		map[string]any{"e": envID}, graph.CodeInvalid, "input.attribute.regex")
	e.fails(org, `mutation($e: ID!) { setPasswordPolicy(input: {environmentId: $e, policy: {minLength: -1, maxLength: 64, minUppercase: 0,
		minLowercase: 0, minDigits: 0, minSpecial: 0, history: 0, notContainUsername: false, lockoutFailures: 3, lockoutSeconds: 0}}) { position } }`,
		map[string]any{"e": envID}, graph.CodeInvalid, "input.policy.minLength")

	// patchUser changes only what it names: family stays, given changes, a custom value goes.
	var patched struct {
		PatchUser struct {
			User struct {
				Name             struct{ Given, Family string }
				CustomAttributes map[string]any
			}
		}
	}
	e.ok(org, `mutation($e: ID!, $u: ID!) { patchUser(input: {environmentId: $e, id: $u, name: {given: "Alicia"},
		customAttributes: {department: null}}) { user { name { given family } customAttributes } position } }`,
		map[string]any{"e": envID, "u": alice}, &patched)
	if u := patched.PatchUser.User; u.Name.Given != "Alicia" || u.Name.Family != "Example" || u.CustomAttributes["department"] != nil ||
		u.CustomAttributes["badge"] != "100001" {
		t.Errorf("after patchUser: %+v", u)
	}
	e.ok(org, `mutation($e: ID!, $u: ID!) { disableUser(input: {environmentId: $e, id: $u}) { user { enabled } position } }`,
		map[string]any{"e": envID, "u": alice}, nil)

	// Relay pagination over 7 users, 3 at a time.
	for i := range 6 {
		e.createUser(org, envID, fmt.Sprintf("user%d", i), "sales", fmt.Sprintf("20000%d", i), "")
	}
	seen := map[string]bool{}
	after := ""
	for page := 0; ; page++ {
		var out struct {
			Users struct {
				TotalCount int
				PageInfo   struct {
					HasNextPage bool
					EndCursor   string
				}
				Edges []struct {
					Cursor string
					Node   struct{ ID string }
				}
			}
		}
		vars := map[string]any{"e": envID}
		if after != "" {
			vars["a"] = after
		}
		e.ok(org, `query($e: ID!, $a: String) { users(environmentId: $e, first: 3, after: $a) { totalCount pageInfo { hasNextPage endCursor }
			edges { cursor node { id } } } }`, vars, &out)
		if out.Users.TotalCount != 7 {
			t.Fatalf("page %d: totalCount %d, want 7", page, out.Users.TotalCount)
		}
		for _, edge := range out.Users.Edges {
			if seen[edge.Node.ID] {
				t.Fatalf("page %d repeats %s", page, edge.Node.ID)
			}
			seen[edge.Node.ID] = true
		}
		if want := page < 2; out.Users.PageInfo.HasNextPage != want || len(out.Users.Edges) != min(3, 7-3*page) {
			t.Fatalf("page %d: %d edges, hasNextPage %v", page, len(out.Users.Edges), out.Users.PageInfo.HasNextPage)
		}
		if !out.Users.PageInfo.HasNextPage {
			break
		}
		after = out.Users.PageInfo.EndCursor
	}
	if len(seen) != 7 {
		t.Errorf("paged through %d users, want 7", len(seen))
	}

	e.ok(org, `mutation($e: ID!, $u: ID!) { deleteUser(input: {environmentId: $e, id: $u}) { id position } }`, map[string]any{"e": envID, "u": alice}, nil)
	e.fails(org, `query($e: ID!, $u: ID!) { user(environmentId: $e, id: $u) { id } }`, map[string]any{"e": envID, "u": alice}, graph.CodeNotFound, "")
}

func TestPopulationScopedToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org, envID, popID := e.directory()
	inPop := e.createUser(org, envID, "eng1", "eng", "300001", popID)
	outside := e.createUser(org, envID, "sales1", "sales", "300002", "")
	scoped := e.client(envID, domain.RoleAssignment{Role: domain.RoleIdentityDataAdmin, EnvironmentID: envID, PopulationID: popID})

	var list struct {
		Users struct {
			TotalCount int
			Edges      []struct{ Node struct{ ID string } }
		}
	}
	e.ok(scoped, `query($e: ID!) { users(environmentId: $e) { totalCount edges { node { id } } } }`, map[string]any{"e": envID}, &list)
	if list.Users.TotalCount != 1 || len(list.Users.Edges) != 1 || list.Users.Edges[0].Node.ID != inPop {
		t.Errorf("the population's token lists %+v, want only %s", list.Users, inPop)
	}
	e.fails(scoped, `query($e: ID!, $u: ID!) { user(environmentId: $e, id: $u) { id } }`, map[string]any{"e": envID, "u": outside}, graph.CodeNotFound, "")
	e.fails(scoped, `mutation($e: ID!, $u: ID!) { setUserPassword(input: {environmentId: $e, id: $u, password: "Correct-horse-9"}) { position } }`,
		map[string]any{"e": envID, "u": outside}, graph.CodeNotFound, "")
	e.fails(scoped, createUserMutation, map[string]any{"in": map[string]any{"environmentId": envID, "username": "intruder"}}, graph.CodeForbidden, "")
	e.fails(scoped, `mutation($e: ID!, $u: ID!, $p: ID!) { moveUser(input: {environmentId: $e, id: $u, populationId: $p}) { position } }`,
		map[string]any{"e": envID, "u": inPop, "p": list.Users.Edges[0].Node.ID}, graph.CodeForbidden, "")
	e.createUser(scoped, envID, "eng2", "eng", "300003", popID)
	e.ok(scoped, `mutation($e: ID!, $u: ID!) { setUserPassword(input: {environmentId: $e, id: $u, password: "Correct-horse-9"}) { user { hasPassword } position } }`,
		map[string]any{"e": envID, "u": inPop}, nil)
	e.fails(scoped, `mutation($e: ID!) { createGroup(input: {environmentId: $e, name: "g"}) { position } }`, map[string]any{"e": envID}, graph.CodeForbidden, "")
}

func TestPasswordLockoutAndUnlock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org, envID, _ := e.directory()
	alice := e.createUser(org, envID, "alice", "eng", "100001", "")
	vars := map[string]any{"e": envID, "u": alice}
	e.fails(org, `mutation($e: ID!, $u: ID!) { setUserPassword(input: {environmentId: $e, id: $u, password: "short"}) { position } }`, vars,
		graph.CodeInvalid, "input.password")
	e.ok(org, `mutation($e: ID!, $u: ID!) { setUserPassword(input: {environmentId: $e, id: $u, password: "Correct-horse-9"}) { position } }`, vars, nil)

	const check = `mutation($e: ID!, $u: ID!, $p: String!) { checkUserPassword(input: {environmentId: $e, id: $u, password: $p}) {
		valid reason mustChange locked lockedUntil position } }`
	type result struct {
		CheckUserPassword struct {
			Valid, Locked, MustChange bool
			Reason, Position          string
			LockedUntil               *time.Time
		}
	}
	var r result
	for i := range 5 { // the default policy locks after 5 failures, for 900 s
		e.ok(org, check, map[string]any{"e": envID, "u": alice, "p": fmt.Sprintf("wrong-%d", i)}, &r)
		if c := r.CheckUserPassword; c.Valid || c.Reason != "WRONG_PASSWORD" || c.Locked != (i == 4) {
			t.Fatalf("wrong password %d: %+v", i, c)
		}
	}
	if r.CheckUserPassword.LockedUntil == nil || time.Until(*r.CheckUserPassword.LockedUntil) < 10*time.Minute {
		t.Errorf("lockedUntil = %v, want about 15 minutes from now", r.CheckUserPassword.LockedUntil)
	}
	e.ok(org, check, map[string]any{"e": envID, "u": alice, "p": "Correct-horse-9"}, &r)
	if c := r.CheckUserPassword; c.Valid || c.Reason != "LOCKED" || !c.Locked {
		t.Errorf("the right password while locked: %+v", c)
	}
	var u struct {
		User struct {
			Locked     bool
			LockReason string
		}
	}
	e.ok(org, `query($e: ID!, $u: ID!) { user(environmentId: $e, id: $u) { locked lockReason } }`, vars, &u)
	if !u.User.Locked || u.User.LockReason != "TOO_MANY_FAILURES" {
		t.Errorf("user after the lockout: %+v", u.User)
	}
	e.ok(org, `mutation($e: ID!, $u: ID!) { unlockUser(input: {environmentId: $e, id: $u}) { user { locked } position } }`, vars, &u)
	r = result{}
	e.ok(org, check, map[string]any{"e": envID, "u": alice, "p": "Correct-horse-9"}, &r)
	if c := r.CheckUserPassword; !c.Valid || c.Reason != "" || c.Locked {
		t.Errorf("the right password after unlock: %+v", c)
	}
	e.fails(org, `mutation($e: ID!, $u: ID!) { changeUserPassword(input: {environmentId: $e, id: $u, currentPassword: "nope",
		newPassword: "Another-horse-7"}) { position } }`, vars, graph.CodeInvalid, "input.currentPassword")
	e.ok(org, `mutation($e: ID!, $u: ID!) { changeUserPassword(input: {environmentId: $e, id: $u, currentPassword: "Correct-horse-9",
		newPassword: "Another-horse-7"}) { position } }`, vars, nil)
}

func TestGroupsDynamicAndNested(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org, envID, popID := e.directory()
	alice := e.createUser(org, envID, "alice", "eng", "100001", popID)
	bob := e.createUser(org, envID, "bob", "sales", "100002", "")
	carol := e.createUser(org, envID, "carol", "eng", "100003", popID)

	const createGroup = `mutation($in: CreateGroupInput!) { createGroup(input: $in) { group { id name kind } position } }`
	var g struct {
		CreateGroup struct{ Group struct{ ID string } }
	}
	e.ok(org, createGroup, map[string]any{"in": map[string]any{"environmentId": envID, "name": "Engineers", "kind": "DYNAMIC",
		"filter": `department eq "eng" and enabled eq true`}}, &g)
	engineers := g.CreateGroup.Group.ID
	e.fails(org, createGroup, map[string]any{"in": map[string]any{"environmentId": envID, "name": "Bad", "kind": "DYNAMIC",
		"filter": `shoeSize eq "9"`}}, graph.CodeInvalid, "input.filter")
	e.ok(org, createGroup, map[string]any{"in": map[string]any{"environmentId": envID, "name": "Staff"}}, &g)
	staff := g.CreateGroup.Group.ID

	const addMember = `mutation($in: AddGroupMemberInput!) { addGroupMember(input: $in) { group { id } position } }`
	e.ok(org, addMember, map[string]any{"in": map[string]any{"environmentId": envID, "groupId": staff, "memberType": "GROUP", "memberId": engineers}}, nil)
	e.ok(org, addMember, map[string]any{"in": map[string]any{"environmentId": envID, "groupId": staff, "memberType": "USER", "memberId": bob}}, nil)
	e.fails(org, addMember, map[string]any{"in": map[string]any{"environmentId": envID, "groupId": engineers, "memberType": "GROUP", "memberId": staff}},
		graph.CodeConflict, "")

	members := func(transitive bool) []string {
		var out struct {
			Group struct {
				Members []struct {
					Typename string `json:"__typename"`
					ID       string
				}
			}
		}
		e.ok(org, `query($e: ID!, $g: ID!, $t: Boolean) { group(environmentId: $e, id: $g) {
			members(transitive: $t) { __typename ... on User { id } ... on Group { id } } } }`,
			map[string]any{"e": envID, "g": staff, "t": transitive}, &out)
		var ids []string
		for _, m := range out.Group.Members {
			ids = append(ids, m.Typename+":"+m.ID)
		}
		slices.Sort(ids)
		return ids
	}
	want := []string{"Group:" + engineers, "User:" + bob}
	slices.Sort(want)
	if got := members(false); !slices.Equal(got, want) {
		t.Errorf("Staff's direct members = %v, want %v", got, want)
	}
	want = append(want, "User:"+alice, "User:"+carol)
	slices.Sort(want)
	if got := members(true); !slices.Equal(got, want) {
		t.Errorf("Staff's transitive members = %v, want %v", got, want)
	}
	var ug struct {
		User struct{ Groups []struct{ Name string } }
	}
	e.ok(org, `query($e: ID!, $u: ID!) { user(environmentId: $e, id: $u) { groups(transitive: true) { name } } }`,
		map[string]any{"e": envID, "u": alice}, &ug)
	var names []string
	for _, g := range ug.User.Groups {
		names = append(names, g.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"Engineers", "Staff"}) {
		t.Errorf("alice's transitive groups = %v", names)
	}

	// A change of the filtered attribute moves alice out of the dynamic group.
	e.ok(org, `mutation($e: ID!, $u: ID!) { patchUser(input: {environmentId: $e, id: $u, customAttributes: {department: "sales"}}) { position } }`,
		map[string]any{"e": envID, "u": alice}, nil)
	e.ok(org, `mutation($in: RemoveGroupMemberInput!) { removeGroupMember(input: $in) { position } }`,
		map[string]any{"in": map[string]any{"environmentId": envID, "groupId": staff, "memberType": "USER", "memberId": bob}}, nil)
	want = []string{"Group:" + engineers, "User:" + carol}
	slices.Sort(want)
	if got := members(true); !slices.Equal(got, want) {
		t.Errorf("Staff's transitive members after the changes = %v, want %v", got, want)
	}
}

func TestAPIClientsAndRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org, envID, popID := e.directory()
	e.createUser(org, envID, "alice", "eng", "100001", popID)
	envAdmin := e.client(envID, domain.RoleAssignment{Role: domain.RoleEnvironmentAdmin, EnvironmentID: envID})

	const create = `mutation($in: CreateApiClientInput!) { createApiClient(input: $in) { apiClient { id name roles { role environmentId } } token tokenId position } }`
	var c struct {
		CreateAPIClient struct {
			APIClient struct{ ID, Name string } `json:"apiClient"`
			Token     string
			TokenID   string
		} `json:"createApiClient"`
	}
	e.ok(envAdmin, create, map[string]any{"in": map[string]any{"environmentId": envID, "name": "reader",
		"roles": []any{map[string]any{"role": "IDENTITY_DATA_READ_ONLY", "environmentId": envID}}}}, &c)
	reader := c.CreateAPIClient.Token
	if reader == "" || c.CreateAPIClient.APIClient.Name != "reader" {
		t.Fatalf("createApiClient: %+v", c)
	}
	// An environment's admin cannot mint an organization-wide role, nor reach another environment.
	e.fails(envAdmin, create, map[string]any{"in": map[string]any{"name": "root",
		"roles": []any{map[string]any{"role": "ENVIRONMENT_ADMIN"}}}}, graph.CodeForbidden, "")
	e.fails(envAdmin, create, map[string]any{"in": map[string]any{"environmentId": envID, "name": "escalate",
		"roles": []any{map[string]any{"role": "ENVIRONMENT_ADMIN"}}}}, graph.CodeForbidden, "input.roles[0]")
	// A data admin cannot manage API clients at all.
	dataAdmin := e.client(envID, domain.RoleAssignment{Role: domain.RoleIdentityDataAdmin, EnvironmentID: envID})
	e.fails(dataAdmin, create, map[string]any{"in": map[string]any{"environmentId": envID, "name": "x",
		"roles": []any{map[string]any{"role": "IDENTITY_DATA_READ_ONLY", "environmentId": envID}}}}, graph.CodeForbidden, "")

	// The new token works, reads, and is FORBIDDEN to write.
	var list struct{ Users struct{ TotalCount int } }
	e.ok(reader, `query($e: ID!) { users(environmentId: $e) { totalCount } }`, map[string]any{"e": envID}, &list)
	if list.Users.TotalCount != 1 {
		t.Errorf("the reader sees %d users, want 1", list.Users.TotalCount)
	}
	e.fails(reader, createUserMutation, map[string]any{"in": map[string]any{"environmentId": envID, "username": "nope"}}, graph.CodeForbidden, "")

	// assignRole widens the reader; revokeApiToken ends its token.
	e.ok(envAdmin, `mutation($e: ID!, $c: ID!) { assignRole(input: {environmentId: $e, subjectType: API_CLIENT, subjectId: $c,
		role: IDENTITY_DATA_ADMIN}) { assignment { id role } position } }`, map[string]any{"e": envID, "c": c.CreateAPIClient.APIClient.ID}, nil)
	e.createUser(reader, envID, "bob", "sales", "100002", "")
	e.ok(envAdmin, `mutation($e: ID, $c: ID!, $t: ID!) { revokeApiToken(input: {environmentId: $e, clientId: $c, tokenId: $t}) { id position } }`,
		map[string]any{"e": envID, "c": c.CreateAPIClient.APIClient.ID, "t": c.CreateAPIClient.TokenID}, nil)
	if res := e.do(reader, `{ me { id } }`, nil); res.status != http.StatusUnauthorized {
		t.Errorf("a revoked token: status %d %+v", res.status, res.Errors)
	}
}

func TestImportUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org, envID, popID := e.directory()
	hasher, err := password.NewHasher(password.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(domain.DefaultPasswordPolicy(), "imported0", "Imported-pass-1")
	if err != nil {
		t.Fatal(err)
	}
	const n, bad = 40, 17
	users := make([]any, n)
	for i := range users {
		u := map[string]any{"username": fmt.Sprintf("imported%d", i), "email": fmt.Sprintf("imported%d@acme.test", i),
			"customAttributes": map[string]any{"department": "eng", "badge": fmt.Sprintf("%06d", 500000+i)}}
		if i%2 == 0 {
			u["populationId"] = popID
		}
		if i == 0 {
			u["passwordHash"] = hash
		}
		if i == bad {
			u["customAttributes"] = map[string]any{"badge": "nope"}
		}
		users[i] = u
	}
	var out struct {
		ImportUsers struct {
			Created, Failed int
			Position        string
			Results         []struct {
				Index  int
				UserID *string
				Error  *struct{ Code, Field, Message string }
			}
		}
	}
	e.ok(org, `mutation($in: ImportUsersInput!) { importUsers(input: $in) { created failed results { index userId error { code field message } } position } }`,
		map[string]any{"in": map[string]any{"environmentId": envID, "users": users}}, &out)
	im := out.ImportUsers
	if im.Created != n-1 || im.Failed != 1 || len(im.Results) != n {
		t.Fatalf("import: created %d failed %d results %d", im.Created, im.Failed, len(im.Results))
	}
	for i, r := range im.Results {
		switch {
		case r.Index != i:
			t.Errorf("result %d has index %d", i, r.Index)
		case i == bad && (r.Error == nil || r.Error.Code != graph.CodeInvalid || r.Error.Field != fmt.Sprintf("input.users[%d].customAttributes.badge", bad)):
			t.Errorf("the bad line: %+v", r.Error)
		case i != bad && (r.Error != nil || r.UserID == nil):
			t.Errorf("line %d: %+v", i, r.Error)
		}
	}
	var list struct{ Users struct{ TotalCount int } }
	e.ok(org, `query($e: ID!, $p: String) { users(environmentId: $e, minPosition: $p) { totalCount } }`,
		map[string]any{"e": envID, "p": im.Position}, &list)
	if list.Users.TotalCount != n-1 {
		t.Errorf("totalCount after the import = %d, want %d", list.Users.TotalCount, n-1)
	}
	var check struct{ CheckUserPassword struct{ Valid bool } }
	e.ok(org, `mutation($e: ID!, $u: ID!) { checkUserPassword(input: {environmentId: $e, id: $u, password: "Imported-pass-1"}) { valid } }`,
		map[string]any{"e": envID, "u": *im.Results[0].UserID}, &check)
	if !check.CheckUserPassword.Valid {
		t.Error("the imported hash does not verify")
	}

	// A population-scoped importer gets FORBIDDEN on the users outside its population only.
	scoped := e.client(envID, domain.RoleAssignment{Role: domain.RoleIdentityDataAdmin, EnvironmentID: envID, PopulationID: popID})
	e.ok(scoped, `mutation($in: ImportUsersInput!) { importUsers(input: $in) { created failed results { index userId error { code field } } position } }`,
		map[string]any{"in": map[string]any{"environmentId": envID, "users": []any{
			map[string]any{"username": "outsider"}, map[string]any{"username": "insider", "populationId": popID}}}}, &out)
	if im := out.ImportUsers; im.Created != 1 || im.Failed != 1 || im.Results[0].Error == nil || im.Results[0].Error.Code != graph.CodeForbidden ||
		im.Results[1].UserID == nil {
		t.Errorf("scoped import: %+v", im)
	}
}

func TestCredentialMutations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org, envID, _ := e.directory()
	alice := e.createUser(org, envID, "alice", "eng", "100001", "")
	vars := map[string]any{"e": envID, "u": alice}
	var mfa struct {
		EnrollMfaDevice struct {
			Device     struct{ ID, Type string }
			Secret     string
			OtpauthURI string `json:"otpauthUri"`
		}
	}
	e.ok(org, `mutation($e: ID!, $u: ID!) { enrollMfaDevice(input: {environmentId: $e, userId: $u, type: TOTP, name: "phone"}) {
		device { id type active } secret otpauthUri position } }`, vars, &mfa)
	if m := mfa.EnrollMfaDevice; m.Secret == "" || !strings.HasPrefix(m.OtpauthURI, "otpauth://totp/") || m.Device.Type != "TOTP" {
		t.Errorf("enrollMfaDevice: %+v", m)
	}
	e.fails(org, `mutation($e: ID!, $u: ID!, $d: ID!) { activateMfaDevice(input: {environmentId: $e, userId: $u, deviceId: $d, code: "000000"}) { position } }`,
		map[string]any{"e": envID, "u": alice, "d": mfa.EnrollMfaDevice.Device.ID}, graph.CodeInvalid, "input.code")
	var consent struct {
		RecordConsent struct{ Consent struct{ ID string } }
	}
	e.ok(org, `mutation($e: ID!, $u: ID!) { recordConsent(input: {environmentId: $e, userId: $u, purpose: "marketing", version: "1"}) { consent { id } position } }`,
		vars, &consent)
	e.ok(org, `mutation($e: ID!, $u: ID!, $c: ID!) { revokeConsent(input: {environmentId: $e, userId: $u, consentId: $c}) { consent { revoked } position } }`,
		map[string]any{"e": envID, "u": alice, "c": consent.RecordConsent.Consent.ID}, nil)
	e.ok(org, `mutation($e: ID!, $u: ID!) { linkAccount(input: {environmentId: $e, userId: $u, identityProvider: "google", subject: "123"}) { linkedAccount { id } position } }`,
		vars, nil)
	bob := e.createUser(org, envID, "bob", "eng", "100002", "")
	e.fails(org, `mutation($e: ID!, $u: ID!) { linkAccount(input: {environmentId: $e, userId: $u, identityProvider: "google", subject: "123"}) { position } }`,
		map[string]any{"e": envID, "u": bob}, graph.CodeConflict, "input.subject")
	var u struct {
		User struct {
			MfaDevices     []struct{ Active bool }
			Consents       []struct{ Revoked bool }
			LinkedAccounts []struct{ Subject string }
		}
	}
	e.ok(org, `query($e: ID!, $u: ID!) { user(environmentId: $e, id: $u) { mfaDevices { active } consents { revoked } linkedAccounts { subject } } }`, vars, &u)
	if len(u.User.MfaDevices) != 1 || len(u.User.Consents) != 1 || !u.User.Consents[0].Revoked || len(u.User.LinkedAccounts) != 1 {
		t.Errorf("alice's credentials: %+v", u.User)
	}
	var reset struct {
		ResetUserPassword struct {
			TemporaryPassword string
			User              struct{ MustChangePassword bool }
		}
	}
	e.ok(org, `mutation($e: ID!, $u: ID!) { resetUserPassword(input: {environmentId: $e, id: $u}) { temporaryPassword user { mustChangePassword } position } }`,
		vars, &reset)
	if reset.ResetUserPassword.TemporaryPassword == "" || !reset.ResetUserPassword.User.MustChangePassword {
		t.Errorf("resetUserPassword: %+v", reset)
	}
}
