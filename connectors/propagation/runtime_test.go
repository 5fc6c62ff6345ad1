package propagation

import (
	"testing"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/domain"
)

// TestEventToTarget: a user created in the directory reaches the target with the mapped
// attributes, and its outcome is appended once; an update writes only what differs; leaving
// scope and deletion apply the remove action.
func TestEventToTarget(t *testing.T) {
	e := newEnv(t)
	e.publish(e.content(`title ne "contractor"`, allActions()))
	rt := e.runtime(nil)
	defer rt.Close()

	id, _ := e.user("alice", "Alice", nil)
	e.settle(rt)
	got := e.target.users()["alice"]
	if got == nil {
		t.Fatalf("alice not in the target: %v", e.target.users())
	}
	if got["displayName"] != "ALICE" || got["active"] != true {
		t.Errorf("alice = %v", got)
	}
	if name, _ := got["name"].(map[string]any); name["givenName"] != "Alice" {
		t.Errorf("alice's name = %v", got["name"])
	}
	emails, _ := got["emails"].([]any)
	if len(emails) != 1 || emails[0].(map[string]any)["value"] != "alice@example.com" {
		t.Errorf("alice's emails = %v", got["emails"])
	}
	out := e.outcomes("r1", id)
	if len(out) != 1 {
		t.Fatalf("outcomes = %#v", out)
	}
	applied, ok := out[0].(domain.PropagationChangeApplied)
	if !ok || applied.Operation != domain.OpCreate || !applied.CreatedByIdstream || applied.TargetID == "" || applied.Trigger != TriggerEvent {
		t.Fatalf("outcome = %#v", out[0])
	}
	if len(applied.Digests) != 5 || applied.SourcePosition == "" {
		t.Errorf("digests %v, source position %q", applied.Digests, applied.SourcePosition)
	}

	// An update of one mapped attribute writes that attribute only.
	writes := e.target.writes.Load()
	if _, err := e.cmds.UpdateUser.Handle(e.ctx, commands.UpdateUser{EnvironmentID: e.envID, UserID: id,
		Profile: domain.Profile{Username: "alice", Email: "alice@example.com", Name: domain.Name{Given: "Alicia"}}}); err != nil {
		t.Fatal(err)
	}
	e.settle(rt)
	if n := e.target.writes.Load() - writes; n != 1 {
		t.Errorf("update wrote %d times", n)
	}
	out = e.outcomes("r1", id)
	upd := out[len(out)-1].(domain.PropagationChangeApplied)
	if upd.Operation != domain.OpUpdate || len(upd.Attributes) != 1 || upd.Attributes[0] != "name.givenName" {
		t.Errorf("update outcome = %#v", upd)
	}
	// A change nothing maps writes nothing and records nothing.
	n := len(out)
	if _, err := e.cmds.UpdateUser.Handle(e.ctx, commands.UpdateUser{EnvironmentID: e.envID, UserID: id,
		Profile: domain.Profile{Username: "alice", Email: "alice@example.com", Name: domain.Name{Given: "Alicia"}, Nickname: "al"}}); err != nil {
		t.Fatal(err)
	}
	e.settle(rt)
	if got := len(e.outcomes("r1", id)); got != n {
		t.Errorf("an unmapped change recorded %d outcomes", got-n)
	}

	// Disabling applies the remove action (DELETE of an account idstream created).
	if _, err := e.cmds.DisableUser.Handle(e.ctx, commands.DisableUser{EnvironmentID: e.envID, UserID: id}); err != nil {
		t.Fatal(err)
	}
	e.settle(rt)
	if _, ok := e.target.users()["alice"]; ok {
		t.Errorf("disabled alice still in the target")
	}
	out = e.outcomes("r1", id)
	if del := out[len(out)-1].(domain.PropagationChangeApplied); del.Operation != domain.OpDelete {
		t.Errorf("last outcome = %#v", del)
	}
	// Enabling again recreates it.
	if _, err := e.cmds.EnableUser.Handle(e.ctx, commands.EnableUser{EnvironmentID: e.envID, UserID: id}); err != nil {
		t.Fatal(err)
	}
	e.settle(rt)
	if e.target.users()["alice"] == nil {
		t.Errorf("enabled alice not recreated")
	}
}
