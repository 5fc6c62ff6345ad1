package domain

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Decisions of the Propagation aggregate. Each validates its input against the draft and
// returns the events to append (none when nothing changes) or an error joining every problem:
// ErrInvalid naming the field, ErrNotFound for a missing store, plan, rule or mapping, ErrConflict
// for a name taken or a deletion refused. IDs are the caller's (generated outside the domain).

// CreateStore decides a new store s (s.ID set by the caller). Empty Status is ACTIVE, empty
// Actions.RemoveAction is DISABLE; Credentials are ignored (SetStoreCredentials sets them).
func (p *Propagation) CreateStore(env string, s PropagationStore) ([]any, error) {
	p.init()
	if len(p.stores) >= MaxPropagationStores {
		return nil, Conflictf("an environment holds at most %d propagation stores", MaxPropagationStores)
	}
	s, err := p.checkStore(s, "")
	if err != nil {
		return nil, err
	}
	return []any{PropagationStoreCreated{EnvironmentID: env, Store: s}}, nil
}

// UpdateStore decides store s's new non-secret configuration (its type cannot change: INVALID
// on "type"). Credentials are kept.
func (p *Propagation) UpdateStore(env string, s PropagationStore) ([]any, error) {
	p.init()
	old, ok := p.stores[s.ID]
	if !ok {
		return nil, notFoundField("storeId", "no propagation store %s", s.ID)
	}
	if s.Type != old.Type {
		return nil, Invalidf("type", "a store's type cannot change (%s)", old.Type)
	}
	s, err := p.checkStore(s, s.ID)
	if err != nil {
		return nil, err
	}
	s.Credentials, s.CredentialsVersion = old.Credentials, old.CredentialsVersion
	if sameStore(old, s) {
		return nil, nil
	}
	s.Credentials, s.CredentialsVersion = "", 0
	return []any{PropagationStoreUpdated{EnvironmentID: env, Store: s}}, nil
}

func sameStore(a, b PropagationStore) bool {
	return a.Name == b.Name && a.Description == b.Description && a.Type == b.Type && maps.Equal(a.Config, b.Config) &&
		a.Status == b.Status && a.Managed == b.Managed && a.Actions == b.Actions && safetyOf(a) == safetyOf(b)
}

// safetyOf is a store's safety rails (zero: none).
func safetyOf(s PropagationStore) StoreSafety {
	if s.Safety == nil {
		return StoreSafety{}
	}
	return *s.Safety
}

// checkStore validates s and returns it with defaults; self is s's own ID when updating.
func (p *Propagation) checkStore(s PropagationStore, self string) (PropagationStore, error) {
	var errs []error
	name, err := ValidateName("name", s.Name)
	s.Name = name
	errs = append(errs, err, validateDescription("description", s.Description))
	if s.Status == "" {
		s.Status = StoreActive
	}
	if s.Actions.RemoveAction == "" {
		s.Actions.RemoveAction = RemoveDisable
	}
	switch s.Type {
	case StoreDirectory:
		if s.Managed {
			errs = append(errs, Invalidf("managed", "a DIRECTORY store is a source: it cannot be managed"))
		}
	case StoreSCIM, StoreZoom, StoreLDAP, StoreSQL:
	case StoreSlack:
		if s.Actions.RemoveAction == RemoveDelete {
			errs = append(errs, Invalidf("actions.removeAction", "Slack only deactivates users: DELETE is not supported, use DISABLE"))
		}
	default:
		errs = append(errs, Invalidf("type", "unknown store type %q (DIRECTORY, SCIM, SLACK, ZOOM, LDAP or SQL)", s.Type))
	}
	if s.Status != StoreActive && s.Status != StoreInactive {
		errs = append(errs, Invalidf("status", "unknown status %q (ACTIVE or INACTIVE)", s.Status))
	}
	if s.Actions.RemoveAction != RemoveDisable && s.Actions.RemoveAction != RemoveDelete {
		errs = append(errs, Invalidf("actions.removeAction", "unknown remove action %q (DISABLE or DELETE)", s.Actions.RemoveAction))
	}
	errs = append(errs, checkSafety(s.Safety)...)
	if s.Safety != nil && *s.Safety == (StoreSafety{}) {
		s.Safety = nil
	}
	errs = append(errs, checkConfigMap("config", s.Config)...)
	for _, o := range p.stores {
		if o.ID == self {
			continue
		}
		if name != "" && sameKey(o.Name, name) {
			errs = append(errs, FieldConflictf("name", "store %q already exists (%s)", o.Name, o.ID))
		}
		if s.Type == StoreDirectory && o.Type == StoreDirectory {
			errs = append(errs, FieldConflictf("type", "the environment already has its DIRECTORY store %q (%s)", o.Name, o.ID))
		}
	}
	if err := FieldErrors(errs...); err != nil {
		return s, err
	}
	if len(s.Config) == 0 {
		s.Config = nil
	}
	s.Credentials, s.CredentialsVersion = "", 0
	return s, nil
}

// SetStoreCredentials decides store id's new credentials, sealed by the caller; their version is
// one more than any the store ever had.
func (p *Propagation) SetStoreCredentials(env, id, sealed string) ([]any, error) {
	p.init()
	if _, ok := p.stores[id]; !ok {
		return nil, notFoundField("storeId", "no propagation store %s", id)
	}
	if sealed == "" {
		return nil, Invalidf("credentials", "is required")
	}
	return []any{PropagationStoreCredentialsSet{EnvironmentID: env, StoreID: id, Credentials: sealed, Version: p.credVersion[id] + 1}}, nil
}

// DeleteStore decides the deletion of store id. A store used by rules is CONFLICT naming them,
// unless it is managed and only their target: then the rules are deleted with it and the
// deletion asks for deprovisioning (see Propagation).
func (p *Propagation) DeleteStore(env, id string) ([]any, error) {
	p.init()
	s, ok := p.stores[id]
	if !ok {
		return nil, notFoundField("storeId", "no propagation store %s", id)
	}
	var users []PropagationRule
	for _, r := range p.Content().Rules {
		if r.SourceStoreID == id || r.TargetStoreID == id {
			users = append(users, r)
		}
	}
	var out []any
	if len(users) > 0 {
		if !s.Managed {
			return nil, Conflictf("store %q is used by %s: delete them first (or make the store managed to deprovision it)", s.Name, ruleNames(users))
		}
		for _, r := range users {
			out = append(out, PropagationRuleDeleted{EnvironmentID: env, RuleID: r.ID})
		}
	}
	return append(out, PropagationStoreDeleted{EnvironmentID: env, StoreID: id, Deprovision: s.Managed}), nil
}

func ruleNames(rules []PropagationRule) string {
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = fmt.Sprintf("rule %q (%s)", r.Name, r.ID)
	}
	return strings.Join(names, ", ")
}

// CreatePlan decides a new plan (empty Status: ACTIVE).
func (p *Propagation) CreatePlan(env string, pl PropagationPlan) ([]any, error) {
	p.init()
	if len(p.plans) >= MaxPropagationPlans {
		return nil, Conflictf("an environment holds at most %d propagation plans", MaxPropagationPlans)
	}
	pl, err := p.checkPlan(pl, "")
	if err != nil {
		return nil, err
	}
	return []any{PropagationPlanCreated{EnvironmentID: env, Plan: pl}}, nil
}

// UpdatePlan decides plan pl's new name, description and status.
func (p *Propagation) UpdatePlan(env string, pl PropagationPlan) ([]any, error) {
	p.init()
	old, ok := p.plans[pl.ID]
	if !ok {
		return nil, notFoundField("planId", "no propagation plan %s", pl.ID)
	}
	pl, err := p.checkPlan(pl, pl.ID)
	if err != nil || pl == old {
		return nil, err
	}
	return []any{PropagationPlanUpdated{EnvironmentID: env, Plan: pl}}, nil
}

func (p *Propagation) checkPlan(pl PropagationPlan, self string) (PropagationPlan, error) {
	name, err := ValidateName("name", pl.Name)
	pl.Name = name
	errs := []error{err, validateDescription("description", pl.Description)}
	if pl.Status == "" {
		pl.Status = PlanActive
	}
	if pl.Status != PlanActive && pl.Status != PlanInactive {
		errs = append(errs, Invalidf("status", "unknown status %q (ACTIVE or INACTIVE)", pl.Status))
	}
	for _, o := range p.plans {
		if o.ID != self && name != "" && sameKey(o.Name, name) {
			errs = append(errs, FieldConflictf("name", "plan %q already exists (%s)", o.Name, o.ID))
		}
	}
	return pl, FieldErrors(errs...)
}

// DeletePlan decides the deletion of plan id; a plan holding rules is CONFLICT naming them.
func (p *Propagation) DeletePlan(env, id string) ([]any, error) {
	p.init()
	pl, ok := p.plans[id]
	if !ok {
		return nil, notFoundField("planId", "no propagation plan %s", id)
	}
	var held []PropagationRule
	for _, r := range p.Content().Rules {
		if r.PlanID == id {
			held = append(held, r)
		}
	}
	if len(held) > 0 {
		return nil, Conflictf("plan %q holds %s: delete them first", pl.Name, ruleNames(held))
	}
	return []any{PropagationPlanDeleted{EnvironmentID: env, PlanID: id}}, nil
}

// CreateRule decides a new rule r with its initial mappings (each with its ID set by the
// caller). Empty CorrelationAttribute is "userName".
func (p *Propagation) CreateRule(env string, r PropagationRule) ([]any, error) {
	p.init()
	if len(p.rules) >= MaxPropagationRules {
		return nil, Conflictf("an environment holds at most %d propagation rules", MaxPropagationRules)
	}
	r, err := p.checkRule(r)
	if err != nil {
		return nil, err
	}
	return []any{PropagationRuleCreated{EnvironmentID: env, Rule: r}}, nil
}

// UpdateRule decides rule r's new plan, name, stores, filter, groups, active flag and
// correlation attribute; its mappings stay as they are (r.Mappings is ignored).
func (p *Propagation) UpdateRule(env string, r PropagationRule) ([]any, error) {
	p.init()
	old, ok := p.rules[r.ID]
	if !ok {
		return nil, notFoundField("ruleId", "no propagation rule %s", r.ID)
	}
	r.Mappings = old.Mappings
	r, err := p.checkRule(r)
	if err != nil {
		return nil, err
	}
	if sameRule(old, r) {
		return nil, nil
	}
	return []any{PropagationRuleUpdated{EnvironmentID: env, Rule: r}}, nil
}

func sameRule(a, b PropagationRule) bool {
	a, b = cloneRule(a), cloneRule(b)
	slices.Sort(a.GroupIDs)
	slices.Sort(b.GroupIDs)
	return a.PlanID == b.PlanID && a.Name == b.Name && a.SourceStoreID == b.SourceStoreID && a.TargetStoreID == b.TargetStoreID &&
		a.Filter == b.Filter && slices.Equal(a.GroupIDs, b.GroupIDs) && a.Active == b.Active &&
		a.CorrelationAttribute == b.CorrelationAttribute && slices.Equal(a.Mappings, b.Mappings) &&
		a.DriftPolicy == b.DriftPolicy && maps.Equal(a.TargetConfig, b.TargetConfig)
}

func (p *Propagation) checkRule(r PropagationRule) (PropagationRule, error) {
	name, err := ValidateName("name", r.Name)
	r.Name = name
	errs := []error{err}
	if _, ok := p.plans[r.PlanID]; !ok {
		errs = append(errs, notFoundField("planId", "no propagation plan %s", r.PlanID))
	}
	switch src, ok := p.stores[r.SourceStoreID]; {
	case !ok:
		errs = append(errs, notFoundField("sourceStoreId", "no propagation store %s", r.SourceStoreID))
	case src.Type != StoreDirectory:
		errs = append(errs, Invalidf("sourceStoreId", "store %q is a %s store: a rule's source is the DIRECTORY store", src.Name, src.Type))
	}
	switch dst, ok := p.stores[r.TargetStoreID]; {
	case !ok:
		errs = append(errs, notFoundField("targetStoreId", "no propagation store %s", r.TargetStoreID))
	case dst.Type == StoreDirectory:
		errs = append(errs, Invalidf("targetStoreId", "store %q is the DIRECTORY store: a rule's target is another store", dst.Name))
	}
	if err := boundedText("filter", r.Filter, maxRuleFilter, false); err != nil {
		errs = append(errs, err)
	}
	r.Filter = strings.TrimSpace(r.Filter)
	switch r.DriftPolicy {
	case "", DriftReport:
		r.DriftPolicy = ""
	case DriftOverwrite:
	default:
		errs = append(errs, Invalidf("driftPolicy", "unknown drift policy %q (REPORT or OVERWRITE)", r.DriftPolicy))
	}
	errs = append(errs, checkConfigMap("targetConfig", r.TargetConfig)...)
	if len(r.TargetConfig) == 0 {
		r.TargetConfig = nil
	}
	if len(r.GroupIDs) > MaxRuleGroups {
		errs = append(errs, Invalidf("groupIds", "at most %d groups, got %d", MaxRuleGroups, len(r.GroupIDs)))
	}
	r.GroupIDs = slices.Compact(slices.Sorted(slices.Values(r.GroupIDs)))
	for i, g := range r.GroupIDs {
		if strings.TrimSpace(g) == "" {
			errs = append(errs, Invalidf(fmt.Sprintf("groupIds[%d]", i), "is empty"))
		}
	}
	if len(r.GroupIDs) == 0 {
		r.GroupIDs = nil
	}
	r.CorrelationAttribute = strings.TrimSpace(r.CorrelationAttribute)
	if r.CorrelationAttribute == "" {
		r.CorrelationAttribute = DefaultCorrelationAttr
	}
	if err := boundedText("correlationAttribute", r.CorrelationAttribute, maxMappingTarget, true); err != nil {
		errs = append(errs, err)
	}
	if len(r.Mappings) > MaxRuleMappings {
		errs = append(errs, Invalidf("mappings", "at most %d mappings, got %d", MaxRuleMappings, len(r.Mappings)))
	}
	for i := range r.Mappings {
		m, err := checkMapping(fmt.Sprintf("mappings[%d].", i), r.Mappings[i])
		r.Mappings[i] = m
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for j := range i {
			switch {
			case r.Mappings[j].ID == m.ID:
				errs = append(errs, Invalidf(fmt.Sprintf("mappings[%d].id", i), "duplicates mappings[%d]", j))
			case sameKey(r.Mappings[j].Target, m.Target):
				errs = append(errs, Invalidf(fmt.Sprintf("mappings[%d].target", i), "%q is already mapped by mappings[%d]", m.Target, j))
			}
		}
	}
	if len(r.Mappings) > 0 && !mapsCorrelation(r) {
		errs = append(errs, Invalidf("correlationAttribute", "%q is not mapped: map it, or name a mapped attribute", r.CorrelationAttribute))
	}
	return r, FieldErrors(errs...)
}

func mapsCorrelation(r PropagationRule) bool {
	return slices.ContainsFunc(r.Mappings, func(m AttributeMapping) bool { return sameKey(m.Target, r.CorrelationAttribute) })
}

// checkMapping validates m, fields named under prefix ("", "mappings[2]."), and returns it with
// defaults (ApplyOn ALWAYS).
func checkMapping(prefix string, m AttributeMapping) (AttributeMapping, error) {
	var errs []error
	if strings.TrimSpace(m.ID) == "" {
		errs = append(errs, Invalidf(prefix+"id", "is required"))
	}
	m.Target = strings.TrimSpace(m.Target)
	errs = append(errs, boundedText(prefix+"target", m.Target, maxMappingTarget, true))
	switch m.Source {
	case MapAttribute, MapExpression:
		errs = append(errs, boundedText(prefix+"value", m.Value, maxMappingValue, true))
	case MapConstant:
		if err := boundedText(prefix+"value", m.Value, maxMappingValue, false); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, Invalidf(prefix+"source", "unknown mapping source %q (ATTRIBUTE, CONSTANT or EXPRESSION)", m.Source))
	}
	if m.ApplyOn == "" {
		m.ApplyOn = ApplyAlways
	}
	if m.ApplyOn != ApplyAlways && m.ApplyOn != ApplyOnCreate {
		errs = append(errs, Invalidf(prefix+"applyOn", "unknown value %q (ALWAYS or ON_CREATE)", m.ApplyOn))
	}
	if err := boundedText(prefix+"default", m.Default, maxMappingDefault, false); err != nil {
		errs = append(errs, err)
	}
	return m, FieldErrors(errs...)
}

// DeleteRule decides the deletion of rule id and its mappings.
func (p *Propagation) DeleteRule(env, id string) ([]any, error) {
	p.init()
	if _, ok := p.rules[id]; !ok {
		return nil, notFoundField("ruleId", "no propagation rule %s", id)
	}
	return []any{PropagationRuleDeleted{EnvironmentID: env, RuleID: id}}, nil
}

// SetMapping decides mapping m of rule ruleID: it replaces the mapping of the same ID, else it
// is added. Its target must not be another mapping's of the rule (any case). Changing or
// removing the mapping of the correlation attribute is allowed here; Publish refuses a rule that
// does not map it.
func (p *Propagation) SetMapping(env, ruleID string, m AttributeMapping) ([]any, error) {
	p.init()
	r, ok := p.rules[ruleID]
	if !ok {
		return nil, notFoundField("ruleId", "no propagation rule %s", ruleID)
	}
	m, err := checkMapping("", m)
	if err != nil {
		return nil, err
	}
	replaces := false
	for _, o := range r.Mappings {
		if o.ID == m.ID {
			if o == m {
				return nil, nil
			}
			replaces = true
			continue
		}
		if sameKey(o.Target, m.Target) {
			return nil, FieldConflictf("target", "%q is already mapped by mapping %s", o.Target, o.ID)
		}
	}
	if !replaces && len(r.Mappings) >= MaxRuleMappings {
		return nil, Conflictf("rule %q already has %d mappings, the most a rule holds", r.Name, MaxRuleMappings)
	}
	return []any{PropagationMappingSet{EnvironmentID: env, RuleID: ruleID, Mapping: m}}, nil
}

// RemoveMapping decides the removal of mapping mappingID of rule ruleID.
func (p *Propagation) RemoveMapping(env, ruleID, mappingID string) ([]any, error) {
	p.init()
	r, ok := p.rules[ruleID]
	if !ok {
		return nil, notFoundField("ruleId", "no propagation rule %s", ruleID)
	}
	if !slices.ContainsFunc(r.Mappings, func(m AttributeMapping) bool { return m.ID == mappingID }) {
		return nil, notFoundField("mappingId", "rule %q has no mapping %s", r.Name, mappingID)
	}
	return []any{PropagationMappingRemoved{EnvironmentID: env, RuleID: ruleID, MappingID: mappingID}}, nil
}

// Publish decides revision id: the draft's snapshot, numbered and chained by hash to the latest
// revision. An unchanged draft (the latest revision's hash, or an empty draft before any
// revision) is CONFLICT "nothing to publish"; a draft that is not runnable (a rule not mapping
// its correlation attribute) is CONFLICT naming the rules.
func (p *Propagation) Publish(env, id, description string) ([]any, error) {
	p.init()
	if err := validateDescription("description", description); err != nil {
		return nil, err
	}
	c := p.Content()
	hash := c.Hash()
	last, published := p.Published()
	switch {
	case published && last.ContentHash == hash:
		return nil, Conflictf("nothing to publish: the draft is revision %d's content", last.Number)
	case !published && len(c.Stores)+len(c.Plans)+len(c.Rules) == 0:
		return nil, Conflictf("nothing to publish: the draft is empty")
	}
	if err := publishable(c); err != nil {
		return nil, err
	}
	return []any{p.revision(env, id, description, c, hash, "")}, nil
}

func (p *Propagation) revision(env, id, description string, c PropagationContent, hash, restoredFrom string) PropagationRevisionPublished {
	ev := PropagationRevisionPublished{EnvironmentID: env, RevisionID: id, Number: len(p.revisions) + 1,
		Description: description, Content: c, ContentHash: hash, RestoredFrom: restoredFrom}
	if last, ok := p.Published(); ok {
		ev.PreviousRevisionID, ev.PreviousHash = last.RevisionID, last.ContentHash
	}
	return ev
}

// publishable reports the rules of c that could not run.
func publishable(c PropagationContent) error {
	var bad []PropagationRule
	for _, r := range c.Rules {
		if !mapsCorrelation(r) {
			bad = append(bad, r)
		}
	}
	if len(bad) > 0 {
		return Conflictf("the draft cannot be published: %s do not map their correlation attribute", ruleNames(bad))
	}
	return nil
}

// Rollback decides bringing revision revisionID back: the draft is reset to its content (each
// store keeping its current credentials) and
// that content is published again as revision newID (RestoredFrom revisionID), in one append.
// When the latest revision already has that content only the draft is reset (dropping the
// draft's edits); when the draft has it too, it is CONFLICT "nothing to roll back". An unknown
// revision is NOT_FOUND on "revisionId".
func (p *Propagation) Rollback(env, revisionID, newID, description string) ([]any, error) {
	p.init()
	rev, ok := p.Revision(revisionID)
	if !ok {
		return nil, notFoundField("revisionId", "no propagation revision %s in this environment", revisionID)
	}
	if err := validateDescription("description", description); err != nil {
		return nil, err
	}
	if description == "" {
		description = fmt.Sprintf("rollback to revision %d", rev.Number)
	}
	content := rev.Content.Normalize()
	// Credentials are secrets, not configuration: a rollback keeps each store's current ones
	// (a token revoked by a rotation must not come back).
	current := p.Content()
	for i, s := range content.Stores {
		for _, c := range current.Stores {
			if c.ID == s.ID {
				content.Stores[i].Credentials, content.Stores[i].CredentialsVersion = c.Credentials, c.CredentialsVersion
			}
		}
	}
	hash := content.Hash()
	var out []any
	if current.Hash() != hash {
		out = append(out, PropagationDraftReset{EnvironmentID: env, RevisionID: rev.RevisionID, Content: content})
	}
	if last, _ := p.Published(); last.ContentHash != hash {
		out = append(out, p.revision(env, newID, description, content, hash, rev.RevisionID))
	}
	if len(out) == 0 {
		return nil, Conflictf("nothing to roll back: the draft and the latest revision are revision %d's content", rev.Number)
	}
	return out, nil
}

// checkConfigMap checks a store's configuration or a rule's target configuration: bounded
// entries of bounded text.
func checkConfigMap(field string, m map[string]string) []error {
	var errs []error
	if len(m) > MaxStoreConfigEntries {
		errs = append(errs, Invalidf(field, "at most %d entries, got %d", MaxStoreConfigEntries, len(m)))
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if err := boundedText(field, k, maxConfigKey, true); err != nil {
			errs = append(errs, err)
		}
		if err := boundedText(field+"."+k, m[k], maxConfigValue, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// maxSafetyBound bounds a safety rail's numbers (a typo of a few digits is caught).
const maxSafetyBound = 10_000_000

// checkSafety checks a store's safety rails.
func checkSafety(s *StoreSafety) []error {
	if s == nil {
		return nil
	}
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"safety.maxRemovalsPerHour", s.MaxRemovalsPerHour}, {"safety.maxRemovalsPerPublish", s.MaxRemovalsPerPublish},
		{"safety.writesPerMinute", s.WritesPerMinute}} {
		if f.v < 0 || f.v > maxSafetyBound {
			errs = append(errs, Invalidf(f.name, "must be between 0 (off) and %d, got %d", maxSafetyBound, f.v))
		}
	}
	return errs
}
