package propagation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/mapping"
	"github.com/idstream/idstream/domain"
)

// group converges the target group of a source group the rule selects: displayName is the
// group's name and members are the target accounts of its members (transitive) that this rule
// has linked and not disabled.
func (x *run) group(ctx context.Context) error {
	if why := x.cr.inactive(); why != "" && !x.o.ForceRemove {
		x.step("scope", "%s: nothing done", why)
		x.trace.Result = "skipped"
		return nil
	}
	why := ""
	if x.o.ForceRemove {
		why = "store deprovisioned"
	}
	if why == "" && !x.cr.groups[x.o.IdentityID] {
		why = "group not selected by the rule"
	}
	var g struct{ name string }
	if why == "" {
		grp, err := x.r.dir.Group(x.o.Env, x.o.IdentityID)
		switch {
		case errors.Is(err, domain.ErrNotFound):
			why = "group deleted"
		case err != nil:
			return fmt.Errorf("read group %s: %w", x.o.IdentityID, err)
		default:
			g.name = grp.Name
		}
	}
	if why != "" {
		x.step("scope", "%s", why)
		return x.remove(ctx, connectors.KindGroup)
	}
	x.trace.InScope = true
	x.step("scope", "in scope")
	members, err := x.members(ctx)
	if err != nil {
		return err
	}
	x.step("map", "displayName %q, %d members with accounts", g.name, len(members))
	list := make([]any, len(members))
	for i, m := range members {
		list[i] = map[string]any{"value": m}
	}
	desired := []connectors.Change{{Path: "displayName", Value: g.name}, {Path: "members", Value: list}}
	if x.o.Preview {
		return x.previewChanges(desired)
	}
	if err := x.open(); err != nil {
		return x.connectorError(ctx, "open", err)
	}
	if !x.conn.f.Groups {
		return x.skipped(ctx, "the target store has no groups")
	}
	if x.acct.TargetID != "" {
		cur, err := x.conn.c.Get(ctx, connectors.KindGroup, x.acct.TargetID)
		switch {
		case err != nil && connectors.ClassOf(err) == connectors.ClassNotFound:
			x.step("match", "linked group %s is gone from the store", x.acct.TargetID)
			return x.create(ctx, connectors.KindGroup, desired)
		case err != nil:
			return x.connectorError(ctx, "get group", err)
		}
		x.step("match", "linked group %s", cur.ID)
		return x.updateGroup(ctx, cur, g.name, members, domain.OpUpdate)
	}
	found, err := x.conn.c.Find(ctx, connectors.KindGroup, "displayName", g.name)
	if err != nil {
		return x.connectorError(ctx, "find group", err)
	}
	switch len(found) {
	case 0:
		x.step("match", "no group has displayName %q", g.name)
		return x.create(ctx, connectors.KindGroup, desired)
	case 1:
		x.step("match", "group %s has displayName %q: linking it", found[0].ID, g.name)
		return x.updateGroup(ctx, found[0], g.name, members, domain.OpLink)
	default:
		ids := make([]string, len(found))
		for i, f := range found {
			ids[i] = f.ID
		}
		sort.Strings(ids)
		return x.disputed(ctx, ids)
	}
}

// members returns the sorted target IDs of the group's users with a live account of this rule.
func (x *run) members(ctx context.Context) ([]string, error) {
	gm, err := x.r.dir.GroupMembers(x.o.Env, x.o.IdentityID, true)
	if errors.Is(err, domain.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read members of group %s: %w", x.o.IdentityID, err)
	}
	var out []string
	for _, u := range gm.Users {
		a, err := loadAccount(ctx, x.r.store, x.r.reg, x.o.RuleID, u.ID)
		if err != nil {
			return nil, err
		}
		if a.TargetID != "" && !a.Disabled {
			out = append(out, a.TargetID)
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// memberValues returns the sorted member IDs of a target group.
func memberValues(attrs map[string]any) []string {
	var out []string
	list, _ := attrs["members"].([]any)
	for _, m := range list {
		if o, ok := m.(map[string]any); ok {
			if v, ok := o["value"].(string); ok {
				out = append(out, v)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (x *run) updateGroup(ctx context.Context, cur connectors.Resource, name string, members []string, op domain.ChangeOperation) error {
	have := memberValues(cur.Attributes)
	duplicated := len(slices.Compact(slices.Clone(have))) != len(have)
	var add, del []string
	want := map[string]bool{}
	for _, m := range members {
		want[m] = true
		if !slices.Contains(have, m) {
			add = append(add, m)
		}
	}
	for _, m := range have {
		if !want[m] {
			del = append(del, m)
		}
	}
	list := make([]any, len(members))
	for i, m := range members {
		list[i] = map[string]any{"value": m}
	}
	var diff []connectors.Change
	if curName, _ := cur.Attributes["displayName"].(string); curName != name {
		diff = append(diff, connectors.Change{Path: "displayName", Value: name})
	}
	memberChange := connectors.Change{Path: "members", Value: list}
	written := append(slices.Clone(diff), memberChange)
	x.trace.TargetID = cur.ID
	x.trace.Diff = x.diffs(diff, cur.Attributes)
	if len(add)+len(del) > 0 {
		x.trace.Diff = append(x.trace.Diff, domain.AttributeDiff{Path: "members", Current: jsonText(have), Desired: jsonText(members)})
	}
	x.step("diff", "displayName %s, %d members to add, %d to remove", map[bool]string{true: "differs", false: "same"}[len(diff) > 0], len(add), len(del))
	if len(diff) == 0 && len(add)+len(del) == 0 && !duplicated {
		if op == domain.OpLink || x.recordDiffers(written) {
			if op != domain.OpLink {
				op = domain.OpNone
			}
			return x.applied(ctx, op, cur.ID, written, false)
		}
		x.trace.Result = "applied"
		return nil
	}
	if !x.cr.target.Actions.Update {
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
	if duplicated {
		// A member listed twice (a race of another process): replace the whole list.
		if _, err := x.conn.c.Update(ctx, connectors.KindGroup, cur.ID, append(diff, memberChange)); err != nil {
			return x.connectorError(ctx, "update group", err)
		}
	} else if mu, ok := x.conn.c.(connectors.MemberUpdater); ok && len(add)+len(del) > 0 {
		if len(diff) > 0 {
			if _, err := x.conn.c.Update(ctx, connectors.KindGroup, cur.ID, diff); err != nil {
				return x.connectorError(ctx, "update group", err)
			}
		}
		if err := mu.UpdateMembers(ctx, cur.ID, add, del); err != nil {
			return x.connectorError(ctx, "update group members", err)
		}
	} else {
		changes := diff
		if len(add)+len(del) > 0 {
			changes = append(changes, memberChange)
		}
		if _, err := x.conn.c.Update(ctx, connectors.KindGroup, cur.ID, changes); err != nil {
			return x.connectorError(ctx, "update group", err)
		}
	}
	x.step("apply", "updated group %s", cur.ID)
	return x.applied(ctx, op, cur.ID, written, false)
}

// previewChanges predicts from idstream's record: not linked creates, linked updates the paths
// whose recorded digest differs.
func (x *run) previewChanges(desired []connectors.Change) error {
	if x.acct.TargetID == "" {
		x.trace.Diff = x.diffs(desired, nil)
		if !x.cr.target.Actions.Create {
			x.trace.Result = "skipped"
			x.step("apply", "skipped: action not allowed: create")
			return nil
		}
		x.trace.Operation, x.trace.Result = domain.OpCreate, "would apply"
		return nil
	}
	var differ []connectors.Change
	for _, c := range desired {
		if x.acct.Digests[pathKey(c.Path)] != mapping.Digest(c.Value) {
			differ = append(differ, c)
		}
	}
	x.trace.Diff = x.diffs(differ, nil)
	x.step("diff", "%d of %d attributes differ from idstream's record", len(differ), len(desired))
	if len(differ) == 0 && !x.acct.Disabled {
		x.trace.Result = "applied"
		return nil
	}
	if !x.cr.target.Actions.Update {
		x.trace.Result = "skipped"
		return nil
	}
	x.trace.Operation, x.trace.Result = domain.OpUpdate, "would apply"
	return nil
}
