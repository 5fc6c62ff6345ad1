package propagation

import (
	"testing"

	"github.com/idstream/idstream/domain"
)

// TestSupersededRevisionStillResyncs: a revision superseded before its message is handled (here:
// two publications while no runtime runs) still resyncs what it changed — rev 2 narrows the
// scope, rev 3 changes something else; alice leaves the target.
func TestSupersededRevisionStillResyncs(t *testing.T) {
	e := newEnv(t)
	e.publish(e.content("", allActions()))
	rt := e.runtime(nil)
	e.user("alice", "Alice", nil)
	e.settle(rt)
	if e.target.users()["alice"] == nil {
		t.Fatal("alice not created")
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := e.content(`userName eq "nobody"`, allActions())
	e.publish(c2)
	c3 := e.content(`userName eq "nobody"`, allActions())
	c3.Stores = append(c3.Stores, domain.PropagationStore{ID: "s-other", Name: "Other", Type: domain.StoreSCIM, Status: domain.StoreActive,
		Config: map[string]string{"baseUrl": "http://other.invalid"}})
	e.publish(c3)
	rt = e.runtime(nil)
	defer rt.Close()
	e.settle(rt)
	rt.resyncWG.Wait()
	if e.target.users()["alice"] != nil {
		t.Errorf("alice still in the target after rev2 put her out of scope: %v", e.target.users()["alice"])
	}
}
