package graph

import (
	"context"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/graph/model"
	"github.com/idstream/idstream/projections"
)

// PropagationDrift is what the API reads of drift (*projections.PropagationDrift).
type PropagationDrift interface {
	WaitFor(ctx context.Context, pos eventstore.Position) error
	Rule(env, ruleID string) projections.DriftStatus
	Store(env, storeID string) projections.DriftStatus
	Records(env, ruleID string, first int, after string, keep func(projections.DriftRecord) bool) (projections.DriftPage, error)
}

var _ PropagationDrift = (*projections.PropagationDrift)(nil)

// Reconciliation is what one reconciliation of a rule did (the runtime's DriftSummary; graph
// does not import connectors).
type Reconciliation struct {
	ResyncID                                                 string
	Identities, Created, Updated, Removed, Failed, Unchanged int
	DriftModified, DriftDeleted, DriftCreated, DriftRepaired int
}

// propagationDrift returns the drift read model, UNAVAILABLE when the server has none.
func (r *Resolver) propagationDrift() (PropagationDrift, error) {
	if r.cfg.PropagationDrift == nil {
		return nil, unavailablef("propagation drift is not configured on this server")
	}
	return r.cfg.PropagationDrift, nil
}

func toDriftStatus(s projections.DriftStatus) *model.PropagationDriftStatus {
	return &model.PropagationDriftStatus{OpenAccounts: s.Accounts, UnownedAccounts: s.Unowned, LastDriftAt: optTime(s.LastDriftAt)}
}

func toDriftRecord(r projections.DriftRecord) *model.PropagationDriftRecord {
	policy := r.Policy
	if policy == "" {
		policy = domain.DriftReport
	}
	kind := r.Kind
	if kind == "" {
		kind = domain.IdentityUser
	}
	return &model.PropagationDriftRecord{RuleID: r.RuleID, StoreID: r.StoreID, IdentityKind: model.PropagationStatusIdentityKind(kind),
		IdentityID: optString(r.IdentityID), TargetID: r.TargetID, Kind: model.PropagationDriftKind(r.Drift),
		Attributes: nonNil(r.Attributes), Policy: model.DriftPolicy(policy), Repaired: r.Repaired, Trigger: r.Trigger, At: r.At.UTC()}
}
