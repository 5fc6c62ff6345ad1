package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/eventstore"
)

// multiProcessReadModels are the read-model stores the multi-process test runs with: each is
// the IDSTREAM_READMODELS of every server of a cluster.
var multiProcessReadModels = []struct {
	name       string
	readModels func(t *testing.T) string
}{
	{"memory", func(*testing.T) string { return ReadModelsMemory }},
	// Servers sharing one read model in PostgreSQL (a fresh schema each run).
	{"postgres", sharedSubjectKeys},
}

// TestMultiProcessServe is issue 4's "several serve processes on one event store": servers A
// and B on one log answer each other's writes at once when queried with the position a
// mutation returned (read-your-writes across processes); uniqueness holds across them;
// updates interleaved from both converge to the last one in log order; an MFA secret sealed by
// one opens on the other; A killed with SIGKILL leaves B answering and applying writes; a
// server C started later catches up and answers as B does, time travel, audit trail and
// configuration revisions included; B restarted on its data directory answers the same again.
func TestMultiProcessServe(t *testing.T) {
	t.Parallel()
	for _, v := range multiProcessReadModels {
		t.Run(v.name, func(t *testing.T) { multiProcessServe(t, v.readModels(t)) })
	}
}

func multiProcessServe(t *testing.T, readModels string) {
	c := newCluster(t, readModels)
	a := c.start("A")
	if !a.bootstrapped {
		t.Fatal("A, the first server on an empty log, did not bootstrap the admin token")
	}
	b := c.start("B")
	if _, err := os.Stat(filepath.Join(b.dataDir, adminTokenFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("B wrote an admin token on a log A had bootstrapped (stat: %v)", err)
	}
	var me struct {
		Me struct{ ID string } `json:"me"`
	}
	gql(t, b.client, `{ me { id } }`, nil, &me)
	if me.Me.ID != commands.FirstAdminClientID {
		t.Errorf("B's me with A's bootstrap token: %s, want %s", me.Me.ID, commands.FirstAdminClientID)
	}

	// Read-your-writes, A to B.
	var env struct {
		CreateEnvironment struct {
			Environment struct{ ID string } `json:"environment"`
			Position    string
		} `json:"createEnvironment"`
	}
	gql(t, a.client, `mutation { createEnvironment(input: {name: "Acme"}) { environment { id } position } }`, nil, &env)
	e := env.CreateEnvironment.Environment.ID
	var gotEnv struct {
		Environment struct{ Name string } `json:"environment"`
	}
	gql(t, b.client, `query($e: ID!, $p: String) { environment(id: $e, minPosition: $p) { name } }`,
		map[string]any{"e": e, "p": env.CreateEnvironment.Position}, &gotEnv)
	if gotEnv.Environment.Name != "Acme" {
		t.Fatalf("B, at A's position, sees environment %+v, want Acme", gotEnv.Environment)
	}
	mustMutate(t, a, `mutation($e: ID!) { createSchemaAttribute(input: {environmentId: $e, attribute: {
		name: "department", type: STRING, enum: ["eng", "sales", "ops"]}}) { position } }`, map[string]any{"e": e})

	createUser := func(s *server, username, dept string) (id, pos string, err error) {
		var out struct {
			CreateUser struct {
				User     struct{ ID string } `json:"user"`
				Position string
			} `json:"createUser"`
		}
		err = s.client.do(t.Context(), `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } position } }`,
			map[string]any{"in": map[string]any{"environmentId": e, "username": username, "email": username + "@acme.test",
				"customAttributes": map[string]any{"department": dept}}}, &out)
		return out.CreateUser.User.ID, out.CreateUser.Position, err
	}
	mustCreateUser := func(s *server, username, dept string) (id, pos string) {
		t.Helper()
		id, pos, err := createUser(s, username, dept)
		if err != nil {
			t.Fatalf("createUser %s on %s: %v", username, s.name, err)
		}
		return id, pos
	}
	// seenAt asserts that s, queried with minPosition pos, finds user id with username.
	seenAt := func(s *server, id, username, pos string) {
		t.Helper()
		var u struct {
			User struct{ Username string } `json:"user"`
		}
		gql(t, s.client, `query($e: ID!, $u: ID!, $p: String) { user(environmentId: $e, id: $u, minPosition: $p) { username } }`,
			map[string]any{"e": e, "u": id, "p": pos}, &u)
		if u.User.Username != username {
			t.Errorf("%s at %s: user %s is %q, want %q", s.name, pos, id, u.User.Username, username)
		}
	}
	alice, _ := mustCreateUser(a, "alice", "eng")
	bob, pos := mustCreateUser(a, "bob", "sales")
	var count struct {
		Users struct{ TotalCount int } `json:"users"`
	}
	gql(t, b.client, `query($e: ID!, $p: String) { users(environmentId: $e, minPosition: $p) { totalCount } }`,
		map[string]any{"e": e, "p": pos}, &count)
	if count.Users.TotalCount != 2 {
		t.Errorf("B at A's position: %d users, want 2", count.Users.TotalCount)
	}
	seenAt(b, alice, "alice", pos)
	// ...and B to A; then alternating, each write read at once on the other server.
	carol, pos := mustCreateUser(b, "carol", "ops")
	seenAt(a, carol, "carol", pos)
	seenAt(a, bob, "bob", pos)
	for i := range 10 {
		writer, reader := a, b
		if i%2 == 1 {
			writer, reader = b, a
		}
		name := fmt.Sprintf("ryw%02d", i)
		id, pos := mustCreateUser(writer, name, "eng")
		seenAt(reader, id, name, pos)
	}

	// Uniqueness across processes: the same username created on both at once, at most one wins.
	// (Both may lose: one claims the username, the other the email, and both back off.
	// Uniqueness holds; "exactly one wins" does not, yet; see raceWins in the log.)
	raceWins := 0
	for i := range 5 {
		name := fmt.Sprintf("race%d", i)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, s := range []*server{a, b} {
			wg.Go(func() { _, _, errs[j] = createUser(s, name, "eng") })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errorCode(err) != "CONFLICT":
				t.Errorf("createUser %s on both servers at once: %v, want success or CONFLICT", name, err)
			}
		}
		if ok > 1 {
			t.Errorf("createUser %s on both servers at once: %d succeeded, want at most 1", name, ok)
		}
		raceWins += ok
	}
	t.Logf("same username on both servers at once: %d of 5 rounds had a winner", raceWins)

	// Interleaved updates of one user from both servers converge on both to the last write in
	// log order; users created on both at once are seen alike.
	type write struct {
		pos   eventstore.Position
		title string
	}
	var mu sync.Mutex
	var writes []write
	var wg sync.WaitGroup
	for _, s := range []*server{a, b} {
		wg.Go(func() {
			for i := range 12 {
				title := fmt.Sprintf("%s-%d", s.name, i)
				var out struct {
					PatchUser struct{ Position string } `json:"patchUser"`
				}
				err := s.client.do(t.Context(), `mutation($e: ID!, $u: ID!, $t: String) { patchUser(input: {environmentId: $e, id: $u, title: $t}) { position } }`,
					map[string]any{"e": e, "u": alice, "t": title}, &out)
				if errorCode(err) == "CONFLICT" {
					continue // a conflict the command could not retry away: allowed, nothing written
				}
				if err != nil {
					t.Errorf("patchUser on %s: %v", s.name, err)
					return
				}
				mu.Lock()
				writes = append(writes, write{mustPosition(t, out.PatchUser.Position), title})
				mu.Unlock()
			}
		})
		wg.Go(func() {
			for i := range 6 {
				if _, _, err := createUser(s, fmt.Sprintf("burst-%s-%d", strings.ToLower(s.name), i), "sales"); err != nil {
					t.Errorf("createUser on %s: %v", s.name, err)
				}
			}
		})
	}
	wg.Wait()
	if len(writes) == 0 {
		t.Fatal("no patchUser succeeded")
	}
	slices.SortFunc(writes, func(x, y write) int {
		if x.pos.Less(y.pos) {
			return -1
		}
		if y.pos.Less(x.pos) {
			return 1
		}
		return 0
	})
	last := writes[len(writes)-1]
	// The head of the environment's log, which every write above precedes.
	head := logHead(t, a, e, last.pos.String())
	var u struct {
		User struct{ Title string } `json:"user"`
	}
	for _, s := range []*server{a, b} {
		gql(t, s.client, `query($e: ID!, $u: ID!, $p: String) { user(environmentId: $e, id: $u, minPosition: $p) { title } }`,
			map[string]any{"e": e, "u": alice, "p": head}, &u)
		if u.User.Title != last.title {
			t.Errorf("%s: alice's title %q after %d interleaved writes, want the last in log order, %q", s.name, u.User.Title, len(writes), last.title)
		}
	}
	const usersQuery = `query($e: ID!, $p: String) { users(environmentId: $e, first: 200, minPosition: $p) { totalCount
		edges { node { id username email title enabled customAttributes } } } }`
	users := sameAnswers(t, usersQuery, map[string]any{"e": e, "p": head}, a, b)
	// 3 + 10 (read-your-writes) + the race winners + 12 (bursts).
	if want := fmt.Sprintf(`"totalCount":%d`, 25+raceWins); !bytes.Contains(users, []byte(want)) {
		t.Errorf("users after the bursts: want %s on both, got %.300s", want, users)
	}

	// An MFA secret sealed by A opens on B (they share the operator key).
	var mfa struct {
		EnrollMfaDevice struct {
			Device   struct{ ID string }
			Secret   string
			Position string
		} `json:"enrollMfaDevice"`
	}
	gql(t, a.client, `mutation($e: ID!, $u: ID!) { enrollMfaDevice(input: {environmentId: $e, userId: $u, type: TOTP, name: "phone"}) {
		device { id } secret position } }`, map[string]any{"e": e, "u": bob}, &mfa)
	code, err := totpCode(mfa.EnrollMfaDevice.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	gql(t, b.client, `mutation($e: ID!, $u: ID!, $d: ID!, $c: String) { activateMfaDevice(input: {environmentId: $e, userId: $u, deviceId: $d, code: $c}) {
		device { active } position } }`, map[string]any{"e": e, "u": bob, "d": mfa.EnrollMfaDevice.Device.ID, "c": code}, nil)

	// A dynamic group and a configuration revision made on B, read on A.
	mustMutate(t, b, `mutation($e: ID!) { createGroup(input: {environmentId: $e, name: "Engineers", kind: DYNAMIC,
		filter: "department eq \"eng\""}) { position } }`, map[string]any{"e": e})
	pos = mustMutate(t, b, `mutation($e: ID!) { createConfigRevision(input: {environmentId: $e, name: "baseline"}) { position } }`,
		map[string]any{"e": e})
	sameAnswers(t, `query($e: ID!, $p: String) { configRevisions(environmentId: $e, minPosition: $p) { id name position contentHash } }`,
		map[string]any{"e": e, "p": pos}, a, b)
	beforeKill := pos

	// A dies mid-life; B goes on answering and applying writes.
	a.kill()
	if code, body := httpGet(t, b.base+"/readyz"); code != http.StatusOK {
		t.Errorf("B's /readyz after A was killed: %d %q", code, body)
	}
	erin, pos := mustCreateUser(b, "erin", "ops")
	seenAt(b, erin, "erin", pos)
	pos = mustMutate(t, b, `mutation($e: ID!, $u: ID!) { patchUser(input: {environmentId: $e, id: $u, title: "after A"}) { position } }`,
		map[string]any{"e": e, "u": alice})
	gql(t, b.client, `query($e: ID!, $u: ID!, $p: String) { user(environmentId: $e, id: $u, minPosition: $p) { title } }`,
		map[string]any{"e": e, "u": alice, "p": pos}, &u)
	if u.User.Title != "after A" {
		t.Errorf("B after A was killed: alice's title %q, want %q", u.User.Title, "after A")
	}
	pos = mustMutate(t, b, `mutation($e: ID!, $u: ID!) { disableUser(input: {environmentId: $e, id: $u}) { position } }`,
		map[string]any{"e": e, "u": carol})

	// C, started later, catches up and answers as B does: today, in the past, the audit trail.
	cs := c.start("C")
	compare := func(servers ...*server) {
		t.Helper()
		v := map[string]any{"e": e, "p": pos}
		sameAnswers(t, usersQuery, v, servers...)
		sameAnswers(t, `query($e: ID!, $p: String) { environment(id: $e, minPosition: $p) { id name defaultPopulationId populations { id name } } }`, v, servers...)
		sameAnswers(t, `query($e: ID!, $p: String) { schema(environmentId: $e, minPosition: $p) { attributes { name enum } } }`, v, servers...)
		sameAnswers(t, `query($e: ID!, $p: String) { groups(environmentId: $e, minPosition: $p) { totalCount edges { node { id name
			members { __typename ... on User { id } } } } } }`, v, servers...)
		sameAnswers(t, `query($e: ID!, $p: String) { configRevisions(environmentId: $e, minPosition: $p) { id name position contentHash } }`, v, servers...)
		sameAnswers(t, `query($e: ID!, $u: ID!, $p: String) { user(environmentId: $e, id: $u, minPosition: $p) { mfaDevices { id active } } }`,
			map[string]any{"e": e, "u": bob, "p": pos}, servers...)
		sameAnswers(t, `query($e: ID!, $p: String) { auditEvents(environmentId: $e, first: 100, minPosition: $p) { edges { node {
			position id type stream revision actor resourceType resourceId data } } } }`, v, servers...)
		sameAnswers(t, `query($e: ID!, $u: ID!, $p: String) { resourceHistory(environmentId: $e, resourceId: $u, minPosition: $p) { position type } }`,
			map[string]any{"e": e, "u": alice, "p": pos}, servers...)
		past := map[string]any{"e": e, "u": alice, "at": beforeKill}
		sameAnswers(t, `query($e: ID!, $u: ID!, $at: String) { user(environmentId: $e, id: $u, atPosition: $at) { title enabled } }`, past, servers...)
		sameAnswers(t, `query($e: ID!, $at: String) { users(environmentId: $e, first: 200, atPosition: $at) { totalCount
			edges { node { id title enabled } } } }`, past, servers...)
		sameAnswers(t, `query($e: ID!, $u: ID!, $to: String) { diff(environmentId: $e, resourceId: $u, toPosition: $to) { created changes { path kind } } }`,
			map[string]any{"e": e, "u": alice, "to": pos}, servers...)
	}
	compare(b, cs)
	// verify compares a replay with the in-memory model; on PostgreSQL it is declared
	// unsupported (CONFLICT) — the read-model conformance suite covers that store instead.
	if readModels == ReadModelsMemory {
		out := cli(t, "projections", "verify", "--url", cs.base, "--token", c.token)
		if !strings.Contains(out, "directory: EQUAL") {
			t.Errorf("projections verify on C printed:\n%s", out)
		}
	}

	// B restarted on its own data directory (its snapshots, if any) answers the same.
	bDir := b.dataDir
	b.stop()
	b2 := c.startAt("B2", bDir)
	compare(b2, cs)
}

// mustMutate runs a mutation whose one payload has a position, and returns it.
func mustMutate(t *testing.T, s *server, query string, vars map[string]any) string {
	t.Helper()
	var out map[string]struct{ Position string }
	if err := s.client.do(t.Context(), query, vars, &out); err != nil {
		t.Fatalf("on %s: %s\n→ %v", s.name, strings.Join(strings.Fields(query), " "), err)
	}
	for _, p := range out {
		if p.Position == "" {
			t.Fatalf("on %s: %s returned no position", s.name, strings.Join(strings.Fields(query), " "))
		}
		return p.Position
	}
	t.Fatal("no payload")
	return ""
}

func mustPosition(t *testing.T, s string) eventstore.Position {
	t.Helper()
	p, err := eventstore.ParsePosition(s)
	if err != nil {
		t.Fatalf("position %q: %v", s, err)
	}
	return p
}

// logHead returns the newest position of environment e's audit trail as s sees it at least at
// pos: the head of everything written in e so far.
func logHead(t *testing.T, s *server, e, pos string) string {
	t.Helper()
	var out struct {
		AuditEvents struct {
			Edges []struct{ Node struct{ Position string } }
		} `json:"auditEvents"`
	}
	gql(t, s.client, `query($e: ID!, $p: String) { auditEvents(environmentId: $e, first: 1, minPosition: $p) { edges { node { position } } } }`,
		map[string]any{"e": e, "p": pos}, &out)
	if len(out.AuditEvents.Edges) == 0 {
		t.Fatalf("%s: the audit trail of %s is empty", s.name, e)
	}
	return out.AuditEvents.Edges[0].Node.Position
}

// sameAnswers runs query on every server and fails unless all answer the same data; it
// returns that answer.
func sameAnswers(t *testing.T, query string, vars map[string]any, servers ...*server) json.RawMessage {
	t.Helper()
	var first json.RawMessage
	for i, s := range servers {
		var got json.RawMessage
		if err := s.client.do(t.Context(), query, vars, &got); err != nil {
			t.Errorf("on %s: %s\n→ %v", s.name, strings.Join(strings.Fields(query), " "), err)
			return nil
		}
		if i == 0 {
			first = got
			continue
		}
		if !bytes.Equal(got, first) {
			t.Errorf("%s and %s answer differently: %s\n%s: %.2000s\n%s: %.2000s", servers[0].name, s.name,
				strings.Join(strings.Fields(query), " "), servers[0].name, first, s.name, got)
		}
	}
	return first
}

// totpCode is the RFC 6238 code (HMAC-SHA-1, 30 s, 6 digits) of a base32 secret at t, as an
// authenticator app computes it.
func totpCode(secret string, at time.Time) (string, error) {
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(secret, "=")))
	if err != nil {
		return "", fmt.Errorf("TOTP secret is not base32: %w", err)
	}
	mac := hmac.New(sha1.New, key)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(at.Unix()/30))
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:off+4])&0x7fffffff)%1_000_000), nil
}
