package propagation

import (
	"context"
	"fmt"
	"sort"

	"github.com/google/uuid"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/mapping"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// Actor is the actor of the outcome events the runtime appends.
const Actor = "system:propagation"

func (x *run) outcome(op domain.ChangeOperation, targetID string) domain.ChangeOutcome {
	o := domain.ChangeOutcome{EnvironmentID: x.o.Env, ChangeOrderID: x.orderID, RuleID: x.o.RuleID, StoreID: x.cr.target.ID,
		RevisionID: x.rev.rev.RevisionID, Kind: x.o.Kind, IdentityID: x.o.IdentityID, Operation: op, TargetID: targetID,
		Trigger: x.o.Trigger}
	if !x.o.SourcePosition.IsZero() {
		o.SourcePosition = x.o.SourcePosition.String()
	}
	if o.Kind == "" {
		o.Kind = domain.IdentityUser
	}
	return o
}

// applied records a change written (or a record refreshed, for NONE).
func (x *run) applied(ctx context.Context, op domain.ChangeOperation, targetID string, written []connectors.Change, created bool) error {
	x.trace.Operation, x.trace.TargetID, x.trace.Result = op, targetID, "applied"
	if x.o.DryRun || x.o.Preview {
		x.trace.Result = "would apply"
		return nil
	}
	e := domain.PropagationChangeApplied{ChangeOutcome: x.outcome(op, targetID), Subject: x.o.IdentityID, CreatedByIdstream: created}
	if len(written) > 0 {
		e.Digests = make(map[string]string, len(written))
		for _, c := range written {
			k := pathKey(c.Path)
			e.Attributes = append(e.Attributes, c.Path)
			e.Digests[k] = mapping.Digest(c.Value)
		}
		sort.Strings(e.Attributes)
	}
	x.r.metrics.outcome(string(op))
	return x.append(ctx, e, len(e.Digests) > 0)
}

// skipped records an order that did nothing, unless the last outcome was the same skip.
func (x *run) skipped(ctx context.Context, reason string) error {
	x.step("apply", "skipped: %s", reason)
	x.trace.Result = "skipped"
	if x.o.DryRun || x.o.Preview || x.acct.LastSkip == reason {
		return nil
	}
	x.r.metrics.outcome("SKIPPED")
	return x.append(ctx, domain.PropagationChangeSkipped{ChangeOutcome: x.outcome(domain.OpNone, x.acct.TargetID), Reason: reason}, false)
}

// failed records a failure; final says no retry follows.
func (x *run) failed(ctx context.Context, class, msg string, final bool) error {
	x.step("apply", "failed: %s: %s", class, msg)
	x.trace.Result, x.trace.Error = "failed", msg
	if x.o.DryRun || x.o.Preview {
		return nil
	}
	x.r.metrics.outcome("FAILED")
	return x.append(ctx, domain.PropagationChangeFailed{ChangeOutcome: x.outcome(x.trace.Operation, x.acct.TargetID),
		Subject: x.o.IdentityID, Class: class, Message: msg, Attempt: max(x.o.Attempt, 1), Final: final}, true)
}

// disputed records several candidate accounts.
func (x *run) disputed(ctx context.Context, candidates []string) error {
	x.trace.Result = "disputed"
	if x.o.DryRun || x.o.Preview || x.acct.LastSkip == "disputed" {
		return nil
	}
	x.r.metrics.outcome("DISPUTED")
	return x.append(ctx, domain.PropagationChangeDisputed{ChangeOutcome: x.outcome(domain.OpNone, ""), Candidates: candidates}, false)
}

// append appends outcome payload p to the account stream at the expected revision of the
// fold, with the event ID derived from the change order. A revision conflict is returned
// wrapping eventstore.ErrWrongExpectedRevision (the order reruns).
func (x *run) append(ctx context.Context, p any, personal bool) error {
	stream := AccountStream(x.o.RuleID, x.o.IdentityID)
	if personal {
		if err := x.r.reg.PrepareKeys(ctx, p); err != nil {
			return fmt.Errorf("append to %s: %w", stream, err)
		}
	}
	key := "outcome|" + x.orderID
	if _, failure := p.(domain.PropagationChangeFailed); failure {
		key += "|failed" // a later success of the same order is another event
	}
	id := uuid.NewSHA1(namespace(), []byte(key))
	meta := eventstore.Metadata{EnvironmentID: x.o.Env, Actor: Actor, CorrelationID: x.o.CorrelationID, CausationID: x.o.Cause,
		OccurredAt: x.r.now().UTC()}
	ev, err := x.r.reg.EncodeContext(ctx, id, p, meta)
	if err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	// Drift staged by this run is recorded with the write that repairs (or reports) it, and
	// only with a write: a failure or a skip repaired nothing.
	var batch []eventstore.EventData
	if _, ok := p.(domain.PropagationChangeApplied); ok {
		if batch, err = x.pendingEvents(ctx); err != nil {
			return fmt.Errorf("append to %s: %w", stream, err)
		}
	} else {
		x.pending = nil
	}
	if _, err := x.r.store.Append(ctx, stream, x.acct.expected, append(batch, ev)...); err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	x.committedPending()
	x.acct.apply(p)
	return nil
}
