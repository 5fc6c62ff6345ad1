package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// recordingTransport keeps every response body that goes through it.
type recordingTransport struct {
	next   http.RoundTripper
	mu     sync.Mutex
	bodies bytes.Buffer
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	rt.bodies.Write(body)
	rt.bodies.WriteByte('\n')
	rt.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (rt *recordingTransport) holds(s string) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return bytes.Contains(rt.bodies.Bytes(), []byte(s))
}

// TestPropagationConfigEndToEnd configures propagation over HTTP against "idstream serve": a
// directory store and a SCIM store with credentials, a plan, a rule with mappings (one an
// expression); publish, change (new credentials), diff, publish, roll back; a restart replays
// the same. The credentials are in no file of the data directory and in no API response, the
// audit trail holds every configuration event with the sealed values redacted.
func TestPropagationConfigEndToEnd(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	base, token, stop := startServeAt(t, dataDir)
	admin := newGQLClient(base, token)
	rec := &recordingTransport{next: admin.http.Transport}
	admin.http.Transport = rec
	const secret1, secret2 = "tok-Sup3rSecret-4711", "tok-An0therSecret-0815"

	var env struct {
		CreateEnvironment struct{ Environment struct{ ID string } } `json:"createEnvironment"`
	}
	gql(t, admin, `mutation { createEnvironment(input: {name: "Propagation"}) { environment { id } } }`, nil, &env)
	e := env.CreateEnvironment.Environment.ID

	type store struct {
		ID                 string
		CredentialsSet     bool
		CredentialsVersion int
		Config             []struct{ Key, Value string }
	}
	var dir, app struct {
		CreatePropagationStore struct {
			Store    store
			Position string
		} `json:"createPropagationStore"`
	}
	const storeFields = `store { id credentialsSet credentialsVersion config { key value } } position`
	gql(t, admin, `mutation($e: ID!) { createPropagationStore(input: {environmentId: $e, name: "Directory", type: DIRECTORY}) { `+storeFields+` } }`,
		map[string]any{"e": e}, &dir)
	gql(t, admin, `mutation($in: CreatePropagationStoreInput!) { createPropagationStore(input: $in) { `+storeFields+` } }`,
		map[string]any{"in": map[string]any{"environmentId": e, "name": "HR App", "type": "SCIM", "managed": true,
			"config":      []map[string]any{{"key": "baseUrl", "value": "http://127.0.0.1:9/scim/v2"}, {"key": "authType", "value": "bearer"}},
			"credentials": []map[string]any{{"key": "token", "value": secret1}},
			"actions":     map[string]any{"create": true, "update": true, "disable": true, "removeAction": "DISABLE"}}}, &app)
	a := app.CreatePropagationStore.Store
	if !a.CredentialsSet || a.CredentialsVersion != 1 || len(a.Config) != 2 || a.Config[0].Key != "authType" {
		t.Fatalf("created store %+v", a)
	}

	var plan struct {
		CreatePropagationPlan struct{ Plan struct{ ID string } } `json:"createPropagationPlan"`
	}
	gql(t, admin, `mutation($e: ID!) { createPropagationPlan(input: {environmentId: $e, name: "Workforce"}) { plan { id } position } }`,
		map[string]any{"e": e}, &plan)
	p := plan.CreatePropagationPlan.Plan.ID
	var rule struct {
		CreatePropagationRule struct {
			Rule struct {
				ID       string
				Mappings []struct{ ID, Target, Source string }
			}
			Position string
		} `json:"createPropagationRule"`
	}
	gql(t, admin, `mutation($in: CreatePropagationRuleInput!) { createPropagationRule(input: $in) { rule { id mappings { id target source } } position } }`,
		map[string]any{"in": map[string]any{"environmentId": e, "planId": p, "name": "Engineers to HR", "sourceStoreId": dir.CreatePropagationStore.Store.ID,
			"targetStoreId": a.ID, "filter": `title eq "Engineer"`, "mappings": []map[string]any{
				{"target": "userName", "source": "ATTRIBUTE", "value": "username"},
				{"target": "displayName", "source": "EXPRESSION", "value": `upper(name.family) + ", " + name.given`}}}}, &rule)
	r := rule.CreatePropagationRule.Rule
	if len(r.Mappings) != 2 {
		t.Fatalf("rule %+v", r)
	}
	var set struct {
		SetPropagationMapping struct {
			Mapping  struct{ ID string }
			Position string
		} `json:"setPropagationMapping"`
	}
	gql(t, admin, `mutation($e: ID!, $r: ID!) { setPropagationMapping(input: {environmentId: $e, ruleId: $r, target: "emails[type eq \"work\"].value", source: ATTRIBUTE, value: "email", applyOn: ON_CREATE}) { mapping { id } position } }`,
		map[string]any{"e": e, "r": r.ID}, &set)

	// Read back with read-your-writes.
	var read struct {
		PropagationStores []store `json:"propagationStores"`
		PropagationRule   struct {
			Mappings []struct{ Target, ApplyOn string }
		} `json:"propagationRule"`
	}
	gql(t, admin, `query($e: ID!, $r: ID!, $p: String) { propagationStores(environmentId: $e, minPosition: $p) { id credentialsSet credentialsVersion config { key value } }
		propagationRule(environmentId: $e, id: $r, minPosition: $p) { mappings { target applyOn } } }`,
		map[string]any{"e": e, "r": r.ID, "p": set.SetPropagationMapping.Position}, &read)
	if len(read.PropagationStores) != 2 || read.PropagationStores[1].Config == nil || len(read.PropagationRule.Mappings) != 3 {
		t.Fatalf("read back %+v", read)
	}

	type revision struct {
		ID, ContentHash string
		Number          int
		RestoredFrom    *string
		CreatedBy       *string
		Stores          []store
	}
	type revPayload struct {
		Revision revision
		Position string
	}
	const revFields = `revision { id number contentHash restoredFrom createdBy stores { id credentialsSet credentialsVersion } } position`
	var pub1, pub2 struct {
		PublishPropagationRevision revPayload `json:"publishPropagationRevision"`
	}
	gql(t, admin, `mutation($e: ID!) { publishPropagationRevision(input: {environmentId: $e, description: "first"}) { `+revFields+` } }`,
		map[string]any{"e": e}, &pub1)
	r1 := pub1.PublishPropagationRevision.Revision
	if r1.Number != 1 || r1.CreatedBy == nil || len(r1.Stores) != 2 {
		t.Fatalf("revision 1 %+v", r1)
	}
	gqlFails(t, admin, `mutation($e: ID!) { publishPropagationRevision(input: {environmentId: $e}) { position } }`, map[string]any{"e": e}, "CONFLICT", "")

	// New credentials and a renamed plan: the diff from the published revision names them,
	// the credentials without their value.
	gql(t, admin, `mutation($e: ID!, $s: ID!, $v: String!) { setPropagationStoreCredentials(input: {environmentId: $e, storeId: $s, credentials: [{key: "token", value: $v}]}) { store { credentialsVersion } position } }`,
		map[string]any{"e": e, "s": a.ID, "v": secret2}, nil)
	var upd struct {
		UpdatePropagationPlan struct{ Position string } `json:"updatePropagationPlan"`
	}
	gql(t, admin, `mutation($e: ID!, $p: ID!) { updatePropagationPlan(input: {environmentId: $e, planId: $p, name: "Workforce 2"}) { plan { name } position } }`,
		map[string]any{"e": e, "p": p}, &upd)
	type diffEntry struct {
		Kind, Op, ID string
		Fields       []string
	}
	var diff struct {
		PropagationDiff []diffEntry `json:"propagationDiff"`
	}
	gql(t, admin, `query($e: ID!, $p: String) { propagationDiff(environmentId: $e, minPosition: $p) { kind op id fields } }`,
		map[string]any{"e": e, "p": upd.UpdatePropagationPlan.Position}, &diff)
	want := []diffEntry{{Kind: "STORE", Op: "CHANGED", ID: a.ID, Fields: []string{"credentials"}}, {Kind: "PLAN", Op: "CHANGED", ID: p, Fields: []string{"name"}}}
	if !slices.EqualFunc(diff.PropagationDiff, want, func(x, y diffEntry) bool {
		return x.Kind == y.Kind && x.Op == y.Op && x.ID == y.ID && slices.Equal(x.Fields, y.Fields)
	}) {
		t.Fatalf("diff %+v, want %+v", diff.PropagationDiff, want)
	}
	gql(t, admin, `mutation($e: ID!) { publishPropagationRevision(input: {environmentId: $e}) { `+revFields+` } }`, map[string]any{"e": e}, &pub2)
	r2 := pub2.PublishPropagationRevision.Revision
	if r2.Number != 2 || r2.ContentHash == r1.ContentHash {
		t.Fatalf("revision 2 %+v", r2)
	}

	// Roll back to 1: revision 3, restored from 1, with 1's configuration and the current
	// credentials (a rotated secret never comes back), so its hash is not 1's.
	var rb struct {
		RollbackPropagationRevision revPayload `json:"rollbackPropagationRevision"`
	}
	gql(t, admin, `mutation($e: ID!, $r: ID!) { rollbackPropagationRevision(input: {environmentId: $e, revisionId: $r}) { `+revFields+` } }`,
		map[string]any{"e": e, "r": r1.ID}, &rb)
	r3 := rb.RollbackPropagationRevision.Revision
	if r3.Number != 3 || r3.RestoredFrom == nil || *r3.RestoredFrom != r1.ID || r3.ContentHash == r1.ContentHash || r3.ContentHash == r2.ContentHash {
		t.Fatalf("rollback %+v", r3)
	}

	// Refusals, with codes and fields.
	gqlFails(t, admin, `mutation($e: ID!) { createPropagationStore(input: {environmentId: $e, name: "Slack", type: SLACK, actions: {removeAction: DELETE}}) { position } }`,
		map[string]any{"e": e}, "INVALID", "input.actions.removeAction")
	gqlFails(t, admin, `mutation($e: ID!, $s: ID!) { deletePropagationStore(input: {environmentId: $e, storeId: $s}) { position } }`,
		map[string]any{"e": e, "s": dir.CreatePropagationStore.Store.ID}, "CONFLICT", "")
	gqlFails(t, admin, `mutation($e: ID!) { createPropagationRule(input: {environmentId: $e, planId: "01900000-0000-7000-8000-000000000000", name: "x", sourceStoreId: "01900000-0000-7000-8000-000000000000", targetStoreId: "01900000-0000-7000-8000-000000000000", filter: "shoeSize gt 3"}) { position } }`,
		map[string]any{"e": e}, "INVALID", "input.filter")
	var tested struct {
		TestStoreConnection struct {
			Ok            bool
			Message, Code *string
		} `json:"testStoreConnection"`
	}
	gql(t, admin, `mutation($e: ID!) { testStoreConnection(input: {environmentId: $e, type: SCIM, credentials: [{key: "token", value: "x"}]}) { ok message code } }`,
		map[string]any{"e": e}, &tested)
	if r := tested.TestStoreConnection; r.Ok || r.Code == nil || *r.Code != "INVALID" || r.Message == nil || !strings.Contains(*r.Message, "baseUrl") {
		t.Errorf("testStoreConnection without a baseUrl = %+v, want INVALID naming baseUrl", r)
	}

	// Revisions, newest first, paged.
	type revPage struct {
		PropagationRevisions struct {
			TotalCount int
			Edges      []struct{ Node struct{ Number int } }
			PageInfo   struct {
				HasNextPage bool
				EndCursor   *string
			}
		} `json:"propagationRevisions"`
	}
	var pg1, pg2 revPage
	const pageQuery = `query($e: ID!, $a: String, $p: String) { propagationRevisions(environmentId: $e, first: 2, after: $a, minPosition: $p) { totalCount edges { node { number } } pageInfo { hasNextPage endCursor } } }`
	gql(t, admin, pageQuery, map[string]any{"e": e, "p": rb.RollbackPropagationRevision.Position}, &pg1)
	if c := pg1.PropagationRevisions; c.TotalCount != 3 || len(c.Edges) != 2 || c.Edges[0].Node.Number != 3 || !c.PageInfo.HasNextPage {
		t.Fatalf("page 1 %+v", c)
	}
	gql(t, admin, pageQuery, map[string]any{"e": e, "a": *pg1.PropagationRevisions.PageInfo.EndCursor}, &pg2)
	if c := pg2.PropagationRevisions; len(c.Edges) != 1 || c.Edges[0].Node.Number != 1 || c.PageInfo.HasNextPage {
		t.Fatalf("page 2 %+v", c)
	}

	// The audit trail holds the configuration events, sealed values redacted.
	var audit struct {
		AuditEvents struct {
			Edges []struct {
				Node struct {
					Type string
					Data json.RawMessage
				}
			}
		} `json:"auditEvents"`
	}
	gql(t, admin, `query($e: ID!, $p: String) { auditEvents(environmentId: $e, filter: {eventType: "propagation."}, first: 100, minPosition: $p) { edges { node { type data } } } }`,
		map[string]any{"e": e, "p": rb.RollbackPropagationRevision.Position}, &audit)
	types := map[string]bool{}
	for _, ed := range audit.AuditEvents.Edges {
		types[ed.Node.Type] = true
		if ed.Node.Type == "propagation.store_credentials_set" && !strings.Contains(string(ed.Node.Data), "[redacted]") {
			t.Errorf("credentials_set audit data not redacted: %s", ed.Node.Data)
		}
	}
	for _, ty := range []string{"propagation.store_created", "propagation.store_credentials_set", "propagation.plan_created", "propagation.rule_created",
		"propagation.mapping_set", "propagation.plan_updated", "propagation.revision_published", "propagation.draft_reset"} {
		if !types[ty] {
			t.Errorf("audit trail lacks %s (has %v)", ty, types)
		}
	}

	// A restart replays the same configuration.
	stop()
	if hits := dirHolds(t, dataDir, "Engineers to HR"); len(hits) == 0 { // the scan does see the log's files
		t.Fatal("the data directory holds not even the rule's name")
	}
	for _, s := range []string{secret1, secret2} {
		if hits := dirHolds(t, dataDir, s); len(hits) > 0 {
			t.Errorf("the data directory holds a plain credential: %v", hits)
		}
	}
	base, token, _ = startServeAt(t, dataDir)
	again := newGQLClient(base, token)
	again.http.Transport = rec
	var after struct {
		PropagationStore     store                    `json:"propagationStore"`
		PropagationPlan      struct{ Name string }    `json:"propagationPlan"`
		PropagationRevisions struct{ TotalCount int } `json:"propagationRevisions"`
	}
	gql(t, again, `query($e: ID!, $s: ID!, $p: ID!) { propagationStore(environmentId: $e, id: $s) { id credentialsSet credentialsVersion config { key value } }
		propagationPlan(environmentId: $e, id: $p) { name } propagationRevisions(environmentId: $e) { totalCount } }`,
		map[string]any{"e": e, "s": a.ID, "p": p}, &after)
	if !after.PropagationStore.CredentialsSet || after.PropagationStore.CredentialsVersion != 2 || // the rollback kept version 2
		after.PropagationPlan.Name != "Workforce" ||
		after.PropagationRevisions.TotalCount != 3 {
		t.Fatalf("after restart %+v", after)
	}
	if !rec.holds(a.ID) { // the recorder does see the responses
		t.Fatal("no response recorded")
	}
	for _, s := range []string{secret1, secret2} {
		if rec.holds(s) {
			t.Errorf("an API response holds the plain credential %q", s)
		}
	}
}
