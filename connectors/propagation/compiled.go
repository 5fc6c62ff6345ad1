package propagation

import (
	"fmt"
	"strings"
	"sync"

	"github.com/idstream/idstream/connectors/mapping"
	"github.com/idstream/idstream/domain"
)

// compiledRevision is a published revision with its rules' mappings compiled.
type compiledRevision struct {
	rev    domain.PropagationRevisionPublished
	stores map[string]domain.PropagationStore
	plans  map[string]domain.PropagationPlan
	rules  map[string]*compiledRule
	order  []string // rule IDs in the revision's order
}

// compiledRule is one rule of a revision, ready to run.
type compiledRule struct {
	rule   domain.PropagationRule
	plan   domain.PropagationPlan
	source domain.PropagationStore
	target domain.PropagationStore
	// set is nil when the mappings do not compile (err says why).
	set     *mapping.Set
	err     error
	corrKey string // canonical key of the correlation attribute path
	corr    string // the correlation attribute as configured
	groups  map[string]bool
	// paths caches parsed target paths (filtered paths are costly to parse).
	paths sync.Map
}

// path parses a target path once per rule.
func (cr *compiledRule) path(s string) (mapping.Path, error) {
	if p, ok := cr.paths.Load(s); ok {
		return p.(mapping.Path), nil
	}
	p, err := mapping.ParsePath(s)
	if err == nil {
		cr.paths.Store(s, p)
	}
	return p, err
}

// inactive returns why the rule does not run ("" when it does).
func (cr *compiledRule) inactive() string {
	switch {
	case cr.plan.ID == "":
		return "rule's plan is not in the revision"
	case cr.plan.Status != domain.PlanActive:
		return "plan inactive"
	case !cr.rule.Active:
		return "rule inactive"
	case cr.target.ID == "":
		return "target store is not in the revision"
	case cr.target.Status != domain.StoreActive:
		return "target store inactive"
	case cr.source.ID == "" || cr.source.Type != domain.StoreDirectory:
		return "source store is not the directory"
	}
	return ""
}

func compileRevision(rev domain.PropagationRevisionPublished) *compiledRevision {
	c := &compiledRevision{rev: rev, stores: map[string]domain.PropagationStore{}, plans: map[string]domain.PropagationPlan{},
		rules: map[string]*compiledRule{}}
	for _, s := range rev.Content.Stores {
		c.stores[s.ID] = s
	}
	for _, p := range rev.Content.Plans {
		c.plans[p.ID] = p
	}
	for _, r := range rev.Content.Rules {
		// A rule's target is its store with the rule's TargetConfig over the store's Config.
		cr := &compiledRule{rule: r, plan: c.plans[r.PlanID], source: c.stores[r.SourceStoreID],
			target: withTargetConfig(c.stores[r.TargetStoreID], r), groups: map[string]bool{}}
		for _, g := range r.GroupIDs {
			cr.groups[g] = true
		}
		cr.corr = r.CorrelationAttribute
		if strings.TrimSpace(cr.corr) == "" {
			cr.corr = "userName"
		}
		p, err := mapping.ParsePath(cr.corr)
		if err != nil {
			cr.err = fmt.Errorf("rule %s: correlation attribute: %w", r.ID, err)
		} else {
			cr.corrKey = p.Key()
			if cr.set, err = mapping.Compile(r.Mappings); err != nil {
				cr.err = fmt.Errorf("rule %s: mappings: %w", r.ID, err)
				cr.set = nil
			}
		}
		c.rules[r.ID] = cr
		c.order = append(c.order, r.ID)
	}
	return c
}

// compiledCache keeps the compiled form of the revisions in use, by revision ID.
type compiledCache struct {
	mu   sync.Mutex
	revs map[string]*compiledRevision
}

func (cc *compiledCache) get(rev domain.PropagationRevisionPublished) *compiledRevision {
	key := rev.RevisionID + "/" + rev.ContentHash
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if c, ok := cc.revs[key]; ok {
		return c
	}
	if cc.revs == nil || len(cc.revs) > 64 {
		cc.revs = map[string]*compiledRevision{}
	}
	c := compileRevision(rev)
	cc.revs[key] = c
	return c
}
