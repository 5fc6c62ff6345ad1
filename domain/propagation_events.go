package domain

// Propagation configuration event payloads (stream propagation-<environment id>). Store, plan
// and rule events carry the whole object as it stands after the event, so that a fold never
// merges partial changes.

// PropagationStoreCreated records a new store. Its Credentials are empty: they are only ever
// set by PropagationStoreCredentialsSet.
type PropagationStoreCreated struct {
	EnvironmentID string           `json:"environmentId"`
	Store         PropagationStore `json:"store"`
}

// PropagationStoreUpdated records a store's new non-secret configuration (every field but
// Credentials and CredentialsVersion, which it leaves as they were).
type PropagationStoreUpdated struct {
	EnvironmentID string           `json:"environmentId"`
	Store         PropagationStore `json:"store"`
}

// PropagationStoreCredentialsSet records a store's new credentials, sealed with the operator's
// key (never plain text), and their version (one more than any the store had).
type PropagationStoreCredentialsSet struct {
	EnvironmentID string `json:"environmentId"`
	StoreID       string `json:"storeId"`
	Credentials   string `json:"credentials" audit:"redact"`
	Version       int    `json:"version"`
}

// PropagationStoreDeleted records a store's deletion. Deprovision is set when the store was
// managed: once the draft is published, the runtime removes the accounts idstream created in it
// (using the store's configuration from the previous published revision).
type PropagationStoreDeleted struct {
	EnvironmentID string `json:"environmentId"`
	StoreID       string `json:"storeId"`
	Deprovision   bool   `json:"deprovision,omitempty"`
}

// PropagationPlanCreated records a new plan.
type PropagationPlanCreated struct {
	EnvironmentID string          `json:"environmentId"`
	Plan          PropagationPlan `json:"plan"`
}

// PropagationPlanUpdated records a plan's new name, description and status.
type PropagationPlanUpdated struct {
	EnvironmentID string          `json:"environmentId"`
	Plan          PropagationPlan `json:"plan"`
}

// PropagationPlanDeleted records a plan's deletion (it had no rules left).
type PropagationPlanDeleted struct {
	EnvironmentID string `json:"environmentId"`
	PlanID        string `json:"planId"`
}

// PropagationRuleCreated records a new rule, with its initial mappings.
type PropagationRuleCreated struct {
	EnvironmentID string          `json:"environmentId"`
	Rule          PropagationRule `json:"rule"`
}

// PropagationRuleUpdated records a rule as it stands after the update, mappings included
// (unchanged by an update: they change by mapping events).
type PropagationRuleUpdated struct {
	EnvironmentID string          `json:"environmentId"`
	Rule          PropagationRule `json:"rule"`
}

// PropagationRuleDeleted records a rule's deletion, with its mappings.
type PropagationRuleDeleted struct {
	EnvironmentID string `json:"environmentId"`
	RuleID        string `json:"ruleId"`
}

// PropagationMappingSet records a mapping of rule RuleID, created or replacing the one of the
// same ID.
type PropagationMappingSet struct {
	EnvironmentID string           `json:"environmentId"`
	RuleID        string           `json:"ruleId"`
	Mapping       AttributeMapping `json:"mapping"`
}

// PropagationMappingRemoved records the removal of a mapping of rule RuleID.
type PropagationMappingRemoved struct {
	EnvironmentID string `json:"environmentId"`
	RuleID        string `json:"ruleId"`
	MappingID     string `json:"mappingId"`
}

// PropagationDraftReset records that the draft was replaced by Content, the content of
// revision RevisionID (a rollback). Content holds the credentials sealed, as the revision did.
type PropagationDraftReset struct {
	EnvironmentID string             `json:"environmentId"`
	RevisionID    string             `json:"revisionId"`
	Content       PropagationContent `json:"content"`
}
