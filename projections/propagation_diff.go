package projections

import (
	"maps"
	"slices"
	"strings"

	"github.com/idstream/idstream/domain"
)

// PropagationChange is one difference between two propagation contents.
type PropagationChange struct {
	// Kind is "store", "plan", "rule" or "mapping".
	Kind string
	// Op is "added", "removed" or "changed".
	Op string
	ID string
	// Name is the store's, plan's or rule's name (a mapping's target), from b unless removed.
	Name string
	// RuleID is a mapping's rule.
	RuleID string
	// Fields name what changed (Op "changed"): "name", "config.baseUrl", "actions.create",
	// "credentials" (never their value), "filter", "value"...
	Fields []string
}

// DiffPropagation returns what turns a into b: stores, then plans, rules and mappings, each by
// ID. The mappings of a rule added or removed are not listed apart from it. Pure.
func DiffPropagation(a, b domain.PropagationContent) []PropagationChange {
	a, b = a.Normalize(), b.Normalize()
	var out []PropagationChange
	out = diffByID(out, "store", a.Stores, b.Stores, func(s domain.PropagationStore) (string, string) { return s.ID, s.Name }, storeFields)
	out = diffByID(out, "plan", a.Plans, b.Plans, func(p domain.PropagationPlan) (string, string) { return p.ID, p.Name }, planFields)
	out = diffByID(out, "rule", a.Rules, b.Rules, func(r domain.PropagationRule) (string, string) { return r.ID, r.Name }, ruleFields)
	for _, rb := range b.Rules {
		ra, ok := a.Rule(rb.ID)
		if !ok {
			continue
		}
		for _, c := range diffByID(nil, "mapping", ra.Mappings, rb.Mappings,
			func(m domain.AttributeMapping) (string, string) { return m.ID, m.Target }, mappingFields) {
			c.RuleID = rb.ID
			out = append(out, c)
		}
	}
	return out
}

func diffByID[T any](out []PropagationChange, kind string, a, b []T, key func(T) (id, name string), fields func(x, y T) []string) []PropagationChange {
	byID := make(map[string]T, len(a))
	for _, x := range a {
		id, _ := key(x)
		byID[id] = x
	}
	seen := map[string]bool{}
	for _, y := range b {
		id, name := key(y)
		seen[id] = true
		x, ok := byID[id]
		switch {
		case !ok:
			out = append(out, PropagationChange{Kind: kind, Op: "added", ID: id, Name: name})
		default:
			if f := fields(x, y); len(f) > 0 {
				out = append(out, PropagationChange{Kind: kind, Op: "changed", ID: id, Name: name, Fields: f})
			}
		}
	}
	for _, x := range a {
		if id, name := key(x); !seen[id] {
			out = append(out, PropagationChange{Kind: kind, Op: "removed", ID: id, Name: name})
		}
	}
	return out
}

// fieldList collects the names of the fields that differ.
type fieldList []string

func (f *fieldList) add(name string, differs bool) {
	if differs {
		*f = append(*f, name)
	}
}

func storeFields(a, b domain.PropagationStore) []string {
	var f fieldList
	f.add("name", a.Name != b.Name)
	f.add("description", a.Description != b.Description)
	f.add("type", a.Type != b.Type)
	f.addConfig("config.", a.Config, b.Config)
	f.add("credentials", a.CredentialsVersion != b.CredentialsVersion || a.Credentials != b.Credentials)
	f.add("status", a.Status != b.Status)
	f.add("managed", a.Managed != b.Managed)
	x, y := a.Actions, b.Actions
	f.add("actions.create", x.Create != y.Create)
	f.add("actions.update", x.Update != y.Update)
	f.add("actions.disable", x.Disable != y.Disable)
	f.add("actions.deprovision", x.Deprovision != y.Deprovision)
	f.add("actions.removeAction", x.RemoveAction != y.RemoveAction)
	f.add("actions.provisionDisabled", x.ProvisionDisabled != y.ProvisionDisabled)
	var sa, sb domain.StoreSafety
	if a.Safety != nil {
		sa = *a.Safety
	}
	if b.Safety != nil {
		sb = *b.Safety
	}
	f.add("safety.maxRemovalsPerHour", sa.MaxRemovalsPerHour != sb.MaxRemovalsPerHour)
	f.add("safety.maxRemovalsPerPublish", sa.MaxRemovalsPerPublish != sb.MaxRemovalsPerPublish)
	f.add("safety.writesPerMinute", sa.WritesPerMinute != sb.WritesPerMinute)
	return f
}

// addConfig adds prefix+key for every key whose value differs between a and b (or is in one
// only).
func (f *fieldList) addConfig(prefix string, a, b map[string]string) {
	keys := slices.Sorted(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		va, oka := a[k]
		vb, okb := b[k]
		f.add(prefix+k, va != vb || oka != okb)
	}
}

func planFields(a, b domain.PropagationPlan) []string {
	var f fieldList
	f.add("name", a.Name != b.Name)
	f.add("description", a.Description != b.Description)
	f.add("status", a.Status != b.Status)
	return f
}

func ruleFields(a, b domain.PropagationRule) []string {
	var f fieldList
	f.add("planId", a.PlanID != b.PlanID)
	f.add("name", a.Name != b.Name)
	f.add("sourceStoreId", a.SourceStoreID != b.SourceStoreID)
	f.add("targetStoreId", a.TargetStoreID != b.TargetStoreID)
	f.add("filter", a.Filter != b.Filter)
	f.add("groupIds", !slices.Equal(a.GroupIDs, b.GroupIDs))
	f.add("active", a.Active != b.Active)
	f.add("correlationAttribute", a.CorrelationAttribute != b.CorrelationAttribute)
	f.add("driftPolicy", a.DriftPolicy != b.DriftPolicy)
	f.addConfig("targetConfig.", a.TargetConfig, b.TargetConfig)
	return f
}

func mappingFields(a, b domain.AttributeMapping) []string {
	var f fieldList
	f.add("target", a.Target != b.Target)
	f.add("source", a.Source != b.Source)
	f.add("value", a.Value != b.Value)
	f.add("applyOn", a.ApplyOn != b.ApplyOn)
	f.add("default", a.Default != b.Default)
	return f
}

// String renders a change for logs and tests: "changed store s1 (App): name, credentials".
func (c PropagationChange) String() string {
	s := c.Op + " " + c.Kind + " " + c.ID
	if c.Name != "" {
		s += " (" + c.Name + ")"
	}
	if len(c.Fields) > 0 {
		s += ": " + strings.Join(c.Fields, ", ")
	}
	return s
}
