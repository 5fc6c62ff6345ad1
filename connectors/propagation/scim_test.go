package propagation

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/scim"
	"github.com/idstream/idstream/connectors/scim/scimtest"
	"github.com/idstream/idstream/domain"
)

// scimEnv is an env whose rule targets a real scimmy server through the real SCIM connector.
type scimEnv struct {
	*env
	srv *scimtest.Server
}

func newSCIMEnv(t testing.TB) *scimEnv {
	srv := scimtest.Start(t)
	return &scimEnv{env: newEnv(t), srv: srv}
}

func (s *scimEnv) scimConfig(c *Config) {
	c.Factories = scim.Factories()
	c.OpenCredentials = func(st domain.PropagationStore) (map[string]string, error) {
		if st.Credentials != "sealed-token" {
			return nil, fmt.Errorf("unexpected credentials")
		}
		return map[string]string{scim.CredToken: s.srv.Token}, nil
	}
}

func (s *scimEnv) content(filter string, actions domain.StoreActions, groups ...string) domain.PropagationContent {
	c := s.env.content(filter, actions, groups...)
	c.Stores[1].Config = map[string]string{scim.KeyBaseURL: s.srv.URL}
	c.Stores[1].Credentials = "sealed-token"
	return c
}

// client is a SCIM connector to read the target.
func (s *scimEnv) client() connectors.Connector {
	s.t.Helper()
	c, err := scim.New(connectors.StoreConfig{StoreID: "check", Type: domain.StoreSCIM, Config: map[string]string{scim.KeyBaseURL: s.srv.URL},
		Credentials: map[string]string{scim.CredToken: s.srv.Token}})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// listAll returns the target's resources of kind keyed by key attribute.
func listAll(t testing.TB, c connectors.Connector, kind connectors.Kind, key string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	err := c.(connectors.Lister).List(context.Background(), kind, func(r connectors.Resource) bool {
		r.Attributes["id"] = r.ID
		out[strings.ToLower(fmt.Sprint(r.Attributes[key]))] = r.Attributes
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSCIMEndToEnd: a rule with a scoping filter and an expression mapping propagates users
// and a group to a real SCIM server (scimmy): creates, updates only what differs, leaves
// scope, disables, deletes; a restart mid-stream loses and duplicates nothing.
func TestSCIMEndToEnd(t *testing.T) {
	s := newSCIMEnv(t)
	grp, err := s.cmds.CreateGroup.Handle(s.ctx, commands.CreateGroup{EnvironmentID: s.envID, Name: "Engineering", Kind: domain.GroupDirect})
	if err != nil {
		t.Fatal(err)
	}
	s.publish(s.content(`title ne "contractor"`, allActions(), grp.GroupID))
	rt := s.runtime(s.scimConfig)
	target := s.client()

	var ids []string
	for i := range 20 {
		id, _ := s.user(fmt.Sprintf("user%02d", i), fmt.Sprintf("Given%02d", i), nil)
		ids = append(ids, id)
		if i%2 == 0 {
			if _, err := s.cmds.AddGroupMember.Handle(s.ctx, commands.AddGroupMember{EnvironmentID: s.envID, GroupID: grp.GroupID,
				MemberType: domain.MemberUser, MemberID: id}); err != nil {
				t.Fatal(err)
			}
		}
		if i == 9 { // restart mid-stream
			if err := rt.Close(); err != nil {
				t.Fatal(err)
			}
			rt = s.runtime(s.scimConfig)
		}
	}
	defer func() { rt.Close() }()
	s.settle(rt)
	users := listAll(t, target, connectors.KindUser, "userName")
	if len(users) != 20 {
		t.Fatalf("%d users in the target, want 20", len(users))
	}
	u := users["user03"]
	if u["displayName"] != "USER03" || u["name"].(map[string]any)["givenName"] != "Given03" || u["active"] != true {
		t.Errorf("user03 = %v", u)
	}
	writesAfterCreate := s.srv.Writes()
	groups := listAll(t, target, connectors.KindGroup, "displayName")
	var want []string
	for i := 0; i < 20; i += 2 {
		want = append(want, users[fmt.Sprintf("user%02d", i)]["id"].(string))
	}
	sort.Strings(want)
	if got := memberValues(groups["engineering"]); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Engineering members = %v, want %v", got, want)
	}

	// Update one attribute: one write.
	if _, err := s.cmds.UpdateUser.Handle(s.ctx, commands.UpdateUser{EnvironmentID: s.envID, UserID: ids[3],
		Profile: domain.Profile{Username: "user03", Email: "user03@example.com", Name: domain.Name{Given: "Changed"}}}); err != nil {
		t.Fatal(err)
	}
	s.settle(rt)
	if n := s.srv.Writes() - writesAfterCreate; n != 1 {
		t.Errorf("an update of one attribute made %d writes", n)
	}
	got, err := target.Get(s.ctx, connectors.KindUser, users["user03"]["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if g := got.Attributes["name"].(map[string]any)["givenName"]; g != "Changed" {
		t.Errorf("givenName = %v", g)
	}
	// Leave scope (user04, a group member): deleted, and removed from the group.
	if _, err := s.cmds.UpdateUser.Handle(s.ctx, commands.UpdateUser{EnvironmentID: s.envID, UserID: ids[4],
		Profile: domain.Profile{Username: "user04", Email: "user04@example.com", Name: domain.Name{Given: "Given04"}, Title: "contractor"}}); err != nil {
		t.Fatal(err)
	}
	// Disable user05, delete user06 (a member).
	if _, err := s.cmds.DisableUser.Handle(s.ctx, commands.DisableUser{EnvironmentID: s.envID, UserID: ids[5]}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cmds.DeleteUser.Handle(s.ctx, commands.DeleteUser{EnvironmentID: s.envID, UserID: ids[6]}); err != nil {
		t.Fatal(err)
	}
	s.settle(rt)
	users = listAll(t, target, connectors.KindUser, "userName")
	for _, gone := range []string{"user04", "user05", "user06"} {
		if _, ok := users[gone]; ok {
			t.Errorf("%s still in the target", gone)
		}
	}
	if len(users) != 17 {
		t.Errorf("%d users in the target, want 17", len(users))
	}
	groups = listAll(t, target, connectors.KindGroup, "displayName")
	if got := memberValues(groups["engineering"]); len(got) != 8 {
		t.Errorf("Engineering has %d members, want 8: %v", len(got), got)
	}
	// Every identity has exactly one CREATE.
	for _, id := range ids {
		creates := 0
		for _, o := range s.outcomes("r1", id) {
			if a, ok := o.(domain.PropagationChangeApplied); ok && a.Operation == domain.OpCreate {
				creates++
			}
		}
		if creates != 1 {
			t.Errorf("user %s: %d CREATE outcomes", id, creates)
		}
	}
}

// TestSCIMRateLimited: a 429 with Retry-After is retried after the wait and the change lands.
func TestSCIMRateLimited(t *testing.T) {
	s := newSCIMEnv(t)
	s.publish(s.content("", allActions()))
	rt := s.runtime(func(c *Config) {
		s.scimConfig(c)
		c.RetryMax = 2 * time.Second
	})
	defer rt.Close()
	s.srv.Fault(429, 2, "1")
	id, _ := s.user("limited", "L", nil)
	s.settle(rt)
	if _, ok := listAll(t, s.client(), connectors.KindUser, "userName")["limited"]; !ok {
		t.Fatalf("the user never reached the target")
	}
	out := s.outcomes("r1", id)
	if len(out) != 1 {
		t.Errorf("outcomes %#v", out)
	}
}
