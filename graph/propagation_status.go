package graph

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/graph/model"
	"github.com/idstream/idstream/projections"
)

// PropagationStatus is what the API reads of propagation status (*projections.PropagationStatus).
type PropagationStatus interface {
	// WaitFor returns once the status has folded every event up to pos, or ctx's error.
	WaitFor(ctx context.Context, pos eventstore.Position) error
	Store(env, id string) (projections.StoreStatus, error)
	Rule(env, id string) (projections.RuleSummary, error)
	IdentityAccounts(env, id string) []projections.AccountStatus
	AccountsAfter(ruleID, after string, fn func(projections.AccountStatus) bool)
}

var _ PropagationStatus = (*projections.PropagationStatus)(nil)

// Propagator is the propagation runtime as the API drives it (it lives in connectors, which
// graph does not import). Errors carry domain kinds: NOT_FOUND for an unknown rule or user,
// UNAVAILABLE for a store that does not answer.
type Propagator interface {
	// ProvisionUserNow runs user userID of env through rule ruleID now, applying the change
	// order, and returns its trace.
	ProvisionUserNow(ctx context.Context, env, ruleID, userID string) (domain.ProvisionTrace, error)
	// ResyncRule starts a resync of rule ruleID of env and returns its ID; it progresses in the
	// background (the rule's lastResync).
	ResyncRule(ctx context.Context, env, ruleID string) (string, error)
	// Preview predicts what publishing env's draft would do, touching no store.
	Preview(ctx context.Context, env string) (domain.PropagationPreview, error)
	// ReconcileRule reconciles rule ruleID of env now (drift detection) and returns what it did.
	ReconcileRule(ctx context.Context, env, ruleID string) (Reconciliation, error)
}

// propagationStatus returns the status read model, UNAVAILABLE when the server has none.
func (r *Resolver) propagationStatus() (PropagationStatus, error) {
	if r.cfg.PropagationStatus == nil {
		return nil, unavailablef("propagation status is not configured on this server")
	}
	return r.cfg.PropagationStatus, nil
}

// propagator returns the runtime, UNAVAILABLE when the server runs none.
func (r *Resolver) propagator() (Propagator, error) {
	if r.cfg.Propagator == nil {
		return nil, unavailablef("the propagation runtime is not running on this server")
	}
	return r.cfg.Propagator, nil
}

// beginStatus starts a status query on env: authorize act, then wait, at most
// minPositionTimeout, for the directory and the status to pass minPosition.
func (r *Resolver) beginStatus(ctx context.Context, act domain.Action, env string, minPosition *string) (PropagationStatus, error) {
	if err := r.begin(ctx, act, env, minPosition); err != nil {
		return nil, err
	}
	s, err := r.propagationStatus()
	if err != nil || minPosition == nil || *minPosition == "" {
		return s, err
	}
	pos, _ := eventstore.ParsePosition(*minPosition) // begin has parsed it
	wctx, cancel := context.WithTimeout(ctx, minPositionTimeout)
	defer cancel()
	if err := s.WaitFor(wctx, pos); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: propagation status has not reached position %s within %s", domain.ErrUnavailable, pos, minPositionTimeout)
		}
		return nil, err
	}
	return s, nil
}

// readsEveryIdentity reports whether the caller reads every identity of env.
func readsEveryIdentity(ctx context.Context, env string) bool {
	scope, err := readScope(ctx, env)
	return err == nil && scope == nil
}

// authorizeIdentityStatus checks that the caller may read the status of user id of env: a
// user it may not read is NOT_FOUND; a user no longer in the directory (deleted or forgotten)
// is visible to callers that read every identity only.
func (r *Resolver) authorizeIdentityStatus(ctx context.Context, env, id string) error {
	u, err := r.lookupUser(ctx, env, id)
	switch {
	case err == nil:
		return authorizeUser(ctx, domain.ActReadIdentities, env, u.PopulationID, id)
	case errors.Is(err, domain.ErrNotFound) && readsEveryIdentity(ctx, env):
		return nil
	}
	return err
}

// accountsPage returns the page of rule ruleID's accounts the caller sees: identity IDs after
// after, of state (when given), at most first.
func (r *Resolver) accountsPage(ctx context.Context, s PropagationStatus, env, ruleID string, state *model.PropagationStatusAccountState,
	first int, after string) (*model.PropagationStatusAccountConnection, error) {
	scope, err := readScope(ctx, env)
	if err != nil {
		return nil, err
	}
	out := &model.PropagationStatusAccountConnection{Edges: []*model.PropagationStatusAccountEdge{}, PageInfo: &model.PageInfo{}}
	if first == 0 {
		return out, nil
	}
	rm := r.rm(ctx)
	s.AccountsAfter(ruleID, after, func(a projections.AccountStatus) bool {
		if state != nil && string(a.Status) != string(*state) {
			return true
		}
		if a.Kind == domain.IdentityUser && scope != nil {
			u, err := rm.User(env, a.IdentityID)
			if err != nil || !slices.Contains(scope, u.PopulationID) {
				return true
			}
		}
		if len(out.Edges) == first {
			out.PageInfo.HasNextPage = true
			return false
		}
		out.Edges = append(out.Edges, &model.PropagationStatusAccountEdge{Cursor: accountCursor(a.IdentityID), Node: toStatusAccount(a)})
		return true
	})
	if n := len(out.Edges); n > 0 {
		out.PageInfo.EndCursor = &out.Edges[n-1].Cursor
	}
	return out, nil
}

const accountCursorPrefix = "propaccount:"

func accountCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(accountCursorPrefix + id))
}

// parseAccountCursor returns the identity ID a cursor of propagationAccounts resumes after.
func parseAccountCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	id, ok := strings.CutPrefix(string(b), accountCursorPrefix)
	if err != nil || !ok || id == "" {
		return "", domain.Invalidf("after", "%q is not a cursor of this list", c)
	}
	return id, nil
}

func toStatusStore(s projections.StoreStatus, showError bool) *model.PropagationStatusStore {
	out := &model.PropagationStatusStore{EnvironmentID: s.EnvironmentID, StoreID: s.StoreID, Name: s.Name, Type: string(s.Type),
		State: model.PropagationStatusStoreState(s.State), InRevision: s.InRevision, RevisionID: optString(s.RevisionID),
		LastSyncAt: optTime(s.LastSyncAt), SuccessCount: s.Success, FailedCount: s.Failed, DeprovisionFailedCount: s.DeprovisionFailed,
		UsersInScope: s.UsersInScope, Backlog: s.Backlog}
	if u := s.Unavailable; u != nil {
		out.Unavailable = &model.PropagationStatusUnavailable{Class: u.Class, Reason: u.Reason, Since: u.Since.UTC()}
	}
	if e := s.LastError; e != nil && showError {
		out.LastError = &model.PropagationStatusError{At: e.At.UTC(), RuleID: e.RuleID, IdentityID: e.IdentityID, Class: e.Class, Message: e.Message}
	}
	return out
}

func toStatusRule(s projections.RuleSummary) *model.PropagationStatusRule {
	out := &model.PropagationStatusRule{EnvironmentID: s.EnvironmentID, RuleID: s.RuleID, Name: optString(s.Name), PlanID: optString(s.PlanID),
		SourceStoreID: optString(s.SourceStoreID), TargetStoreID: optString(s.TargetStoreID), Active: s.Active, InRevision: s.InRevision,
		RevisionID: optString(s.RevisionID), Impacted: s.Impacted, Success: s.Success, Unsynced: s.Unsynced,
		PartiallySynced: s.PartiallySynced, Failed: s.Failed, Paused: s.Paused, PausedReason: optString(s.PausedReason), Backlog: s.Backlog,
		State: model.PropagationRuleStateRunning}
	if q := s.Quarantine; q != nil {
		out.State = model.PropagationRuleStateQuarantined
		out.Quarantine = &model.PropagationRuleQuarantine{Reason: q.Reason, Since: q.Since, Failures: q.Failures, Total: q.Total}
	}
	if rs := s.LastResync; rs != nil {
		out.LastResync = &model.PropagationStatusResync{ResyncID: rs.ResyncID, RevisionID: optString(rs.RevisionID), Trigger: optString(rs.Trigger),
			StartedAt: optTime(rs.StartedAt), FinishedAt: optTime(rs.FinishedAt), Running: rs.Running, Processed: rs.Processed,
			Identities: rs.Identities, Created: rs.Created, Updated: rs.Updated, Removed: rs.Removed, Failed: rs.Failed, Unchanged: rs.Unchanged}
	}
	return out
}

func toStatusAccount(a projections.AccountStatus) *model.PropagationStatusAccount {
	out := &model.PropagationStatusAccount{EnvironmentID: a.EnvironmentID, RuleID: a.RuleID, StoreID: a.StoreID,
		Kind: model.PropagationStatusIdentityKind(a.Kind), IdentityID: a.IdentityID, Status: model.PropagationStatusAccountState(a.Status),
		LastOperation: toOperation(a.LastOperation), TargetID: optString(a.TargetID), LastSyncAt: optTime(a.LastSyncAt),
		LastOutcomeAt: a.LastOutcomeAt.UTC(), Live: a.Live, CreatedByIdstream: a.CreatedByIdstream}
	if d := a.Details; d != nil {
		out.Details = &model.PropagationStatusDetails{At: d.At.UTC(), ChangeOrderID: d.ChangeOrderID, Trigger: d.Trigger,
			Attributes: nonNil(d.Attributes), Reason: optString(d.Reason), ErrorClass: optString(d.ErrorClass),
			ErrorMessage: optString(d.ErrorMessage), Candidates: nonNil(d.Candidates)}
		if d.Attempt > 0 {
			out.Details.Attempt = &d.Attempt
		}
	}
	return out
}

func toStatusAccounts(as []projections.AccountStatus) []*model.PropagationStatusAccount {
	out := make([]*model.PropagationStatusAccount, len(as))
	for i, a := range as {
		out[i] = toStatusAccount(a)
	}
	return out
}

// toOperation converts an operation; none ("") is NONE.
func toOperation(op domain.ChangeOperation) model.PropagationStatusOperation {
	if op == "" {
		return model.PropagationStatusOperationNone
	}
	return model.PropagationStatusOperation(op)
}

func toProvisionTrace(t domain.ProvisionTrace) *model.ProvisionTrace {
	out := &model.ProvisionTrace{RuleID: t.RuleID, IdentityID: t.IdentityID, InScope: t.InScope, Operation: toOperation(t.Operation),
		TargetID: optString(t.TargetID), Diff: make([]*model.ProvisionTraceDiff, len(t.Diff)), Result: t.Result, Error: optString(t.Error),
		Steps: make([]*model.ProvisionTraceStep, len(t.Steps))}
	for i, d := range t.Diff {
		out.Diff[i] = &model.ProvisionTraceDiff{Path: d.Path, Current: optString(d.Current), Desired: optString(d.Desired)}
	}
	for i, s := range t.Steps {
		out.Steps[i] = &model.ProvisionTraceStep{Name: s.Name, Detail: s.Detail}
	}
	return out
}

func toPropagationPreview(p domain.PropagationPreview) *model.PropagationPreview {
	out := &model.PropagationPreview{DraftHash: p.DraftHash, PublishedHash: p.PublishedHash, Rules: make([]*model.PropagationPreviewRule, len(p.Rules))}
	for i, r := range p.Rules {
		pr := &model.PropagationPreviewRule{RuleID: r.RuleID, Creates: r.Creates, Updates: r.Updates, Disables: r.Disables, Deletes: r.Deletes,
			Samples: make([]*model.ProvisionTrace, len(r.Samples))}
		for j, s := range r.Samples {
			pr.Samples[j] = toProvisionTrace(s)
		}
		out.Rules[i] = pr
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
