package propagation

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// AccountStream names the stream of the outcomes of rule ruleID for identity identityID.
func AccountStream(ruleID, identityID string) string {
	return domain.CategoryPropagationAccount + "-" + ruleID + "_" + identityID
}

// account is idstream's record of one (rule, identity) target account: the fold of its
// account stream.
type account struct {
	// TargetID is the linked target account ("" when none: never linked, or deleted).
	TargetID string
	// Created: idstream created TargetID (not linked to an existing account).
	Created bool
	// Disabled: the remove action DISABLE was applied and the identity has not come back.
	Disabled bool
	// Digests are the digests of the values last written, by canonical target path.
	Digests map[string]string
	// Orders holds the change orders with a final outcome: redelivered, they do nothing. A final
	// failure of a transient class (the store unavailable or rate limiting past every retry) is
	// not one: the order may still succeed when redelivered (its success is recorded under
	// another event ID than its failure).
	Orders map[string]bool
	// FailedOrders holds the change orders whose final failure is recorded.
	FailedOrders map[string]bool
	// LastSkip is the reason of the last outcome when it was a skip ("" otherwise), so that a
	// repeated skip for the same reason is not recorded again.
	LastSkip string
	// LastFailure is the class of the last outcome when it was a final failure.
	LastFailure string
	// Drift is the open modified drift: the paths of the last drift_detected MODIFIED not
	// repaired, less those written since. DeletedInTarget: the account's deletion in the target
	// was reported and not repaired.
	Drift           []string
	DeletedInTarget bool
	expected        eventstore.ExpectedRevision
}

func newAccount() *account {
	return &account{Digests: map[string]string{}, Orders: map[string]bool{}, FailedOrders: map[string]bool{}, expected: eventstore.NoStream}
}

// apply folds one outcome.
func (a *account) apply(p any) {
	switch d := p.(type) {
	case domain.PropagationDriftDetected:
		a.applyDrift(d)
		return
	case domain.PropagationDriftResolved:
		a.Drift = slices.DeleteFunc(slices.Clone(a.Drift), func(p string) bool {
			return slices.ContainsFunc(d.Attributes, func(r string) bool { return pathKey(r) == pathKey(p) })
		})
		if d.Deleted {
			a.DeletedInTarget = false
		}
		return
	}
	var o domain.ChangeOutcome
	a.LastSkip, a.LastFailure = "", ""
	switch e := p.(type) {
	case domain.PropagationChangeApplied:
		o = e.ChangeOutcome
		switch o.Operation {
		case domain.OpDelete:
			a.TargetID, a.Created, a.Disabled = "", false, false
			a.Digests = map[string]string{}
		case domain.OpCreate:
			a.TargetID, a.Created, a.Disabled = o.TargetID, true, false
			a.Digests = map[string]string{}
		case domain.OpLink:
			a.TargetID, a.Created, a.Disabled = o.TargetID, e.CreatedByIdstream, false
		case domain.OpDisable:
			a.Disabled = true
		default:
			if o.TargetID != "" {
				a.TargetID = o.TargetID
			}
			a.Disabled = false
		}
		if e.CreatedByIdstream {
			a.Created = true
		}
		for k, v := range e.Digests {
			a.Digests[k] = v
		}
		a.DeletedInTarget = false // the account is there: idstream just wrote it
		a.Drift = slices.DeleteFunc(a.Drift, func(p string) bool { _, written := e.Digests[pathKey(p)]; return written })
		if o.Operation == domain.OpDelete || o.Operation == domain.OpCreate {
			a.Drift = nil
		}
	case domain.PropagationChangeFailed:
		o = e.ChangeOutcome
		a.LastFailure = e.Class
		if e.Final {
			a.FailedOrders[o.ChangeOrderID] = true
		}
		if c := connectors.Class(e.Class); c == connectors.ClassUnavailable || c == connectors.ClassRateLimited {
			return // not a final outcome of the order: a redelivery runs it again
		}
	case domain.PropagationChangeSkipped:
		o = e.ChangeOutcome
		a.LastSkip = e.Reason
	case domain.PropagationChangeDisputed:
		o = e.ChangeOutcome
		a.LastSkip = "disputed"
	default:
		return
	}
	if o.ChangeOrderID != "" {
		a.Orders[o.ChangeOrderID] = true
	}
}

// applyDrift folds a drift_detected of the account.
func (a *account) applyDrift(d domain.PropagationDriftDetected) {
	switch {
	case d.Repaired:
		a.Drift, a.DeletedInTarget = nil, false
	case d.Drift == domain.DriftDeleted:
		a.DeletedInTarget = true
	case d.Drift == domain.DriftModified:
		// The account's drift now (it replaces the last report); it exists, so it is not deleted.
		a.Drift, a.DeletedInTarget = slices.Clone(d.Attributes), false
	}
}

// loadAccount folds the account stream of (ruleID, identityID).
func loadAccount(ctx context.Context, store eventstore.Store, reg *eventstore.Registry, ruleID, identityID string) (*account, error) {
	a := newAccount()
	stream := AccountStream(ruleID, identityID)
	for ev, err := range store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}) {
		if err != nil {
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				return a, nil
			}
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		d, err := reg.DecodeEvent(ev)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		a.apply(d.Payload)
		a.expected = eventstore.Exact(ev.Revision)
	}
	return a, nil
}
