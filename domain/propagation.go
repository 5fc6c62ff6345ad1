package domain

// Identity propagation configuration: stores, plans, rules and their attribute mappings, and the
// published revisions the runtime runs.
//
// An environment's whole propagation configuration lives in one stream,
// propagation-<environment id>: its draft (every store, plan, rule and mapping edit) and its
// published revisions. One stream makes plan and store names unique and each revision an exact
// snapshot of the draft at one stream revision, race-free; configuration edits are rare, so they
// contend on that stream and commute (commands reload and retry on a conflict).
//
// Edits change the draft only. The runtime runs the latest published revision, never the draft.
const CategoryPropagation = "propagation"

// StoreType is the kind of an identity store.
type StoreType string

const (
	// StoreDirectory is the environment's own directory (a source).
	StoreDirectory StoreType = "DIRECTORY"
	// StoreSCIM is a generic SCIM 2.0 service provider (RFC 7643/7644).
	StoreSCIM StoreType = "SCIM"
	// StoreSlack is Slack's SCIM API: disable only (a removal deactivates), rate limited.
	StoreSlack StoreType = "SLACK"
	// StoreZoom is Zoom's SCIM API.
	StoreZoom StoreType = "ZOOM"
	// StoreLDAP is an LDAP v3 directory: OpenLDAP (inetOrgPerson, groupOfNames) or Active
	// Directory (user with userAccountControl, group), per its "flavor" configuration.
	StoreLDAP StoreType = "LDAP"
	// StoreSQL is a table of a SQL database (PostgreSQL) holding one account per row.
	StoreSQL StoreType = "SQL"
)

// StoreStatus says whether a store takes part in propagation.
type StoreStatus string

const (
	StoreActive   StoreStatus = "ACTIVE"
	StoreInactive StoreStatus = "INACTIVE"
)

// RemoveAction is what leaving scope, disabling or deleting a source identity does to its
// target account (when the store's Deprovision action allows it).
type RemoveAction string

const (
	RemoveDisable RemoveAction = "DISABLE"
	RemoveDelete  RemoveAction = "DELETE"
)

// StoreActions are what propagation may do in a target store.
type StoreActions struct {
	Create      bool `json:"create"`
	Update      bool `json:"update"`
	Disable     bool `json:"disable"`
	Deprovision bool `json:"deprovision"`
	// RemoveAction applies when an identity leaves scope, is disabled (for RemoveDelete) or
	// deleted.
	RemoveAction RemoveAction `json:"removeAction"`
	// ProvisionDisabled allows creating accounts for disabled source users (created disabled).
	ProvisionDisabled bool `json:"provisionDisabled"`
}

// PropagationStore is an identity store as configured.
type PropagationStore struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Type        StoreType `json:"type"`
	// Config is the type-specific, non-secret configuration (for SCIM: baseUrl, authType,
	// tokenUrl, clientId, username...).
	Config map[string]string `json:"config,omitempty"`
	// Credentials is the store's secret configuration (a JSON object of strings: token,
	// password, clientSecret...) sealed with the operator's key (commands/secret), additional data
	// "propagation-store:<id>". Write-only: never returned by the API, never in plain text in
	// the log.
	Credentials string `json:"credentials,omitempty" audit:"redact"`
	// CredentialsVersion counts the credentials set on the store (0: none ever set). It never
	// decreases, not even when a rollback brings older credentials back, so the content hash,
	// which leaves the ciphertext out (it changes at each seal), still changes with them.
	CredentialsVersion int          `json:"credentialsVersion,omitempty"`
	Status             StoreStatus  `json:"status"`
	Managed            bool         `json:"managed"`
	Actions            StoreActions `json:"actions"`
	// Safety holds the store's safety rails (nil: none beyond the connector's own rate bound).
	Safety *StoreSafety `json:"safety,omitempty"`
}

// StoreSafety are a store's safety rails. Zero fields are off.
type StoreSafety struct {
	// MaxRemovalsPerHour bounds the removals (disables plus deletes) propagation makes in the
	// store in any sliding hour; the excess is held for approval (change_held).
	MaxRemovalsPerHour int `json:"maxRemovalsPerHour,omitempty"`
	// MaxRemovalsPerPublish bounds the removals one publication's resync makes in the store;
	// the excess is held for approval.
	MaxRemovalsPerPublish int `json:"maxRemovalsPerPublish,omitempty"`
	// WritesPerMinute bounds the writes to the store (below the connector's own bound, when it
	// has one).
	WritesPerMinute int `json:"writesPerMinute,omitempty"`
}

// DriftPolicy says what propagation does with a change made directly in a target (an attribute
// differing from what idstream last wrote there).
type DriftPolicy string

const (
	// DriftReport records drift_detected and leaves the target as it is ("" means REPORT).
	DriftReport DriftPolicy = "REPORT"
	// DriftOverwrite records drift_detected and writes the source's value back.
	DriftOverwrite DriftPolicy = "OVERWRITE"
)

// PlanStatus says whether a plan's rules run.
type PlanStatus string

const (
	PlanActive   PlanStatus = "ACTIVE"
	PlanInactive PlanStatus = "INACTIVE"
)

// PropagationPlan groups rules; its name is unique in the environment (any case).
type PropagationPlan struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Status      PlanStatus `json:"status"`
}

// MappingSource says where a mapping's value comes from.
type MappingSource string

const (
	// MapAttribute copies a source attribute (Value is its path, e.g. "name.givenName").
	MapAttribute MappingSource = "ATTRIBUTE"
	// MapConstant writes Value as is.
	MapConstant MappingSource = "CONSTANT"
	// MapExpression evaluates Value, an expr-lang expression over the source identity.
	MapExpression MappingSource = "EXPRESSION"
)

// MappingApply says when a mapping is written.
type MappingApply string

const (
	ApplyAlways   MappingApply = "ALWAYS"
	ApplyOnCreate MappingApply = "ON_CREATE"
)

// AttributeMapping maps one target attribute of a rule.
type AttributeMapping struct {
	ID string `json:"id"`
	// Target is the target attribute path in SCIM path syntax, e.g. `userName`, `name.givenName`,
	// `emails[type eq "work"].value`.
	Target  string        `json:"target"`
	Source  MappingSource `json:"source"`
	Value   string        `json:"value"`
	ApplyOn MappingApply  `json:"applyOn"`
	// Default is written when the value is empty (absent, null or "").
	Default string `json:"default,omitempty"`
}

// PropagationRule propagates identities from a source store to a target store.
type PropagationRule struct {
	ID            string `json:"id"`
	PlanID        string `json:"planId"`
	Name          string `json:"name"`
	SourceStoreID string `json:"sourceStoreId"`
	TargetStoreID string `json:"targetStoreId"`
	// Filter is the scoping filter, SCIM filter syntax over source attributes; empty: everyone.
	Filter string `json:"filter,omitempty"`
	// GroupIDs are the source groups provisioned (with their memberships) by this rule.
	GroupIDs []string `json:"groupIds,omitempty"`
	Active   bool     `json:"active"`
	// CorrelationAttribute is the target attribute path that matches an existing target account
	// to a source identity (its mapping gives the value); default "userName".
	CorrelationAttribute string             `json:"correlationAttribute"`
	Mappings             []AttributeMapping `json:"mappings"`
	// DriftPolicy is what a detected drift does ("" is REPORT).
	DriftPolicy DriftPolicy `json:"driftPolicy,omitempty"`
	// TargetConfig overrides the target store's non-secret configuration for this rule's
	// accounts (an LDAP rule's "usersBaseDN" or "userRDNAttribute", a SQL rule's "table"...):
	// the connector of a rule opens with the store's Config merged with it.
	TargetConfig map[string]string `json:"targetConfig,omitempty"`
}

// PropagationContent is an environment's whole propagation configuration: what a revision
// snapshots. Lists are sorted by ID.
type PropagationContent struct {
	Stores []PropagationStore `json:"stores"`
	Plans  []PropagationPlan  `json:"plans"`
	Rules  []PropagationRule  `json:"rules"`
}

// Propagation configuration events (stream propagation-<environment id>).
const (
	EvPropStoreCreated      = "propagation.store_created"
	EvPropStoreUpdated      = "propagation.store_updated"
	EvPropStoreCredentials  = "propagation.store_credentials_set"
	EvPropStoreDeleted      = "propagation.store_deleted"
	EvPropPlanCreated       = "propagation.plan_created"
	EvPropPlanUpdated       = "propagation.plan_updated"
	EvPropPlanDeleted       = "propagation.plan_deleted"
	EvPropRuleCreated       = "propagation.rule_created"
	EvPropRuleUpdated       = "propagation.rule_updated"
	EvPropRuleDeleted       = "propagation.rule_deleted"
	EvPropMappingSet        = "propagation.mapping_set"
	EvPropMappingRemoved    = "propagation.mapping_removed"
	EvPropRevisionPublished = "propagation.revision_published"
	EvPropDraftReset        = "propagation.draft_reset"
)

// Propagation runtime events: the outcome of each change order, appended to the stream of the
// (rule, identity) pair, propaccount-<rule id>_<identity id> (CategoryPropagationAccount).
const (
	CategoryPropagationAccount = "propaccount"

	EvPropChangeApplied  = "propagation.change_applied"
	EvPropChangeFailed   = "propagation.change_failed"
	EvPropChangeSkipped  = "propagation.change_skipped"
	EvPropChangeDisputed = "propagation.change_disputed"
	EvPropResyncStarted  = "propagation.resync_started"
	EvPropResyncFinished = "propagation.resync_finished"
)

// PropagationRevisionPublished records revision Number of the environment: an immutable snapshot
// of the draft (Content, whose hash is ContentHash) chained to its predecessor. RestoredFrom names
// the revision whose content a rollback published again.
type PropagationRevisionPublished struct {
	EnvironmentID      string             `json:"environmentId"`
	RevisionID         string             `json:"revisionId"`
	Number             int                `json:"number"`
	Description        string             `json:"description,omitempty"`
	Content            PropagationContent `json:"content"`
	ContentHash        string             `json:"contentHash"`
	PreviousRevisionID string             `json:"previousRevisionId,omitempty"`
	PreviousHash       string             `json:"previousHash,omitempty"`
	RestoredFrom       string             `json:"restoredFrom,omitempty"`
}

// IdentityKind is the kind of identity a change order is about.
type IdentityKind string

const (
	IdentityUser  IdentityKind = "USER"
	IdentityGroup IdentityKind = "GROUP"
)

// ChangeOperation is what a change order did to the target account.
type ChangeOperation string

const (
	OpCreate  ChangeOperation = "CREATE"
	OpLink    ChangeOperation = "LINK" // matched an existing account by correlation, then updated it as needed
	OpUpdate  ChangeOperation = "UPDATE"
	OpDisable ChangeOperation = "DISABLE"
	OpDelete  ChangeOperation = "DELETE"
	OpNone    ChangeOperation = "NONE" // already converged
)

// ChangeOutcome is the common part of every change order outcome. ChangeOrderID derives from the
// rule and the source event (a UUIDv5), so a redelivered change order is recognized.
type ChangeOutcome struct {
	EnvironmentID string          `json:"environmentId"`
	ChangeOrderID string          `json:"changeOrderId"`
	RuleID        string          `json:"ruleId"`
	StoreID       string          `json:"storeId"`
	RevisionID    string          `json:"revisionId"`
	Kind          IdentityKind    `json:"kind"`
	IdentityID    string          `json:"identityId"`
	Operation     ChangeOperation `json:"operation"`
	// TargetID is the target account's ID in the store, once known.
	TargetID string `json:"targetId,omitempty"`
	// SourcePosition is the log position of the source change (empty for resync and on demand).
	SourcePosition string `json:"sourcePosition,omitempty"`
	// Trigger says what caused the order: "event", "resync", "publish", "on-demand".
	Trigger string `json:"trigger"`
}

// PropagationChangeApplied records a change order applied to the target. Attributes names the
// target attribute paths written (never their values). Digests holds, per path written, a digest
// of the value written, sealed as the identity's personal data, so that drift can be detected
// and erasure shreds it: Subject is the identity's ID (the codec does not look into the embedded
// ChangeOutcome for the subject).
type PropagationChangeApplied struct {
	ChangeOutcome
	Subject    string            `json:"subject" personal:"subject"`
	Attributes []string          `json:"attributes,omitempty"`
	Digests    map[string]string `json:"digests,omitempty" audit:"redact" personal:"data"`
	// CreatedByIdstream: the account was created by idstream (a managed store's deletion or a
	// leaving identity may remove it), not linked.
	CreatedByIdstream bool `json:"createdByIdstream,omitempty"`
}

// PropagationChangeFailed records a change order that failed: Class is the connector error class
// (NOT_FOUND, CONFLICT, INVALID, AUTH, UNAVAILABLE, RATE_LIMITED), Message never holds secrets.
// Final: no further retry (a poison message, or a permanent error class).
//
// Message may quote the store's answer, which can echo the identity's values: it is sealed as
// the identity's personal data (Subject is the identity's ID), so erasure shreds it.
type PropagationChangeFailed struct {
	ChangeOutcome
	Subject string `json:"subject,omitempty" personal:"subject"`
	Class   string `json:"class"`
	Message string `json:"message" personal:"data"`
	Attempt int    `json:"attempt"`
	Final   bool   `json:"final"`
}

// PropagationChangeSkipped records a change order that did nothing, with why ("out of scope",
// "action not allowed: create", "disabled users are not provisioned"...).
type PropagationChangeSkipped struct {
	ChangeOutcome
	Reason string `json:"reason"`
}

// PropagationChangeDisputed records that the correlation attribute matched several target
// accounts: nothing was written, an administrator must resolve it.
type PropagationChangeDisputed struct {
	ChangeOutcome
	Candidates []string `json:"candidates"`
}

// PropagationResyncStarted and PropagationResyncFinished bracket a resync of a rule (stream
// propresync-<rule id>).
type PropagationResyncStarted struct {
	EnvironmentID string `json:"environmentId"`
	ResyncID      string `json:"resyncId"`
	RuleID        string `json:"ruleId"`
	RevisionID    string `json:"revisionId"`
	Trigger       string `json:"trigger"`
}
type PropagationResyncFinished struct {
	EnvironmentID string `json:"environmentId"`
	ResyncID      string `json:"resyncId"`
	RuleID        string `json:"ruleId"`
	RevisionID    string `json:"revisionId"`
	Identities    int    `json:"identities"`
	Created       int    `json:"created"`
	Updated       int    `json:"updated"`
	Removed       int    `json:"removed"`
	Failed        int    `json:"failed"`
	Unchanged     int    `json:"unchanged"`
}

// CategoryPropagationResync is the stream of a rule's resyncs: propresync-<rule id>.
const CategoryPropagationResync = "propresync"

// propagationEventTypes lists the propagation events (EventTypes includes them).
func propagationEventTypes() []EventType {
	return []EventType{
		{EvPropStoreCreated, 1, PropagationStoreCreated{}},
		{EvPropStoreUpdated, 1, PropagationStoreUpdated{}},
		{EvPropStoreCredentials, 1, PropagationStoreCredentialsSet{}},
		{EvPropStoreDeleted, 1, PropagationStoreDeleted{}},
		{EvPropPlanCreated, 1, PropagationPlanCreated{}},
		{EvPropPlanUpdated, 1, PropagationPlanUpdated{}},
		{EvPropPlanDeleted, 1, PropagationPlanDeleted{}},
		{EvPropRuleCreated, 1, PropagationRuleCreated{}},
		{EvPropRuleUpdated, 1, PropagationRuleUpdated{}},
		{EvPropRuleDeleted, 1, PropagationRuleDeleted{}},
		{EvPropMappingSet, 1, PropagationMappingSet{}},
		{EvPropMappingRemoved, 1, PropagationMappingRemoved{}},
		{EvPropDraftReset, 1, PropagationDraftReset{}},
		{EvPropRevisionPublished, 1, PropagationRevisionPublished{}},
		{EvPropChangeApplied, 1, PropagationChangeApplied{}},
		{EvPropChangeFailed, 1, PropagationChangeFailed{}},
		{EvPropChangeSkipped, 1, PropagationChangeSkipped{}},
		{EvPropChangeDisputed, 1, PropagationChangeDisputed{}},
		{EvPropResyncStarted, 1, PropagationResyncStarted{}},
		{EvPropResyncFinished, 1, PropagationResyncFinished{}},
	}
}

// ProvisionTrace is the step-by-step account of one identity run through one rule
// (provisionUserNow, and the preview's per-identity predictions).
type ProvisionTrace struct {
	RuleID     string          `json:"ruleId"`
	IdentityID string          `json:"identityId"`
	InScope    bool            `json:"inScope"`
	Operation  ChangeOperation `json:"operation"`
	// TargetID is the target account matched or created ("" when none).
	TargetID string `json:"targetId,omitempty"`
	// Diff lists the target attributes that differ (and were or would be written).
	Diff []AttributeDiff `json:"diff,omitempty"`
	// Result: "applied", "skipped", "failed", "disputed", "would apply" (dry run).
	Result string      `json:"result"`
	Error  string      `json:"error,omitempty"`
	Steps  []TraceStep `json:"steps"`
}

// TraceStep is one step of a trace: Name ("scope", "match", "map", "diff", "apply"...) and what it
// found.
type TraceStep struct {
	Name   string `json:"name"`
	Detail string `json:"detail"`
}

// AttributeDiff is one target attribute that differs: its value in the target (Current) and the
// value the mappings give (Desired), as JSON; Sensitive hides both.
type AttributeDiff struct {
	Path    string `json:"path"`
	Current string `json:"current,omitempty"`
	Desired string `json:"desired,omitempty"`
}

// PropagationPreview predicts, per rule of the draft, what publishing it would do, from
// idstream's own record of each target account (no store is contacted).
type PropagationPreview struct {
	// DraftHash and PublishedHash are the content hashes compared.
	DraftHash     string        `json:"draftHash"`
	PublishedHash string        `json:"publishedHash"`
	Rules         []RulePreview `json:"rules"`
}

// RulePreview is one rule's predicted effect: counts by operation, and the first identities of
// each (Samples, bounded).
type RulePreview struct {
	RuleID   string           `json:"ruleId"`
	Creates  int              `json:"creates"`
	Updates  int              `json:"updates"`
	Disables int              `json:"disables"`
	Deletes  int              `json:"deletes"`
	Samples  []ProvisionTrace `json:"samples"`
}
