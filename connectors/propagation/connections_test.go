package propagation

import (
	"testing"

	"github.com/idstream/idstream/domain"
)

// A rule's TargetConfig overrides its store's configuration for that rule only, in a connector
// slot of its own; rules without one share the store's connector.
func TestRuleTargetConfig(t *testing.T) {
	rev := domain.PropagationRevisionPublished{RevisionID: "rev1", Content: domain.PropagationContent{
		Stores: []domain.PropagationStore{{ID: "ldap", Type: domain.StoreLDAP, Config: map[string]string{"url": "ldap://x", "usersBaseDN": "ou=people"}}},
		Rules: []domain.PropagationRule{
			{ID: "r1", TargetStoreID: "ldap"},
			{ID: "r2", TargetStoreID: "ldap", TargetConfig: map[string]string{"usersBaseDN": "ou=staff"}},
		}}}
	c := compileRevision(rev)
	r1, r2 := c.rules["r1"], c.rules["r2"]
	if got := r1.target.Config["usersBaseDN"]; got != "ou=people" {
		t.Fatalf("r1 base DN = %q, want the store's", got)
	}
	if got := r2.target.Config["usersBaseDN"]; got != "ou=staff" || r2.target.Config["url"] != "ldap://x" {
		t.Fatalf("r2 config = %v, want the store's url and the rule's base DN", r2.target.Config)
	}
	if got := c.stores["ldap"].Config["usersBaseDN"]; got != "ou=people" {
		t.Fatalf("the override leaked into the store's own configuration: %q", got)
	}
	if connSlot(r1.rule) != "ldap" || connSlot(r2.rule) == connSlot(r1.rule) {
		t.Fatalf("slots: r1 %q, r2 %q", connSlot(r1.rule), connSlot(r2.rule))
	}
	if storeKey(r1.target) == storeKey(r2.target) {
		t.Fatal("the two configurations have one key")
	}
}
