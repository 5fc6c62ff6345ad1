package commands

import (
	"context"
	"fmt"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// ReleasePropagationRule releases a quarantined rule: the runtime resyncs it (nothing is lost:
// the resync converges every identity). ExpectedRevision, when set, is the revision of the
// rule's stream (proprule-<rule id>) the caller decided on.
type ReleasePropagationRule struct {
	EnvironmentID    string
	RuleID           string
	Reason           string
	ExpectedRevision *uint64
}

// ReleasePropagationRuleHandler handles ReleasePropagationRule.
type ReleasePropagationRuleHandler struct{ d *Deps }

// NewReleasePropagationRule returns the handler of ReleasePropagationRule.
func NewReleasePropagationRule(d *Deps) *ReleasePropagationRuleHandler {
	return &ReleasePropagationRuleHandler{d: d}
}

// Handle appends propagation.rule_released. Errors: NOT_FOUND on "environmentId" or "ruleId"
// (never quarantined); CONFLICT when the rule is not quarantined or ExpectedRevision is stale.
func (h *ReleasePropagationRuleHandler) Handle(ctx context.Context, in ReleasePropagationRule) (eventstore.Position, error) {
	d := h.d
	env, err := d.propagationEnv(ctx, in.EnvironmentID)
	if err == nil {
		err = validID("ruleId", in.RuleID)
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("release propagation rule: %w", err)
	}
	stream := domain.StreamName(domain.CategoryPropagationRuleState, in.RuleID)
	var pos eventstore.Position
	attempt := func() error {
		q := &domain.RuleQuarantine{}
		expected, err := d.load(ctx, stream, q)
		if err != nil {
			return err
		}
		if in.ExpectedRevision != nil {
			if rev, ok := expected.Revision(); !ok || rev != *in.ExpectedRevision {
				return fmt.Errorf("%w: rule %s changed since revision %d", domain.ErrConflict, in.RuleID, *in.ExpectedRevision)
			}
		}
		events, err := q.Release(env, in.RuleID, in.Reason)
		if err != nil {
			return err
		}
		pos, err = d.appendEvents(ctx, stream, expected, env, nil, events...)
		return err
	}
	if in.ExpectedRevision != nil {
		err = attempt()
	} else {
		err = retryOnConflict(ctx, attempt)
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("release propagation rule %s: %w", in.RuleID, err)
	}
	return pos, nil
}
