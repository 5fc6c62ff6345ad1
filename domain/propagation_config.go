package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of a propagation configuration, so that a revision (one event holding the whole
// content) stays small.
const (
	MaxPropagationStores   = 100
	MaxPropagationPlans    = 100
	MaxPropagationRules    = 500
	MaxRuleMappings        = 200
	MaxRuleGroups          = 100
	MaxStoreConfigEntries  = 64
	maxConfigKey           = 64
	maxConfigValue         = 2048
	maxRuleFilter          = 4096
	maxMappingTarget       = 256
	maxMappingValue        = 4096
	maxMappingDefault      = 1024
	DefaultCorrelationAttr = "userName"
)

// Propagation is the aggregate of an environment's propagation configuration, folded from
// propagation-<environment id>: the draft (stores, plans, rules and their mappings) and the
// published revisions. Its decision methods validate against the draft and return the events to
// append; they never change it (Apply does).
//
// Invariants kept by the decisions:
//   - store and plan names are unique in the environment, any case; there is one DIRECTORY store
//     at most (the environment's own directory);
//   - a rule's plan and stores exist; its source is the DIRECTORY store, its target is not;
//   - a rule's mapping targets are unique (any case); a rule with mappings maps its correlation
//     attribute, and every rule must before a publish;
//   - a Slack store never has remove action DELETE (Slack only deactivates users);
//   - a store used by a rule is not deleted, except a MANAGED store: deleting one is how
//     deprovisioning is asked for, so it deletes the rules targeting it too (one rule_deleted
//     each, then store_deleted with Deprovision set) and, once published, the runtime removes
//     the accounts idstream created there;
//   - a plan holding rules is not deleted.
type Propagation struct {
	EnvironmentID string
	stores        map[string]PropagationStore
	plans         map[string]PropagationPlan
	rules         map[string]PropagationRule
	// credVersion is the highest credentials version each store ever had (never decreases).
	credVersion map[string]int
	revisions   []PropagationRevisionPublished
}

func (p *Propagation) init() {
	if p.stores == nil {
		p.stores, p.plans, p.rules, p.credVersion = map[string]PropagationStore{}, map[string]PropagationPlan{},
			map[string]PropagationRule{}, map[string]int{}
	}
}

// Apply folds one event payload into the state; other payloads are ignored.
func (p *Propagation) Apply(event any) {
	p.init()
	switch ev := event.(type) {
	case PropagationStoreCreated:
		p.EnvironmentID = ev.EnvironmentID
		p.stores[ev.Store.ID] = cloneStore(ev.Store)
	case PropagationStoreUpdated:
		s := cloneStore(ev.Store)
		old := p.stores[s.ID]
		s.Credentials, s.CredentialsVersion = old.Credentials, old.CredentialsVersion
		p.stores[s.ID] = s
	case PropagationStoreCredentialsSet:
		s := p.stores[ev.StoreID]
		s.Credentials, s.CredentialsVersion = ev.Credentials, ev.Version
		p.stores[ev.StoreID] = s
		p.credVersion[ev.StoreID] = max(p.credVersion[ev.StoreID], ev.Version)
	case PropagationStoreDeleted:
		delete(p.stores, ev.StoreID)
	case PropagationPlanCreated:
		p.EnvironmentID = ev.EnvironmentID
		p.plans[ev.Plan.ID] = ev.Plan
	case PropagationPlanUpdated:
		p.plans[ev.Plan.ID] = ev.Plan
	case PropagationPlanDeleted:
		delete(p.plans, ev.PlanID)
	case PropagationRuleCreated:
		p.rules[ev.Rule.ID] = cloneRule(ev.Rule)
	case PropagationRuleUpdated:
		p.rules[ev.Rule.ID] = cloneRule(ev.Rule)
	case PropagationRuleDeleted:
		delete(p.rules, ev.RuleID)
	case PropagationMappingSet:
		r := cloneRule(p.rules[ev.RuleID])
		if i := slices.IndexFunc(r.Mappings, func(m AttributeMapping) bool { return m.ID == ev.Mapping.ID }); i >= 0 {
			r.Mappings[i] = ev.Mapping
		} else {
			r.Mappings = append(r.Mappings, ev.Mapping)
		}
		p.rules[ev.RuleID] = r
	case PropagationMappingRemoved:
		r := cloneRule(p.rules[ev.RuleID])
		r.Mappings = slices.DeleteFunc(r.Mappings, func(m AttributeMapping) bool { return m.ID == ev.MappingID })
		p.rules[ev.RuleID] = r
	case PropagationDraftReset:
		p.EnvironmentID = ev.EnvironmentID
		clear(p.stores)
		clear(p.plans)
		clear(p.rules)
		c := ev.Content.Normalize()
		for _, s := range c.Stores {
			p.stores[s.ID] = s
			p.credVersion[s.ID] = max(p.credVersion[s.ID], s.CredentialsVersion)
		}
		for _, pl := range c.Plans {
			p.plans[pl.ID] = pl
		}
		for _, r := range c.Rules {
			p.rules[r.ID] = r
		}
	case PropagationRevisionPublished:
		p.EnvironmentID = ev.EnvironmentID
		p.revisions = append(p.revisions, ev)
	}
}

// Content returns the draft, normalized (a copy: changing it changes nothing here).
func (p *Propagation) Content() PropagationContent {
	c := PropagationContent{}
	for _, s := range p.stores {
		c.Stores = append(c.Stores, s)
	}
	for _, pl := range p.plans {
		c.Plans = append(c.Plans, pl)
	}
	for _, r := range p.rules {
		c.Rules = append(c.Rules, r)
	}
	return c.Normalize()
}

// Store returns store id of the draft.
func (p *Propagation) Store(id string) (PropagationStore, bool) {
	s, ok := p.stores[id]
	return cloneStore(s), ok
}

// Plan returns plan id of the draft.
func (p *Propagation) Plan(id string) (PropagationPlan, bool) {
	pl, ok := p.plans[id]
	return pl, ok
}

// Rule returns rule id of the draft.
func (p *Propagation) Rule(id string) (PropagationRule, bool) {
	r, ok := p.rules[id]
	return cloneRule(r), ok
}

// Revisions returns the published revisions, oldest first.
func (p *Propagation) Revisions() []PropagationRevisionPublished { return slices.Clone(p.revisions) }

// Revision returns published revision id.
func (p *Propagation) Revision(id string) (PropagationRevisionPublished, bool) {
	i := slices.IndexFunc(p.revisions, func(r PropagationRevisionPublished) bool { return r.RevisionID == id })
	if i < 0 {
		return PropagationRevisionPublished{}, false
	}
	return p.revisions[i], true
}

// Published returns the latest published revision.
func (p *Propagation) Published() (PropagationRevisionPublished, bool) {
	if len(p.revisions) == 0 {
		return PropagationRevisionPublished{}, false
	}
	return p.revisions[len(p.revisions)-1], true
}

// Normalize returns a deep copy of c with every list sorted by ID (a rule's group IDs sorted)
// and nil lists empty.
func (c PropagationContent) Normalize() PropagationContent {
	out := PropagationContent{Stores: []PropagationStore{}, Plans: []PropagationPlan{}, Rules: []PropagationRule{}}
	for _, s := range c.Stores {
		out.Stores = append(out.Stores, cloneStore(s))
	}
	out.Plans = append(out.Plans, c.Plans...)
	for _, r := range c.Rules {
		r = cloneRule(r)
		slices.Sort(r.GroupIDs)
		slices.SortFunc(r.Mappings, func(a, b AttributeMapping) int { return strings.Compare(a.ID, b.ID) })
		out.Rules = append(out.Rules, r)
	}
	slices.SortFunc(out.Stores, func(a, b PropagationStore) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(out.Plans, func(a, b PropagationPlan) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(out.Rules, func(a, b PropagationRule) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Hash returns "sha256:<hex>" of c's canonical JSON (normalized). Credentials are left out (a
// sealed value differs at each seal); their CredentialsVersion is in, so setting credentials
// changes the hash and equal hashes mean the same credentials.
func (c PropagationContent) Hash() string {
	n := c.Normalize()
	for i := range n.Stores {
		n.Stores[i].Credentials = ""
	}
	for i := range n.Rules {
		if n.Rules[i].GroupIDs == nil {
			n.Rules[i].GroupIDs = []string{}
		}
		if n.Rules[i].Mappings == nil {
			n.Rules[i].Mappings = []AttributeMapping{}
		}
	}
	b, err := json.Marshal(n)
	if err != nil { // strings, numbers, booleans and string maps only: cannot fail
		panic("domain: encode propagation content: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Store returns store id of c.
func (c PropagationContent) Store(id string) (PropagationStore, bool) {
	i := slices.IndexFunc(c.Stores, func(s PropagationStore) bool { return s.ID == id })
	if i < 0 {
		return PropagationStore{}, false
	}
	return c.Stores[i], true
}

// Plan returns plan id of c.
func (c PropagationContent) Plan(id string) (PropagationPlan, bool) {
	i := slices.IndexFunc(c.Plans, func(p PropagationPlan) bool { return p.ID == id })
	if i < 0 {
		return PropagationPlan{}, false
	}
	return c.Plans[i], true
}

// Rule returns rule id of c.
func (c PropagationContent) Rule(id string) (PropagationRule, bool) {
	i := slices.IndexFunc(c.Rules, func(r PropagationRule) bool { return r.ID == id })
	if i < 0 {
		return PropagationRule{}, false
	}
	return c.Rules[i], true
}

func cloneStore(s PropagationStore) PropagationStore {
	s.Config = maps.Clone(s.Config)
	if s.Safety != nil {
		safety := *s.Safety
		s.Safety = &safety
	}
	return s
}

func cloneRule(r PropagationRule) PropagationRule {
	r.GroupIDs = slices.Clone(r.GroupIDs)
	r.Mappings = slices.Clone(r.Mappings)
	r.TargetConfig = maps.Clone(r.TargetConfig)
	return r
}

func sameKey(a, b string) bool { return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b)) }

// boundedText checks an optional free text: valid UTF-8, no control characters, at most n
// characters.
func boundedText(field, v string, n int, required bool) error {
	switch c := utf8.RuneCountInString(v); {
	case !utf8.ValidString(v):
		return Invalidf(field, "must be valid UTF-8")
	case required && strings.TrimSpace(v) == "":
		return Invalidf(field, "is required")
	case c > n:
		return Invalidf(field, "must be at most %d characters, got %d", n, c)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return Invalidf(field, "must not contain control characters")
	}
	return nil
}

func notFoundField(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...), Kind: ErrNotFound}
}
