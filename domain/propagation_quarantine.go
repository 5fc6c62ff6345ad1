package domain

import (
	"fmt"
	"time"
)

// RuleQuarantine is the fold of a rule's quarantine events (stream proprule-<rule id>); other
// events of the stream (backlog, drift) are ignored.
type RuleQuarantine struct {
	EnvironmentID string
	RuleID        string
	Quarantined   bool
	Reason        string
	Since         time.Time
	// Releases counts the releases folded.
	Releases int
}

// Apply folds one event of the rule's stream.
func (q *RuleQuarantine) Apply(e any) {
	switch p := e.(type) {
	case PropagationRuleQuarantined:
		q.EnvironmentID, q.RuleID = p.EnvironmentID, p.RuleID
		q.Quarantined, q.Reason, q.Since = true, p.Reason, p.Since
	case PropagationRuleReleased:
		q.EnvironmentID, q.RuleID = p.EnvironmentID, p.RuleID
		q.Quarantined, q.Reason, q.Since = false, "", time.Time{}
		q.Releases++
	}
}

// Release releases a quarantined rule. Errors: NOT_FOUND on "ruleId" for a rule of another
// environment or never quarantined; CONFLICT when it is not quarantined now; INVALID on
// "reason" past 500 bytes.
func (q *RuleQuarantine) Release(env, ruleID, reason string) ([]any, error) {
	if q.RuleID == "" || q.EnvironmentID != env {
		return nil, &FieldError{Field: "ruleId", Reason: fmt.Sprintf("rule %s of environment %s was never quarantined", ruleID, env), Kind: ErrNotFound}
	}
	if !q.Quarantined {
		return nil, fmt.Errorf("%w: rule %s is not quarantined", ErrConflict, ruleID)
	}
	if len(reason) > 500 {
		return nil, Invalidf("reason", "at most 500 bytes, got %d", len(reason))
	}
	if reason == "" {
		reason = "released by an administrator"
	}
	return []any{PropagationRuleReleased{EnvironmentID: env, RuleID: ruleID, Reason: reason}}, nil
}
