// Package connectortest is the conformance suite of the connector contract
// (connectors.Connector and its optional capabilities). Every connector runs the same cases
// against a real store; what a store does not support is declared in Features, never skipped
// by connector type. Optional capabilities (Checker, MemberUpdater, Lister) are found by type
// assertion and tested when present.
package connectortest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/mapping"
)

// Features are what the store under test supports, as the harness declares it.
type Features struct {
	// Groups: the store has groups (connectors.Features.Groups).
	Groups bool
	// HardDelete: Delete removes a user; false: Delete deactivates it (active=false).
	HardDelete bool
	// ListPageSize is the connector's List page size: the List case creates 1.2 × that many
	// users (plus one) so that List crosses a page boundary; 0: it creates 5.
	ListPageSize int
}

// Harness connects the suite to one connector and its store.
type Harness struct {
	// Open returns a fresh connector against a clean store (no users or groups). The suite
	// closes it.
	Open func(t *testing.T) connectors.Connector
	// OpenWithBadCredentials returns a connector to the same store whose credentials the store
	// refuses. Required.
	OpenWithBadCredentials func(t *testing.T) connectors.Connector
	Features               Features
}

// Run runs every case of the suite. Cases run one after the other (each opens a clean store).
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil || h.OpenWithBadCredentials == nil {
		t.Fatal("connectortest: Harness.Open and Harness.OpenWithBadCredentials are required")
	}
	cases := []struct {
		name string
		fn   func(t *testing.T, h Harness, c connectors.Connector)
	}{
		{"DeclaredFeatures", testDeclaredFeatures},
		{"UserCreateGetFind", testUserCreateGetFind},
		{"FindNone", testFindNone},
		{"UpdateScalar", testUpdateScalar},
		{"UpdateNested", testUpdateNested},
		{"UpdateFilteredMultiValued", testUpdateFiltered},
		{"UpdateSeveralAtOnce", testUpdateSeveral},
		{"RemoveAttribute", testRemoveAttribute},
		{"Deactivate", testDeactivate},
		{"Delete", testDelete},
		{"DuplicateUserName", testDuplicate},
		{"Missing", testMissing},
		{"InvalidInput", testInvalid},
		{"Groups", testGroups},
		{"List", testList},
		{"Check", testCheck},
		{"BadCredentials", testBadCredentials},
		{"ConcurrentCreatesAndUpdates", testConcurrentCreates},
		{"ConcurrentSameUserName", testConcurrentSameUserName},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := h.Open(t)
			t.Cleanup(func() { _ = c.Close() })
			tc.fn(t, h, c)
		})
	}
}

// User returns the attributes of a test user whose userName is name.
func User(name string) map[string]any {
	return map[string]any{
		"userName":    name,
		"displayName": "Test " + name,
		"name":        map[string]any{"givenName": "Given", "familyName": "Family"},
		"emails": []any{
			map[string]any{"type": "work", "value": name, "primary": true},
			map[string]any{"type": "home", "value": "home." + name},
		},
		"nickName":   "nick",
		"active":     true,
		"externalId": "ext-" + name,
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

// attr returns the value at SCIM path p in r's attributes.
func attr(t *testing.T, r connectors.Resource, p string) (any, bool) {
	t.Helper()
	path, err := mapping.ParsePath(p)
	if err != nil {
		t.Fatalf("path %q: %v", p, err)
	}
	return path.Get(r.Attributes)
}

func wantAttr(t *testing.T, r connectors.Resource, p string, want any) {
	t.Helper()
	got, ok := attr(t, r, p)
	if !ok {
		t.Fatalf("resource %s: %s absent, want %v (attributes %v)", r.ID, p, want, r.Attributes)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("resource %s: %s = %#v, want %#v", r.ID, p, got, want)
	}
}

func wantClass(t *testing.T, err error, want connectors.Class) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", want)
	}
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *connectors.Error (want class %s)", err, want)
	}
	if got := connectors.ClassOf(err); got != want {
		t.Fatalf("class %s, want %s: %v", got, want, err)
	}
}

func create(t *testing.T, c connectors.Connector, kind connectors.Kind, attrs map[string]any) connectors.Resource {
	t.Helper()
	r, err := c.Create(ctx(t), kind, attrs)
	if err != nil {
		t.Fatalf("create %s: %v", kind, err)
	}
	if r.ID == "" {
		t.Fatalf("create %s: empty ID", kind)
	}
	return r
}

func get(t *testing.T, c connectors.Connector, kind connectors.Kind, id string) connectors.Resource {
	t.Helper()
	r, err := c.Get(ctx(t), kind, id)
	if err != nil {
		t.Fatalf("get %s %s: %v", kind, id, err)
	}
	if r.ID != id {
		t.Fatalf("get %s %s: got ID %q", kind, id, r.ID)
	}
	return r
}

func update(t *testing.T, c connectors.Connector, kind connectors.Kind, id string, changes ...connectors.Change) connectors.Resource {
	t.Helper()
	r, err := c.Update(ctx(t), kind, id, changes)
	if err != nil {
		t.Fatalf("update %s %s %v: %v", kind, id, changes, err)
	}
	if r.ID != id {
		t.Fatalf("update %s %s: got ID %q", kind, id, r.ID)
	}
	return r
}

func testDeclaredFeatures(t *testing.T, h Harness, c connectors.Connector) {
	f := connectors.FeaturesOf(c)
	if f.Groups != h.Features.Groups || f.HardDelete != h.Features.HardDelete {
		t.Fatalf("connector declares %+v, harness declares %+v", f, h.Features)
	}
}

func testUserCreateGetFind(t *testing.T, h Harness, c connectors.Connector) {
	u := create(t, c, connectors.KindUser, User("Alice.Liddell@Example.com"))
	wantAttr(t, u, "userName", "Alice.Liddell@Example.com")
	g := get(t, c, connectors.KindUser, u.ID)
	wantAttr(t, g, "userName", "Alice.Liddell@Example.com")
	wantAttr(t, g, "name.givenName", "Given")
	wantAttr(t, g, `emails[type eq "work"].value`, "Alice.Liddell@Example.com")
	wantAttr(t, g, "active", true)
	for _, v := range []string{"Alice.Liddell@Example.com", "alice.liddell@example.com", "ALICE.LIDDELL@EXAMPLE.COM"} {
		found, err := c.Find(ctx(t), connectors.KindUser, "userName", v)
		if err != nil {
			t.Fatalf("find userName %q: %v", v, err)
		}
		if len(found) != 1 || found[0].ID != u.ID {
			t.Fatalf("find userName %q: %d found, want user %s", v, len(found), u.ID)
		}
	}
	found, err := c.Find(ctx(t), connectors.KindUser, "emails.value", "HOME.alice.liddell@example.com")
	if err != nil || len(found) != 1 || found[0].ID != u.ID {
		t.Fatalf("find emails.value: %v, %d found", err, len(found))
	}
	found, err = c.Find(ctx(t), connectors.KindUser, "externalId", "ext-Alice.Liddell@Example.com")
	if err != nil || len(found) != 1 || found[0].ID != u.ID {
		t.Fatalf("find externalId: %v, %d found", err, len(found))
	}
}

func testFindNone(t *testing.T, h Harness, c connectors.Connector) {
	create(t, c, connectors.KindUser, User("someone@example.com"))
	found, err := c.Find(ctx(t), connectors.KindUser, "userName", "nobody@example.com")
	if err != nil {
		t.Fatalf("find: %v", err)
	}
	if found == nil || len(found) != 0 {
		t.Fatalf("find none: got %v, want an empty slice", found)
	}
}

func testUpdateScalar(t *testing.T, h Harness, c connectors.Connector) {
	u := create(t, c, connectors.KindUser, User("scalar@example.com"))
	r := update(t, c, connectors.KindUser, u.ID, connectors.Change{Path: "displayName", Value: "New Name"})
	wantAttr(t, r, "displayName", "New Name")
	g := get(t, c, connectors.KindUser, u.ID)
	wantAttr(t, g, "displayName", "New Name")
	wantAttr(t, g, "nickName", "nick") // untouched
	// Adding an attribute the user did not have.
	r = update(t, c, connectors.KindUser, u.ID, connectors.Change{Path: "title", Value: "Engineer"})
	wantAttr(t, r, "title", "Engineer")
}

func testUpdateNested(t *testing.T, h Harness, c connectors.Connector) {
	u := create(t, c, connectors.KindUser, User("nested@example.com"))
	update(t, c, connectors.KindUser, u.ID, connectors.Change{Path: "name.givenName", Value: "Grace"})
	g := get(t, c, connectors.KindUser, u.ID)
	wantAttr(t, g, "name.givenName", "Grace")
	wantAttr(t, g, "name.familyName", "Family") // the sibling is kept
}

func testUpdateFiltered(t *testing.T, h Harness, c connectors.Connector) {
	u := create(t, c, connectors.KindUser, User("filtered@example.com"))
	update(t, c, connectors.KindUser, u.ID, connectors.Change{Path: `emails[type eq "work"].value`, Value: "moved@example.com"})
	g := get(t, c, connectors.KindUser, u.ID)
	wantAttr(t, g, `emails[type eq "work"].value`, "moved@example.com")
	wantAttr(t, g, `emails[type eq "home"].value`, "home.filtered@example.com")

	// A filter that matches no element: the element is added.
	attrs := User("nowork@example.com")
	attrs["emails"] = []any{map[string]any{"type": "home", "value": "home@example.com"}}
	n := create(t, c, connectors.KindUser, attrs)
	update(t, c, connectors.KindUser, n.ID, connectors.Change{Path: `emails[type eq "work"].value`, Value: "work@example.com"})
	g = get(t, c, connectors.KindUser, n.ID)
	wantAttr(t, g, `emails[type eq "work"].value`, "work@example.com")
	wantAttr(t, g, `emails[type eq "home"].value`, "home@example.com")
}

func testUpdateSeveral(t *testing.T, h Harness, c connectors.Connector) {
	u := create(t, c, connectors.KindUser, User("several@example.com"))
	update(t, c, connectors.KindUser, u.ID,
		connectors.Change{Path: "displayName", Value: "D"},
		connectors.Change{Path: "name.familyName", Value: "F2"},
		connectors.Change{Path: "nickName", Value: nil},
	)
	g := get(t, c, connectors.KindUser, u.ID)
	wantAttr(t, g, "displayName", "D")
	wantAttr(t, g, "name.familyName", "F2")
	if v, ok := attr(t, g, "nickName"); ok {
		t.Fatalf("nickName = %v after its removal", v)
	}
}

func testRemoveAttribute(t *testing.T, h Harness, c connectors.Connector) {
	u := create(t, c, connectors.KindUser, User("remove@example.com"))
	update(t, c, connectors.KindUser, u.ID, connectors.Change{Path: "nickName", Value: nil})
	g := get(t, c, connectors.KindUser, u.ID)
	if v, ok := attr(t, g, "nickName"); ok {
		t.Fatalf("nickName = %v after its removal", v)
	}
	wantAttr(t, g, "displayName", "Test remove@example.com")
	// Removing an absent attribute, or a filtered element that does not exist, is not an error.
	update(t, c, connectors.KindUser, u.ID, connectors.Change{Path: "nickName", Value: nil})
	update(t, c, connectors.KindUser, u.ID, connectors.Change{Path: `emails[type eq "other"]`, Value: nil})
	g = get(t, c, connectors.KindUser, u.ID)
	wantAttr(t, g, `emails[type eq "home"].value`, "home.remove@example.com")
}

func testDeactivate(t *testing.T, h Harness, c connectors.Connector) {
	u := create(t, c, connectors.KindUser, User("deactivate@example.com"))
	r := update(t, c, connectors.KindUser, u.ID, connectors.Change{Path: "active", Value: false})
	wantAttr(t, r, "active", false)
	wantAttr(t, get(t, c, connectors.KindUser, u.ID), "active", false)
	update(t, c, connectors.KindUser, u.ID, connectors.Change{Path: "active", Value: true})
	wantAttr(t, get(t, c, connectors.KindUser, u.ID), "active", true)
}

func testDelete(t *testing.T, h Harness, c connectors.Connector) {
	u := create(t, c, connectors.KindUser, User("delete@example.com"))
	if err := c.Delete(ctx(t), connectors.KindUser, u.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if !h.Features.HardDelete {
		// The store deactivates instead of deleting.
		wantAttr(t, get(t, c, connectors.KindUser, u.ID), "active", false)
		return
	}
	_, err := c.Get(ctx(t), connectors.KindUser, u.ID)
	wantClass(t, err, connectors.ClassNotFound)
	wantClass(t, c.Delete(ctx(t), connectors.KindUser, u.ID), connectors.ClassNotFound)
	found, err := c.Find(ctx(t), connectors.KindUser, "userName", "delete@example.com")
	if err != nil || len(found) != 0 {
		t.Fatalf("find after delete: %v, %d found", err, len(found))
	}
	// The userName is free again.
	create(t, c, connectors.KindUser, User("delete@example.com"))
}

func testDuplicate(t *testing.T, h Harness, c connectors.Connector) {
	create(t, c, connectors.KindUser, User("dup@example.com"))
	_, err := c.Create(ctx(t), connectors.KindUser, User("dup@example.com"))
	wantClass(t, err, connectors.ClassConflict)
	_, err = c.Create(ctx(t), connectors.KindUser, User("DUP@example.com"))
	wantClass(t, err, connectors.ClassConflict)
	// Renaming another user onto the taken name clashes too.
	o := create(t, c, connectors.KindUser, User("other@example.com"))
	_, err = c.Update(ctx(t), connectors.KindUser, o.ID, []connectors.Change{{Path: "userName", Value: "dup@example.com"}})
	wantClass(t, err, connectors.ClassConflict)
}

func testMissing(t *testing.T, h Harness, c connectors.Connector) {
	const id = "00000000-0000-0000-0000-00000000dead"
	_, err := c.Get(ctx(t), connectors.KindUser, id)
	wantClass(t, err, connectors.ClassNotFound)
	_, err = c.Update(ctx(t), connectors.KindUser, id, []connectors.Change{{Path: "displayName", Value: "x"}})
	wantClass(t, err, connectors.ClassNotFound)
	if h.Features.HardDelete {
		wantClass(t, c.Delete(ctx(t), connectors.KindUser, id), connectors.ClassNotFound)
	}
	if h.Features.Groups {
		_, err = c.Get(ctx(t), connectors.KindGroup, id)
		wantClass(t, err, connectors.ClassNotFound)
		wantClass(t, c.Delete(ctx(t), connectors.KindGroup, id), connectors.ClassNotFound)
	}
}

func testInvalid(t *testing.T, h Harness, c connectors.Connector) {
	u := create(t, c, connectors.KindUser, User("invalid@example.com"))
	_, err := c.Update(ctx(t), connectors.KindUser, u.ID, []connectors.Change{{Path: "emails[type eq", Value: "x"}})
	wantClass(t, err, connectors.ClassInvalid)
	if !strings.Contains(err.Error(), "path") {
		t.Fatalf("error does not name the path: %v", err)
	}
	_, err = c.Get(ctx(t), connectors.Kind("robot"), u.ID)
	wantClass(t, err, connectors.ClassInvalid)
	_, err = c.Get(ctx(t), connectors.KindUser, "")
	wantClass(t, err, connectors.ClassInvalid)
	_, err = c.Find(ctx(t), connectors.KindUser, `userName eq "x" or userName`, "y")
	wantClass(t, err, connectors.ClassInvalid)
	// Nothing was changed by the refused update.
	wantAttr(t, get(t, c, connectors.KindUser, u.ID), "emails[type eq \"work\"].value", "invalid@example.com")
}

func testGroups(t *testing.T, h Harness, c connectors.Connector) {
	if !h.Features.Groups {
		_, err := c.Create(ctx(t), connectors.KindGroup, map[string]any{"displayName": "g"})
		if err == nil {
			t.Fatal("store declared without groups created one")
		}
		return
	}
	a := create(t, c, connectors.KindUser, User("member.a@example.com"))
	b := create(t, c, connectors.KindUser, User("member.b@example.com"))
	g := create(t, c, connectors.KindGroup, map[string]any{
		"displayName": "Engineering",
		"members":     []any{map[string]any{"value": a.ID}},
	})
	wantMembers(t, get(t, c, connectors.KindGroup, g.ID), a.ID)
	found, err := c.Find(ctx(t), connectors.KindGroup, "displayName", "engineering")
	if err != nil || len(found) != 1 || found[0].ID != g.ID {
		t.Fatalf("find group by displayName: %v, %d found", err, len(found))
	}
	r := update(t, c, connectors.KindGroup, g.ID, connectors.Change{Path: "displayName", Value: "Eng"})
	wantAttr(t, r, "displayName", "Eng")

	if mu, ok := c.(connectors.MemberUpdater); ok {
		if err := mu.UpdateMembers(ctx(t), g.ID, []string{b.ID}, nil); err != nil {
			t.Fatalf("add member: %v", err)
		}
		wantMembers(t, get(t, c, connectors.KindGroup, g.ID), a.ID, b.ID)
		if err := mu.UpdateMembers(ctx(t), g.ID, nil, []string{a.ID}); err != nil {
			t.Fatalf("remove member: %v", err)
		}
		wantMembers(t, get(t, c, connectors.KindGroup, g.ID), b.ID)
		if err := mu.UpdateMembers(ctx(t), g.ID, []string{a.ID}, []string{b.ID}); err != nil {
			t.Fatalf("add and remove members: %v", err)
		}
		wantMembers(t, get(t, c, connectors.KindGroup, g.ID), a.ID)
		// Removing an absent member is not an error.
		if err := mu.UpdateMembers(ctx(t), g.ID, nil, []string{b.ID}); err != nil {
			t.Fatalf("remove absent member: %v", err)
		}
		wantMembers(t, get(t, c, connectors.KindGroup, g.ID), a.ID)
		err := mu.UpdateMembers(ctx(t), "00000000-0000-0000-0000-00000000dead", []string{a.ID}, nil)
		wantClass(t, err, connectors.ClassNotFound)
	}
	if err := c.Delete(ctx(t), connectors.KindGroup, g.ID); err != nil {
		t.Fatalf("delete group: %v", err)
	}
	_, err = c.Get(ctx(t), connectors.KindGroup, g.ID)
	wantClass(t, err, connectors.ClassNotFound)
	// The members are still there.
	get(t, c, connectors.KindUser, a.ID)
}

func wantMembers(t *testing.T, g connectors.Resource, ids ...string) {
	t.Helper()
	got := map[string]bool{}
	list, _ := g.Attributes["members"].([]any)
	for _, m := range list {
		mm, _ := m.(map[string]any)
		v, _ := mm["value"].(string)
		if got[v] {
			t.Fatalf("group %s: member %s twice", g.ID, v)
		}
		got[v] = true
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("group %s: members %v, want %v", g.ID, got, want)
	}
}

func testList(t *testing.T, h Harness, c connectors.Connector) {
	l, ok := c.(connectors.Lister)
	if !ok {
		return
	}
	n := 5
	if h.Features.ListPageSize > 0 {
		n = h.Features.ListPageSize + h.Features.ListPageSize/5 + 1
	}
	want := map[string]bool{}
	for i := range n {
		want[create(t, c, connectors.KindUser, User(fmt.Sprintf("list%03d@example.com", i))).ID] = true
	}
	seen := map[string]bool{}
	err := l.List(ctx(t), connectors.KindUser, func(r connectors.Resource) bool {
		if seen[r.ID] {
			t.Errorf("list: user %s twice", r.ID)
		}
		seen[r.ID] = true
		return true
	})
	if err != nil {
		t.Fatalf("list users: %v", err)
	}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("list: %d users seen, want the %d created", len(seen), len(want))
	}
	// Stopping early.
	calls := 0
	if err := l.List(ctx(t), connectors.KindUser, func(connectors.Resource) bool { calls++; return calls < 2 }); err != nil {
		t.Fatalf("list users, stopping: %v", err)
	}
	if calls != 2 {
		t.Fatalf("list went on after fn returned false: %d calls", calls)
	}
	if h.Features.Groups {
		g := create(t, c, connectors.KindGroup, map[string]any{"displayName": "Listed"})
		var ids []string
		if err := l.List(ctx(t), connectors.KindGroup, func(r connectors.Resource) bool { ids = append(ids, r.ID); return true }); err != nil {
			t.Fatalf("list groups: %v", err)
		}
		if len(ids) != 1 || ids[0] != g.ID {
			t.Fatalf("list groups: %v, want [%s]", ids, g.ID)
		}
	}
}

func testCheck(t *testing.T, h Harness, c connectors.Connector) {
	ch, ok := c.(connectors.Checker)
	if !ok {
		return
	}
	if err := ch.Check(ctx(t)); err != nil {
		t.Fatalf("check: %v", err)
	}
}

func testBadCredentials(t *testing.T, h Harness, c connectors.Connector) {
	u := create(t, c, connectors.KindUser, User("creds@example.com"))
	bad := h.OpenWithBadCredentials(t)
	defer bad.Close()
	if ch, ok := bad.(connectors.Checker); ok {
		wantClass(t, ch.Check(ctx(t)), connectors.ClassAuth)
	}
	_, err := bad.Get(ctx(t), connectors.KindUser, u.ID)
	wantClass(t, err, connectors.ClassAuth)
	_, err = bad.Create(ctx(t), connectors.KindUser, User("intruder@example.com"))
	wantClass(t, err, connectors.ClassAuth)
	found, err := c.Find(ctx(t), connectors.KindUser, "userName", "intruder@example.com")
	if err != nil || len(found) != 0 {
		t.Fatalf("a refused create created a user: %v, %d found", err, len(found))
	}
}

func testConcurrentCreates(t *testing.T, h Harness, c connectors.Connector) {
	const n = 16
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.Create(ctx(t), connectors.KindUser, User(fmt.Sprintf("par%02d@example.com", i)))
			ids[i], errs[i] = r.ID, err
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("parallel create %d: %v", i, errs[i])
		}
		if seen[ids[i]] {
			t.Fatalf("parallel creates returned ID %s twice", ids[i])
		}
		seen[ids[i]] = true
		found, err := c.Find(ctx(t), connectors.KindUser, "userName", fmt.Sprintf("par%02d@example.com", i))
		if err != nil || len(found) != 1 || found[0].ID != ids[i] {
			t.Fatalf("find parallel user %d: %v, %v", i, err, found)
		}
	}
	// Parallel updates of different users, with the same (filtered) paths.
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Update(ctx(t), connectors.KindUser, ids[i], []connectors.Change{
				{Path: `emails[type eq "work"].value`, Value: fmt.Sprintf("moved%02d@example.com", i)},
				{Path: "name.givenName", Value: fmt.Sprintf("G%02d", i)},
			})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("parallel update %d: %v", i, errs[i])
		}
		g := get(t, c, connectors.KindUser, ids[i])
		wantAttr(t, g, `emails[type eq "work"].value`, fmt.Sprintf("moved%02d@example.com", i))
		wantAttr(t, g, "name.givenName", fmt.Sprintf("G%02d", i))
	}
}

func testConcurrentSameUserName(t *testing.T, h Harness, c connectors.Connector) {
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Create(ctx(t), connectors.KindUser, User("same@example.com"))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantClass(t, err, connectors.ClassConflict)
	}
	if ok != 1 {
		t.Fatalf("%d of %d parallel creates of one userName succeeded, want 1", ok, n)
	}
}
