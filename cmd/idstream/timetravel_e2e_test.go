package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTimeTravelEndToEnd does issue 4's "done when" over HTTP against "idstream serve" (all
// but the audit trail's part): a user changed several times, queried as of each past instant
// and position, gives each past state and diff names the changes; a configuration revision
// restored brings the schema back; verify and rebuild agree with the live model; and after a
// restart on the same data directory the past still answers the same (from a snapshot).
func TestTimeTravelEndToEnd(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	base, adminToken, stop := startServeAt(t, dataDir)
	admin := newGQLClient(base, adminToken)
	admin.headers = map[string]string{"User-Agent": "idstream-e2e/1"}

	var me struct {
		Me struct{ ID string } `json:"me"`
	}
	gql(t, admin, `{ me { id } }`, nil, &me)
	actor := "apiclient:" + me.Me.ID

	var env struct {
		CreateEnvironment struct {
			Environment struct{ ID string } `json:"environment"`
		} `json:"createEnvironment"`
	}
	gql(t, admin, `mutation { createEnvironment(input: {name: "Acme"}) { environment { id } position } }`, nil, &env)
	e := env.CreateEnvironment.Environment.ID
	gql(t, admin, `mutation($e: ID!) { createSchemaAttribute(input: {environmentId: $e, attribute: {
		name: "department", type: STRING, enum: ["eng", "sales"]}}) { position } }`, map[string]any{"e": e}, nil)

	// Revision r1: the schema with department only.
	var rev struct {
		CreateConfigRevision struct {
			Revision struct{ ID, ContentHash, Position string } `json:"revision"`
		} `json:"createConfigRevision"`
	}
	gql(t, admin, `mutation($e: ID!) { createConfigRevision(input: {environmentId: $e, name: "baseline"}) {
		revision { id contentHash position } position } }`, map[string]any{"e": e}, &rev)
	r1 := rev.CreateConfigRevision.Revision

	// Alice through four states; after each, an instant at which that state held.
	type state struct {
		pos, email, dept string
		enabled          bool
		at               time.Time
	}
	var states []state
	step := func(requestID, query string, vars map[string]any, email, dept string, enabled bool) string {
		t.Helper()
		admin.headers["X-Request-ID"] = requestID
		var out map[string]struct {
			User     struct{ ID string } `json:"user"`
			Position string
		}
		gql(t, admin, query, vars, &out)
		for _, v := range out {
			states = append(states, state{pos: v.Position, email: email, dept: dept, enabled: enabled, at: time.Now().UTC()})
			return v.User.ID
		}
		t.Fatal("no payload")
		return ""
	}
	alice := step("req-create", `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } position } }`,
		map[string]any{"in": map[string]any{"environmentId": e, "username": "alice", "email": "alice@acme.test",
			"customAttributes": map[string]any{"department": "eng"}, "password": "Correct-horse-9"}}, "alice@acme.test", "eng", true)
	step("req-email", `mutation($e: ID!, $id: ID!) { patchUser(input: {environmentId: $e, id: $id, email: "alice@corp.test"}) { user { id } position } }`,
		map[string]any{"e": e, "id": alice}, "alice@corp.test", "eng", true)
	step("req-dept", `mutation($e: ID!, $id: ID!) { patchUser(input: {environmentId: $e, id: $id, customAttributes: {department: "sales"}}) { user { id } position } }`,
		map[string]any{"e": e, "id": alice}, "alice@corp.test", "sales", true)
	step("req-disable", `mutation($e: ID!, $id: ID!) { disableUser(input: {environmentId: $e, id: $id}) { user { id } position } }`,
		map[string]any{"e": e, "id": alice}, "alice@corp.test", "sales", false)
	delete(admin.headers, "X-Request-ID")

	type userState struct {
		User struct {
			Email            string
			Enabled          bool
			CustomAttributes map[string]any
		}
	}
	checkPast := func(c *gqlClient, label string) {
		t.Helper()
		for i, s := range states {
			for _, args := range []map[string]any{{"t": s.at.Format(time.RFC3339Nano)}, {"p": s.pos}} {
				var got userState
				args["e"], args["id"] = e, alice
				gql(t, c, `query($e: ID!, $id: ID!, $t: DateTime, $p: String) { user(environmentId: $e, id: $id, asOf: $t, atPosition: $p) {
					email enabled customAttributes } }`, args, &got)
				if got.User.Email != s.email || got.User.Enabled != s.enabled || got.User.CustomAttributes["department"] != s.dept {
					t.Errorf("%s: state %d (%v): got %+v, want email %s enabled %v department %s", label, i, args, got.User, s.email, s.enabled, s.dept)
				}
				// The environment-wide path (a snapshot or a replay of the log) agrees.
				var list struct {
					Users struct {
						TotalCount int
						Edges      []struct{ Node struct{ Email string } }
					}
				}
				gql(t, c, `query($e: ID!, $t: DateTime, $p: String) { users(environmentId: $e, asOf: $t, atPosition: $p) {
					totalCount edges { node { email } } } }`, args, &list)
				if list.Users.TotalCount != 1 || list.Users.Edges[0].Node.Email != s.email {
					t.Errorf("%s: users as of state %d (%v): %+v, want alice with %s", label, i, args, list.Users, s.email)
				}
			}
		}
		// Before alice existed: not found, as of that instant.
		gqlFails(t, c, `query($e: ID!, $id: ID!, $t: DateTime) { user(environmentId: $e, id: $id, asOf: $t) { id } }`,
			map[string]any{"e": e, "id": alice, "t": states[0].at.Add(-time.Hour).Format(time.RFC3339Nano)}, "NOT_FOUND", "")
	}
	checkPast(admin, "live server")
	gqlFails(t, admin, `query($e: ID!) { users(environmentId: $e, asOf: "2026-01-01T00:00:00Z", atPosition: "3") { totalCount } }`,
		map[string]any{"e": e}, "INVALID", "asOf")

	// diff from the first state to the third names the email and department, nothing else.
	var diff struct {
		Diff struct {
			Created bool
			Changes []struct {
				Path, Kind    string
				Before, After any
				Actor         *string
			}
		}
	}
	gql(t, admin, `query($e: ID!, $id: ID!, $f: DateTime, $to: DateTime) { diff(environmentId: $e, resourceId: $id, from: $f, to: $to) {
		created changes { path kind before after actor } } }`,
		map[string]any{"e": e, "id": alice, "f": states[0].at.Format(time.RFC3339Nano), "to": states[2].at.Format(time.RFC3339Nano)}, &diff)
	var paths []string
	for _, c := range diff.Diff.Changes {
		paths = append(paths, c.Path)
		if c.Path == "email" && (c.Before != "alice@acme.test" || c.After != "alice@corp.test") {
			t.Errorf("diff email: %+v", c)
		}
		if c.Actor != nil && *c.Actor != actor {
			t.Errorf("diff %s: actor %s, want %s", c.Path, *c.Actor, actor)
		}
	}
	slices.Sort(paths)
	if diff.Diff.Created || !slices.Equal(paths, []string{"customAttributes.department", "email"}) {
		t.Errorf("diff paths %v (created %v), want customAttributes.department and email", paths, diff.Diff.Created)
	}

	// The schema changes, then the baseline revision restored brings it back.
	gql(t, admin, `mutation($e: ID!) { createSchemaAttribute(input: {environmentId: $e, attribute: {name: "badge", type: STRING}}) { position } }`,
		map[string]any{"e": e}, nil)
	gql(t, admin, `mutation($e: ID!) { updateSchemaAttribute(input: {environmentId: $e, attribute: {
		name: "department", type: STRING, enum: ["eng", "sales", "ops"]}}) { position } }`, map[string]any{"e": e}, nil)
	var changes struct {
		ConfigRevisionDiff []struct{ Path, Kind string } `json:"configRevisionDiff"`
	}
	gql(t, admin, `query($e: ID!, $r: ID!) { configRevisionDiff(environmentId: $e, from: $r) { path kind } }`,
		map[string]any{"e": e, "r": r1.ID}, &changes)
	if len(changes.ConfigRevisionDiff) < 2 {
		t.Errorf("diff of the baseline against now: %+v, want the badge added and the enum changed", changes.ConfigRevisionDiff)
	}
	var restored struct {
		RestoreConfigRevision struct {
			ContentHash string
			Position    string
		} `json:"restoreConfigRevision"`
	}
	gql(t, admin, `mutation($e: ID!, $r: ID!) { restoreConfigRevision(input: {environmentId: $e, id: $r}) { contentHash position changes { path } } }`,
		map[string]any{"e": e, "r": r1.ID}, &restored)
	if restored.RestoreConfigRevision.ContentHash != r1.ContentHash {
		t.Errorf("restored configuration hash %s, want the baseline's %s", restored.RestoreConfigRevision.ContentHash, r1.ContentHash)
	}
	var schema struct {
		Schema struct {
			Attributes []struct {
				Name string
				Enum []string
			}
		}
	}
	gql(t, admin, `query($e: ID!, $p: String) { schema(environmentId: $e, minPosition: $p) { attributes { name enum } } }`,
		map[string]any{"e": e, "p": restored.RestoreConfigRevision.Position}, &schema)
	if len(schema.Schema.Attributes) != 1 || schema.Schema.Attributes[0].Name != "department" ||
		!slices.Equal(schema.Schema.Attributes[0].Enum, []string{"eng", "sales"}) {
		t.Errorf("schema after restore: %+v, want department with [eng sales] only", schema.Schema.Attributes)
	}

	// projections verify (CLI) says equal; rebuild switches and the model still answers.
	out := cli(t, "projections", "verify", "--url", base, "--token", adminToken)
	if !strings.Contains(out, "directory: EQUAL") {
		t.Errorf("projections verify printed:\n%s", out)
	}
	cli(t, "projections", "rebuild", "directory", "--url", base, "--token", adminToken)
	out = cli(t, "projections", "status", "--url", base, "--token", adminToken)
	if !strings.Contains(out, "directory") || !strings.Contains(out, "LIVE") {
		t.Errorf("projections status after the rebuild:\n%s", out)
	}
	checkPast(admin, "after a rebuild")

	// inspect, as a person would use it.
	out = cli(t, "inspect", "user", alice, "--url", base, "--token", adminToken, "--environment", e, "--at", states[0].at.Format(time.RFC3339Nano))
	if !strings.Contains(out, `"email": "alice@acme.test"`) {
		t.Errorf("inspect user --at the first state printed:\n%s", out)
	}

	// A restart on the same data directory answers the past the same way.
	stop()
	base, adminToken, _ = startServeAt(t, dataDir)
	checkPast(newGQLClient(base, adminToken), "after a restart")
}

// cli runs an idstream command in process; it must succeed. It returns its standard output.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("idstream %s: %v\nstdout:\n%s", strings.Join(args, " "), err, out)
	}
	return out
}
