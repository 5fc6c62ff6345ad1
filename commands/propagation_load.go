package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// MappingChecker validates one attribute mapping beyond the domain's checks (its target path
// parses, its expression compiles); connectors/mapping.Check is the one wired. Its errors
// should be *domain.FieldError naming "target", "value" or "default"; any other is reported as
// INVALID on "value".
type MappingChecker func(domain.AttributeMapping) error

// StoreConfigChecker validates a store's type-specific configuration (the connector factory's
// validation). Its errors should be *domain.FieldError naming "config.<key>"; any other is
// reported as INVALID on "config".
type StoreConfigChecker func(typ domain.StoreType, config map[string]string) error

// checksConfig reports whether a store type's configuration goes to the StoreConfigChecker: the
// connector types (the directory has no configuration; an unknown type is the domain's INVALID
// on "type").
func checksConfig(typ domain.StoreType) bool {
	switch typ {
	case domain.StoreSCIM, domain.StoreSlack, domain.StoreZoom, domain.StoreLDAP, domain.StoreSQL:
		return true
	}
	return false
}

// PropagationPorts are what the propagation configuration commands need beyond Deps. Nil
// checkers skip those checks.
type PropagationPorts struct {
	Secrets     SecretSealer
	Mappings    MappingChecker
	StoreConfig StoreConfigChecker
}

// Propagation holds the handlers of the propagation configuration commands. Fields are
// alphabetized.
type Propagation struct {
	ApproveHeld    *ApprovePropagationHeldChangesHandler
	CreatePlan     *CreatePropagationPlanHandler
	CreateRule     *CreatePropagationRuleHandler
	CreateStore    *CreatePropagationStoreHandler
	DeletePlan     *DeletePropagationPlanHandler
	DeleteRule     *DeletePropagationRuleHandler
	DeleteStore    *DeletePropagationStoreHandler
	DiscardHeld    *DiscardPropagationHeldChangesHandler
	Publish        *PublishPropagationRevisionHandler
	ReleaseRule    *ReleasePropagationRuleHandler
	RemoveMapping  *RemovePropagationMappingHandler
	Rollback       *RollbackPropagationRevisionHandler
	SetCredentials *SetPropagationStoreCredentialsHandler
	SetMapping     *SetPropagationMappingHandler
	UpdatePlan     *UpdatePropagationPlanHandler
	UpdateRule     *UpdatePropagationRuleHandler
	UpdateStore    *UpdatePropagationStoreHandler
}

// NewPropagation builds every propagation configuration handler on d and ports.
func NewPropagation(d *Deps, ports PropagationPorts) *Propagation {
	return &Propagation{
		ApproveHeld:    NewApprovePropagationHeldChanges(d),
		CreatePlan:     NewCreatePropagationPlan(d),
		CreateRule:     NewCreatePropagationRule(d, ports.Mappings),
		CreateStore:    NewCreatePropagationStore(d, ports.StoreConfig, ports.Secrets),
		DeletePlan:     NewDeletePropagationPlan(d),
		DeleteRule:     NewDeletePropagationRule(d),
		DeleteStore:    NewDeletePropagationStore(d),
		DiscardHeld:    NewDiscardPropagationHeldChanges(d),
		Publish:        NewPublishPropagationRevision(d),
		ReleaseRule:    NewReleasePropagationRule(d),
		RemoveMapping:  NewRemovePropagationMapping(d),
		Rollback:       NewRollbackPropagationRevision(d),
		SetCredentials: NewSetPropagationStoreCredentials(d, ports.Secrets),
		SetMapping:     NewSetPropagationMapping(d, ports.Mappings),
		UpdatePlan:     NewUpdatePropagationPlan(d),
		UpdateRule:     NewUpdatePropagationRule(d),
		UpdateStore:    NewUpdatePropagationStore(d, ports.StoreConfig),
	}
}

// loadPropagation folds the propagation configuration of environment envID.
func (d *Deps) loadPropagation(ctx context.Context, envID string) (*domain.Propagation, eventstore.ExpectedRevision, error) {
	p := &domain.Propagation{EnvironmentID: envID}
	expected, err := d.load(ctx, domain.StreamName(domain.CategoryPropagation, envID), p)
	return p, expected, err
}

// decidePropagation loads environment envID's propagation configuration, runs decide on it and
// appends its events to propagation-<env> in one batch, reloading and deciding again on a
// concurrent append (configuration edits commute), at most maxAttempts times. It returns the
// events appended and the position (zero when decide returned none), and the aggregate after.
func (d *Deps) decidePropagation(ctx context.Context, envID string, decide func(p *domain.Propagation) ([]any, error)) ([]any, eventstore.Position, *domain.Propagation, error) {
	var (
		events []any
		pos    eventstore.Position
		agg    *domain.Propagation
	)
	err := retryOnConflict(ctx, func() error {
		p, expected, err := d.loadPropagation(ctx, envID)
		if err != nil {
			return err
		}
		events, err = decide(p)
		if err != nil {
			return err
		}
		agg = p
		pos, err = d.appendEvents(ctx, domain.StreamName(domain.CategoryPropagation, envID), expected, envID, p, events...)
		return err
	})
	return events, pos, agg, err
}

// propagationEnv checks that environment envID exists and returns its ID.
func (d *Deps) propagationEnv(ctx context.Context, envID string) (string, error) {
	env, _, err := d.loadEnvironment(ctx, envID)
	if err != nil {
		return "", err
	}
	return env.ID, nil
}

// checked runs a port's check, naming field fallback when its error names none and has no kind.
func checked(field string, err error) error {
	if err == nil {
		return nil
	}
	var fe *domain.FieldError
	if errors.As(err, &fe) || errors.Is(err, domain.ErrInvalid) {
		return err
	}
	return domain.Invalidf(field, "%v", err)
}

// withPrefix renames the field of every *domain.FieldError in err with prefix ("mappings[2].").
func withPrefix(prefix string, err error) error {
	if err == nil || prefix == "" {
		return err
	}
	var fe *domain.FieldError
	if errors.As(err, &fe) {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			var out []error
			for _, e := range joined.Unwrap() {
				out = append(out, withPrefix(prefix, e))
			}
			return errors.Join(out...)
		}
		return &domain.FieldError{Field: prefix + fe.Field, Reason: fe.Reason, Kind: fe.Kind}
	}
	return err
}

// Bounds of a store's credentials.
const (
	maxCredentialEntries = 32
	maxCredentialValue   = 8192
)

// sealStoreCredentials validates creds and seals them as a JSON object, bound to the store.
func sealStoreCredentials(secrets SecretSealer, storeID string, creds map[string]string) (string, error) {
	if secrets == nil {
		return "", fmt.Errorf("%w: no secret key is configured to seal store credentials", domain.ErrUnavailable)
	}
	if len(creds) == 0 {
		return "", domain.Invalidf("credentials", "is required")
	}
	if len(creds) > maxCredentialEntries {
		return "", domain.Invalidf("credentials", "at most %d entries, got %d", maxCredentialEntries, len(creds))
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(creds)) {
		switch v := creds[k]; {
		case k == "" || len(k) > 64 || !utf8.ValidString(k):
			errs = append(errs, domain.Invalidf("credentials", "a key must be 1 to 64 characters of UTF-8"))
		case len(v) > maxCredentialValue || !utf8.ValidString(v):
			errs = append(errs, domain.Invalidf("credentials."+k, "must be at most %d bytes of UTF-8", maxCredentialValue)) // never the value
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	plain, err := json.Marshal(creds)
	if err != nil {
		return "", fmt.Errorf("encode credentials: %w", err)
	}
	return secrets.Seal(plain, storeCredentialsAAD(storeID))
}

// storeCredentialsAAD binds sealed credentials to their store.
func storeCredentialsAAD(storeID string) string { return "propagation-store:" + storeID }

// OpenStoreCredentials opens a store's sealed credentials for the runtime: nil when none were
// set. The error never quotes the sealed value nor the credentials.
func OpenStoreCredentials(secrets SecretSealer, store domain.PropagationStore) (map[string]string, error) {
	if store.Credentials == "" {
		return nil, nil
	}
	if secrets == nil {
		return nil, fmt.Errorf("open credentials of store %s: %w: no secret key is configured", store.ID, domain.ErrUnavailable)
	}
	plain, err := secrets.Open(store.Credentials, storeCredentialsAAD(store.ID))
	if err != nil {
		return nil, fmt.Errorf("open credentials of store %s: %w", store.ID, err)
	}
	var creds map[string]string
	if err := json.Unmarshal(plain, &creds); err != nil {
		return nil, fmt.Errorf("open credentials of store %s: not a JSON object of strings", store.ID)
	}
	return creds, nil
}
