package projections

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// DriftRecord is one drift_detected: what was changed in a target behind idstream's back.
// Attributes are attribute paths, never values.
type DriftRecord struct {
	EnvironmentID string
	RuleID        string
	StoreID       string
	Kind          domain.IdentityKind
	// IdentityID is "" for an account no identity owns (CREATED).
	IdentityID string
	TargetID   string
	Drift      domain.DriftKind
	Attributes []string
	Policy     domain.DriftPolicy
	Repaired   bool
	Trigger    string
	At         time.Time
	Position   eventstore.Position
	// Cursor resumes a page of Records after this record.
	Cursor string
}

// DriftStatus is the open drift of a rule or a store: Accounts counts the identities' accounts
// whose drift is reported and not repaired (modified attributes kept as the target has them,
// or deleted in the target); Unowned the target accounts reported as created that no identity
// has linked since. LastDriftAt is when drift was last recorded (zero: never).
type DriftStatus struct {
	Accounts    int
	Unowned     int
	LastDriftAt time.Time
}

// DriftPage is one page of drift records, newest first.
type DriftPage struct {
	Records     []DriftRecord
	EndCursor   string
	HasNextPage bool
}

// PropagationDrift is the drift read model: every drift record of each environment and the
// open drift of each account, folded from drift_detected and the outcomes that close it (an
// applied outcome writing the drifted paths, recreating or deleting the account, linking an
// unowned account, drift_resolved). Safe for concurrent use.
type PropagationDrift struct {
	follower *Follower

	mu      sync.RWMutex
	records map[string][]DriftRecord // by environment, in log order
	// open drift by rule, then identity ("" + target ID for unowned accounts).
	open    map[string]map[string]*openDrift
	ruleEnv map[string]string
	store   map[string]string // rule → store
	last    map[string]time.Time
}

type openDrift struct {
	env      string
	store    string
	paths    []string
	deleted  bool
	unowned  string // target ID of an unowned account
	identity string
}

func (o *openDrift) isOpen() bool { return len(o.paths) > 0 || o.deleted || o.unowned != "" }

// NewPropagationDrift returns the drift read model over store; Start it.
func NewPropagationDrift(store eventstore.Store, reg *eventstore.Registry) *PropagationDrift {
	d := &PropagationDrift{records: map[string][]DriftRecord{}, open: map[string]map[string]*openDrift{},
		ruleEnv: map[string]string{}, store: map[string]string{}, last: map[string]time.Time{}}
	d.follower = NewFollower("propagation drift", store, reg,
		&eventstore.Filter{EventTypePrefixes: []string{domain.EvPropDriftDetected, domain.EvPropDriftResolved, domain.EvPropChangeApplied}}, d.fold)
	return d
}

// Start folds the log from its start in the background until ctx ends.
func (d *PropagationDrift) Start(ctx context.Context) error { return d.follower.Start(ctx) }

// WaitFor returns once the model has folded everything up to pos.
func (d *PropagationDrift) WaitFor(ctx context.Context, pos eventstore.Position) error {
	return d.follower.WaitFor(ctx, pos)
}

// CatchUp waits until the model has folded the log's last event as of the call.
func (d *PropagationDrift) CatchUp(ctx context.Context) error { return d.follower.CatchUp(ctx) }

func (d *PropagationDrift) fold(e *eventstore.RecordedEvent, dec eventstore.Decoded) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch p := dec.Payload.(type) {
	case domain.PropagationDriftDetected:
		at := e.Metadata.OccurredAt
		d.records[p.EnvironmentID] = append(d.records[p.EnvironmentID], DriftRecord{EnvironmentID: p.EnvironmentID, RuleID: p.RuleID,
			StoreID: p.StoreID, Kind: p.Kind, IdentityID: p.IdentityID, TargetID: p.TargetID, Drift: p.Drift,
			Attributes: slices.Clone(p.Attributes), Policy: p.Policy, Repaired: p.Repaired, Trigger: p.Trigger, At: at, Position: e.Position})
		d.ruleEnv[p.RuleID], d.store[p.RuleID] = p.EnvironmentID, p.StoreID
		if at.After(d.last[p.RuleID]) {
			d.last[p.RuleID] = at
		}
		key := p.IdentityID
		if p.Drift == domain.DriftCreated {
			key = "\x00" + p.TargetID
		}
		o := d.account(p.RuleID, key)
		o.env, o.store, o.identity = p.EnvironmentID, p.StoreID, p.IdentityID
		switch {
		case p.Repaired:
			o.paths, o.deleted = nil, false
		case p.Drift == domain.DriftCreated:
			o.unowned = p.TargetID
		case p.Drift == domain.DriftDeleted:
			o.deleted = true
		case p.Drift == domain.DriftModified:
			o.paths, o.deleted = slices.Clone(p.Attributes), false // the account's drift now
		}
		if !o.isOpen() {
			delete(d.open[p.RuleID], key)
		}
	case domain.PropagationDriftResolved:
		o := d.open[p.RuleID][p.IdentityID]
		if o == nil {
			return
		}
		o.paths = slices.DeleteFunc(o.paths, func(a string) bool {
			return slices.ContainsFunc(p.Attributes, func(r string) bool { return strings.EqualFold(a, r) })
		})
		if p.Deleted {
			o.deleted = false
		}
		if !o.isOpen() {
			delete(d.open[p.RuleID], p.IdentityID)
		}
	case domain.PropagationChangeApplied:
		rule := d.open[p.RuleID]
		if rule == nil {
			return
		}
		if p.TargetID != "" {
			delete(rule, "\x00"+p.TargetID) // an identity owns it now
		}
		o := rule[p.IdentityID]
		if o == nil {
			return
		}
		o.deleted = false
		if p.Operation == domain.OpCreate || p.Operation == domain.OpDelete {
			o.paths = nil
		}
		o.paths = slices.DeleteFunc(o.paths, func(a string) bool { _, ok := p.Digests[strings.ToLower(a)]; return ok })
		if !o.isOpen() {
			delete(rule, p.IdentityID)
		}
	}
}

func (d *PropagationDrift) account(rule, key string) *openDrift {
	m := d.open[rule]
	if m == nil {
		m = map[string]*openDrift{}
		d.open[rule] = m
	}
	o := m[key]
	if o == nil {
		o = &openDrift{}
		m[key] = o
	}
	return o
}

func (d *PropagationDrift) countLocked(rule string, st *DriftStatus) {
	for _, o := range d.open[rule] {
		switch {
		case o.unowned != "":
			st.Unowned++
		case o.isOpen():
			st.Accounts++
		}
	}
	if t := d.last[rule]; t.After(st.LastDriftAt) {
		st.LastDriftAt = t
	}
}

// Rule returns the open drift of rule ruleID of env.
func (d *PropagationDrift) Rule(env, ruleID string) DriftStatus {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var st DriftStatus
	if d.ruleEnv[ruleID] == env {
		d.countLocked(ruleID, &st)
	}
	return st
}

// Store returns the open drift of the rules targeting store storeID of env.
func (d *PropagationDrift) Store(env, storeID string) DriftStatus {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var st DriftStatus
	for rule, s := range d.store {
		if s == storeID && d.ruleEnv[rule] == env {
			d.countLocked(rule, &st)
		}
	}
	return st
}

// Records returns env's drift records, newest first, of rule ruleID when not "", that keep
// (when not nil) keeps, first at most after the cursor after (a previous page's EndCursor).
// keep is called with the model locked: it must not call back into it.
func (d *PropagationDrift) Records(env, ruleID string, first int, after string, keep func(DriftRecord) bool) (DriftPage, error) {
	if first <= 0 || first > 500 {
		return DriftPage{}, domain.Invalidf("first", "must be between 1 and 500, got %d", first)
	}
	start := -1 // index to start below
	if after != "" {
		raw, err := base64.RawURLEncoding.DecodeString(after)
		n, perr := strconv.Atoi(strings.TrimPrefix(string(raw), "drift:"))
		if err != nil || perr != nil || !strings.HasPrefix(string(raw), "drift:") || n < 0 {
			return DriftPage{}, domain.Invalidf("after", "not a cursor of propagationDrift")
		}
		start = n
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	recs := d.records[env]
	i := len(recs) - 1
	if start >= 0 {
		i = min(start-1, len(recs)-1)
	}
	var page DriftPage
	for ; i >= 0; i-- {
		r := recs[i]
		if (ruleID != "" && r.RuleID != ruleID) || (keep != nil && !keep(r)) {
			continue
		}
		if len(page.Records) == first {
			page.HasNextPage = true
			break
		}
		r.Attributes = slices.Clone(r.Attributes)
		r.Cursor = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "drift:%d", i))
		page.Records = append(page.Records, r)
		page.EndCursor = r.Cursor
	}
	return page, nil
}
