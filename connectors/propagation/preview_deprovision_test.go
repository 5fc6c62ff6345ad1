package propagation

import (
	"testing"

	"github.com/idstream/idstream/connectors"
)

// TestPreviewOfADeletedManagedStoreFollowsItsFeatures: a draft deleting a managed store whose
// connector cannot delete (Slack deactivates) previews its accounts as disabled, not deleted —
// what deprovisioning will do — and a store that deletes previews deletes.
func TestPreviewOfADeletedManagedStoreFollowsItsFeatures(t *testing.T) {
	for _, hard := range []bool{false, true} {
		e := newEnv(t)
		e.target.feat = connectors.Features{Groups: true, HardDelete: hard}
		e.publish(e.content("", allActions()))
		rt := e.runtime(nil)
		e.user("ann", "Ann", nil)
		e.settle(rt)
		if len(e.target.users()) != 1 {
			t.Fatalf("%d users in the target", len(e.target.users()))
		}
		draft := e.content("", allActions())
		draft.Stores, draft.Rules = draft.Stores[:1], nil // the managed store and its rule deleted
		prev, err := rt.Preview(e.ctx, e.envID, draft)
		if err != nil {
			t.Fatal(err)
		}
		wantDeletes, wantDisables := 0, 1
		if hard {
			wantDeletes, wantDisables = 1, 0
		}
		if len(prev.Rules) != 1 || prev.Rules[0].Deletes != wantDeletes || prev.Rules[0].Disables != wantDisables {
			t.Errorf("hard delete %v: preview %+v, want %d deletes and %d disables", hard, prev.Rules, wantDeletes, wantDisables)
		}
		rt.Close()
	}
}
