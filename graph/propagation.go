package graph

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/idstream/idstream/commands"
	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/graph/model"
	"github.com/idstream/idstream/projections"
)

// PropagationConfig is what the API reads of the propagation configuration
// (*projections.PropagationConfig).
type PropagationConfig interface {
	// WaitFor returns once the model has folded every event up to pos, or ctx's error.
	WaitFor(ctx context.Context, pos eventstore.Position) error
	Draft(envID string) domain.PropagationContent
	PublishedRecord(envID string) (projections.PropagationRevisionRecord, bool)
	// Revisions are newest first.
	Revisions(envID string) []projections.PropagationRevisionRecord
	Revision(envID, id string) (projections.PropagationRevisionRecord, bool)
	Store(envID, id string) (domain.PropagationStore, bool)
	Plan(envID, id string) (domain.PropagationPlan, bool)
	Rule(envID, id string) (domain.PropagationRule, bool)
}

// StoreTester checks a proposed store configuration against the store itself, saving nothing;
// cmd wires it to the connectors. A nil error means the store answered and accepted the
// credentials. An error's message is shown to the caller, so it must never hold a secret; its
// code is the class an error in its chain reports through an ErrorClass() string method (the
// connectors' classification), else its domain kind, else UNAVAILABLE.
type StoreTester interface {
	TestStore(ctx context.Context, env string, typ domain.StoreType, config map[string]string, credentials map[string]string) error
}

// propagation returns the configured read model, or UNAVAILABLE.
func (r *Resolver) propagation() (PropagationConfig, error) {
	if r.cfg.PropagationConfig == nil {
		return nil, unavailablef("propagation configuration is not configured on this server")
	}
	return r.cfg.PropagationConfig, nil
}

// beginPropagation starts a propagation query: the caller must read the environment, and the
// configuration read model must have passed minPosition (bounded wait). An environment without
// any propagation configuration that the directory does not know is NOT_FOUND.
func (r *Resolver) beginPropagation(ctx context.Context, env string, minPosition *string) (PropagationConfig, error) {
	if err := authorize(ctx, domain.ActReadEnvironment, env, ""); err != nil {
		return nil, err
	}
	m, err := r.propagation()
	if err != nil {
		return nil, err
	}
	if minPosition != nil && *minPosition != "" {
		pos, err := eventstore.ParsePosition(*minPosition)
		if err != nil {
			return nil, domain.Invalidf("minPosition", "%q is not a position (want a mutation's position)", *minPosition)
		}
		wctx, cancel := context.WithTimeout(ctx, minPositionTimeout)
		defer cancel()
		if err := m.WaitFor(wctx, pos); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("%w: the propagation configuration has not reached position %s within %s", domain.ErrUnavailable, pos, minPositionTimeout)
			}
			return nil, err
		}
	}
	if d := m.Draft(env); len(d.Stores)+len(d.Plans)+len(d.Rules) == 0 && len(m.Revisions(env)) == 0 {
		if _, err := r.rm(ctx).Environment(env); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// authorizePropagationChange checks that the caller may change environment env's propagation
// configuration, and that the write side is configured.
func (r *Resolver) authorizePropagationChange(ctx context.Context, env string) error {
	if err := authorize(ctx, domain.ActManageEnvironment, env, ""); err != nil {
		return err
	}
	if r.cfg.Propagation == nil {
		return unavailablef("propagation configuration is not configured on this server")
	}
	return nil
}

// keyValues turns a list of key-value pairs into a map; a key given twice is INVALID on field.
// Values are never quoted in errors (they may be credentials).
func keyValues(field string, in []*model.KeyValueInput) (map[string]string, error) {
	if in == nil {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for i, kv := range in {
		if kv == nil {
			continue
		}
		if _, dup := out[kv.Key]; dup {
			return nil, domain.Invalidf(fmt.Sprintf("%s[%d].key", field, i), "key %q is given twice", kv.Key)
		}
		out[kv.Key] = kv.Value
	}
	return out, nil
}

func toKeyValues(m map[string]string) []*model.KeyValue {
	out := make([]*model.KeyValue, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, &model.KeyValue{Key: k, Value: m[k]})
	}
	return out
}

func toStoreActions(a domain.StoreActions) *model.StoreActions {
	return &model.StoreActions{Create: a.Create, Update: a.Update, Disable: a.Disable, Deprovision: a.Deprovision,
		RemoveAction: model.RemoveAction(a.RemoveAction), ProvisionDisabled: a.ProvisionDisabled}
}

func fromStoreActions(in *model.StoreActionsInput) domain.StoreActions {
	if in == nil {
		return domain.StoreActions{}
	}
	b := func(p *bool) bool { return p != nil && *p }
	out := domain.StoreActions{Create: b(in.Create), Update: b(in.Update), Disable: b(in.Disable), Deprovision: b(in.Deprovision),
		ProvisionDisabled: b(in.ProvisionDisabled)}
	if in.RemoveAction != nil {
		out.RemoveAction = domain.RemoveAction(*in.RemoveAction)
	}
	return out
}

// toPropagationStore converts a store; its credentials only as whether they are set.
func toPropagationStore(env string, s domain.PropagationStore) *model.PropagationStore {
	return &model.PropagationStore{ID: s.ID, EnvironmentID: env, Name: s.Name, Description: optString(s.Description),
		Type: model.StoreType(s.Type), Config: toKeyValues(s.Config), CredentialsSet: s.Credentials != "",
		CredentialsVersion: s.CredentialsVersion, Status: model.StoreStatus(s.Status), Managed: s.Managed, Actions: toStoreActions(s.Actions),
		Safety: toStoreSafety(s.Safety)}
}

func toPropagationPlan(env string, p domain.PropagationPlan) *model.PropagationPlan {
	return &model.PropagationPlan{ID: p.ID, EnvironmentID: env, Name: p.Name, Description: optString(p.Description), Status: model.PlanStatus(p.Status)}
}

func toAttributeMapping(m domain.AttributeMapping) *model.AttributeMapping {
	return &model.AttributeMapping{ID: m.ID, Target: m.Target, Source: model.MappingSource(m.Source), Value: m.Value,
		ApplyOn: model.MappingApply(m.ApplyOn), Default: optString(m.Default)}
}

func toPropagationRule(env string, r domain.PropagationRule) *model.PropagationRule {
	out := &model.PropagationRule{ID: r.ID, EnvironmentID: env, PlanID: r.PlanID, Name: r.Name, SourceStoreID: r.SourceStoreID,
		TargetStoreID: r.TargetStoreID, Filter: optString(r.Filter), GroupIds: append([]string{}, r.GroupIDs...), Active: r.Active,
		CorrelationAttribute: r.CorrelationAttribute, Mappings: make([]*model.AttributeMapping, len(r.Mappings)),
		DriftPolicy: model.DriftPolicyReport, TargetConfig: toKeyValues(r.TargetConfig)}
	if r.DriftPolicy != "" {
		out.DriftPolicy = model.DriftPolicy(r.DriftPolicy)
	}
	for i, m := range r.Mappings {
		out.Mappings[i] = toAttributeMapping(m)
	}
	return out
}

func fromMapping(id *string, target string, source model.MappingSource, value *string, apply *model.MappingApply, def *string) domain.AttributeMapping {
	m := domain.AttributeMapping{ID: deref(id), Target: target, Source: domain.MappingSource(source), Value: deref(value), Default: deref(def)}
	if apply != nil {
		m.ApplyOn = domain.MappingApply(*apply)
	}
	return m
}

func byName[T any](items []T, name func(T) string) []T {
	slices.SortStableFunc(items, func(a, b T) int { return strings.Compare(strings.ToLower(name(a)), strings.ToLower(name(b))) })
	return items
}

func toPropagationRevision(rec projections.PropagationRevisionRecord) *model.PropagationRevision {
	rev, env := rec.PropagationRevisionPublished, rec.EnvironmentID
	out := &model.PropagationRevision{ID: rev.RevisionID, EnvironmentID: env, Number: rev.Number, Description: optString(rev.Description),
		ContentHash: rev.ContentHash, PreviousRevisionID: optString(rev.PreviousRevisionID), PreviousHash: optString(rev.PreviousHash),
		RestoredFrom: optString(rev.RestoredFrom), CreatedAt: rec.PublishedAt, CreatedBy: optString(rec.Actor), Position: rec.Position.String(),
		Stores: []*model.PropagationStore{}, Plans: []*model.PropagationPlan{}, Rules: []*model.PropagationRule{}}
	for _, s := range rev.Content.Stores {
		out.Stores = append(out.Stores, toPropagationStore(env, s))
	}
	for _, p := range rev.Content.Plans {
		out.Plans = append(out.Plans, toPropagationPlan(env, p))
	}
	for _, r := range rev.Content.Rules {
		out.Rules = append(out.Rules, toPropagationRule(env, r))
	}
	return out
}

func toPropagationDiff(changes []projections.PropagationChange) []*model.PropagationDiffEntry {
	out := make([]*model.PropagationDiffEntry, len(changes))
	for i, c := range changes {
		out[i] = &model.PropagationDiffEntry{Kind: strings.ToUpper(c.Kind), Op: strings.ToUpper(c.Op), ID: c.ID, Name: optString(c.Name),
			RuleID: optString(c.RuleID), Fields: append([]string{}, c.Fields...)}
	}
	return out
}

// revisionCursor and parseRevisionCursor encode a revision's number as a page cursor.
func revisionCursor(number int) string { return cursorOf("rev:" + strconv.Itoa(number)) }

func parseRevisionCursor(c string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if n, ok := strings.CutPrefix(string(b), "rev:"); ok {
			if v, err := strconv.Atoi(n); err == nil && v > 0 {
				return v, nil
			}
		}
	}
	return 0, domain.Invalidf("after", "not a cursor of propagationRevisions")
}

// storeTestResult turns a StoreTester's answer into the payload.
func storeTestResult(err error) *model.TestStoreConnectionPayload {
	if err == nil {
		return &model.TestStoreConnectionPayload{Ok: true}
	}
	code := codeOf(err)
	var classed interface{ ErrorClass() string }
	if errors.As(err, &classed) {
		code = classed.ErrorClass()
	}
	if code == "" {
		code = CodeUnavailable
	}
	msg := err.Error()
	return &model.TestStoreConnectionPayload{Ok: false, Message: &msg, Code: &code}
}

// revisionPayload converts a publish or rollback result (no revision: a rollback that only
// reset the draft), read back from the configuration read model once it has passed the commit
// (for the revision's time and actor).
func (r *Resolver) revisionPayload(ctx context.Context, env string, res commands.PropagationRevisionResult) (*model.PropagationRevisionPayload, error) {
	out := &model.PropagationRevisionPayload{Position: res.Position.String()}
	if res.Revision.RevisionID == "" {
		return out, nil
	}
	m, err := r.propagation()
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, minPositionTimeout)
	defer cancel()
	if err := m.WaitFor(wctx, res.Position); err != nil {
		return nil, fmt.Errorf("%w: revision %s is published, the read model has not reached it yet: %w", domain.ErrUnavailable, res.Revision.RevisionID, err)
	}
	rec, ok := m.Revision(env, res.Revision.RevisionID)
	if !ok {
		return nil, fmt.Errorf("revision %s published at %s is not in the read model", res.Revision.RevisionID, res.Position)
	}
	out.Revision = toPropagationRevision(rec)
	return out, nil
}
