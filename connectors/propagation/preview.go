package propagation

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/projections"
)

// previewSamples bounds the sample traces of each rule of a preview.
const previewSamples = 20

// Preview predicts what publishing draft would do in env: per rule of the draft, a dry run of
// every user (walked page by page) and of every identity with an account of the rule, from
// idstream's own record of each account (no store is contacted), with counts and the first
// previewSamples traces that would change something. Rules whose managed target store the
// draft deletes count their accounts as deletes.
func (rt *Runtime) Preview(ctx context.Context, env string, draft domain.PropagationContent) (domain.PropagationPreview, error) {
	if err := rt.catchUp(ctx); err != nil {
		return domain.PropagationPreview{}, err
	}
	if err := rt.index.catchUp(ctx); err != nil {
		return domain.PropagationPreview{}, err
	}
	out := domain.PropagationPreview{DraftHash: draft.Hash()}
	published, hasPublished := rt.revisions().Published(env)
	if hasPublished {
		out.PublishedHash = published.ContentHash
	}
	rev := domain.PropagationRevisionPublished{EnvironmentID: env, RevisionID: "draft", Content: draft, ContentHash: out.DraftHash}
	compiled := compileRevision(rev)
	for _, rule := range draft.Rules {
		if hasPublished && ruleFingerprint(published, rule.ID) == ruleFingerprint(rev, rule.ID) {
			continue // unchanged: publishing does not resync it
		}
		rp := domain.RulePreview{RuleID: rule.ID, Samples: []domain.ProvisionTrace{}}
		add := func(tr domain.ProvisionTrace) {
			if tr.Result != "would apply" {
				return
			}
			switch tr.Operation {
			case domain.OpCreate:
				rp.Creates++
			case domain.OpUpdate, domain.OpLink:
				rp.Updates++
			case domain.OpDisable:
				rp.Disables++
			case domain.OpDelete:
				rp.Deletes++
			default:
				return
			}
			if len(rp.Samples) < previewSamples {
				rp.Samples = append(rp.Samples, tr)
			}
		}
		base := Order{Env: env, RuleID: rule.ID, Kind: domain.IdentityUser, Trigger: "preview", Cause: "preview", Preview: true, DryRun: true,
			Revision: &rev, compiled: compiled}
		after := ""
		for {
			page, err := rt.cfg.Directory.Users(env, projections.UserQuery{First: resyncPage, After: after})
			if err != nil {
				return out, fmt.Errorf("preview rule %s: read users: %w", rule.ID, err)
			}
			for _, u := range page.Users {
				o := base
				o.IdentityID = u.ID
				tr, err := rt.rec.Reconcile(ctx, o)
				if err != nil {
					return out, err
				}
				add(tr)
			}
			if !page.HasNextPage {
				break
			}
			after = page.EndCursor
		}
		for _, id := range rt.index.identities(rule.ID, domain.IdentityUser) {
			if u, err := rt.cfg.Directory.User(env, id); err == nil && !u.Erased {
				continue
			}
			o := base
			o.IdentityID = id
			tr, err := rt.rec.Reconcile(ctx, o)
			if err != nil {
				return out, err
			}
			add(tr)
		}
		for _, g := range rule.GroupIDs {
			o := base
			o.Kind, o.IdentityID = domain.IdentityGroup, g
			tr, err := rt.rec.Reconcile(ctx, o)
			if err != nil {
				return out, err
			}
			add(tr)
		}
		out.Rules = append(out.Rules, rp)
	}
	if hasPublished {
		kept := map[string]bool{}
		for _, s := range draft.Stores {
			kept[s.ID] = true
		}
		gone := map[string]bool{}
		for _, s := range published.Content.Stores {
			if !kept[s.ID] && s.Managed {
				gone[s.ID] = true
			}
		}
		for _, r := range published.Content.Rules {
			if !gone[r.TargetStoreID] {
				continue
			}
			// What deprovisioning does with the published configuration: delete what idstream
			// created where the store deletes, else disable where allowed (never a guess).
			rp := domain.RulePreview{RuleID: r.ID, Samples: []domain.ProvisionTrace{}}
			for _, kind := range []domain.IdentityKind{domain.IdentityUser, domain.IdentityGroup} {
				for _, id := range rt.index.identities(r.ID, kind) {
					tr, err := rt.rec.Reconcile(ctx, Order{Env: env, RuleID: r.ID, Kind: kind, IdentityID: id, Trigger: "preview", Cause: "preview",
						Preview: true, DryRun: true, Revision: &published, ForceRemove: true, Attempt: 1})
					if err != nil {
						return out, err
					}
					if tr.Result != "would apply" {
						continue
					}
					switch tr.Operation {
					case domain.OpDelete:
						rp.Deletes++
					case domain.OpDisable:
						rp.Disables++
					default:
						continue
					}
					if len(rp.Samples) < previewSamples {
						rp.Samples = append(rp.Samples, tr)
					}
				}
			}
			out.Rules = append(out.Rules, rp)
		}
	}
	return out, nil
}
