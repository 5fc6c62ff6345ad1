package domain

import "time"

// Propagation runtime state beyond the outcomes of change orders: store availability, the
// durable backlog of paused rules, held changes (safety rails), rule quarantine and drift.
//
// Streams:
//   - propstore-<store id> (CategoryPropagationStoreState): the store's availability
//     (store_unavailable, store_available) and its held changes (change_held, held_approved,
//     held_discarded);
//   - proprule-<rule id> (CategoryPropagationRuleState): the rule's backlog (change_deferred,
//     backlog_drained) and quarantine (rule_quarantined, rule_released), and drift found on
//     target accounts no identity owns (drift_detected with no IdentityID);
//   - propaccount-<rule id>_<identity id>: drift_detected of an identity's account, beside its
//     outcomes.
const (
	CategoryPropagationStoreState = "propstore"
	CategoryPropagationRuleState  = "proprule"

	EvPropStoreUnavailable = "propagation.store_unavailable"
	EvPropStoreAvailable   = "propagation.store_available"
	EvPropChangeDeferred   = "propagation.change_deferred"
	EvPropBacklogDrained   = "propagation.backlog_drained"
	EvPropChangeHeld       = "propagation.change_held"
	EvPropHeldApproved     = "propagation.held_approved"
	EvPropHeldDiscarded    = "propagation.held_discarded"
	EvPropRuleQuarantined  = "propagation.rule_quarantined"
	EvPropRuleReleased     = "propagation.rule_released"
	EvPropDriftDetected    = "propagation.drift_detected"
	EvPropDriftResolved    = "propagation.drift_resolved"
)

// PropagationStoreUnavailable records that a store stopped answering: Class is the connector
// error class that made it so (UNAVAILABLE: refused, timeout, 5xx; AUTH: the store refuses the
// credentials), Reason the probe's error (never a secret). The rules targeting it pause from
// Since until store_available.
type PropagationStoreUnavailable struct {
	EnvironmentID string    `json:"environmentId"`
	StoreID       string    `json:"storeId"`
	Class         string    `json:"class"`
	Reason        string    `json:"reason"`
	Since         time.Time `json:"since"`
}

// PropagationStoreAvailable records that a store answers its health probe again, after being
// unavailable since DownSince: the paused rules drain their backlogs, in order.
type PropagationStoreAvailable struct {
	EnvironmentID string    `json:"environmentId"`
	StoreID       string    `json:"storeId"`
	Since         time.Time `json:"since"`
	DownSince     time.Time `json:"downSince"`
}

// PropagationChangeDeferred records a change order that waits in its rule's backlog (stream
// proprule-<rule id>) instead of running: the target store is unavailable. Orders drain in the
// order of their deferral; a drain reruns the order (level-triggered: it converges the account
// with the identity's state at the drain).
type PropagationChangeDeferred struct {
	EnvironmentID  string       `json:"environmentId"`
	RuleID         string       `json:"ruleId"`
	StoreID        string       `json:"storeId"`
	Kind           IdentityKind `json:"kind"`
	IdentityID     string       `json:"identityId"`
	Cause          string       `json:"cause"`
	Trigger        string       `json:"trigger"`
	SourcePosition string       `json:"sourcePosition,omitempty"`
	Reason         string       `json:"reason"`
}

// PropagationBacklogDrained records that a rule's backlog ran up to and including the stream
// revision Through of proprule-<rule id> (Orders orders, Failed of them failed for good).
type PropagationBacklogDrained struct {
	EnvironmentID string `json:"environmentId"`
	RuleID        string `json:"ruleId"`
	StoreID       string `json:"storeId"`
	Through       uint64 `json:"through"`
	Orders        int    `json:"orders"`
	Failed        int    `json:"failed"`
}

// PropagationChangeHeld records a removal (disable or delete) a safety rail held for approval:
// the store's removals this hour or this publication reached their bound. Nothing was written;
// the account stays until held_approved reruns the order or held_discarded drops it.
type PropagationChangeHeld struct {
	EnvironmentID string          `json:"environmentId"`
	StoreID       string          `json:"storeId"`
	HeldID        string          `json:"heldId"`
	RuleID        string          `json:"ruleId"`
	RevisionID    string          `json:"revisionId"`
	Kind          IdentityKind    `json:"kind"`
	IdentityID    string          `json:"identityId"`
	TargetID      string          `json:"targetId,omitempty"`
	Operation     ChangeOperation `json:"operation"`
	Trigger       string          `json:"trigger"`
	Cause         string          `json:"cause"`
	// Rail names the bound reached: "maxRemovalsPerHour" or "maxRemovalsPerPublish".
	Rail   string `json:"rail"`
	Reason string `json:"reason"`
}

// PropagationHeldApproved and PropagationHeldDiscarded record an administrator's decision on
// held changes (the actor is in the event's metadata).
type PropagationHeldApproved struct {
	EnvironmentID string   `json:"environmentId"`
	StoreID       string   `json:"storeId"`
	HeldIDs       []string `json:"heldIds"`
}
type PropagationHeldDiscarded struct {
	EnvironmentID string   `json:"environmentId"`
	StoreID       string   `json:"storeId"`
	HeldIDs       []string `json:"heldIds"`
}

// PropagationRuleQuarantined records that a rule stopped running because most of its recent
// change orders failed for good (Failures of the last Total); its orders are skipped until
// rule_released, which resyncs the rule.
type PropagationRuleQuarantined struct {
	EnvironmentID string    `json:"environmentId"`
	RuleID        string    `json:"ruleId"`
	StoreID       string    `json:"storeId"`
	Reason        string    `json:"reason"`
	Failures      int       `json:"failures"`
	Total         int       `json:"total"`
	Since         time.Time `json:"since"`
}

// PropagationRuleReleased records a quarantined rule released, by an administrator or by a
// publication that changed it.
type PropagationRuleReleased struct {
	EnvironmentID string `json:"environmentId"`
	RuleID        string `json:"ruleId"`
	Reason        string `json:"reason"`
}

// DriftKind is what was changed in a target behind idstream's back.
type DriftKind string

const (
	// DriftModified: attributes of an account differ from what idstream last wrote.
	DriftModified DriftKind = "MODIFIED"
	// DriftCreated: an account exists in the target that no identity of the rule owns.
	DriftCreated DriftKind = "CREATED"
	// DriftDeleted: an account idstream keeps is gone from the target.
	DriftDeleted DriftKind = "DELETED"
)

// PropagationDriftDetected records drift found in a target account by a resync or a periodic
// reconciliation. Attributes names the target attribute paths that differ, never their values.
// Repaired: the rule's policy is OVERWRITE and the source's values were written back (or the
// account recreated).
type PropagationDriftDetected struct {
	EnvironmentID string       `json:"environmentId"`
	RuleID        string       `json:"ruleId"`
	StoreID       string       `json:"storeId"`
	Kind          IdentityKind `json:"kind"`
	// IdentityID is the identity owning the account ("" for DriftCreated: nobody does).
	IdentityID string      `json:"identityId,omitempty"`
	TargetID   string      `json:"targetId"`
	Drift      DriftKind   `json:"drift"`
	Attributes []string    `json:"attributes,omitempty"`
	Policy     DriftPolicy `json:"policy"`
	Repaired   bool        `json:"repaired"`
	// Trigger: "resync" or "reconcile".
	Trigger string `json:"trigger"`
}

// PropagationDriftResolved records reported drift of an account gone without idstream writing
// it back: the target again has the values idstream last wrote at Attributes (an administrator
// reverted the change), or the account deleted in the target is back (Deleted).
type PropagationDriftResolved struct {
	EnvironmentID string       `json:"environmentId"`
	RuleID        string       `json:"ruleId"`
	StoreID       string       `json:"storeId"`
	Kind          IdentityKind `json:"kind"`
	IdentityID    string       `json:"identityId"`
	TargetID      string       `json:"targetId"`
	Attributes    []string     `json:"attributes,omitempty"`
	Deleted       bool         `json:"deleted,omitempty"`
	Trigger       string       `json:"trigger"`
}

func propagationRuntimeEventTypes() []EventType {
	return []EventType{
		{EvPropStoreUnavailable, 1, PropagationStoreUnavailable{}},
		{EvPropStoreAvailable, 1, PropagationStoreAvailable{}},
		{EvPropChangeDeferred, 1, PropagationChangeDeferred{}},
		{EvPropBacklogDrained, 1, PropagationBacklogDrained{}},
		{EvPropChangeHeld, 1, PropagationChangeHeld{}},
		{EvPropHeldApproved, 1, PropagationHeldApproved{}},
		{EvPropHeldDiscarded, 1, PropagationHeldDiscarded{}},
		{EvPropRuleQuarantined, 1, PropagationRuleQuarantined{}},
		{EvPropRuleReleased, 1, PropagationRuleReleased{}},
		{EvPropDriftDetected, 1, PropagationDriftDetected{}},
		{EvPropDriftResolved, 1, PropagationDriftResolved{}},
	}
}
