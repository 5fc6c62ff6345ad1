package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/eventstore"
)

// auditRecordFields is what the test asks of every audit record.
const auditRecordFields = `position id type stream revision environmentId actor correlationId causationId occurredAt
	recordedAt clientAddress userAgent tokenId resourceType resourceId data`

// auditCaller is an API client of the test with the address its connections leave from and
// the User-Agent of its requests.
type auditCaller struct {
	id, tokenID, addr, ua string
	c                     *gqlClient
}

// newAuditCaller returns a client of base with token whose connections leave from the
// loopback address addr (127.0.0.0/8 is all loopback on Linux), so that the server sees a
// distinct client address, and whose requests carry the User-Agent ua.
func newAuditCaller(base, id, token, tokenID, addr, ua string) auditCaller {
	c := newGQLClient(base, token)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 10 * time.Second}
	c.http.Transport = &http.Transport{DialContext: d.DialContext}
	c.headers = map[string]string{"User-Agent": ua}
	return auditCaller{id: id, tokenID: tokenID, addr: addr, ua: ua, c: c}
}

// TestAuditEndToEnd does issue 4's audit part over HTTP against "idstream serve": two API
// clients change a user from distinct addresses and user agents; auditEvents names for each
// change the client, the request, the address and the user agent; its filters narrow and its
// pages resume after their cursor; resourceHistory lists the user's events oldest first; a
// password set shows no hash; the auditEvents subscription (graphql-transport-ws) receives a
// change made after subscribing; and "idstream events tail|show" print the same records.
func TestAuditEndToEnd(t *testing.T) {
	t.Parallel()
	base, adminToken, _ := startServeAt(t, t.TempDir())
	admin := newGQLClient(base, adminToken)

	var env struct {
		CreateEnvironment struct {
			Environment struct{ ID string } `json:"environment"`
		} `json:"createEnvironment"`
	}
	gql(t, admin, `mutation { createEnvironment(input: {name: "Audited"}) { environment { id } position } }`, nil, &env)
	e := env.CreateEnvironment.Environment.ID

	newCaller := func(name, role, addr, ua string) auditCaller {
		t.Helper()
		var out struct {
			CreateAPIClient struct {
				APIClient struct{ ID string } `json:"apiClient"`
				Token     string
				TokenID   string
			} `json:"createApiClient"`
		}
		gql(t, admin, `mutation($in: CreateApiClientInput!) { createApiClient(input: $in) { apiClient { id } token tokenId position } }`,
			map[string]any{"in": map[string]any{"environmentId": e, "name": name,
				"roles": []any{map[string]any{"role": role, "environmentId": e}}}}, &out)
		c := out.CreateAPIClient
		return newAuditCaller(base, c.APIClient.ID, c.Token, c.TokenID, addr, ua)
	}
	hr := newCaller("hr-sync", "IDENTITY_DATA_ADMIN", "127.0.0.2", "hr-sync/1.0")
	desk := newCaller("helpdesk", "IDENTITY_DATA_ADMIN", "127.0.0.3", "helpdesk/2.3 (audit test)")
	aud := newCaller("auditor", "AUDITOR", "127.0.0.4", "auditor/1")

	// change is one mutation of the test: who made it, with which request ID, and the
	// position it returned.
	type change struct {
		by        auditCaller
		requestID string
		position  string
	}
	var changes []change
	do := func(by auditCaller, requestID, query string, vars map[string]any) string {
		t.Helper()
		by.c.headers["X-Request-ID"] = requestID
		defer delete(by.c.headers, "X-Request-ID")
		var out map[string]struct {
			User     struct{ ID string } `json:"user"`
			Position string
		}
		gql(t, by.c, query, vars, &out)
		for _, v := range out {
			changes = append(changes, change{by: by, requestID: requestID, position: v.Position})
			return v.User.ID
		}
		t.Fatal("no payload")
		return ""
	}
	const password = "Correct-horse-9-staple"
	alice := do(hr, "req-hr-create-alice", `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } position } }`,
		map[string]any{"in": map[string]any{"environmentId": e, "username": "alice", "email": "alice@acme.test"}})
	bob := do(hr, "req-hr-create-bob", `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } position } }`,
		map[string]any{"in": map[string]any{"environmentId": e, "username": "bob", "email": "bob@acme.test"}})
	do(hr, "req-hr-email", `mutation($e: ID!, $id: ID!) { patchUser(input: {environmentId: $e, id: $id, email: "alice@corp.test"}) { user { id } position } }`,
		map[string]any{"e": e, "id": alice})
	mid := time.Now().UTC() // after hr's changes, before the helpdesk's
	do(desk, "req-desk-password", `mutation($e: ID!, $id: ID!, $pw: String!) { setUserPassword(input: {environmentId: $e, id: $id, password: $pw}) { user { id } position } }`,
		map[string]any{"e": e, "id": alice, "pw": password})
	do(desk, "req-desk-disable", `mutation($e: ID!, $id: ID!) { disableUser(input: {environmentId: $e, id: $id}) { user { id } position } }`,
		map[string]any{"e": e, "id": alice})
	last := changes[len(changes)-1].position

	// page runs auditEvents with filter and returns its records (newest first) and page info;
	// raw collects every response for the redaction check.
	var raw bytes.Buffer
	type page struct {
		Edges []struct {
			Cursor string
			Node   auditEvent
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
	list := func(c *gqlClient, filter map[string]any, first int, after string) page {
		t.Helper()
		vars := map[string]any{"e": e, "f": filter, "n": first, "p": last}
		if after != "" {
			vars["a"] = after
		}
		var out struct{ AuditEvents page }
		var msg json.RawMessage
		gql(t, c, `query($e: ID!, $f: AuditFilter, $n: Int, $a: String, $p: String) { auditEvents(environmentId: $e, filter: $f,
			first: $n, after: $a, minPosition: $p) { edges { cursor node { `+auditRecordFields+` } } pageInfo { hasNextPage endCursor } } }`, vars, &msg)
		raw.Write(msg)
		if err := json.Unmarshal(msg, &out); err != nil {
			t.Fatal(err)
		}
		return out.AuditEvents
	}
	nodes := func(p page) []auditEvent {
		out := make([]auditEvent, len(p.Edges))
		for i, ed := range p.Edges {
			out[i] = ed.Node
		}
		return out
	}
	positions := func(evs []auditEvent) []string {
		out := make([]string, len(evs))
		for i, ev := range evs {
			out[i] = ev.Position
		}
		return out
	}

	// Reading the audit trail takes AUDITOR (or ENVIRONMENT_ADMIN): a data admin is refused.
	gqlFails(t, hr.c, `query($e: ID!) { auditEvents(environmentId: $e) { edges { cursor } } }`, map[string]any{"e": e}, "FORBIDDEN", "")

	// Every change has its records, each naming the client, its token, the request, the
	// address and the user agent.
	all := nodes(list(aud.c, nil, 200, ""))
	for i := 1; i < len(all); i++ {
		if !positionLess(t, all[i].Position, all[i-1].Position) {
			t.Errorf("auditEvents not newest first: %s then %s", all[i-1].Position, all[i].Position)
		}
	}
	for _, ch := range changes {
		var mine []auditEvent
		for _, ev := range all {
			if deref(ev.CorrelationID) == ch.requestID {
				mine = append(mine, ev)
			}
		}
		if len(mine) == 0 {
			t.Errorf("request %s: no audit record", ch.requestID)
		}
		found := false
		for _, ev := range mine {
			found = found || ev.Position == ch.position
			if deref(ev.Actor) != "apiclient:"+ch.by.id || deref(ev.TokenID) != ch.by.tokenID || deref(ev.ClientAddress) != ch.by.addr ||
				deref(ev.UserAgent) != ch.by.ua || deref(ev.EnvironmentID) != e {
				t.Errorf("request %s: record %s %s by %s token %s from %s agent %q env %s; want apiclient:%s token %s from %s agent %q env %s",
					ch.requestID, ev.Position, ev.Type, deref(ev.Actor), deref(ev.TokenID), deref(ev.ClientAddress), deref(ev.UserAgent),
					deref(ev.EnvironmentID), ch.by.id, ch.by.tokenID, ch.by.addr, ch.by.ua, e)
			}
		}
		if !found {
			t.Errorf("request %s: no record at the position %s its mutation returned (records at %v)", ch.requestID, ch.position, positions(mine))
		}
	}

	// Filters narrow.
	check := func(label string, filter map[string]any, want func(auditEvent) bool) []auditEvent {
		t.Helper()
		got := nodes(list(aud.c, filter, 200, ""))
		var expected []string
		for _, ev := range all {
			if want(ev) {
				expected = append(expected, ev.Position)
			}
		}
		if len(expected) == 0 || len(expected) == len(all) {
			t.Errorf("%s: the test's expectation selects %d of %d records, want a proper subset", label, len(expected), len(all))
		}
		if !slices.Equal(positions(got), expected) {
			t.Errorf("%s: records %v, want %v", label, positions(got), expected)
		}
		return got
	}
	check("actorId helpdesk", map[string]any{"actorId": "apiclient:" + desk.id}, func(ev auditEvent) bool { return deref(ev.Actor) == "apiclient:"+desk.id })
	aliceRecs := check("resourceId alice", map[string]any{"resourceType": "user", "resourceId": alice},
		func(ev auditEvent) bool { return deref(ev.ResourceType) == "user" && deref(ev.ResourceID) == alice })
	check("resourceType user", map[string]any{"resourceType": "user"}, func(ev auditEvent) bool { return deref(ev.ResourceType) == "user" })
	check("eventType user.password_set", map[string]any{"eventType": "user.password_set"}, func(ev auditEvent) bool { return ev.Type == "user.password_set" })
	check("eventType prefix user.", map[string]any{"eventType": "user."}, func(ev auditEvent) bool { return strings.HasPrefix(ev.Type, "user.") })
	check("from the middle", map[string]any{"from": mid.Format(time.RFC3339Nano)}, func(ev auditEvent) bool { return !ev.OccurredAt.Before(mid) })
	check("to the middle, hr's on bob", map[string]any{"to": mid.Format(time.RFC3339Nano), "actorId": "apiclient:" + hr.id, "resourceId": bob},
		func(ev auditEvent) bool {
			return !ev.OccurredAt.After(mid) && deref(ev.Actor) == "apiclient:"+hr.id && deref(ev.ResourceID) == bob
		})
	if recs := nodes(list(aud.c, map[string]any{"actorId": "apiclient:" + desk.id, "to": mid.Format(time.RFC3339Nano)}, 200, "")); len(recs) != 0 {
		t.Errorf("helpdesk's records before the middle: %v, want none", positions(recs))
	}
	gqlFails(t, aud.c, `query($e: ID!, $f: AuditFilter) { auditEvents(environmentId: $e, filter: $f) { edges { cursor } } }`,
		map[string]any{"e": e, "f": map[string]any{"from": mid.Format(time.RFC3339Nano), "to": mid.Add(-time.Hour).Format(time.RFC3339Nano)}}, "INVALID", "filter.from")

	// Pages of one resume after the previous page's cursor, and together are the whole list.
	var paged []auditEvent
	after := ""
	for range len(aliceRecs) + 1 {
		p := list(aud.c, map[string]any{"resourceId": alice}, 1, after)
		paged = append(paged, nodes(p)...)
		if len(p.Edges) != 1 || p.PageInfo.EndCursor == nil || *p.PageInfo.EndCursor != p.Edges[0].Cursor {
			t.Fatalf("page after %q: %+v, want one record with its cursor as endCursor", after, p)
		}
		if !p.PageInfo.HasNextPage {
			break
		}
		after = *p.PageInfo.EndCursor
	}
	if !slices.Equal(positions(paged), positions(aliceRecs)) {
		t.Errorf("pages of one: %v, want %v", positions(paged), positions(aliceRecs))
	}
	p := list(aud.c, map[string]any{"resourceId": alice}, 2, "")
	if rest := list(aud.c, map[string]any{"resourceId": alice}, 200, *p.PageInfo.EndCursor); !slices.Equal(positions(append(nodes(p), nodes(rest)...)), positions(aliceRecs)) || rest.PageInfo.HasNextPage {
		t.Errorf("a page of 2 then the rest: %v + %v, want %v", positions(nodes(p)), positions(nodes(rest)), positions(aliceRecs))
	}
	gqlFails(t, aud.c, `query($e: ID!) { auditEvents(environmentId: $e, after: "nope") { edges { cursor } } }`, map[string]any{"e": e}, "INVALID", "after")

	// resourceHistory: alice's records, oldest first: created, email, password, disabled.
	var hist struct {
		ResourceHistory []auditEvent `json:"resourceHistory"`
	}
	var msg json.RawMessage
	gql(t, aud.c, `query($e: ID!, $id: ID!, $p: String) { resourceHistory(environmentId: $e, resourceId: $id, minPosition: $p) { `+
		auditRecordFields+` } }`, map[string]any{"e": e, "id": alice, "p": last}, &msg)
	raw.Write(msg)
	if err := json.Unmarshal(msg, &hist); err != nil {
		t.Fatal(err)
	}
	want := positions(aliceRecs)
	slices.Reverse(want)
	if !slices.Equal(positions(hist.ResourceHistory), want) {
		t.Errorf("resourceHistory: %v, want auditEvents' records of alice oldest first %v", positions(hist.ResourceHistory), want)
	}
	var types, requests []string
	for _, ev := range hist.ResourceHistory {
		types, requests = append(types, ev.Type), append(requests, deref(ev.CorrelationID))
	}
	if !slices.Equal(types, []string{"user.created", "user.updated", "user.password_set", "user.disabled"}) ||
		!slices.Equal(requests, []string{"req-hr-create-alice", "req-hr-email", "req-desk-password", "req-desk-disable"}) {
		t.Errorf("resourceHistory of alice: types %v requests %v", types, requests)
	}

	// The password set is audited with its hash redacted; no hash, nor the password, anywhere.
	for _, ev := range hist.ResourceHistory {
		if ev.Type != "user.password_set" {
			continue
		}
		var data map[string]any
		if err := json.Unmarshal(ev.Data, &data); err != nil || data["hash"] != "[redacted]" || data["userId"] != alice {
			t.Errorf("user.password_set data %s (%v), want userId %s and hash [redacted]", ev.Data, err, alice)
		}
	}
	// Nor any API token of the environment's clients, nor its SHA-256 (apiclient.token_issued).
	secrets := []string{password, "$argon2", "$2a$", "$2b$", "$pbkdf2"}
	for _, c := range []auditCaller{hr, desk, aud} {
		secrets = append(secrets, c.c.token, commands.HashToken(c.c.token))
	}
	for _, secret := range secrets {
		if strings.Contains(raw.String(), secret) {
			t.Errorf("the audit output holds %.12s…", secret)
		}
	}
	if !strings.Contains(raw.String(), `"apiclient.token_issued"`) {
		t.Error("the audit output holds no apiclient.token_issued record: the token check above checked nothing")
	}

	// The subscription refuses a data admin, as the queries do.
	subQuery := `subscription($e: ID!, $f: AuditFilter, $a: String) { auditEvents(environmentId: $e, filter: $f, afterPosition: $a) { ` +
		auditRecordFields + ` } }`
	refusedCtx, cancelRefused := context.WithTimeout(t.Context(), 20*time.Second)
	err := subscribe(refusedCtx, serverFlags{URL: base, Token: hr.c.token}, subQuery, map[string]any{"e": e, "a": "1"},
		func(json.RawMessage) error { return errors.New("delivered a record to a data admin") })
	cancelRefused()
	if errorCode(err) != "FORBIDDEN" {
		t.Errorf("auditEvents subscription of a data admin: %v, want FORBIDDEN", err)
	}

	// The subscription receives a change made after subscribing (after the last position, so
	// that the change cannot come before the subscription starts).
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	live := make(chan auditEvent, 8)
	subErr := make(chan error, 1)
	go func() {
		subErr <- subscribe(ctx, serverFlags{URL: base, Token: aud.c.token}, subQuery, map[string]any{"e": e, "f": map[string]any{"resourceId": alice}, "a": last}, func(data json.RawMessage) error {
			var m struct{ AuditEvents auditEvent }
			if err := json.Unmarshal(data, &m); err != nil {
				return err
			}
			live <- m.AuditEvents
			return nil
		})
	}()
	do(hr, "req-hr-enable", `mutation($e: ID!, $id: ID!) { enableUser(input: {environmentId: $e, id: $id}) { user { id } position } }`,
		map[string]any{"e": e, "id": alice})
	do(desk, "req-desk-bob", `mutation($e: ID!, $id: ID!) { disableUser(input: {environmentId: $e, id: $id}) { user { id } position } }`,
		map[string]any{"e": e, "id": bob}) // filtered out: another user
	select {
	case ev := <-live:
		enable := changes[len(changes)-2]
		if ev.Type != "user.enabled" || ev.Position != enable.position || deref(ev.CorrelationID) != "req-hr-enable" ||
			deref(ev.Actor) != "apiclient:"+hr.id || deref(ev.ClientAddress) != hr.addr || deref(ev.UserAgent) != hr.ua {
			t.Errorf("subscription delivered %s, want user.enabled at %s by %s (req-hr-enable)", showAudit(ev), enable.position, hr.id)
		}
	case err := <-subErr:
		t.Fatalf("subscription ended before delivering: %v", err)
	case <-ctx.Done():
		t.Fatal("the subscription delivered nothing within a minute")
	}
	cancel()
	if err := <-subErr; err != nil {
		t.Errorf("subscription: %v", err)
	}
	select {
	case ev := <-live:
		t.Errorf("subscription filtered by alice also delivered %s on %s", ev.Type, deref(ev.ResourceID))
	default:
	}

	// idstream events tail prints the records auditEvents gives, oldest first; show prints one.
	srv := []string{"--url", base, "--token", aud.c.token, "--environment", e}
	out := cli(t, append([]string{"events", "tail", "--resource", alice, "-n", "4", "--json"}, srv...)...)
	newest := nodes(list(aud.c, map[string]any{"resourceId": alice}, 4, ""))
	slices.Reverse(newest)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(newest) {
		t.Fatalf("events tail -n 4 printed %d lines, want %d:\n%s", len(lines), len(newest), out)
	}
	for i, line := range lines {
		var got auditEvent
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("events tail --json line %q: %v", line, err)
		}
		if !sameAuditEvent(got, newest[i]) {
			t.Errorf("events tail line %d: %s, want %s", i, showAudit(got), showAudit(newest[i]))
		}
	}
	out = cli(t, append([]string{"events", "tail", "--actor", "apiclient:" + desk.id, "--type", "user.password_set"}, srv...)...)
	pw := nodes(list(aud.c, map[string]any{"eventType": "user.password_set"}, 10, ""))
	if len(pw) != 1 || !strings.Contains(out, pw[0].Position) || !strings.Contains(out, "by=apiclient:"+desk.id) ||
		!strings.Contains(out, "request=req-desk-password") || !strings.Contains(out, "from="+desk.addr) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("events tail --actor helpdesk --type user.password_set printed:\n%s", out)
	}
	for _, asJSON := range []bool{false, true} {
		args := append([]string{"events", "show", pw[0].Position}, srv...)
		if asJSON {
			args = append(args, "--json")
		}
		var got auditEvent
		if err := json.Unmarshal([]byte(cli(t, args...)), &got); err != nil || !sameAuditEvent(got, pw[0]) {
			t.Errorf("events show %s (json %v): %s (%v), want %s", pw[0].Position, asJSON, showAudit(got), err, showAudit(pw[0]))
		}
		if strings.Contains(string(got.Data), "$argon2") || !strings.Contains(string(got.Data), "[redacted]") {
			t.Errorf("events show of the password set: data %s", got.Data)
		}
	}
	if _, err := runCLI(t, append([]string{"events", "show", "999999"}, srv...)...); err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Errorf("events show of a position past the log: %v, want NOT_FOUND", err)
	}
}

// positionLess reports whether position a is before b.
func positionLess(t *testing.T, a, b string) bool {
	t.Helper()
	pa, err := eventstore.ParsePosition(a)
	if err != nil {
		t.Fatalf("position %q: %v", a, err)
	}
	pb, err := eventstore.ParsePosition(b)
	if err != nil {
		t.Fatalf("position %q: %v", b, err)
	}
	return pa.Less(pb)
}

// sameAuditEvent compares two records field by field, the payload as JSON values.
func sameAuditEvent(a, b auditEvent) bool {
	var ad, bd any
	if json.Unmarshal(a.Data, &ad) != nil || json.Unmarshal(b.Data, &bd) != nil {
		return false
	}
	aj, _ := json.Marshal(ad)
	bj, _ := json.Marshal(bd)
	a.Data, b.Data = nil, nil
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y) && bytes.Equal(aj, bj)
}

// showAudit renders a record for a failure message.
func showAudit(ev auditEvent) string {
	b, _ := json.Marshal(ev)
	return string(b)
}
