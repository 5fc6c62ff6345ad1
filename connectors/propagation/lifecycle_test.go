package propagation

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/domain"
)

// TestRestartLosesNothing: the runtime is closed while users are being created and another
// starts on the same data; every user is in the target exactly once with one CREATE outcome.
func TestRestartLosesNothing(t *testing.T) {
	e := newEnv(t)
	e.publish(e.content("", allActions()))
	rt := e.runtime(nil)
	var ids []string
	for i := range 40 {
		id, _ := e.user(fmt.Sprintf("u%02d", i), "U", nil)
		ids = append(ids, id)
		if i == 20 {
			if err := rt.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	rt = e.runtime(nil)
	defer rt.Close()
	e.settle(rt)
	users := e.target.users()
	if len(users) != 40 {
		t.Fatalf("%d users in the target, want 40", len(users))
	}
	if w := e.target.writes.Load(); w != 40 {
		t.Errorf("%d writes, want 40", w)
	}
	for _, id := range ids {
		creates := 0
		for _, o := range e.outcomes("r1", id) {
			if a, ok := o.(domain.PropagationChangeApplied); ok && a.Operation == domain.OpCreate {
				creates++
			}
		}
		if creates != 1 {
			t.Errorf("user %s: %d CREATE outcomes", id, creates)
		}
	}
}

// TestGroupsPropagate: a selected group is created with the target IDs of its provisioned
// members; adding and removing members follows; an unselected group is not propagated.
func TestGroupsPropagate(t *testing.T) {
	e := newEnv(t)
	g, err := e.cmds.CreateGroup.Handle(e.ctx, commands.CreateGroup{EnvironmentID: e.envID, Name: "Engineering", Kind: domain.GroupDirect})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.cmds.CreateGroup.Handle(e.ctx, commands.CreateGroup{EnvironmentID: e.envID, Name: "Sales", Kind: domain.GroupDirect})
	if err != nil {
		t.Fatal(err)
	}
	e.publish(e.content("", allActions(), g.GroupID))
	rt := e.runtime(nil)
	defer rt.Close()
	a, _ := e.user("ann", "Ann", nil)
	b, _ := e.user("ben", "Ben", nil)
	for _, u := range []string{a, b} {
		for _, grp := range []string{g.GroupID, other.GroupID} {
			if _, err := e.cmds.AddGroupMember.Handle(e.ctx, commands.AddGroupMember{EnvironmentID: e.envID, GroupID: grp,
				MemberType: domain.MemberUser, MemberID: u}); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.settle(rt)
	groups := e.target.groups()
	if _, ok := groups["Sales"]; ok {
		t.Errorf("an unselected group was propagated")
	}
	users := e.target.users()
	want := []string{users["ann"]["id"].(string), users["ben"]["id"].(string)}
	sort.Strings(want)
	if got := memberValues(groups["Engineering"]); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Engineering members = %v, want %v", got, want)
	}
	if _, err := e.cmds.RemoveGroupMember.Handle(e.ctx, commands.RemoveGroupMember{EnvironmentID: e.envID, GroupID: g.GroupID,
		MemberType: domain.MemberUser, MemberID: a}); err != nil {
		t.Fatal(err)
	}
	// Deleting ben deletes his account, and the group loses him.
	if _, err := e.cmds.DeleteUser.Handle(e.ctx, commands.DeleteUser{EnvironmentID: e.envID, UserID: b}); err != nil {
		t.Fatal(err)
	}
	e.settle(rt)
	if got := memberValues(e.target.groups()["Engineering"]); len(got) != 0 {
		t.Errorf("Engineering members = %v, want none", got)
	}
	if _, ok := e.target.users()["ben"]; ok {
		t.Errorf("deleted ben still in the target")
	}
}

// TestResyncAndPreview: accounts that drifted or went missing while the runtime was away are
// converged by a resync; a preview of a draft predicts its effects from idstream's record
// without contacting the store; ProvisionUserNow returns a trace.
func TestResyncAndPreview(t *testing.T) {
	e := newEnv(t)
	content := e.content("", allActions())
	e.publish(content)
	var ids []string
	for i := range 30 {
		id, _ := e.user(fmt.Sprintf("r%02d", i), "R", nil)
		ids = append(ids, id)
	}
	rt := e.idle() // nothing forwarded: the target is empty
	resyncID, err := rt.Resync(e.ctx, e.envID, "r1", TriggerResync)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := rt.ResyncStatus(resyncID)
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("resync did not finish")
	}
	counts, finished, err := p.Snapshot()
	if err != nil || !finished || counts.Created != 30 || counts.Identities != 30 {
		t.Fatalf("resync: %+v finished %v err %v", counts, finished, err)
	}
	if n := len(e.target.users()); n != 30 {
		t.Fatalf("%d users after resync", n)
	}
	// A draft that scopes out half the users and renames a mapping target.
	e.target.writes.Store(0)
	draft := e.content(`username lt "r15"`, allActions())
	prev, err := rt.Preview(e.ctx, e.envID, draft)
	if err != nil {
		t.Fatal(err)
	}
	if e.target.writes.Load() != 0 {
		t.Errorf("the preview wrote to the store")
	}
	if len(prev.Rules) != 1 || prev.Rules[0].Deletes != 15 || prev.Rules[0].Creates != 0 || len(prev.Rules[0].Samples) != 15 {
		t.Errorf("preview %+v", prev.Rules)
	}
	// On demand: a user changed while nothing forwards.
	if _, err := e.cmds.UpdateUser.Handle(e.ctx, commands.UpdateUser{EnvironmentID: e.envID, UserID: ids[0],
		Profile: domain.Profile{Username: "r00", Email: "new@example.com", Name: domain.Name{Given: "R"}}}); err != nil {
		t.Fatal(err)
	}
	tr, err := rt.ProvisionUserNow(e.ctx, e.envID, "r1", ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if !tr.InScope || tr.Operation != domain.OpUpdate || tr.Result != "applied" || len(tr.Diff) != 1 || len(tr.Steps) < 4 {
		t.Errorf("trace %+v", tr)
	}
	// The draft published: its resync removes the 15 accounts the preview named.
	e.publish(draft)
	if err := rt.catchUp(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := rt.published(e.ctx, e.envID, e.lastRev); err != nil {
		t.Fatal(err)
	}
	if n := len(e.target.users()); n != 15 {
		t.Errorf("%d users after publishing the draft, want 15", n)
	}
}

// TestPublishResyncsAndDeprovisions: publishing through the log (the forwarder's revision
// message) resyncs a rule whose content changed; a revision deleting a managed store removes
// the accounts its rules created, through the previous revision's configuration.
func TestPublishResyncsAndDeprovisions(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.user(fmt.Sprintf("p%d", i), "P", nil)
	}
	rt := e.runtime(nil)
	defer rt.Close()
	e.publish(e.content("", allActions()))
	e.settle(rt)
	if n := len(e.target.users()); n != 5 {
		t.Fatalf("%d users after the first publish, want 5", n)
	}
	// A mapping changes: the publish rewrites displayName everywhere.
	c := e.content("", allActions())
	c.Rules[0].Mappings[3].Value = `lower(username) + "!"`
	e.publish(c)
	e.settle(rt)
	if u := e.target.users()["p3"]; u["displayName"] != "p3!" {
		t.Errorf("p3 after the mapping change = %v", u)
	}
	// The managed store goes (with its rule).
	gone := domain.PropagationContent{Stores: c.Stores[:1], Plans: c.Plans}
	e.publish(gone)
	e.settle(rt)
	if n := len(e.target.users()); n != 0 {
		t.Errorf("%d users left in the deleted managed store", n)
	}
}

// TestDynamicGroup: a user entering and leaving a selected dynamic group by an attribute
// change is added to and removed from the target group.
func TestDynamicGroup(t *testing.T) {
	e := newEnv(t)
	g, err := e.cmds.CreateGroup.Handle(e.ctx, commands.CreateGroup{EnvironmentID: e.envID, Name: "Staff", Kind: domain.GroupDynamic,
		Filter: `title eq "staff"`})
	if err != nil {
		t.Fatal(err)
	}
	e.publish(e.content("", allActions(), g.GroupID))
	rt := e.runtime(nil)
	defer rt.Close()
	id, _ := e.user("dyn", "D", nil)
	setTitle := func(title string) {
		if _, err := e.cmds.UpdateUser.Handle(e.ctx, commands.UpdateUser{EnvironmentID: e.envID, UserID: id,
			Profile: domain.Profile{Username: "dyn", Email: "dyn@example.com", Name: domain.Name{Given: "D"}, Title: title}}); err != nil {
			t.Fatal(err)
		}
		e.settle(rt)
	}
	setTitle("staff")
	uid := e.target.users()["dyn"]["id"]
	if got := memberValues(e.target.groups()["Staff"]); len(got) != 1 || got[0] != uid {
		t.Fatalf("Staff members = %v, want [%v]", got, uid)
	}
	setTitle("intern")
	if got := memberValues(e.target.groups()["Staff"]); len(got) != 0 {
		t.Errorf("Staff members = %v after leaving the group", got)
	}
}
