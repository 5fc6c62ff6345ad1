package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startServe runs "idstream serve" on a fresh data directory and a free loopback port, and
// returns its base URL, the bootstrap admin token it wrote, and the data directory.
func startServe(t *testing.T) (base, token, dataDir string) {
	t.Helper()
	dataDir = t.TempDir()
	base, token, _ = startServeAt(t, dataDir)
	return base, token, dataDir
}

// startServeAt runs "idstream serve" on dataDir (new or used) and a free loopback port, and
// returns its base URL, the bootstrap admin token in dataDir, and a function that stops it with
// SIGTERM and waits for it to exit (also run at cleanup; calling it twice is harmless).
func startServeAt(t *testing.T, dataDir string, extraArgs ...string) (base, token string, stop func()) {
	t.Helper()
	base, token, stop, _ = startServeKillable(t, dataDir, extraArgs...)
	return base, token, stop
}

// startServeKillable is startServeAt that also returns kill: SIGKILL, for crash tests (the
// process gets no chance to finish anything), then wait for it to exit.
func startServeKillable(t *testing.T, dataDir string, extraArgs ...string) (base, token string, stop, kill func()) {
	t.Helper()
	return startServeKillableEnv(t, dataDir, nil, extraArgs...)
}

// startServeKillableEnv is startServeKillable with env ("KEY=value") added to the process's
// environment.
func startServeKillableEnv(t *testing.T, dataDir string, env []string, extraArgs ...string) (base, token string, stop, kill func()) {
	t.Helper()
	tokenPath := filepath.Join(dataDir, "admin.token")
	_, statErr := os.Stat(tokenPath)
	fresh := errors.Is(statErr, os.ErrNotExist) // a new data directory: serve bootstraps and prints the path
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	proc, stdout, stderr := idstreamProcessEnv(ctx, t, env, append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}, extraArgs...)...)
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			proc.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				proc.Process.Kill()
				<-exited
			}
			cancel()
			if t.Failed() {
				t.Logf("serve's stderr:\n%s", stderr.String())
			}
		})
	}
	kill = func() {
		once.Do(func() {
			proc.Process.Kill()
			<-exited
			cancel()
		})
	}
	t.Cleanup(stop)
	lines := bufio.NewScanner(stdout)
	printedPath := ""
	for lines.Scan() {
		line := lines.Text()
		if p, ok := strings.CutPrefix(line, "admin token written to "); ok {
			printedPath = p
		}
		if b, ok := strings.CutPrefix(line, "idstream listening on "); ok {
			base = b
			break
		}
	}
	if base == "" {
		t.Fatalf("serve printed no listen address; stderr:\n%s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	if (fresh || printedPath != "") && printedPath != tokenPath {
		t.Fatalf("serve printed admin token path %q, want %q", printedPath, tokenPath)
	}
	fi, err := os.Stat(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token has mode %v, want 0600", fi.Mode().Perm())
	}
	raw, err := os.ReadFile(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	return base, strings.TrimSpace(string(raw)), stop, kill
}

// gql runs a query that must succeed.
func gql(t *testing.T, c *gqlClient, query string, vars map[string]any, out any) {
	t.Helper()
	if err := c.do(t.Context(), query, vars, out); err != nil {
		t.Fatalf("%s\n→ %v", strings.Join(strings.Fields(query), " "), err)
	}
}

// gqlFails runs a query that must fail with code (and field, when not empty).
func gqlFails(t *testing.T, c *gqlClient, query string, vars map[string]any, code, field string) gqlErrors {
	t.Helper()
	err := c.do(t.Context(), query, vars, nil)
	var es gqlErrors
	if !errors.As(err, &es) {
		t.Fatalf("%s\n→ %v, want GraphQL error %s", strings.Join(strings.Fields(query), " "), err, code)
	}
	for _, e := range es {
		if e.Extensions["code"] == code && (field == "" || e.Extensions["field"] == field) {
			return es
		}
	}
	t.Fatalf("%s\n→ %v, want code %s field %q", strings.Join(strings.Fields(query), " "), err, code, field)
	return nil
}

// TestEndToEnd does what a new user would, over HTTP against "idstream serve" with nothing
// else installed: bootstrap token, environment, population, custom attribute, users (one
// rejected by the schema), a dynamic and a nested group, memberships, a lockout by failed
// password checks and its unlock; then a token for a second environment, issued by
// "idstream token create", sees and changes none of it.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	base, adminToken, _ := startServe(t)
	admin := newGQLClient(base, adminToken)

	if err := newGQLClient(base, "").do(t.Context(), `{ environments { id } }`, nil, nil); errorCode(err) != "UNAUTHENTICATED" {
		t.Fatalf("no token: %v, want UNAUTHENTICATED", err)
	}
	if err := newGQLClient(base, "ids_not-a-token").do(t.Context(), `{ environments { id } }`, nil, nil); errorCode(err) != "UNAUTHENTICATED" {
		t.Fatalf("bad token: %v, want UNAUTHENTICATED", err)
	}

	var env struct {
		CreateEnvironment struct {
			Environment struct{ ID, DefaultPopulationID string } `json:"environment"`
			Position    string
		} `json:"createEnvironment"`
	}
	gql(t, admin, `mutation { createEnvironment(input: {name: "Acme"}) { environment { id defaultPopulationId } position } }`, nil, &env)
	envA := env.CreateEnvironment.Environment.ID

	var pop struct {
		CreatePopulation struct{ Population struct{ ID string } } `json:"createPopulation"`
	}
	gql(t, admin, `mutation($e: ID!) { createPopulation(input: {environmentId: $e, name: "Engineering"}) { population { id } position } }`,
		map[string]any{"e": envA}, &pop)
	popEng := pop.CreatePopulation.Population.ID

	gql(t, admin, `mutation($e: ID!) { createSchemaAttribute(input: {environmentId: $e, attribute: {
		name: "department", type: STRING, enum: ["eng", "sales"]}}) { attribute { name } position } }`, map[string]any{"e": envA}, nil)
	gql(t, admin, `mutation($e: ID!) { createSchemaAttribute(input: {environmentId: $e, attribute: {
		name: "badge", type: STRING, unique: true, regex: "[0-9]{6}", maxLength: 6}}) { attribute { name } position } }`, map[string]any{"e": envA}, nil)

	const createUser = `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id username populationId } position } }`
	newUser := func(username, dept, badge, popID string) string {
		var out struct {
			CreateUser struct {
				User struct{ ID, Username, PopulationID string } `json:"user"`
			} `json:"createUser"`
		}
		in := map[string]any{"environmentId": envA, "username": username, "email": username + "@acme.test",
			"name":             map[string]any{"given": strings.ToUpper(username[:1]) + username[1:], "family": "Example"},
			"customAttributes": map[string]any{"department": dept, "badge": badge}}
		if popID != "" {
			in["populationId"] = popID
		}
		gql(t, admin, createUser, map[string]any{"in": in}, &out)
		return out.CreateUser.User.ID
	}
	alice := newUser("alice", "eng", "100001", popEng)
	bob := newUser("bob", "sales", "100002", "")
	carol := newUser("carol", "eng", "100003", popEng)

	// Rejected by the schema, every field named; nothing stored.
	es := gqlFails(t, admin, createUser, map[string]any{"in": map[string]any{"environmentId": envA, "username": "mallory",
		"customAttributes": map[string]any{"department": "hr", "badge": "12ab"}}}, "INVALID", "input.customAttributes.department")
	if !slices.ContainsFunc(es, func(e gqlError) bool { return e.Extensions["field"] == "input.customAttributes.badge" }) {
		t.Errorf("the bad badge was not reported with the bad department: %v", es)
	}
	gqlFails(t, admin, createUser, map[string]any{"in": map[string]any{"environmentId": envA, "username": "alice"}}, "CONFLICT", "input.username")
	var count struct {
		Users struct{ TotalCount int } `json:"users"`
	}
	gql(t, admin, `query($e: ID!) { users(environmentId: $e) { totalCount } }`, map[string]any{"e": envA}, &count)
	if count.Users.TotalCount != 3 {
		t.Fatalf("totalCount = %d after 3 users and 2 rejections, want 3", count.Users.TotalCount)
	}

	// A dynamic group and a nested one.
	const createGroup = `mutation($in: CreateGroupInput!) { createGroup(input: $in) { group { id name } position } }`
	var g struct {
		CreateGroup struct{ Group struct{ ID string } } `json:"createGroup"`
	}
	gql(t, admin, createGroup, map[string]any{"in": map[string]any{"environmentId": envA, "name": "Engineers", "kind": "DYNAMIC",
		"filter": `department eq "eng" and enabled eq true`}}, &g)
	engineers := g.CreateGroup.Group.ID
	gql(t, admin, createGroup, map[string]any{"in": map[string]any{"environmentId": envA, "name": "Staff"}}, &g)
	staff := g.CreateGroup.Group.ID
	const addMember = `mutation($in: AddGroupMemberInput!) { addGroupMember(input: $in) { group { id } position } }`
	gql(t, admin, addMember, map[string]any{"in": map[string]any{"environmentId": envA, "groupId": staff, "memberType": "GROUP", "memberId": engineers}}, nil)
	var added struct {
		AddGroupMember struct{ Position string } `json:"addGroupMember"`
	}
	gql(t, admin, addMember, map[string]any{"in": map[string]any{"environmentId": envA, "groupId": staff, "memberType": "USER", "memberId": bob}}, &added)
	gqlFails(t, admin, addMember, map[string]any{"in": map[string]any{"environmentId": envA, "groupId": engineers, "memberType": "GROUP", "memberId": staff}}, "CONFLICT", "")

	var members struct {
		Group struct {
			Members []struct {
				Typename string `json:"__typename"`
				ID       string
			}
		}
	}
	gql(t, admin, `query($e: ID!, $g: ID!, $p: String) { group(environmentId: $e, id: $g, minPosition: $p) {
		members(transitive: true) { __typename ... on User { id } ... on Group { id } } } }`,
		map[string]any{"e": envA, "g": staff, "p": added.AddGroupMember.Position}, &members)
	var ids []string
	for _, m := range members.Group.Members {
		ids = append(ids, m.ID)
	}
	for _, want := range []string{alice, bob, carol, engineers} {
		if !slices.Contains(ids, want) {
			t.Errorf("Staff's transitive members %v lack %s", ids, want)
		}
	}
	var ug struct {
		User struct{ Groups []struct{ Name string } } `json:"user"`
	}
	gql(t, admin, `query($e: ID!, $u: ID!) { user(environmentId: $e, id: $u) { groups(transitive: true) { name } } }`,
		map[string]any{"e": envA, "u": alice}, &ug)
	var names []string
	for _, g := range ug.User.Groups {
		names = append(names, g.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"Engineers", "Staff"}) {
		t.Errorf("alice's transitive groups = %v, want [Engineers Staff]", names)
	}

	// Lock alice with failed password checks, then unlock her.
	gql(t, admin, `mutation($e: ID!, $u: ID!) { setUserPassword(input: {environmentId: $e, id: $u, password: "Correct-horse-9"}) { position } }`,
		map[string]any{"e": envA, "u": alice}, nil)
	const check = `mutation($e: ID!, $u: ID!, $p: String!) { checkUserPassword(input: {environmentId: $e, id: $u, password: $p}) {
		valid locked reason position } }`
	type checkOut struct {
		CheckUserPassword struct {
			Valid, Locked bool
			Reason        string
			Position      string
		} `json:"checkUserPassword"`
	}
	var co checkOut
	for i := range 5 {
		gql(t, admin, check, map[string]any{"e": envA, "u": alice, "p": fmt.Sprintf("wrong-%d", i)}, &co)
		if co.CheckUserPassword.Valid {
			t.Fatalf("wrong password %d accepted", i)
		}
	}
	if !co.CheckUserPassword.Locked {
		t.Fatalf("alice not locked after 5 failures (the default policy's lockout): %+v", co.CheckUserPassword)
	}
	gql(t, admin, check, map[string]any{"e": envA, "u": alice, "p": "Correct-horse-9"}, &co)
	if co.CheckUserPassword.Valid || co.CheckUserPassword.Reason != "LOCKED" {
		t.Errorf("the right password while locked: %+v, want invalid, LOCKED", co.CheckUserPassword)
	}
	var u struct {
		User struct{ Locked bool } `json:"user"`
	}
	gql(t, admin, `query($e: ID!, $u: ID!, $p: String) { user(environmentId: $e, id: $u, minPosition: $p) { locked } }`,
		map[string]any{"e": envA, "u": alice, "p": co.CheckUserPassword.Position}, &u)
	if !u.User.Locked {
		t.Error("user(alice).locked = false after the lockout")
	}
	gql(t, admin, `mutation($e: ID!, $u: ID!) { unlockUser(input: {environmentId: $e, id: $u}) { user { locked } position } }`,
		map[string]any{"e": envA, "u": alice}, nil)
	gql(t, admin, check, map[string]any{"e": envA, "u": alice, "p": "Correct-horse-9"}, &co)
	if !co.CheckUserPassword.Valid {
		t.Errorf("the right password after unlock: %+v", co.CheckUserPassword)
	}

	// A second environment, and a token for it from the CLI.
	gql(t, admin, `mutation { createEnvironment(input: {name: "Globex"}) { environment { id } position } }`, nil, &env)
	envB := env.CreateEnvironment.Environment.ID
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	proc, stdout, stderr := idstreamProcess(ctx, t, "token", "create", "--url", base, "--token", adminToken,
		"--environment", envB, "--role", "ENVIRONMENT_ADMIN")
	out, _ := io.ReadAll(stdout)
	if err := proc.Wait(); err != nil {
		t.Fatalf("token create: %v\n%s", err, stderr.String())
	}
	outLines := strings.Split(strings.TrimSpace(string(out)), "\n")
	tokenB := outLines[len(outLines)-1]
	if !strings.HasPrefix(tokenB, "ids_") {
		t.Fatalf("token create printed %q last, want the token", tokenB)
	}
	b := newGQLClient(base, tokenB)

	var envs struct{ Environments []struct{ ID string } }
	gql(t, b, `{ environments { id } }`, nil, &envs)
	if len(envs.Environments) != 1 || envs.Environments[0].ID != envB {
		t.Errorf("environments seen by B's token = %v, want only %s", envs.Environments, envB)
	}
	const missing = "01900000-0000-7000-8000-00000000dead"
	sameAnswer := func(query string, vars func(id string) map[string]any) {
		t.Helper()
		real := gqlFails(t, b, query, vars(alice), "NOT_FOUND", "")
		fake := gqlFails(t, b, query, vars(missing), "NOT_FOUND", "")
		if strings.ReplaceAll(real[0].Message, alice, "X") != strings.ReplaceAll(fake[0].Message, missing, "X") {
			t.Errorf("B's token can tell A's resource from a missing one: %q vs %q", real[0].Message, fake[0].Message)
		}
	}
	sameAnswer(`query($e: ID!, $u: ID!) { user(environmentId: $e, id: $u) { id } }`,
		func(id string) map[string]any { return map[string]any{"e": envA, "u": id} })
	gqlFails(t, b, `query($e: ID!) { environment(id: $e) { id } }`, map[string]any{"e": envA}, "NOT_FOUND", "")
	gqlFails(t, b, `query($e: ID!) { users(environmentId: $e) { totalCount } }`, map[string]any{"e": envA}, "NOT_FOUND", "")
	gqlFails(t, b, createUser, map[string]any{"in": map[string]any{"environmentId": envA, "username": "intruder"}}, "NOT_FOUND", "")
	gqlFails(t, b, `mutation($e: ID!, $u: ID!) { deleteUser(input: {environmentId: $e, id: $u}) { id } }`,
		map[string]any{"e": envA, "u": alice}, "NOT_FOUND", "")
	gqlFails(t, b, `mutation($e: ID!) { renameEnvironment(input: {id: $e, name: "pwned"}) { position } }`,
		map[string]any{"e": envA}, "NOT_FOUND", "")

	// A's data is untouched.
	var still struct {
		Environment struct{ Name string }    `json:"environment"`
		Users       struct{ TotalCount int } `json:"users"`
	}
	gql(t, admin, `query($e: ID!) { environment(id: $e) { name } users(environmentId: $e) { totalCount } }`, map[string]any{"e": envA}, &still)
	if still.Environment.Name != "Acme" || still.Users.TotalCount != 3 {
		t.Errorf("environment A after B's attempts: %+v", still)
	}
}
