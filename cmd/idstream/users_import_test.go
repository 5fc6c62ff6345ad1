package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUsersImportCommand imports a JSON Lines file through "idstream users import" against a
// running server: good lines become users (their imported hashes verify), a line that is not
// JSON and a line the schema refuses are reported with their line numbers, and the command
// fails because lines were rejected.
func TestUsersImportCommand(t *testing.T) {
	t.Parallel()
	base, token, _ := startServe(t)
	admin := newGQLClient(base, token)
	var env struct {
		CreateEnvironment struct {
			Environment struct{ ID string } `json:"environment"`
		} `json:"createEnvironment"`
	}
	gql(t, admin, `mutation { createEnvironment(input: {name: "Import"}) { environment { id } position } }`, nil, &env)
	envID := env.CreateEnvironment.Environment.ID

	// {SSHA}: SHA-1 of "secret-pass-1" followed by the salt "salt1234", base64.
	const ssha = "{SSHA}JcWAeSsA5YNL8hrpzzlOhQiS4h9zYWx0MTIzNA=="
	var lines []string
	for i := range 25 {
		lines = append(lines, fmt.Sprintf(`{"username":"imp-%d","email":"imp-%d@example.com","name":{"given":"Imp","family":"%d"}}`, i, i, i))
	}
	lines = append(lines, `{not json`, `{"username":"bad email","email":"nope"}`, `{"username":"hashed","passwordHash":"`+ssha+`"}`)
	file := filepath.Join(t.TempDir(), "users.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	proc, stdout, stderr := idstreamProcess(ctx, t, "users", "import", file, "--url", base, "--token", token,
		"--environment", envID, "--batch", "10")
	out, _ := io.ReadAll(stdout)
	err := proc.Wait()
	if err == nil {
		t.Errorf("users import succeeded although two lines were rejected")
	}
	if !strings.Contains(string(out), "imported 26 users, 2 rejected") {
		t.Errorf("summary = %q, want 26 imported and 2 rejected", out)
	}
	msgs := stderr.String()
	for _, want := range []string{"line 26: not a JSON object", "line 27: "} {
		if !strings.Contains(msgs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, msgs)
		}
	}
	if !strings.Contains(msgs, "line 27: ") || !strings.Contains(msgs[strings.Index(msgs, "line 27: "):], "INVALID") {
		t.Errorf("line 27 is not reported as INVALID:\n%s", msgs)
	}

	var count struct {
		Users struct{ TotalCount int } `json:"users"`
	}
	gql(t, admin, `query($e: ID!) { users(environmentId: $e) { totalCount } }`, map[string]any{"e": envID}, &count)
	if count.Users.TotalCount != 26 {
		t.Errorf("totalCount = %d, want 26", count.Users.TotalCount)
	}
	var hashed struct {
		Users struct {
			Edges []struct{ Node struct{ ID string } } `json:"edges"`
		} `json:"users"`
	}
	gql(t, admin, `query($e: ID!) { users(environmentId: $e, filter: "username eq \"hashed\"") { edges { node { id } } } }`,
		map[string]any{"e": envID}, &hashed)
	if len(hashed.Users.Edges) != 1 {
		t.Fatalf("the user with an imported hash is missing: %+v", hashed)
	}
	var check struct {
		CheckUserPassword struct{ Valid bool } `json:"checkUserPassword"`
	}
	gql(t, admin, `mutation($e: ID!, $u: ID!) { checkUserPassword(input: {environmentId: $e, id: $u, password: "secret-pass-1"}) { valid } }`,
		map[string]any{"e": envID, "u": hashed.Users.Edges[0].Node.ID}, &check)
	if !check.CheckUserPassword.Valid {
		t.Error("the imported {SSHA} hash did not verify")
	}
}
