package projections

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// DefaultSummaryRetention is how long a change summary (an outcome's details) is kept by default.
const DefaultSummaryRetention = 7 * 24 * time.Hour

// StatusOptions configure a PropagationStatus.
type StatusOptions struct {
	// SummaryRetention is how long an outcome's details (reason, error class and message,
	// attribute names, candidates) and a store's last error are kept, measured from the outcome's
	// occurred-at time: older ones are dropped, the status they explain remains. 0 means
	// DefaultSummaryRetention; negative is invalid.
	SummaryRetention time.Duration
	// Now is the clock retention is judged by; time.Now when nil.
	Now func() time.Time
}

// Validate reports every problem of o in one error of kind domain.ErrInvalid.
func (o StatusOptions) Validate() error {
	if o.SummaryRetention < 0 {
		return domain.Invalidf("summaryRetention", "must not be negative (0 means %s)", DefaultSummaryRetention)
	}
	return nil
}

// StoreState is a store's state as propagation sees it.
type StoreState string

const (
	StoreStateActive   StoreState = "ACTIVE"
	StoreStateInactive StoreState = "INACTIVE"
	// StoreStateUnavailable: an active store the runtime found not answering
	// (store_unavailable, until store_available); its rules are paused.
	StoreStateUnavailable StoreState = "UNAVAILABLE"
)

// AccountState is the status of one identity × rule: what its last outcome says.
type AccountState string

const (
	// AccountSynced: the last change order was applied (created, linked, updated or already
	// converged).
	AccountSynced AccountState = "SYNCED"
	// AccountFailed: the last change order failed for good (a final failure).
	AccountFailed AccountState = "FAILED"
	// AccountSkipped: the last change order did nothing (out of scope, action not allowed...).
	AccountSkipped AccountState = "SKIPPED"
	// AccountDisputed: the correlation attribute matched several target accounts.
	AccountDisputed AccountState = "DISPUTED"
	// AccountPending: the last attempt failed and the runtime retries (a failure not final).
	AccountPending AccountState = "PENDING"
	// AccountRemoved: the target account was disabled or deleted.
	AccountRemoved AccountState = "REMOVED"
)

// ChangeDetails is the change summary of an outcome: never a value of an identity, only IDs,
// attribute names, error classes and reasons. Kept for StatusOptions.SummaryRetention.
type ChangeDetails struct {
	At            time.Time
	ChangeOrderID string
	Trigger       string
	// Attributes are the target attribute paths written (applied).
	Attributes []string
	// Reason is why nothing was done (skipped).
	Reason string
	// ErrorClass, ErrorMessage and Attempt describe a failure.
	ErrorClass   string
	ErrorMessage string
	Attempt      int
	// Candidates are the target account IDs the correlation matched (disputed).
	Candidates []string
}

// AccountStatus is the status of one identity (user or group) × rule.
type AccountStatus struct {
	EnvironmentID string
	RuleID        string
	StoreID       string
	Kind          domain.IdentityKind
	IdentityID    string
	Status        AccountState
	// LastOperation is the operation of the last outcome (attempted, for a failure).
	LastOperation domain.ChangeOperation
	// TargetID is the target account's ID, once known.
	TargetID string
	// LastSyncAt is when a change order was last applied (zero: never); LastOutcomeAt when the
	// last outcome of any kind occurred.
	LastSyncAt    time.Time
	LastOutcomeAt time.Time
	// Live: the target account exists and is not disabled, as far as the outcomes tell.
	Live bool
	// CreatedByIdstream: idstream created the account (it did not link an existing one).
	CreatedByIdstream bool
	// Details is the last outcome's summary; nil when none or older than the retention.
	Details *ChangeDetails
}

// StatusError is a store's last failure.
type StatusError struct {
	At         time.Time
	RuleID     string
	IdentityID string
	Class      string
	Message    string
}

// StoreStatus is a store's propagation status. Counters count outcomes since the last revision
// was published: Success the applied change orders, Failed the final failures, of which
// DeprovisionFailed those that tried to disable or delete.
type StoreStatus struct {
	EnvironmentID string
	StoreID       string
	Name          string
	Type          domain.StoreType
	State         StoreState
	// InRevision: the store is in the environment's latest published revision.
	InRevision        bool
	RevisionID        string
	LastSyncAt        time.Time
	Success           int
	Failed            int
	DeprovisionFailed int
	// UsersInScope counts the users with a live account in the store (by any rule).
	UsersInScope int
	// LastError is the last failure; nil when none or older than the retention.
	LastError *StatusError
	// Unavailable describes the outage while State is UNAVAILABLE (nil otherwise).
	Unavailable *StoreUnavailable
	// Backlog counts the change orders deferred to the backlogs of the rules targeting the
	// store and not drained yet.
	Backlog int
}

// StoreUnavailable is a store's outage: the connector error class (UNAVAILABLE or AUTH), the
// probe's error, and since when.
type StoreUnavailable struct {
	Class  string
	Reason string
	Since  time.Time
}

// ResyncStatus is a rule's last resync. While Running, Processed counts the rule's resync
// outcomes since it started; once finished, the counters are the runtime's totals.
type ResyncStatus struct {
	ResyncID   string
	RevisionID string
	Trigger    string
	StartedAt  time.Time
	FinishedAt time.Time
	Running    bool
	Processed  int
	Identities int
	Created    int
	Updated    int
	Removed    int
	Failed     int
	Unchanged  int
}

// RuleSummary sums up a rule's identities since the last revision was published: Impacted
// counts those with an outcome since then, split by their latest status into Success (synced or
// removed), Failed (final failure) and Unsynced (skipped, disputed, or pending a retry).
// PartiallySynced is always 0: an outcome is all or nothing (an applied change order wrote every
// attribute it names, a failed one is not applied), so no outcome says "partly".
type RuleSummary struct {
	EnvironmentID   string
	RuleID          string
	Name            string
	PlanID          string
	SourceStoreID   string
	TargetStoreID   string
	Active          bool // the rule and its plan are active in the revision
	InRevision      bool
	RevisionID      string
	Impacted        int
	Success         int
	Unsynced        int
	PartiallySynced int
	Failed          int
	LastResync      *ResyncStatus
	// Paused: the rule's orders are deferred to its backlog (its target store is unavailable,
	// or back and draining the backlog); PausedReason says which.
	Paused       bool
	PausedReason string
	// Backlog counts the rule's deferred change orders not drained yet.
	Backlog int
	// Quarantine is set while the rule is quarantined (its orders skipped until released).
	Quarantine *RuleQuarantine
}

// RuleQuarantine says why and since when a rule is quarantined.
type RuleQuarantine struct {
	Reason   string
	Since    time.Time
	Failures int
	Total    int
}

// PropagationStatus is the read model of propagation status: per store, per rule, per identity
// × rule. It is fed by its own Follower over the "propagation." events and rebuilt from the log
// at every start. Only IDs, attribute names, error classes and reasons are kept, never values of
// another store's identities. Methods are safe for concurrent use.
type PropagationStatus struct {
	follower  *Follower
	retention time.Duration
	now       func() time.Time

	mu    sync.RWMutex
	envs  map[string]*envPropStatus
	rules map[string]*ruleStatus // by rule ID (IDs are unique across environments)
	// lastSweep is when the fold last dropped the details past the retention.
	lastSweep time.Time
}

type envPropStatus struct {
	revisionID string
	stores     map[string]*storeStatus
}

type storeStatus struct {
	StoreStatus
	live map[string]int // user ID → number of live accounts (one per rule)
	down *StoreUnavailable
}

type ruleStatus struct {
	summary  RuleSummary
	epoch    int // bumped at each publish: accounts of an older epoch are not in the summary
	accounts map[string]*accountStatus
	// added lists the identity IDs of accounts added since ids was last built (the fold
	// appends under the model's lock); ids is every account's identity ID, sorted, built by
	// queries under idsMu. A built ids is never changed in place: a query may iterate it unlocked.
	added []string
	// deferred holds the stream revisions of the rule's change_deferred after its last
	// backlog_drained, in order; backlogStore the store they wait for.
	deferred     []uint64
	backlogStore string
	idsMu        sync.Mutex
	ids          []string
}

// sortedIDs returns every account's identity ID, sorted. The caller holds the model's read
// lock (so the fold does not run).
func (r *ruleStatus) sortedIDs() []string {
	r.idsMu.Lock()
	defer r.idsMu.Unlock()
	if len(r.added) == 0 {
		return r.ids
	}
	slices.Sort(r.added)
	merged := make([]string, 0, len(r.ids)+len(r.added))
	i, j := 0, 0
	for i < len(r.ids) && j < len(r.added) {
		if r.ids[i] < r.added[j] {
			merged = append(merged, r.ids[i])
			i++
		} else {
			merged = append(merged, r.added[j])
			j++
		}
	}
	merged = append(append(merged, r.ids[i:]...), r.added[j:]...)
	r.ids, r.added = merged, nil
	return r.ids
}

type accountStatus struct {
	AccountStatus
	epoch int
}

// NewPropagationStatus returns the status read model over store, decoding with reg. Start it.
func NewPropagationStatus(store eventstore.Store, reg *eventstore.Registry, opts StatusOptions) (*PropagationStatus, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("propagation status: %w", err)
	}
	s := &PropagationStatus{retention: cmp.Or(opts.SummaryRetention, DefaultSummaryRetention), now: opts.Now,
		envs: map[string]*envPropStatus{}, rules: map[string]*ruleStatus{}}
	if s.now == nil {
		s.now = time.Now
	}
	s.follower = NewFollower("propagation status", store, reg,
		&eventstore.Filter{EventTypePrefixes: []string{domain.CategoryPropagation + "."}}, s.fold)
	return s, nil
}

// Start folds the log from its start in the background until ctx ends.
func (s *PropagationStatus) Start(ctx context.Context) error { return s.follower.Start(ctx) }

// WaitFor returns once the model has folded everything up to pos (see Follower.WaitFor).
func (s *PropagationStatus) WaitFor(ctx context.Context, pos eventstore.Position) error {
	return s.follower.WaitFor(ctx, pos)
}

// CatchUp waits until the model has folded the log's last event as of the call.
func (s *PropagationStatus) CatchUp(ctx context.Context) error { return s.follower.CatchUp(ctx) }

// Position returns the position of the last event folded.
func (s *PropagationStatus) Position() eventstore.Position { return s.follower.Position() }

// fold applies one event: the only place the model changes.
func (s *PropagationStatus) fold(e *eventstore.RecordedEvent, d eventstore.Decoded) {
	at := e.Metadata.OccurredAt
	s.mu.Lock()
	defer s.mu.Unlock()
	switch p := d.Payload.(type) {
	case domain.PropagationRevisionPublished:
		s.publish(p)
	case domain.PropagationChangeApplied:
		s.outcome(p.ChangeOutcome, at, func(a *accountStatus, st *storeStatus) *ChangeDetails {
			a.Status, a.LastSyncAt = AccountSynced, at
			switch p.Operation {
			case domain.OpDisable, domain.OpDelete:
				a.Status, a.Live = AccountRemoved, false
			default:
				a.Live = true
			}
			switch p.Operation {
			case domain.OpCreate:
				a.CreatedByIdstream = true
			case domain.OpLink:
				a.CreatedByIdstream = p.CreatedByIdstream
			case domain.OpDelete:
				a.CreatedByIdstream = false
			default:
				a.CreatedByIdstream = a.CreatedByIdstream || p.CreatedByIdstream
			}
			st.Success++
			st.LastSyncAt = at
			return &ChangeDetails{Attributes: slices.Clone(p.Attributes)}
		})
	case domain.PropagationChangeFailed:
		s.outcome(p.ChangeOutcome, at, func(a *accountStatus, st *storeStatus) *ChangeDetails {
			a.Status = AccountPending
			if p.Final {
				a.Status = AccountFailed
				st.Failed++
				if p.Operation == domain.OpDisable || p.Operation == domain.OpDelete {
					st.DeprovisionFailed++
				}
			}
			st.LastError = &StatusError{At: at, RuleID: p.RuleID, IdentityID: p.IdentityID, Class: p.Class, Message: p.Message}
			return &ChangeDetails{ErrorClass: p.Class, ErrorMessage: p.Message, Attempt: p.Attempt}
		})
	case domain.PropagationChangeSkipped:
		s.outcome(p.ChangeOutcome, at, func(a *accountStatus, _ *storeStatus) *ChangeDetails {
			a.Status = AccountSkipped
			return &ChangeDetails{Reason: p.Reason}
		})
	case domain.PropagationChangeDisputed:
		s.outcome(p.ChangeOutcome, at, func(a *accountStatus, _ *storeStatus) *ChangeDetails {
			a.Status = AccountDisputed
			return &ChangeDetails{Candidates: slices.Clone(p.Candidates)}
		})
	case domain.PropagationStoreUnavailable:
		st := s.store(s.env(p.EnvironmentID), p.EnvironmentID, p.StoreID)
		st.down = &StoreUnavailable{Class: p.Class, Reason: p.Reason, Since: p.Since}
	case domain.PropagationStoreAvailable:
		s.store(s.env(p.EnvironmentID), p.EnvironmentID, p.StoreID).down = nil
	case domain.PropagationChangeDeferred:
		r := s.rule(p.EnvironmentID, p.RuleID)
		r.deferred, r.backlogStore = append(r.deferred, e.Revision), p.StoreID
	case domain.PropagationBacklogDrained:
		r := s.rule(p.EnvironmentID, p.RuleID)
		i, _ := slices.BinarySearch(r.deferred, p.Through+1)
		r.deferred = slices.Delete(r.deferred, 0, i)
	case domain.PropagationRuleQuarantined:
		r := s.rule(p.EnvironmentID, p.RuleID)
		r.summary.Quarantine = &RuleQuarantine{Reason: p.Reason, Since: p.Since, Failures: p.Failures, Total: p.Total}
	case domain.PropagationRuleReleased:
		s.rule(p.EnvironmentID, p.RuleID).summary.Quarantine = nil
	case domain.PropagationResyncStarted:
		r := s.rule(p.EnvironmentID, p.RuleID)
		r.summary.LastResync = &ResyncStatus{ResyncID: p.ResyncID, RevisionID: p.RevisionID, Trigger: p.Trigger, StartedAt: at, Running: true}
	case domain.PropagationResyncFinished:
		r := s.rule(p.EnvironmentID, p.RuleID)
		rs := r.summary.LastResync
		if rs == nil || rs.ResyncID != p.ResyncID {
			rs = &ResyncStatus{ResyncID: p.ResyncID, RevisionID: p.RevisionID}
			r.summary.LastResync = rs
		}
		rs.Running, rs.FinishedAt = false, at
		rs.Identities, rs.Created, rs.Updated, rs.Removed, rs.Failed, rs.Unchanged =
			p.Identities, p.Created, p.Updated, p.Removed, p.Failed, p.Unchanged
	}
	s.expireLocked()
}

// publish folds a revision: stores and rules as it configures them, counters reset.
func (s *PropagationStatus) publish(p domain.PropagationRevisionPublished) {
	env := s.env(p.EnvironmentID)
	env.revisionID = p.RevisionID
	for _, st := range env.stores {
		st.InRevision, st.State = false, StoreStateInactive
	}
	for _, cs := range p.Content.Stores {
		st := s.store(env, p.EnvironmentID, cs.ID)
		st.Name, st.Type, st.InRevision, st.State = cs.Name, cs.Type, true, StoreStateInactive
		if cs.Status == domain.StoreActive {
			st.State = StoreStateActive
		}
	}
	for _, st := range env.stores {
		st.RevisionID, st.Success, st.Failed, st.DeprovisionFailed = p.RevisionID, 0, 0, 0
	}
	planActive := map[string]bool{}
	for _, pl := range p.Content.Plans {
		planActive[pl.ID] = pl.Status == domain.PlanActive
	}
	inRevision := map[string]bool{}
	for _, cr := range p.Content.Rules {
		inRevision[cr.ID] = true
		r := s.rule(p.EnvironmentID, cr.ID)
		sm := &r.summary
		sm.Name, sm.PlanID, sm.SourceStoreID, sm.TargetStoreID = cr.Name, cr.PlanID, cr.SourceStoreID, cr.TargetStoreID
		sm.Active = cr.Active && planActive[cr.PlanID]
	}
	for id, r := range s.rules {
		if r.summary.EnvironmentID != p.EnvironmentID {
			continue
		}
		sm := &r.summary
		sm.InRevision, sm.RevisionID = inRevision[id], p.RevisionID
		if !sm.InRevision {
			sm.Active = false
		}
		sm.Impacted, sm.Success, sm.Unsynced, sm.Failed = 0, 0, 0, 0
		r.epoch++
	}
}

// outcome folds the common part of a change outcome; apply sets what its type says and returns
// its details.
func (s *PropagationStatus) outcome(o domain.ChangeOutcome, at time.Time, apply func(*accountStatus, *storeStatus) *ChangeDetails) {
	r := s.rule(o.EnvironmentID, o.RuleID)
	st := s.store(s.env(o.EnvironmentID), o.EnvironmentID, o.StoreID)
	a := r.accounts[o.IdentityID]
	if a == nil {
		// The model's own copies of the IDs every account shares (a decoded payload's are its own).
		a = &accountStatus{AccountStatus: AccountStatus{EnvironmentID: r.summary.EnvironmentID, RuleID: r.summary.RuleID, IdentityID: o.IdentityID}, epoch: -1}
		r.accounts[o.IdentityID] = a
		r.added = append(r.added, o.IdentityID)
	}
	if a.epoch == r.epoch {
		r.count(a.Status, -1)
	} else {
		r.summary.Impacted++
		a.epoch = r.epoch
	}
	wasLiveUser, liveStore := a.Live && a.Kind == domain.IdentityUser, a.StoreID
	a.StoreID, a.Kind, a.LastOperation, a.LastOutcomeAt = st.StoreID, o.Kind, o.Operation, at
	if o.TargetID != "" {
		a.TargetID = o.TargetID
	}
	d := apply(a, st)
	r.count(a.Status, +1)
	if wasLiveUser {
		if old := s.envs[o.EnvironmentID].stores[liveStore]; old != nil {
			old.unlive(o.IdentityID)
		}
	}
	if a.Live && a.Kind == domain.IdentityUser {
		st.live[o.IdentityID]++
	}
	if rs := r.summary.LastResync; rs != nil && rs.Running && (o.Trigger == "resync" || o.Trigger == "publish") {
		rs.Processed++
	}
	a.Details = nil
	if s.fresh(at) { // an outcome already past the retention (a replay) keeps no details
		d.At, d.ChangeOrderID, d.Trigger = at, o.ChangeOrderID, o.Trigger
		a.Details = d
	}
	if st.LastError != nil && !s.fresh(st.LastError.At) {
		st.LastError = nil
	}
}

func (st *storeStatus) unlive(id string) {
	if st.live[id]--; st.live[id] <= 0 {
		delete(st.live, id)
	}
}

// count adds n to the summary bucket of state.
func (r *ruleStatus) count(state AccountState, n int) {
	switch state {
	case AccountSynced, AccountRemoved:
		r.summary.Success += n
	case AccountFailed:
		r.summary.Failed += n
	case AccountSkipped, AccountDisputed, AccountPending:
		r.summary.Unsynced += n
	}
}

// sweepEvery bounds how often the fold walks the model to drop the summaries past the retention
// (queries hide them in between).
const sweepEvery = time.Minute

// expireLocked drops the details and last errors older than the retention, at most once per
// sweepEvery (or per retention, when shorter, but not more than once a second).
func (s *PropagationStatus) expireLocked() {
	now := s.now()
	if now.Sub(s.lastSweep) < max(min(sweepEvery, s.retention), time.Second) {
		return
	}
	s.lastSweep = now
	for _, r := range s.rules {
		for _, a := range r.accounts {
			if a.Details != nil && !s.fresh(a.Details.At) {
				a.Details = nil
			}
		}
	}
	for _, e := range s.envs {
		for _, st := range e.stores {
			if st.LastError != nil && !s.fresh(st.LastError.At) {
				st.LastError = nil
			}
		}
	}
}

func (s *PropagationStatus) env(id string) *envPropStatus {
	e := s.envs[id]
	if e == nil {
		e = &envPropStatus{stores: map[string]*storeStatus{}}
		s.envs[id] = e
	}
	return e
}

func (s *PropagationStatus) store(env *envPropStatus, envID, id string) *storeStatus {
	st := env.stores[id]
	if st == nil {
		st = &storeStatus{StoreStatus: StoreStatus{EnvironmentID: envID, StoreID: id, State: StoreStateInactive, RevisionID: env.revisionID},
			live: map[string]int{}}
		env.stores[id] = st
	}
	return st
}

func (s *PropagationStatus) rule(envID, id string) *ruleStatus {
	r := s.rules[id]
	if r == nil {
		r = &ruleStatus{summary: RuleSummary{EnvironmentID: envID, RuleID: id}, accounts: map[string]*accountStatus{}}
		if e := s.envs[envID]; e != nil {
			r.summary.RevisionID = e.revisionID
		}
		s.rules[id] = r
	}
	return r
}

// fresh reports whether a summary of time at is still within the retention.
func (s *PropagationStatus) fresh(at time.Time) bool { return at.After(s.now().Add(-s.retention)) }

// Store returns the status of store id of env; domain.ErrNotFound when no revision or outcome
// of env names it.
func (s *PropagationStatus) Store(env, id string) (StoreStatus, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.envs[env]
	if e == nil || e.stores[id] == nil {
		return StoreStatus{}, domain.NotFoundf("propagation store %s in environment %s", id, env)
	}
	return s.storeCopy(e.stores[id]), nil
}

// Stores returns the status of every store of env known to the model, by ID.
func (s *PropagationStatus) Stores(env string) []StoreStatus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []StoreStatus{}
	if e := s.envs[env]; e != nil {
		for _, st := range e.stores {
			out = append(out, s.storeCopy(st))
		}
	}
	slices.SortFunc(out, func(a, b StoreStatus) int { return cmp.Compare(a.StoreID, b.StoreID) })
	return out
}

func (s *PropagationStatus) storeCopy(st *storeStatus) StoreStatus {
	out := st.StoreStatus
	out.UsersInScope = len(st.live)
	if st.down != nil && out.State == StoreStateActive {
		d := *st.down
		out.State, out.Unavailable = StoreStateUnavailable, &d
	}
	for _, r := range s.rules {
		if r.backlogStore == st.StoreID && r.summary.EnvironmentID == st.EnvironmentID {
			out.Backlog += len(r.deferred)
		}
	}
	if out.LastError != nil {
		if s.fresh(out.LastError.At) {
			le := *out.LastError
			out.LastError = &le
		} else {
			out.LastError = nil
		}
	}
	return out
}

// Rule returns the summary of rule id of env; domain.ErrNotFound when no revision or outcome of
// env names it.
func (s *PropagationStatus) Rule(env, id string) (RuleSummary, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.rules[id]
	if r == nil || r.summary.EnvironmentID != env {
		return RuleSummary{}, domain.NotFoundf("propagation rule %s in environment %s", id, env)
	}
	out := r.summary
	if out.LastResync != nil {
		rs := *out.LastResync
		out.LastResync = &rs
	}
	out.Backlog = len(r.deferred)
	target := out.TargetStoreID
	if target == "" {
		target = r.backlogStore
	}
	if e := s.envs[env]; e != nil {
		if st := e.stores[target]; st != nil && st.down != nil && st.State == StoreStateActive {
			out.Paused = true
			out.PausedReason = fmt.Sprintf("target store %s unavailable since %s (%s): %s", target,
				st.down.Since.UTC().Format(time.RFC3339), st.down.Class, st.down.Reason)
		}
	}
	if !out.Paused && out.Backlog > 0 {
		out.Paused, out.PausedReason = true, fmt.Sprintf("draining a backlog of %d deferred change orders", out.Backlog)
	}
	return out, nil
}

// Account returns the status of identity id under rule ruleID; false when it has no outcome.
func (s *PropagationStatus) Account(ruleID, id string) (AccountStatus, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.rules[ruleID]
	if r == nil || r.accounts[id] == nil {
		return AccountStatus{}, false
	}
	return s.accountCopy(r.accounts[id]), true
}

func (s *PropagationStatus) accountCopy(a *accountStatus) AccountStatus {
	out := a.AccountStatus
	if out.Details != nil {
		if s.fresh(out.Details.At) {
			d := *out.Details
			d.Attributes, d.Candidates = slices.Clone(d.Attributes), slices.Clone(d.Candidates)
			out.Details = &d
		} else {
			out.Details = nil
		}
	}
	return out
}

// IdentityAccounts returns the status of identity id of env (a user or a group) under every rule
// that has an outcome for it, by rule ID.
func (s *PropagationStatus) IdentityAccounts(env, id string) []AccountStatus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []AccountStatus{}
	for _, r := range s.rules {
		if a := r.accounts[id]; a != nil && a.EnvironmentID == env {
			out = append(out, s.accountCopy(a))
		}
	}
	slices.SortFunc(out, func(a, b AccountStatus) int { return cmp.Compare(a.RuleID, b.RuleID) })
	return out
}

// Accounts calls fn with the status of each identity under rule ruleID, by identity ID, until fn
// returns false. It lists the identities first, then reads each one when fn reaches it, without
// holding the model's lock while fn runs: fn sees an account as it is when reached, and not the
// identities of outcomes folded after the call began.
func (s *PropagationStatus) Accounts(ruleID string, fn func(AccountStatus) bool) {
	s.AccountsAfter(ruleID, "", fn)
}

// AccountsAfter is Accounts from the first identity ID after after ("": the first).
func (s *PropagationStatus) AccountsAfter(ruleID, after string, fn func(AccountStatus) bool) {
	s.mu.RLock()
	var ids []string
	if r := s.rules[ruleID]; r != nil {
		ids = r.sortedIDs()
	}
	s.mu.RUnlock()
	i, _ := slices.BinarySearch(ids, after)
	if i < len(ids) && ids[i] == after {
		i++
	}
	for _, id := range ids[i:] {
		a, ok := s.Account(ruleID, id)
		if ok && !fn(a) {
			return
		}
	}
}
