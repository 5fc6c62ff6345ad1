package propagation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/mapping"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// Directory is what the runtime reads of the directory's read model (projections.Queries
// answers it).
type Directory interface {
	User(env, id string) (*projections.User, error)
	Users(env string, q projections.UserQuery) (projections.UserPage, error)
	Group(env, id string) (projections.Group, error)
	GroupMembers(env, groupID string, transitive bool) (projections.GroupMembers, error)
	UserGroups(env, userID string, transitive bool) ([]projections.Group, error)
	Schema(env string) ([]domain.AttributeDef, error)
}

// Waiter waits until a read model has applied the log up to a position (projections.Runner).
type Waiter interface {
	WaitFor(ctx context.Context, pos eventstore.Position) error
}

// Triggers of a change order (ChangeOutcome.Trigger).
const (
	TriggerEvent    = "event"
	TriggerResync   = "resync"
	TriggerPublish  = "publish"
	TriggerOnDemand = "on-demand"
)

// Order is one change order: run identity IdentityID of Kind through rule RuleID of env's
// published revision (or of Revision when set: a preview's draft, a deprovisioning's previous
// revision).
type Order struct {
	Env        string
	RuleID     string
	Kind       domain.IdentityKind
	IdentityID string
	Trigger    string
	// Cause identifies what caused the order: the source event ID, the resync ID, the on-demand
	// request ID. With RuleID and IdentityID it derives the change order ID.
	Cause string
	// SourcePosition is the log position of the source change (zero: none); the reconciler
	// waits for the directory to reach it.
	SourcePosition eventstore.Position
	CorrelationID  string
	// DryRun: read the target but never write to it nor append an outcome.
	DryRun bool
	// Preview: a dry run that does not contact the store either: idstream's own record of the
	// account stands for the target.
	Preview bool
	// Revision, when not nil, is the revision to run instead of env's published one.
	Revision *domain.PropagationRevisionPublished
	// ForceRemove: remove the account whatever the scope (a deleted managed store).
	ForceRemove bool
	// Attempt is the delivery attempt (1 for the first).
	Attempt int
	// bypassRails: an approved held removal, run past the store's safety rails (rails.go).
	bypassRails bool
	// compiled, when set, is Revision compiled (a preview compiles its draft once).
	compiled *compiledRevision
	// drain: the order reruns a deferred one from its rule's backlog (not deferred again).
	drain bool
	// drift, when set, counts the drift the order records (a reconciliation's summary).
	drift *driftTally
}

// ChangeOrderID derives the ID of a change order from its rule, cause and identity (UUIDv5).
func ChangeOrderID(ruleID, cause, identityID string) string {
	return uuid.NewSHA1(namespace(), []byte(ruleID+"|"+cause+"|"+identityID)).String()
}

// namespace is the UUIDv5 namespace of change order and outcome IDs.
func namespace() uuid.UUID {
	return uuid.UUID{0x6b, 0x1e, 0x3f, 0x52, 0x0c, 0x2d, 0x4e, 0x91, 0x9a, 0x77, 0x15, 0x3c, 0x80, 0x44, 0xd2, 0x1f}
}

// Reconciler converges one (rule, identity) target account with the identity's current state.
// It is level-triggered: whatever order or number of times orders arrive, the target ends in
// the state the latest directory state asks for. Safe for concurrent use; concurrent orders of
// one account race on its stream's expected revision and the loser reruns.
type Reconciler struct {
	store     eventstore.Store
	reg       *eventstore.Registry
	dir       Directory
	wait      Waiter
	revisions Revisions
	conns     *connections
	compiled  compiledCache
	limits    *limiter
	rails     *rails // nil: no safety rails
	// quarantine, when not nil, skips the orders of quarantined rules (quarantine.go).
	quarantine *quarantine
	now        func() time.Time
	log        *slog.Logger
	metrics    *metrics
	// gate pauses the orders of unavailable stores (availability.go); nil: none.
	gate *availability
	// stripes serialize the orders of one account within this process, so that two orders of
	// one account never both write before either records its outcome (two creates of one
	// user, two member additions to one group).
	stripes [64]sync.Mutex
}

func (r *Reconciler) lock(stream string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(stream))
	m := &r.stripes[h.Sum32()%uint32(len(r.stripes))]
	m.Lock()
	return m.Unlock
}

// errNoRevision: env has no published revision (nothing to do).
var errNoRevision = errors.New("no published propagation revision")

func (r *Reconciler) revision(o *Order) (*compiledRevision, error) {
	if o.compiled != nil {
		return o.compiled, nil
	}
	if o.Revision != nil {
		if o.Preview {
			return compileRevision(*o.Revision), nil
		}
		return r.compiled.get(*o.Revision), nil
	}
	rev, ok := r.revisions.Published(o.Env)
	if !ok {
		return nil, errNoRevision
	}
	return r.compiled.get(rev), nil
}

// maxRaces bounds the reruns of an order that lost its account stream to a concurrent one.
const maxRaces = 8

// Reconcile runs order o and returns its trace. A transient failure (the store unavailable or
// rate limiting, the log unavailable) is returned as an error, to be retried; a permanent one
// is recorded as a final change_failed outcome and reported in the trace only.
func (r *Reconciler) Reconcile(ctx context.Context, o Order) (domain.ProvisionTrace, error) {
	tr := domain.ProvisionTrace{RuleID: o.RuleID, IdentityID: o.IdentityID, Operation: domain.OpNone}
	if !o.SourcePosition.IsZero() && r.wait != nil {
		if err := r.wait.WaitFor(ctx, o.SourcePosition); err != nil {
			return tr, fmt.Errorf("reconcile %s/%s: %w", o.RuleID, o.IdentityID, err)
		}
	}
	rev, err := r.revision(&o)
	if errors.Is(err, errNoRevision) {
		tr.Result = "skipped"
		tr.Steps = append(tr.Steps, domain.TraceStep{Name: "revision", Detail: "environment has no published propagation revision"})
		return tr, nil
	}
	cr := rev.rules[o.RuleID]
	if cr == nil {
		tr.Result = "skipped"
		tr.Steps = append(tr.Steps, domain.TraceStep{Name: "revision", Detail: fmt.Sprintf("rule %s is not in revision %d", o.RuleID, rev.rev.Number)})
		return tr, nil
	}
	if r.gate != nil {
		if deferred, err := r.gate.admit(ctx, &o, cr); err != nil || deferred {
			tr.Result = "deferred"
			if err != nil {
				tr.Result, tr.Error = "failed", err.Error()
			}
			return tr, err
		}
	}
	for race := 0; ; race++ {
		run := &run{r: r, o: &o, rev: rev, cr: cr, orderID: ChangeOrderID(o.RuleID, o.Cause, o.IdentityID)}
		run.trace.RuleID, run.trace.IdentityID, run.trace.Operation = o.RuleID, o.IdentityID, domain.OpNone
		unlock := r.lock(AccountStream(o.RuleID, o.IdentityID))
		err := run.do(ctx)
		unlock()
		if errors.Is(err, eventstore.ErrWrongExpectedRevision) && race < maxRaces && ctx.Err() == nil {
			continue
		}
		if err != nil && run.trace.Result == "" {
			run.trace.Result, run.trace.Error = "failed", err.Error()
		}
		if err != nil && r.gate != nil {
			if tr, err, handled := r.gate.failed(ctx, &o, cr, run.trace, err); handled {
				return tr, err
			}
		}
		return run.trace, err
	}
}

// run is one attempt of an order.
type run struct {
	r       *Reconciler
	o       *Order
	rev     *compiledRevision
	cr      *compiledRule
	orderID string
	acct    *account
	trace   domain.ProvisionTrace
	conn    *conn
	// conflicted: a create-first met the store's uniqueness conflict (then match).
	conflicted bool
	// pending is drift to record in the batch of the next applied outcome (drift.go).
	pending []domain.PropagationDriftDetected
}

func (x *run) step(name, format string, args ...any) {
	x.trace.Steps = append(x.trace.Steps, domain.TraceStep{Name: name, Detail: fmt.Sprintf(format, args...)})
}

func (x *run) do(ctx context.Context) error {
	acct, err := loadAccount(ctx, x.r.store, x.r.reg, x.o.RuleID, x.o.IdentityID)
	if err != nil {
		return err
	}
	x.acct = acct
	x.trace.TargetID = acct.TargetID
	if acct.Orders[x.orderID] && !x.o.DryRun && !x.o.Preview {
		x.step("record", "change order %s already has its outcome (a redelivery)", x.orderID)
		x.trace.Result = "skipped"
		return nil
	}
	if done, err := x.skipQuarantined(ctx); done || err != nil {
		return err
	}
	if x.o.Kind == domain.IdentityGroup {
		return x.group(ctx)
	}
	return x.user(ctx)
}

// scope returns the user (nil when deleted or erased) and why it is out of scope ("" when in).
func (x *run) scope() (*projections.User, string, error) {
	if x.o.ForceRemove {
		return nil, "store deprovisioned", nil
	}
	u, err := x.r.dir.User(x.o.Env, x.o.IdentityID)
	if errors.Is(err, domain.ErrNotFound) || (err == nil && u.Erased) {
		return nil, "user deleted", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read user %s: %w", x.o.IdentityID, err)
	}
	schema, err := x.r.dir.Schema(x.o.Env)
	if err != nil {
		return nil, "", fmt.Errorf("read schema: %w", err)
	}
	match, err := projections.CompileUserMatcher(x.cr.rule.Filter, schema)
	if err != nil {
		return u, "scoping filter does not compile: " + err.Error(), nil
	}
	if !match(u) {
		return u, "out of scope: the scoping filter does not match", nil
	}
	if !u.Enabled && !x.cr.target.Actions.ProvisionDisabled {
		return u, "user disabled", nil
	}
	return u, "", nil
}

func (x *run) user(ctx context.Context) error {
	if why := x.cr.inactive(); why != "" && !x.o.ForceRemove {
		// A paused rule, plan or store does nothing: pausing is not deprovisioning.
		x.step("scope", "%s: nothing done", why)
		x.trace.Result = "skipped"
		return nil
	}
	u, why, err := x.scope()
	if err != nil {
		return err
	}
	if why != "" {
		x.step("scope", "%s", why)
		return x.remove(ctx, connectors.KindUser)
	}
	x.trace.InScope = true
	x.step("scope", "in scope")
	if x.cr.set == nil {
		return x.failed(ctx, string(connectors.ClassInvalid), x.cr.err.Error(), true)
	}
	groups, err := x.r.dir.UserGroups(x.o.Env, u.ID, true)
	if err != nil {
		return fmt.Errorf("read groups of user %s: %w", u.ID, err)
	}
	src := SourceMap(u, groups)
	linked := x.acct.TargetID != ""
	desired, err := x.cr.set.Evaluate(src, !linked)
	if err != nil {
		x.step("map", "%v", err)
		return x.failed(ctx, string(connectors.ClassInvalid), err.Error(), true)
	}
	if linked && x.acct.Disabled {
		if _, ok := changeValue(desired, "active"); !ok {
			desired = append(desired, connectors.Change{Path: "active", Value: true}) // back in scope: re-enable
		}
	}
	x.step("map", "%d target attributes", len(desired))
	if x.o.Preview {
		return x.previewChanges(desired)
	}
	if err := x.open(); err != nil {
		return x.connectorError(ctx, "open", err)
	}
	if linked && x.o.Trigger == TriggerEvent {
		if done, err := x.updateFromRecord(ctx, desired); done || err != nil {
			return err
		}
	}
	if linked {
		cur, err := x.conn.c.Get(ctx, connectors.KindUser, x.acct.TargetID)
		switch {
		case connectors.ClassOf(err) == connectors.ClassNotFound && err != nil:
			x.step("match", "linked account %s is gone from the store", x.acct.TargetID)
			if recreate, err := x.deletedDrift(ctx); !recreate || err != nil {
				return err
			}
			creating, err := x.cr.set.Evaluate(src, true)
			if err != nil {
				return x.failed(ctx, string(connectors.ClassInvalid), err.Error(), true)
			}
			return x.create(ctx, connectors.KindUser, creating)
		case err != nil:
			return x.connectorError(ctx, "get user", err)
		}
		x.step("match", "linked account %s", cur.ID)
		return x.update(ctx, connectors.KindUser, cur, desired, domain.OpUpdate)
	}
	value, ok := changeValue(desired, x.cr.corrKey)
	if !ok {
		x.step("match", "the correlation attribute %s has no value", x.cr.corr)
		return x.failed(ctx, string(connectors.ClassInvalid), fmt.Sprintf("correlation attribute %s has no mapped value", x.cr.corr), true)
	}
	if x.cr.corrKey == "username" && !x.o.DryRun && x.cr.target.Actions.Create {
		// userName is unique in a SCIM store (RFC 7643 §4.1.1: uniqueness "server"): create
		// first, and match only when the store answers that the name is taken. One request
		// instead of two for every new identity.
		x.step("match", "userName %q: creating, matching on a uniqueness conflict", value)
		err := x.create(ctx, connectors.KindUser, desired)
		if !x.conflicted {
			return err
		}
		x.trace.Steps = x.trace.Steps[:len(x.trace.Steps)-1] // the conflict is not a failure
		x.trace.Operation, x.trace.Result, x.trace.Error = domain.OpNone, "", ""
	}
	found, err := x.conn.c.Find(ctx, connectors.KindUser, x.cr.corr, value)
	if err != nil {
		return x.connectorError(ctx, "find user", err)
	}
	switch len(found) {
	case 0:
		x.step("match", "no account has %s %q", x.cr.corr, value)
		if x.conflicted {
			// Taken, yet not found by that value: the store's uniqueness and its filter
			// disagree; never guess.
			return x.failed(ctx, string(connectors.ClassConflict), fmt.Sprintf("userName %q is taken but no account has it", value), true)
		}
		return x.create(ctx, connectors.KindUser, desired)
	case 1:
		x.step("match", "account %s has %s %q: linking it", found[0].ID, x.cr.corr, value)
		notCreating, err := x.cr.set.Evaluate(src, false)
		if err != nil {
			return x.failed(ctx, string(connectors.ClassInvalid), err.Error(), true)
		}
		return x.update(ctx, connectors.KindUser, found[0], notCreating, domain.OpLink)
	default:
		ids := make([]string, len(found))
		for i, f := range found {
			ids[i] = f.ID
		}
		sort.Strings(ids)
		x.step("match", "%d accounts have %s %q: disputed", len(found), x.cr.corr, value)
		return x.disputed(ctx, ids)
	}
}

// changeValue returns the string value of the change whose canonical path has key (Evaluate
// gives canonical paths).
func changeValue(cs []connectors.Change, key string) (string, bool) {
	for _, c := range cs {
		if pathKey(c.Path) != key {
			continue
		}
		switch v := c.Value.(type) {
		case string:
			return v, v != ""
		case nil:
			return "", false
		default:
			b, _ := json.Marshal(v)
			return string(b), true
		}
	}
	return "", false
}

func (x *run) open() error {
	if x.conn != nil {
		return nil
	}
	c, err := x.r.conns.get(connSlot(x.cr.rule), x.cr.target)
	if err != nil {
		return err
	}
	x.conn = c
	return nil
}

// connectorError records a permanent connector failure as final, and returns a transient one
// to be retried.
func (x *run) connectorError(ctx context.Context, op string, err error) error {
	x.step("apply", "%s: %v", op, err)
	if d := connectors.RetryAfterOf(err); d > 0 && x.r.limits != nil && connectors.ClassOf(err) == connectors.ClassRateLimited {
		x.r.limits.pause(x.cr.target.ID, d) // every worker waits, not only this order's retry
	}
	// AUTH goes back to Reconcile when availability is tracked: a probe tells whether the store
	// refuses the credentials (unavailable) or this request only (recorded as final there).
	if connectors.Transient(err) || (x.r.gate != nil && connectors.ClassOf(err) == connectors.ClassAuth && gated(x.o)) {
		x.trace.Result, x.trace.Error = "failed", err.Error()
		return fmt.Errorf("rule %s, %s %s: %w", x.o.RuleID, op, x.o.IdentityID, err)
	}
	return x.failed(ctx, string(connectors.ClassOf(err)), err.Error(), true)
}

func (x *run) write(ctx context.Context) error {
	if x.r.limits == nil {
		return nil
	}
	return x.r.limits.wait(ctx, x.cr.target.ID, writeBound(x.conn.f.WritesPerMinute, x.cr.target.Safety))
}

func (x *run) create(ctx context.Context, kind connectors.Kind, desired []connectors.Change) error {
	if !x.cr.target.Actions.Create {
		return x.skipped(ctx, "action not allowed: create")
	}
	x.trace.Operation = domain.OpCreate
	x.trace.Diff = x.diffs(desired, nil)
	if x.o.DryRun {
		x.trace.Result = "would apply"
		return nil
	}
	if err := x.write(ctx); err != nil {
		return err
	}
	build := mapping.Build
	if kind == connectors.KindUser && x.cr.set != nil {
		build = x.cr.set.Build // resolves the Set's own paths without parsing them
	}
	attrs, err := build(desired)
	if err != nil {
		return x.failed(ctx, string(connectors.ClassInvalid), err.Error(), true)
	}
	res, err := x.conn.c.Create(ctx, kind, attrs)
	if err != nil {
		if kind == connectors.KindUser && !x.conflicted && connectors.ClassOf(err) == connectors.ClassConflict && x.cr.corrKey == "username" {
			x.conflicted = true
			x.step("apply", "create: %v", err)
			return nil
		}
		return x.connectorError(ctx, "create "+string(kind), err)
	}
	x.step("apply", "created %s %s", kind, res.ID)
	x.trace.TargetID = res.ID
	return x.applied(ctx, domain.OpCreate, res.ID, desired, true)
}

// update converges resource cur with desired: only the differing paths are written.
func (x *run) update(ctx context.Context, kind connectors.Kind, cur connectors.Resource, desired []connectors.Change, op domain.ChangeOperation) error {
	if kind == connectors.KindUser && op == domain.OpUpdate {
		var err error
		if desired, err = x.modifiedDrift(ctx, desired, cur); err != nil {
			return err
		}
	}
	diff := x.diff(desired, cur.Attributes)
	x.trace.TargetID = cur.ID
	x.trace.Diff = x.diffs(diff, cur.Attributes)
	x.step("diff", "%d of %d attributes differ", len(diff), len(desired))
	if op == domain.OpLink {
		x.trace.Operation = domain.OpLink
	}
	if len(diff) == 0 {
		if op == domain.OpLink || x.recordDiffers(desired) {
			if x.o.DryRun {
				x.trace.Result = "would apply"
				return nil
			}
			if op != domain.OpLink {
				op = domain.OpNone // the target has it: only idstream's record lagged
			}
			return x.applied(ctx, op, cur.ID, desired, false)
		}
		x.trace.Result = "applied"
		x.step("apply", "already converged")
		return nil
	}
	if !x.cr.target.Actions.Update {
		if op == domain.OpLink && !x.o.DryRun {
			return x.applied(ctx, op, cur.ID, nil, false)
		}
		return x.skipped(ctx, "action not allowed: update")
	}
	x.trace.Operation = op
	if x.o.DryRun {
		x.trace.Result = "would apply"
		return nil
	}
	if err := x.write(ctx); err != nil {
		return err
	}
	if _, err := x.conn.c.Update(ctx, kind, cur.ID, diff); err != nil {
		if connectors.ClassOf(err) == connectors.ClassNotFound && op != domain.OpLink {
			// Gone between Get and Update: the next delivery recreates it.
			return fmt.Errorf("update %s %s: %w", kind, cur.ID, &connectors.Error{Class: connectors.ClassUnavailable, Op: "update", Err: err})
		}
		return x.connectorError(ctx, "update "+string(kind), err)
	}
	x.step("apply", "updated %d attributes of %s", len(diff), cur.ID)
	if op == domain.OpLink {
		return x.applied(ctx, op, cur.ID, desired, false)
	}
	return x.applied(ctx, op, cur.ID, diff, false)
}

// updateFromRecord is the fast path of an identity change to a linked account: when
// idstream's record holds a digest of every desired attribute, what differs from the record is
// what changed at the source, and is written without reading the account first (one request
// instead of two, and none when nothing mapped changed). It reports done=false to fall back to
// reading the account: an incomplete record, a re-enabled account, or an account gone from the
// store. Changes made in the store behind idstream's back are not seen here; resyncs (and drift
// detection) compare with the store itself.
func (x *run) updateFromRecord(ctx context.Context, desired []connectors.Change) (done bool, err error) {
	if x.acct.Disabled || x.o.DryRun || x.acct.DeletedInTarget {
		return false, nil
	}
	var diff []connectors.Change
	for _, c := range desired {
		d, ok := x.acct.Digests[pathKey(c.Path)]
		if !ok {
			return false, nil
		}
		if d != mapping.Digest(c.Value) {
			diff = append(diff, c)
		}
	}
	x.trace.TargetID = x.acct.TargetID
	if len(diff) == 0 {
		x.step("diff", "idstream's record of %s matches every mapped attribute: nothing to write", x.acct.TargetID)
		x.trace.Result = "applied"
		return true, nil
	}
	if !x.cr.target.Actions.Update {
		return true, x.skipped(ctx, "action not allowed: update")
	}
	x.step("diff", "%d of %d attributes differ from idstream's record of %s", len(diff), len(desired), x.acct.TargetID)
	x.trace.Operation = domain.OpUpdate
	if err := x.write(ctx); err != nil {
		return true, err
	}
	if _, err := x.conn.c.Update(ctx, connectors.KindUser, x.acct.TargetID, diff); err != nil {
		if connectors.ClassOf(err) == connectors.ClassNotFound {
			x.step("apply", "account %s is gone from the store", x.acct.TargetID)
			return false, nil
		}
		return true, x.connectorError(ctx, "update user", err)
	}
	x.step("apply", "updated %d attributes of %s", len(diff), x.acct.TargetID)
	return true, x.applied(ctx, domain.OpUpdate, x.acct.TargetID, diff, false)
}

// recordDiffers reports whether idstream's record of the account lags desired (a write
// happened whose outcome was not recorded, or the account was linked without digests).
func (x *run) recordDiffers(desired []connectors.Change) bool {
	for _, c := range desired {
		if x.acct.Digests[pathKey(c.Path)] != mapping.Digest(c.Value) {
			return true
		}
	}
	return x.acct.Disabled
}

// pathKey is the key of a canonical target path (mapping.Path.Key of the path Evaluate gives).
func pathKey(path string) string { return strings.ToLower(path) }

// diffs renders changes as trace diffs, with the current values of cur.
func (x *run) diffs(cs []connectors.Change, cur map[string]any) []domain.AttributeDiff {
	out := make([]domain.AttributeDiff, 0, len(cs))
	for _, c := range cs {
		d := domain.AttributeDiff{Path: c.Path, Desired: jsonText(c.Value)}
		if cur != nil {
			if p, err := x.cr.path(c.Path); err == nil {
				if v, ok := p.Get(cur); ok {
					d.Current = jsonText(v)
				}
			}
		}
		out = append(out, d)
	}
	return out
}

func jsonText(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// recordFailure appends a final change_failed for order o that failed with err for good
// (retries exhausted), unless the order already has its outcome.
func (r *Reconciler) recordFailure(ctx context.Context, o Order, err error) error {
	rev, rerr := r.revision(&o)
	if rerr != nil {
		return nil
	}
	cr := rev.rules[o.RuleID]
	if cr == nil {
		return nil
	}
	for race := 0; ; race++ {
		x := &run{r: r, o: &o, rev: rev, cr: cr, orderID: ChangeOrderID(o.RuleID, o.Cause, o.IdentityID)}
		acct, lerr := loadAccount(ctx, r.store, r.reg, o.RuleID, o.IdentityID)
		if lerr != nil {
			return lerr
		}
		x.acct = acct
		if acct.Orders[x.orderID] || acct.FailedOrders[x.orderID] {
			return nil
		}
		ferr := x.failed(ctx, string(connectors.ClassOf(err)), err.Error(), true)
		if errors.Is(ferr, eventstore.ErrWrongExpectedRevision) && race < maxRaces {
			continue
		}
		return ferr
	}
}

// diff returns the desired changes cur does not have (the rule's Set resolves its own paths).
func (x *run) diff(desired []connectors.Change, cur map[string]any) []connectors.Change {
	if x.cr.set != nil {
		return x.cr.set.Diff(desired, cur)
	}
	return mapping.Diff(desired, cur)
}
