package propagation

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// ruleEvents returns the quarantine events of rule's stream.
func (e *env) ruleEvents(rule string) (quarantined []domain.PropagationRuleQuarantined, released []domain.PropagationRuleReleased) {
	e.t.Helper()
	for ev, err := range e.store.ReadStream(e.ctx, domain.StreamName(domain.CategoryPropagationRuleState, rule), eventstore.ReadStreamOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return
		}
		if err != nil {
			e.t.Fatal(err)
		}
		p, err := e.reg.Decode(ev)
		if err != nil {
			e.t.Fatal(err)
		}
		switch v := p.(type) {
		case domain.PropagationRuleQuarantined:
			quarantined = append(quarantined, v)
		case domain.PropagationRuleReleased:
			released = append(released, v)
		}
	}
	return
}

// TestQuarantineReleaseAndFix: a rule whose mapping never compiles fails every order for good
// and is quarantined; its later orders are skipped. Released by an administrator, it resyncs,
// fails again and is quarantined again; a publication fixing it releases it and it converges
// with the real SCIM server.
func TestQuarantineReleaseAndFix(t *testing.T) {
	s := newSCIMEnv(t)
	const ruleID = "0192d6c4-7d1e-7000-8000-0000000000a1" // commands take UUIDs
	broken := s.content("", allActions())
	broken.Rules[0].ID = ruleID
	broken.Rules[0].Mappings[3].Value = "upper(" // does not compile: every order fails, INVALID
	s.publish(broken)
	rt := s.runtime(s.scimConfig)
	defer func() { rt.Close() }()
	var last string
	for i := range 15 {
		last, _ = s.user(fmt.Sprintf("q%02d", i), "Q", nil)
	}
	s.settle(rt)
	waitFor(t, "the quarantine", func() bool { q, _ := s.ruleEvents(ruleID); return len(q) == 1 })
	q, _ := s.ruleEvents(ruleID)
	if q[0].Total < quarantineMin || q[0].Failures*10 < q[0].Total*8 || !strings.Contains(q[0].Reason, "INVALID") {
		t.Fatalf("quarantine %+v", q[0])
	}
	// A change after the quarantine is skipped, naming it.
	if _, err := s.cmds.UpdateUser.Handle(s.ctx, commands.UpdateUser{EnvironmentID: s.envID, UserID: last,
		Profile: domain.Profile{Username: "q14", Email: "q14@example.com", Name: domain.Name{Given: "Changed"}}}); err != nil {
		t.Fatal(err)
	}
	s.settle(rt)
	out := s.outcomes(ruleID, last)
	sk, ok := out[len(out)-1].(domain.PropagationChangeSkipped)
	if !ok || !strings.HasPrefix(sk.Reason, "rule quarantined: ") {
		t.Fatalf("last outcome of a quarantined rule's order: %#v", out[len(out)-1])
	}

	// Released without a fix: the resync fails again and quarantines it again.
	cmds := commands.NewPropagation(s.deps, commands.PropagationPorts{})
	if _, err := cmds.ReleaseRule.Handle(s.ctx, commands.ReleasePropagationRule{EnvironmentID: s.envID, RuleID: ruleID}); err != nil {
		t.Fatal(err)
	}
	if _, err := cmds.ReleaseRule.Handle(s.ctx, commands.ReleasePropagationRule{EnvironmentID: s.envID, RuleID: ruleID}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("releasing a released rule: %v", err)
	}
	waitFor(t, "the second quarantine", func() bool { q, _ := s.ruleEvents(ruleID); return len(q) == 2 })

	// A publication fixing the mapping releases the rule; its resync converges every user.
	fixed := s.content("", allActions())
	fixed.Rules[0].ID = ruleID
	s.publish(fixed)
	s.settle(rt)
	if _, rel := s.ruleEvents(ruleID); len(rel) != 2 || !strings.HasPrefix(rel[1].Reason, releasedByPublication) {
		t.Fatalf("releases %+v", rel)
	}
	users := listAll(t, s.client(), connectors.KindUser, "userName")
	if len(users) != 15 || users["q03"]["displayName"] != "Q03" {
		t.Fatalf("%d users in the target after the fix: %v", len(users), users["q03"])
	}
}
