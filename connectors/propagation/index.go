package propagation

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// accountIndex lists, per rule, the identities with an account stream and whether that
// account is linked now: the fold of every outcome event, kept by its own Follower. Resync
// walks it to remove the accounts of identities no longer in the directory. Safe for
// concurrent use.
type accountIndex struct {
	follower *projections.Follower
	// observe, when set, is told of every applied outcome with its time (the safety rails
	// count removals).
	observe func(e *eventstore.RecordedEvent, payload any)

	mu     sync.RWMutex
	byRule map[string]map[string]indexEntry
}

type indexEntry struct {
	kind   domain.IdentityKind
	linked bool
	// target is the linked target account (drift detection: accounts no identity owns).
	target string
}

func newAccountIndex(store eventstore.Store, reg *eventstore.Registry) *accountIndex {
	ix := &accountIndex{byRule: map[string]map[string]indexEntry{}}
	ix.follower = projections.NewFollower("propagation account index", store, reg,
		&eventstore.Filter{StreamPrefixes: []string{domain.CategoryPropagationAccount + "-"}}, ix.fold)
	return ix
}

func (ix *accountIndex) fold(e *eventstore.RecordedEvent, d eventstore.Decoded) {
	var o domain.ChangeOutcome
	switch p := d.Payload.(type) {
	case domain.PropagationChangeApplied:
		o = p.ChangeOutcome
	case domain.PropagationChangeFailed:
		o = p.ChangeOutcome
	case domain.PropagationChangeSkipped:
		o = p.ChangeOutcome
	case domain.PropagationChangeDisputed:
		o = p.ChangeOutcome
	default:
		return
	}
	if o.RuleID == "" || o.IdentityID == "" || !strings.HasPrefix(e.Stream, domain.CategoryPropagationAccount+"-") {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	m := ix.byRule[o.RuleID]
	if m == nil {
		m = map[string]indexEntry{}
		ix.byRule[o.RuleID] = m
	}
	en := m[o.IdentityID]
	en.kind = o.Kind
	if _, ok := d.Payload.(domain.PropagationChangeApplied); ok {
		en.linked = o.Operation != domain.OpDelete
		if !en.linked {
			en.target = ""
		} else if o.TargetID != "" {
			en.target = o.TargetID
		}
	}
	if ix.observe != nil {
		ix.observe(e, d.Payload)
	}
	m[o.IdentityID] = en
}

// identities returns the sorted identities of kind with a linked account of rule.
func (ix *accountIndex) identities(rule string, kind domain.IdentityKind) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []string
	for id, en := range ix.byRule[rule] {
		if en.linked && (en.kind == kind || (kind == domain.IdentityUser && en.kind == "")) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// targets returns the target accounts linked to identities of rule (users and groups).
func (ix *accountIndex) targets(rule string) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []string
	for _, en := range ix.byRule[rule] {
		if en.linked && en.target != "" {
			out = append(out, en.target)
		}
	}
	return out
}

func (ix *accountIndex) start(ctx context.Context) error { return ix.follower.Start(ctx) }

func (ix *accountIndex) catchUp(ctx context.Context) error { return ix.follower.CatchUp(ctx) }
