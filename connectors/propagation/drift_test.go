package propagation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// scimDo sends one request straight to the scimmy server, as an administrator editing the
// target behind idstream's back would.
func (s *scimEnv) scimDo(method, path string, body any) map[string]any {
	s.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(s.ctx, method, s.srv.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.srv.Token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		s.t.Fatalf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

func (s *scimEnv) patchDisplayName(id, v string) {
	s.scimDo(http.MethodPatch, "/Users/"+id, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "displayName", "value": v}},
	})
}

// drifts returns the drift_detected events of a stream.
func (e *env) drifts(stream string) []domain.PropagationDriftDetected {
	e.t.Helper()
	var out []domain.PropagationDriftDetected
	for ev, err := range e.store.ReadStream(e.ctx, stream, eventstore.ReadStreamOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			e.t.Fatal(err)
		}
		p, err := e.reg.Decode(ev)
		if err != nil {
			e.t.Fatal(err)
		}
		if d, ok := p.(domain.PropagationDriftDetected); ok {
			out = append(out, d)
		}
	}
	return out
}

func (s *scimEnv) reconcile(rt *Runtime) DriftSummary {
	s.t.Helper()
	sum, err := rt.ReconcileRule(s.ctx, s.envID, "r1")
	if err != nil {
		s.t.Fatal(err)
	}
	return sum
}

func (s *scimEnv) targetUser(id string) (connectors.Resource, bool) {
	s.t.Helper()
	r, err := s.client().Get(s.ctx, connectors.KindUser, id)
	if connectors.ClassOf(err) == connectors.ClassNotFound && err != nil {
		return r, false
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return r, true
}

// TestSCIMDriftReport: against scimmy, under the default policy REPORT: a plain provision shows
// no drift; an attribute changed in the target is reported by name (no value) once and left as
// the target has it; an account deleted in the target is reported once and not recreated; an
// account created in the target is reported once on the rule's stream and never deleted.
func TestSCIMDriftReport(t *testing.T) {
	s := newSCIMEnv(t)
	s.publish(s.content("", allActions()))
	rt := s.runtime(s.scimConfig)
	defer rt.Close()
	alice, _ := s.user("alice", "Alice", nil)
	bob, _ := s.user("bob", "Bob", nil)
	s.settle(rt)
	users := listAll(t, s.client(), connectors.KindUser, "userName")
	aliceID, bobID := users["alice"]["id"].(string), users["bob"]["id"].(string)

	// Right after the writes: no drift (the server's form of every value matches the record).
	if sum := s.reconcile(rt); sum.Modified+sum.Deleted+sum.Created != 0 || sum.Identities != 2 {
		t.Fatalf("right after provisioning: %+v", sum)
	}
	if d := s.drifts(AccountStream("r1", alice)); len(d) != 0 {
		t.Fatalf("drift right after provisioning: %+v", d)
	}

	s.patchDisplayName(aliceID, "Hacked")
	writes := s.srv.Writes()
	sum := s.reconcile(rt)
	if sum.Modified != 1 || sum.Repaired != 0 {
		t.Fatalf("after a change in the target: %+v", sum)
	}
	if n := s.srv.Writes() - writes; n != 0 {
		t.Errorf("REPORT wrote %d times to the target", n)
	}
	d := s.drifts(AccountStream("r1", alice))
	if len(d) != 1 || d[0].Drift != domain.DriftModified || !slices.Equal(d[0].Attributes, []string{"displayName"}) ||
		d[0].Repaired || d[0].TargetID != aliceID || d[0].IdentityID != alice || d[0].Trigger != TriggerReconcile || d[0].Policy != domain.DriftReport {
		t.Fatalf("drift events %+v", d)
	}
	if raw, _ := json.Marshal(d[0]); bytes.Contains(raw, []byte("Hacked")) || bytes.Contains(raw, []byte("ALICE")) {
		t.Errorf("the drift event carries a value: %s", raw)
	}
	if r, _ := s.targetUser(aliceID); r.Attributes["displayName"] != "Hacked" {
		t.Errorf("REPORT changed the target: displayName %v", r.Attributes["displayName"])
	}
	// Unchanged drift is not reported again.
	if sum := s.reconcile(rt); sum.Modified != 0 {
		t.Errorf("the same drift reported again: %+v", sum)
	}
	if d := s.drifts(AccountStream("r1", alice)); len(d) != 1 {
		t.Errorf("%d drift events after a second reconciliation", len(d))
	}

	// Reverted by the administrator: resolved; changed again later: reported again.
	s.patchDisplayName(aliceID, "ALICE")
	if sum := s.reconcile(rt); sum.Modified != 0 {
		t.Errorf("a reverted drift reported: %+v", sum)
	}
	var resolved int
	for _, o := range s.outcomes("r1", alice) {
		if r, ok := o.(domain.PropagationDriftResolved); ok && slices.Equal(r.Attributes, []string{"displayName"}) {
			resolved++
		}
	}
	if resolved != 1 {
		t.Errorf("%d drift_resolved of displayName, want 1", resolved)
	}
	s.patchDisplayName(aliceID, "Hacked again")
	if sum := s.reconcile(rt); sum.Modified != 1 {
		t.Errorf("drift after a revert not reported: %+v", sum)
	}

	// Deleted in the target: reported, not recreated, once.
	s.scimDo(http.MethodDelete, "/Users/"+bobID, nil)
	// Created in the target.
	stranger := s.scimDo(http.MethodPost, "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "stranger"})
	strangerID := fmt.Sprint(stranger["id"])
	sum = s.reconcile(rt)
	if sum.Deleted != 1 || sum.Created != 1 || sum.Modified != 0 {
		t.Fatalf("after a deletion and a creation in the target: %+v", sum)
	}
	users = listAll(t, s.client(), connectors.KindUser, "userName")
	if _, ok := users["bob"]; ok {
		t.Errorf("REPORT recreated the account deleted in the target")
	}
	if _, ok := users["stranger"]; !ok {
		t.Errorf("the account created in the target is gone")
	}
	db := s.drifts(AccountStream("r1", bob))
	if len(db) != 1 || db[0].Drift != domain.DriftDeleted || db[0].TargetID != bobID || db[0].Repaired {
		t.Errorf("bob's drift %+v", db)
	}
	dr := s.drifts(domain.CategoryPropagationRuleState + "-r1")
	if len(dr) != 1 || dr[0].Drift != domain.DriftCreated || dr[0].TargetID != strangerID || dr[0].IdentityID != "" {
		t.Errorf("rule drift %+v", dr)
	}
	if sum := s.reconcile(rt); sum.Deleted+sum.Created+sum.Modified != 0 {
		t.Errorf("a third reconciliation reported again: %+v", sum)
	}
	// provisionUserNow is an administrator asking for the account: it recreates it.
	tr, err := rt.ProvisionUserNow(s.ctx, s.envID, "r1", bob)
	if err != nil || tr.Operation != domain.OpCreate || tr.Result != "applied" {
		t.Fatalf("provision now: %+v, %v", tr, err)
	}
	if _, ok := listAll(t, s.client(), connectors.KindUser, "userName")["bob"]; !ok {
		t.Errorf("bob not recreated on demand")
	}
	if db := s.drifts(AccountStream("r1", bob)); len(db) != 2 || !db[1].Repaired || db[1].Trigger != TriggerOnDemand {
		t.Errorf("bob's drift after provisioning now %+v", db)
	}
}

// TestSCIMDriftOverwrite: under OVERWRITE a changed attribute is written back and an account
// deleted in the target is recreated, each recorded as repaired drift.
func TestSCIMDriftOverwrite(t *testing.T) {
	s := newSCIMEnv(t)
	c := s.content("", allActions())
	c.Rules[0].DriftPolicy = domain.DriftOverwrite
	s.publish(c)
	rt := s.runtime(s.scimConfig)
	defer rt.Close()
	alice, _ := s.user("alice", "Alice", nil)
	bob, _ := s.user("bob", "Bob", nil)
	s.settle(rt)
	users := listAll(t, s.client(), connectors.KindUser, "userName")
	aliceID, bobID := users["alice"]["id"].(string), users["bob"]["id"].(string)

	s.patchDisplayName(aliceID, "Hacked")
	s.scimDo(http.MethodDelete, "/Users/"+bobID, nil)
	sum := s.reconcile(rt)
	if sum.Modified != 1 || sum.Deleted != 1 || sum.Repaired != 2 {
		t.Fatalf("summary %+v", sum)
	}
	if r, _ := s.targetUser(aliceID); r.Attributes["displayName"] != "ALICE" {
		t.Errorf("displayName not repaired: %v", r.Attributes["displayName"])
	}
	d := s.drifts(AccountStream("r1", alice))
	if len(d) != 1 || !d[0].Repaired || !slices.Equal(d[0].Attributes, []string{"displayName"}) || d[0].Policy != domain.DriftOverwrite {
		t.Errorf("alice's drift %+v", d)
	}
	users = listAll(t, s.client(), connectors.KindUser, "userName")
	if _, ok := users["bob"]; !ok {
		t.Fatalf("bob not recreated")
	}
	db := s.drifts(AccountStream("r1", bob))
	if len(db) != 1 || db[0].Drift != domain.DriftDeleted || !db[0].Repaired || db[0].TargetID != bobID {
		t.Errorf("bob's drift %+v", db)
	}
	// Repaired: nothing left.
	if sum := s.reconcile(rt); sum.Modified+sum.Deleted+sum.Created != 0 {
		t.Errorf("after the repair: %+v", sum)
	}
}

// TestPeriodicReconciliation: with a reconcile interval, the runtime reconciles published rules
// on its own: drift made in the target is reported without any request.
func TestPeriodicReconciliation(t *testing.T) {
	e := newEnv(t)
	e.publish(e.content("", allActions()))
	rt := e.runtime(func(c *Config) { c.ReconcileInterval = 20 * time.Millisecond })
	defer rt.Close()
	id, _ := e.user("carol", "Carol", nil)
	e.settle(rt)
	tid := e.target.users()["carol"]["id"].(string)
	if _, err := (memConn{s: e.target}).Update(e.ctx, connectors.KindUser, tid, []connectors.Change{{Path: "displayName", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	for {
		if d := e.drifts(AccountStream("r1", id)); len(d) > 0 {
			if d[0].Trigger != TriggerReconcile || !slices.Equal(d[0].Attributes, []string{"displayName"}) {
				t.Errorf("drift %+v", d[0])
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no periodic reconciliation reported the drift")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// BenchmarkSCIMReconcile measures one reconciliation of a rule of 100 provisioned users against
// scimmy (a Get per account, a List of the target): no drift, nothing written.
func BenchmarkSCIMReconcile(b *testing.B) {
	s := newSCIMEnv(b)
	s.publish(s.content("", allActions()))
	rt := s.runtime(s.scimConfig)
	defer rt.Close()
	for i := range 100 {
		s.user(fmt.Sprintf("bench%03d", i), "B", nil)
	}
	s.settle(rt)
	b.ResetTimer()
	for b.Loop() {
		sum, err := rt.ReconcileRule(s.ctx, s.envID, "r1")
		if err != nil || sum.Identities != 100 || sum.Modified+sum.Created+sum.Deleted != 0 {
			b.Fatalf("%+v, %v", sum, err)
		}
	}
}
