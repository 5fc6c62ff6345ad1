package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/connectors/scim/scimtest"
)

// scimUser is a user as the SCIM server holds it.
type scimUser struct {
	ID          string `json:"id"`
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
	Title       string `json:"title"`
	Active      *bool  `json:"active"`
	Name        struct {
		GivenName  string `json:"givenName"`
		FamilyName string `json:"familyName"`
	} `json:"name"`
	Emails []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"emails"`
}

func (u scimUser) active() bool { return u.Active == nil || *u.Active }

type scimGroup struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Members     []struct {
		Value string `json:"value"`
	} `json:"members"`
}

// scimList reads every resource of kind ("Users", "Groups") straight from the SCIM server over
// HTTP (not through idstream's connector).
func scimList[T any](t *testing.T, srv *scimtest.Server, kind string) []T {
	t.Helper()
	var all []T
	for start := 1; ; {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet,
			fmt.Sprintf("%s/%s?startIndex=%d&count=200", srv.URL, kind, start), nil)
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("list %s: %v", kind, err)
		}
		var page struct {
			TotalResults int `json:"totalResults"`
			Resources    []T `json:"Resources"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("list %s: status %d, %v", kind, resp.StatusCode, err)
		}
		all = append(all, page.Resources...)
		start += len(page.Resources)
		if len(page.Resources) == 0 || len(all) >= page.TotalResults {
			return all
		}
	}
}

func scimUsers(t *testing.T, srv *scimtest.Server) map[string]scimUser {
	out := map[string]scimUser{}
	for _, u := range scimList[scimUser](t, srv, "Users") {
		if _, dup := out[strings.ToLower(u.UserName)]; dup {
			t.Fatalf("the target holds userName %q twice", u.UserName)
		}
		out[strings.ToLower(u.UserName)] = u
	}
	return out
}

// eventually polls check until it returns "" (converged) or the deadline passes; propagation is
// asynchronous, so an end-to-end test waits for the target to converge.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not converged after 60 s: %s", what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPropagationEndToEnd runs "idstream serve" against a real third-party SCIM 2.0 server
// (scimmy): stores, plan, a rule with a scoping filter and mappings (one an expression),
// publish; users and a group created, updated, moved out of scope, disabled and deleted, and the
// target holds exactly what it should; a previewed draft predicts what its publication then
// does; a rollback; a restart mid-stream loses and duplicates nothing.
func TestPropagationEndToEnd(t *testing.T) {
	t.Parallel()
	srv := scimtest.Start(t)
	dataDir := t.TempDir()
	base, token, _, kill := startServeKillable(t, dataDir)
	admin := newGQLClient(base, token)
	vars := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}

	var env struct {
		CreateEnvironment struct{ Environment struct{ ID string } } `json:"createEnvironment"`
	}
	gql(t, admin, `mutation { createEnvironment(input: {name: "Acme"}) { environment { id } } }`, nil, &env)
	envID := env.CreateEnvironment.Environment.ID
	gql(t, admin, `mutation($e: ID!) { createSchemaAttribute(input: {environmentId: $e, attribute: {
		name: "department", type: STRING, enum: ["eng", "sales"]}}) { position } }`, vars("e", envID), nil)
	var grp struct {
		CreateGroup struct{ Group struct{ ID string } } `json:"createGroup"`
	}
	gql(t, admin, `mutation($e: ID!) { createGroup(input: {environmentId: $e, name: "Engineering", kind: DIRECT}) { group { id } } }`,
		vars("e", envID), &grp)
	groupID := grp.CreateGroup.Group.ID

	// A connection test of a proposed store: a wrong token is AUTH, the right one passes.
	var tested struct {
		TestStoreConnection struct {
			Ok   bool
			Code *string
		} `json:"testStoreConnection"`
	}
	const testStore = `mutation($e: ID!, $url: String!, $tok: String!) { testStoreConnection(input: {environmentId: $e, type: SCIM,
		config: [{key: "baseUrl", value: $url}], credentials: [{key: "token", value: $tok}]}) { ok message code } }`
	gql(t, admin, testStore, vars("e", envID, "url", srv.URL, "tok", "wrong-token"), &tested)
	if tested.TestStoreConnection.Ok || tested.TestStoreConnection.Code == nil || *tested.TestStoreConnection.Code != "AUTH" {
		t.Errorf("testStoreConnection with a wrong token = %+v, want not ok, code AUTH", tested.TestStoreConnection)
	}
	gql(t, admin, testStore, vars("e", envID, "url", srv.URL, "tok", srv.Token), &tested)
	if !tested.TestStoreConnection.Ok {
		t.Fatalf("testStoreConnection with the right token = %+v", tested.TestStoreConnection)
	}

	type idPayload struct{ ID string }
	var src, dst struct {
		CreatePropagationStore struct{ Store idPayload } `json:"createPropagationStore"`
	}
	gql(t, admin, `mutation($e: ID!) { createPropagationStore(input: {environmentId: $e, name: "Directory", type: DIRECTORY}) { store { id } } }`,
		vars("e", envID), &src)
	gql(t, admin, `mutation($e: ID!, $url: String!, $tok: String!) { createPropagationStore(input: {environmentId: $e, name: "Chat app",
		type: SCIM, managed: true, config: [{key: "baseUrl", value: $url}], credentials: [{key: "token", value: $tok}],
		actions: {create: true, update: true, disable: true, deprovision: true, removeAction: DISABLE}}) { store { id credentialsSet } } }`,
		vars("e", envID, "url", srv.URL, "tok", srv.Token), &dst)
	var plan struct {
		CreatePropagationPlan struct{ Plan idPayload } `json:"createPropagationPlan"`
	}
	gql(t, admin, `mutation($e: ID!) { createPropagationPlan(input: {environmentId: $e, name: "Apps"}) { plan { id } } }`, vars("e", envID), &plan)
	var rule struct {
		CreatePropagationRule struct{ Rule idPayload } `json:"createPropagationRule"`
	}
	gql(t, admin, `mutation($e: ID!, $p: ID!, $s: ID!, $d: ID!, $g: ID!) { createPropagationRule(input: {environmentId: $e, planId: $p,
		name: "Engineers to chat", sourceStoreId: $s, targetStoreId: $d, filter: "department eq \"eng\"", groupIds: [$g],
		mappings: [
			{target: "userName", source: ATTRIBUTE, value: "username"},
			{target: "name.givenName", source: ATTRIBUTE, value: "name.given"},
			{target: "name.familyName", source: ATTRIBUTE, value: "name.family"},
			{target: "emails[type eq \"work\"].value", source: ATTRIBUTE, value: "email"},
			{target: "displayName", source: EXPRESSION, value: "concat(name.given, \" \", upper(name.family))"},
			{target: "title", source: CONSTANT, value: "New hire", applyOn: ON_CREATE}
		]}) { rule { id } } }`,
		vars("e", envID, "p", plan.CreatePropagationPlan.Plan.ID, "s", src.CreatePropagationStore.Store.ID,
			"d", dst.CreatePropagationStore.Store.ID, "g", groupID), &rule)
	ruleID := rule.CreatePropagationRule.Rule.ID
	type revision struct {
		ID     string
		Number int
	}
	var pub struct {
		PublishPropagationRevision struct{ Revision revision } `json:"publishPropagationRevision"`
	}
	gql(t, admin, `mutation($e: ID!) { publishPropagationRevision(input: {environmentId: $e, description: "first"}) { revision { id number } } }`,
		vars("e", envID), &pub)
	rev1 := pub.PublishPropagationRevision.Revision.ID

	const createUser = `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } } }`
	newUser := func(username, dept string) string {
		var out struct {
			CreateUser struct{ User idPayload } `json:"createUser"`
		}
		gql(t, admin, createUser, vars("in", map[string]any{"environmentId": envID, "username": username, "email": username + "@acme.test",
			"name": map[string]any{"given": strings.ToUpper(username[:1]) + username[1:], "family": "Example"}, "customAttributes": map[string]any{"department": dept}}), &out)
		return out.CreateUser.User.ID
	}
	patch := func(id string, in map[string]any) {
		in["environmentId"], in["id"] = envID, id
		gql(t, admin, `mutation($in: PatchUserInput!) { patchUser(input: $in) { position } }`, vars("in", in), nil)
	}
	alice := newUser("alice", "eng")
	bob := newUser("bob", "sales")
	carol := newUser("carol", "eng")
	for _, u := range []string{alice, carol} {
		gql(t, admin, `mutation($e: ID!, $g: ID!, $u: ID!) { addGroupMember(input: {environmentId: $e, groupId: $g, memberType: USER, memberId: $u}) { position } }`,
			vars("e", envID, "g", groupID, "u", u), nil)
	}

	// expect checks the target's users: active or not per userName, absent when not listed.
	expect := func(want map[string]bool) func() string {
		return func() string {
			got := scimUsers(t, srv)
			for name, active := range want {
				u, ok := got[name]
				if !ok {
					return name + " is missing"
				}
				if u.active() != active {
					return fmt.Sprintf("%s active=%v, want %v", name, u.active(), active)
				}
			}
			for name := range got {
				if _, ok := want[name]; !ok && !strings.HasPrefix(name, "bulk") {
					return name + " should not be there"
				}
			}
			return ""
		}
	}
	eventually(t, "engineers provisioned", expect(map[string]bool{"alice": true, "carol": true}))
	a := scimUsers(t, srv)["alice"]
	if a.DisplayName != "Alice EXAMPLE" || a.Name.GivenName != "Alice" || a.Title != "New hire" ||
		len(a.Emails) != 1 || a.Emails[0].Type != "work" || a.Emails[0].Value != "alice@acme.test" {
		t.Errorf("alice in the target = %+v", a)
	}
	groupMembers := func(want ...string) func() string {
		return func() string {
			users := scimUsers(t, srv)
			var ids []string
			for _, n := range want {
				ids = append(ids, users[n].ID)
			}
			sort.Strings(ids)
			for _, g := range scimList[scimGroup](t, srv, "Groups") {
				if !strings.HasPrefix(g.DisplayName, "Engineering") {
					continue
				}
				var got []string
				for _, m := range g.Members {
					got = append(got, m.Value)
				}
				sort.Strings(got)
				if fmt.Sprint(got) != fmt.Sprint(ids) {
					return fmt.Sprintf("members %v, want %v (%v)", got, ids, want)
				}
				return ""
			}
			return "no Engineering group"
		}
	}
	eventually(t, "group provisioned", groupMembers("alice", "carol"))

	// An update writes what differs; ON_CREATE mappings are not rewritten.
	patch(alice, map[string]any{"name": map[string]any{"family": "Smith"}, "title": "ignored by the mapping"})
	eventually(t, "alice updated", func() string {
		if u := scimUsers(t, srv)["alice"]; u.DisplayName != "Alice SMITH" || u.Name.FamilyName != "Smith" || u.Title != "New hire" {
			return fmt.Sprintf("alice = %+v", u)
		}
		return ""
	})
	patch(bob, map[string]any{"customAttributes": map[string]any{"department": "eng"}})     // enters scope
	patch(carol, map[string]any{"customAttributes": map[string]any{"department": "sales"}}) // leaves scope
	eventually(t, "bob in, carol out", expect(map[string]bool{"alice": true, "bob": true, "carol": false}))
	eventually(t, "carol leaves the group", groupMembers("alice"))
	// A renamed group is renamed in the target.
	gql(t, admin, `mutation($e: ID!, $g: ID!) { updateGroup(input: {environmentId: $e, id: $g, name: "Engineering team"}) { position } }`,
		vars("e", envID, "g", groupID), nil)
	eventually(t, "group renamed", func() string {
		for _, g := range scimList[scimGroup](t, srv, "Groups") {
			if g.DisplayName == "Engineering team" {
				return ""
			}
		}
		return "no group named Engineering team"
	})
	gql(t, admin, `mutation($e: ID!, $u: ID!) { disableUser(input: {environmentId: $e, id: $u}) { position } }`, vars("e", envID, "u", alice), nil)
	gql(t, admin, `mutation($e: ID!, $u: ID!) { deleteUser(input: {environmentId: $e, id: $u}) { position } }`, vars("e", envID, "u", bob), nil)
	eventually(t, "alice disabled, bob deleted", expect(map[string]bool{"alice": false, "bob": false, "carol": false}))

	// A deleted group is deleted from the target (the store is managed: idstream created it).
	gql(t, admin, `mutation($e: ID!, $g: ID!) { deleteGroup(input: {environmentId: $e, id: $g}) { position } }`, vars("e", envID, "g", groupID), nil)
	eventually(t, "group deleted", func() string {
		if gs := scimList[scimGroup](t, srv, "Groups"); len(gs) != 0 {
			return fmt.Sprintf("groups left: %+v", gs)
		}
		return ""
	})

	// On demand, with its trace.
	var now struct {
		ProvisionUserNow struct {
			InScope   bool
			Operation string
			Result    string
			Steps     []struct{ Name, Detail string }
		} `json:"provisionUserNow"`
	}
	gql(t, admin, `mutation($e: ID!, $r: ID!, $u: ID!) { provisionUserNow(input: {environmentId: $e, ruleId: $r, userId: $u}) {
		inScope operation result steps { name detail } } }`, vars("e", envID, "r", ruleID, "u", carol), &now)
	if now.ProvisionUserNow.InScope || len(now.ProvisionUserNow.Steps) == 0 {
		t.Errorf("provisionUserNow(carol) = %+v, want out of scope with steps", now.ProvisionUserNow)
	}

	// A draft widening the scope: the preview predicts dave's creation and carol's return, and
	// touches nothing; publishing it does exactly that.
	dave := newUser("dave", "sales")
	gql(t, admin, `mutation($e: ID!, $r: ID!) { updatePropagationRule(input: {environmentId: $e, ruleId: $r,
		filter: "department eq \"eng\" or department eq \"sales\""}) { rule { id } } }`, vars("e", envID, "r", ruleID), nil)
	var preview struct {
		PreviewPropagationRevision struct {
			Rules []struct {
				RuleID                              string
				Creates, Updates, Disables, Deletes int
				Samples                             []struct {
					IdentityID string
					Operation  string
				}
			}
		} `json:"previewPropagationRevision"`
	}
	gql(t, admin, `mutation($e: ID!) { previewPropagationRevision(input: {environmentId: $e}) { rules { ruleId creates updates disables deletes
		samples { identityId operation } } } }`, vars("e", envID), &preview)
	predicted := map[string]string{}
	for _, r := range preview.PreviewPropagationRevision.Rules {
		if r.RuleID != ruleID {
			continue
		}
		if r.Creates != 1 || r.Deletes != 0 {
			t.Errorf("preview of rule = %+v, want 1 create (dave) and no delete", r)
		}
		for _, s := range r.Samples {
			predicted[s.IdentityID] = s.Operation
		}
	}
	if predicted[dave] != "CREATE" || predicted[carol] == "" || predicted[carol] == "CREATE" {
		t.Errorf("preview samples %v: want dave CREATE and carol updated (dave %s, carol %s)", predicted, dave, carol)
	}
	if _, ok := scimUsers(t, srv)["dave"]; ok {
		t.Fatal("the preview wrote to the target")
	}
	gql(t, admin, `mutation($e: ID!) { publishPropagationRevision(input: {environmentId: $e, description: "sales too"}) { revision { id } } }`,
		vars("e", envID), nil)
	eventually(t, "published scope", expect(map[string]bool{"alice": false, "bob": false, "carol": true, "dave": true}))

	// Rollback to the first revision: sales leaves scope again.
	gql(t, admin, `mutation($e: ID!, $r: ID!) { rollbackPropagationRevision(input: {environmentId: $e, revisionId: $r}) { revision { number } } }`,
		vars("e", envID, "r", rev1), nil)
	eventually(t, "rolled back", expect(map[string]bool{"alice": false, "bob": false, "carol": false, "dave": false}))

	// A crash mid-stream: users created, the server killed (SIGKILL) while it propagates them,
	// started again; every one arrives, once.
	const bulk = 40
	for i := range bulk / 2 {
		newUser(fmt.Sprintf("bulk%02d", i), "eng")
	}
	kill()
	base, token, _ = startServeAt(t, dataDir)
	admin = newGQLClient(base, token)
	for i := bulk / 2; i < bulk; i++ {
		newUser(fmt.Sprintf("bulk%02d", i), "eng")
	}
	eventually(t, "bulk users after a restart", func() string {
		n := 0
		for name, u := range scimUsers(t, srv) {
			if strings.HasPrefix(name, "bulk") && u.active() {
				n++
			}
		}
		if n != bulk {
			return fmt.Sprintf("%d of %d bulk users", n, bulk)
		}
		return ""
	})
	var summary struct {
		PropagationRuleSummary struct{ Failed, Success, Impacted int } `json:"propagationRuleSummary"`
	}
	gql(t, admin, `query($e: ID!, $r: ID!) { propagationRuleSummary(environmentId: $e, ruleId: $r) { impacted success failed } }`,
		vars("e", envID, "r", ruleID), &summary)
	if summary.PropagationRuleSummary.Failed != 0 {
		t.Errorf("rule summary %+v: failures", summary.PropagationRuleSummary)
	}
	// No account twice: scimUsers fails on a repeated userName, and the target holds exactly the
	// expected accounts (a create repeated after the crash is answered 409 and linked).
}
