package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dirHolds returns the files under dir whose bytes contain one of needles.
func dirHolds(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile
		}
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(data, []byte(n)) {
				hits = append(hits, filepath.Base(path)+" holds "+n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestErasureEndToEnd does issue 4's erasure over HTTP against "idstream serve": a forgotten
// user is unreadable everywhere — the live read model, time travel (single user and
// environment-wide), the audit trail, snapshots, the files of the data directory — while the
// rest stays intact, replay still works (verify says EQUAL) and a restart answers the same.
func TestErasureEndToEnd(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	base, adminToken, stop := startServeAt(t, dataDir)
	admin := newGQLClient(base, adminToken)

	var env struct {
		CreateEnvironment struct {
			Environment struct{ ID string } `json:"environment"`
		} `json:"createEnvironment"`
	}
	gql(t, admin, `mutation { createEnvironment(input: {name: "Erasure"}) { environment { id } position } }`, nil, &env)
	e := env.CreateEnvironment.Environment.ID
	gql(t, admin, `mutation($e: ID!) { createSchemaAttribute(input: {environmentId: $e, attribute: {name: "badge", type: STRING}}) { position } }`,
		map[string]any{"e": e}, nil)

	personal := []string{"zelda.quist", "zelda@quist.example", "zq@corp.example", "Zeldabeth", "BADGE-77821"}
	var created struct {
		CreateUser struct {
			User     struct{ ID string }
			Position string
		} `json:"createUser"`
	}
	gql(t, admin, `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } position } }`,
		map[string]any{"in": map[string]any{"environmentId": e, "username": "zelda.quist", "email": "zelda@quist.example",
			"name": map[string]any{"given": "Zeldabeth"}, "customAttributes": map[string]any{"badge": "BADGE-77821"},
			"password": "Correct-horse-9"}}, &created)
	zelda := created.CreateUser.User.ID
	gql(t, admin, `mutation($e: ID!, $id: ID!) { patchUser(input: {environmentId: $e, id: $id, email: "zq@corp.example"}) { position } }`,
		map[string]any{"e": e, "id": zelda}, nil)
	gql(t, admin, `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } position } }`,
		map[string]any{"in": map[string]any{"environmentId": e, "username": "kept.user", "email": "kept@example.com"}}, &created)
	kept := created.CreateUser.User.ID
	before := time.Now().UTC().Format(time.RFC3339Nano)

	// Personal data is never in the log's files, even before anyone is forgotten.
	if hits := dirHolds(t, filepath.Join(dataDir, eventStoreDir), personal...); len(hits) > 0 {
		t.Fatalf("the event store's files hold personal data in plain text: %v", hits)
	}
	// A restart writes a snapshot at shutdown (it holds zelda: snapshots are read models).
	stop()
	base, adminToken, stop = startServeAt(t, dataDir)
	defer stop()
	admin = newGQLClient(base, adminToken)
	if hits := dirHolds(t, filepath.Join(dataDir, snapshotsDir), "zq@corp.example"); len(hits) == 0 {
		t.Fatal("no snapshot holds the user before it is forgotten: the snapshot checks below would prove nothing")
	}

	var forgot struct {
		ForgetUser struct {
			User struct {
				ID       string
				Erased   bool
				Username string
				Email    *string
			}
			Position string
		} `json:"forgetUser"`
	}
	gql(t, admin, `mutation($e: ID!, $id: ID!) { forgetUser(input: {environmentId: $e, id: $id}) { user { id erased username email } position } }`,
		map[string]any{"e": e, "id": zelda}, &forgot)
	if u := forgot.ForgetUser.User; u.ID != zelda || !u.Erased || u.Username != "" || u.Email != nil || forgot.ForgetUser.Position == "" {
		t.Fatalf("forgetUser answered %+v", forgot.ForgetUser)
	}

	check := func(label string) {
		t.Helper()
		// Live: zelda is an erased stub; the list holds the kept user only.
		var now struct {
			User struct {
				Erased           bool
				Username         string
				Email            *string
				CustomAttributes map[string]any
			}
			Users struct {
				TotalCount int
				Edges      []struct{ Node struct{ ID string } }
			}
		}
		gql(t, admin, `query($e: ID!, $id: ID!) { user(environmentId: $e, id: $id) { erased username email customAttributes }
			users(environmentId: $e) { totalCount edges { node { id } } } }`, map[string]any{"e": e, "id": zelda}, &now)
		if !now.User.Erased || now.User.Username != "" || now.User.Email != nil || len(now.User.CustomAttributes) != 0 {
			t.Errorf("%s: zelda now: %+v", label, now.User)
		}
		if now.Users.TotalCount != 1 || now.Users.Edges[0].Node.ID != kept {
			t.Errorf("%s: users now: %+v, want the kept user only", label, now.Users)
		}
		// The past, by the single-user path and the environment-wide one: zelda existed, erased.
		var past struct {
			User struct {
				Erased  bool
				Email   *string
				Enabled bool
			}
			Users struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						ID, Username string
						Email        *string
						Erased       bool
					}
				}
			}
		}
		gql(t, admin, `query($e: ID!, $id: ID!, $t: DateTime) { user(environmentId: $e, id: $id, asOf: $t) { erased email enabled }
			users(environmentId: $e, asOf: $t) { totalCount edges { node { id username email erased } } } }`,
			map[string]any{"e": e, "id": zelda, "t": before}, &past)
		if !past.User.Erased || past.User.Email != nil || !past.User.Enabled {
			t.Errorf("%s: zelda as of before: %+v, want an enabled user, erased, with no email", label, past.User)
		}
		if past.Users.TotalCount != 2 {
			t.Errorf("%s: users as of before: %+v, want 2", label, past.Users)
		}
		for _, ed := range past.Users.Edges {
			n := ed.Node
			if n.ID == zelda && (!n.Erased || n.Username != "" || n.Email != nil) {
				t.Errorf("%s: zelda in the past list: %+v", label, n)
			}
			if n.ID == kept && (n.Erased || n.Username != "kept.user" || n.Email == nil || *n.Email != "kept@example.com") {
				t.Errorf("%s: the kept user in the past list lost its data: %+v", label, n)
			}
		}
		// The audit trail: every record of zelda is there, its personal data marked erased.
		var audit struct {
			ResourceHistory []struct {
				Type               string
				Actor              *string
				PersonalDataErased bool
				Data               json.RawMessage
			}
		}
		gql(t, admin, `query($e: ID!, $id: ID!) { resourceHistory(environmentId: $e, resourceId: $id) { type actor personalDataErased data } }`,
			map[string]any{"e": e, "id": zelda}, &audit)
		raw, _ := json.Marshal(audit)
		for _, p := range personal {
			if strings.Contains(string(raw), p) {
				t.Errorf("%s: the audit trail shows %q", label, p)
			}
		}
		types := map[string]bool{}
		for _, r := range audit.ResourceHistory {
			types[r.Type] = true
			if (r.Type == "user.created" || r.Type == "user.updated") && (!r.PersonalDataErased || !strings.Contains(string(r.Data), "[erased]")) {
				t.Errorf("%s: audit record %s: erased %v, data %s", label, r.Type, r.PersonalDataErased, r.Data)
			}
			if r.Actor == nil || !strings.HasPrefix(*r.Actor, "apiclient:") {
				t.Errorf("%s: audit record %s lost its actor: %v", label, r.Type, r.Actor)
			}
		}
		if !types["user.created"] || !types["user.updated"] || !types["user.forgotten"] {
			t.Errorf("%s: resource history types %v", label, types)
		}
		// Replay still works and equals the live model.
		if out := cli(t, "projections", "verify", "--url", base, "--token", adminToken); !strings.Contains(out, "directory: EQUAL") {
			t.Errorf("%s: projections verify printed:\n%s", label, out)
		}
	}
	check("live")

	// Snapshots older than the erasure go (the snapshotter polls each second); no file of the
	// data directory holds the forgotten data any more.
	// The replacement snapshot (holding the kept user) is written after the old one is removed:
	// wait for both.
	deadline := time.Now().Add(20 * time.Second)
	for {
		hits := dirHolds(t, dataDir, personal...)
		kept := dirHolds(t, dataDir, "kept@example.com")
		if len(hits) == 0 && len(kept) > 0 {
			break
		}
		if time.Now().After(deadline) {
			if len(hits) > 0 {
				t.Fatalf("after forgetting, files of the data directory still hold personal data: %v", hits)
			}
			t.Fatal("no snapshot holds the kept user: the snapshot was removed without a replacement")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Its username is free again; a restart answers the same.
	gql(t, admin, `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } position } }`,
		map[string]any{"in": map[string]any{"environmentId": e, "username": "zelda.quist"}}, &created)
	gql(t, admin, `mutation($e: ID!, $id: ID!) { deleteUser(input: {environmentId: $e, id: $id}) { position } }`,
		map[string]any{"e": e, "id": created.CreateUser.User.ID}, nil)
	stop()
	base, adminToken, stop = startServeAt(t, dataDir)
	defer stop()
	admin = newGQLClient(base, adminToken)
	check("after a restart")
}
