package propagation

import (
	"context"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/domain"
)

// remove applies the store's remove action to the account of an identity out of scope,
// disabled or deleted: only to an account this rule linked or created, only when the store's
// actions allow it. DELETE needs an account idstream created and a store that deletes (else it
// falls back to DISABLE where allowed); DISABLE writes active=false.
func (x *run) remove(ctx context.Context, kind connectors.Kind) error {
	if x.acct.TargetID == "" {
		x.step("match", "no linked account: nothing to remove")
		x.trace.Result = "skipped"
		return nil
	}
	act := x.cr.target.Actions
	deleteOK := act.Deprovision && act.RemoveAction == domain.RemoveDelete && x.acct.Created
	disableOK := act.Disable && kind == connectors.KindUser
	if kind == connectors.KindGroup {
		deleteOK = act.Deprovision && x.acct.Created
	}
	if deleteOK { // opening contacts no store: a preview learns the store's features too
		if err := x.open(); err != nil {
			return x.connectorError(ctx, "open", err)
		}
		if !x.conn.f.HardDelete {
			deleteOK = false
		}
	}
	switch {
	case deleteOK:
		x.trace.Operation = domain.OpDelete
		if x.o.DryRun || x.o.Preview {
			x.trace.Result = "would apply"
			return nil
		}
		if held, err := x.holdRemoval(ctx, domain.OpDelete); held || err != nil {
			return err
		}
		if err := x.write(ctx); err != nil {
			return err
		}
		err := x.conn.c.Delete(ctx, kind, x.acct.TargetID)
		if err != nil && connectors.ClassOf(err) != connectors.ClassNotFound {
			return x.connectorError(ctx, "delete "+string(kind), err)
		}
		x.step("apply", "deleted %s %s", kind, x.acct.TargetID)
		return x.applied(ctx, domain.OpDelete, x.acct.TargetID, nil, false)
	case disableOK:
		if x.acct.Disabled {
			x.step("apply", "account %s already disabled", x.acct.TargetID)
			x.trace.Result = "applied"
			return nil
		}
		x.trace.Operation = domain.OpDisable
		change := []connectors.Change{{Path: "active", Value: false}}
		x.trace.Diff = x.diffs(change, nil)
		if x.o.DryRun || x.o.Preview {
			x.trace.Result = "would apply"
			return nil
		}
		if held, err := x.holdRemoval(ctx, domain.OpDisable); held || err != nil {
			return err
		}
		if err := x.open(); err != nil {
			return x.connectorError(ctx, "open", err)
		}
		if err := x.write(ctx); err != nil {
			return err
		}
		if _, err := x.conn.c.Update(ctx, kind, x.acct.TargetID, change); err != nil {
			if connectors.ClassOf(err) == connectors.ClassNotFound {
				x.step("apply", "account %s is gone from the store", x.acct.TargetID)
				return x.applied(ctx, domain.OpDelete, x.acct.TargetID, nil, false)
			}
			return x.connectorError(ctx, "disable "+string(kind), err)
		}
		x.step("apply", "disabled %s %s", kind, x.acct.TargetID)
		return x.applied(ctx, domain.OpDisable, x.acct.TargetID, change, false)
	}
	reason := "action not allowed: " + removeName(act)
	return x.skipped(ctx, reason)
}

func removeName(a domain.StoreActions) string {
	if a.RemoveAction == domain.RemoveDelete {
		return "deprovision"
	}
	return "disable"
}
