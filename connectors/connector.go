package connectors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idstream/idstream/domain"
)

// Kind is the kind of a target resource.
type Kind string

const (
	KindUser  Kind = "user"
	KindGroup Kind = "group"
)

// Resource is a resource of a target store as the connector sees it: its ID in the store and its
// attributes as a JSON object in SCIM 2.0 shape (RFC 7643: "userName", "name": {"givenName": …},
// "emails": [{"type": "work", "value": …}], "active", "externalId"; for groups "displayName" and
// "members": [{"value": <member's target ID>}]). Connectors of non-SCIM stores (LDAP, SQL) map
// their native attributes into and out of this shape. Values are JSON values as encoding/json
// decodes them (string, float64, bool, nil, []any, map[string]any).
type Resource struct {
	ID         string
	Attributes map[string]any
}

// Change sets one attribute path (SCIM path syntax, e.g. `emails[type eq "work"].value`) to
// Value; a nil Value removes the attribute.
type Change struct {
	Path  string
	Value any
}

// Connector is the required contract of a connection to one target store. A Connector is safe
// for concurrent use. It never retries: every error it returns is classified (see Error), and
// the runtime owns retry, back-off, rate limits and pausing.
type Connector interface {
	// Get returns resource id of kind. A missing resource is an error of ClassNotFound.
	Get(ctx context.Context, kind Kind, id string) (Resource, error)
	// Find returns the resources of kind whose attribute (a path such as "userName" or
	// "emails.value") equals value, compared as the store compares it (SCIM: case-insensitive for
	// caseExact=false attributes). None found is an empty slice, not an error. A connector may
	// stop after a bound (more than one match is all a correlation needs to know).
	Find(ctx context.Context, kind Kind, attribute, value string) ([]Resource, error)
	// Create creates a resource from attrs and returns it with its new ID. A uniqueness clash in
	// the store is ClassConflict.
	Create(ctx context.Context, kind Kind, attrs map[string]any) (Resource, error)
	// Update applies changes to resource id, all or none where the store allows it, and returns
	// the resource after the change. Connectors use the store's partial update (SCIM PATCH) where
	// it has one, else read, modify and replace (SCIM PUT).
	Update(ctx context.Context, kind Kind, id string, changes []Change) (Resource, error)
	// Delete deletes resource id. Deleting a missing resource is ClassNotFound.
	Delete(ctx context.Context, kind Kind, id string) error
	// Close releases the connection's resources.
	Close() error
}

// Optional capabilities, found by type assertion.

// Checker is a connector that can check its configuration and reachability (testStoreConnection,
// health probes) without changing the store.
type Checker interface {
	Check(ctx context.Context) error
}

// MemberUpdater is a connector that adds and removes group members without replacing the whole
// member list (SCIM PATCH add/remove on "members").
type MemberUpdater interface {
	UpdateMembers(ctx context.Context, groupID string, add, remove []string) error
}

// Lister is a connector that lists every resource of a kind, in pages (for resync of accounts
// idstream created that left scope, and drift detection).
type Lister interface {
	// List calls fn for each resource of kind until fn returns false or an error occurs.
	List(ctx context.Context, kind Kind, fn func(Resource) bool) error
}

// Describer is a connector that declares what its store supports.
type Describer interface {
	Features() Features
}

// Features are what a store supports; a connector that is not a Describer has DefaultFeatures.
type Features struct {
	Groups bool
	// HardDelete: Delete removes the account. False: the store only deactivates (Slack), so the
	// remove action DELETE is refused for it.
	HardDelete bool
	// WritesPerMinute bounds writes (create, update, delete) to the store; 0: no bound.
	WritesPerMinute int
}

// DefaultFeatures are the features of a connector that does not declare them.
var DefaultFeatures = Features{Groups: true, HardDelete: true}

// FeaturesOf returns c's features.
func FeaturesOf(c Connector) Features {
	if d, ok := c.(Describer); ok {
		return d.Features()
	}
	return DefaultFeatures
}

// StoreConfig is what opens a connection to a store: its type, its non-secret configuration and
// its credentials, opened (plain text: never log or return them).
type StoreConfig struct {
	StoreID     string
	Type        domain.StoreType
	Config      map[string]string
	Credentials map[string]string
}

// Factory opens a connector of one store type. It validates cfg and returns an error of
// ClassInvalid naming every problem; it does not contact the store (Checker does).
type Factory func(cfg StoreConfig) (Connector, error)

// Factories maps store types to their factories: a value built in cmd, never a global registry.
type Factories map[domain.StoreType]Factory

// Open opens a connector for cfg.
func (f Factories) Open(cfg StoreConfig) (Connector, error) {
	factory, ok := f[cfg.Type]
	if !ok {
		return nil, &Error{Class: ClassInvalid, Op: "open", Err: fmt.Errorf("store type %q has no connector", cfg.Type)}
	}
	return factory(cfg)
}

// Class classifies a connector error; the runtime decides from it whether and when to retry.
type Class string

const (
	// ClassNotFound: the resource does not exist. Permanent for that resource.
	ClassNotFound Class = "NOT_FOUND"
	// ClassConflict: a uniqueness clash or a concurrent change in the store. Permanent as sent.
	ClassConflict Class = "CONFLICT"
	// ClassInvalid: the store refused the request as malformed or the configuration is wrong.
	// Permanent.
	ClassInvalid Class = "INVALID"
	// ClassAuth: the store refused the credentials (401, 403, bad client secret). Permanent until
	// the configuration changes; the store is unavailable for every rule.
	ClassAuth Class = "AUTH"
	// ClassUnavailable: refused connection, timeout, 5xx. Transient: retry with back-off.
	ClassUnavailable Class = "UNAVAILABLE"
	// ClassRateLimited: the store asked to slow down (429); RetryAfter says for how long when it
	// said so. Transient.
	ClassRateLimited Class = "RATE_LIMITED"
)

// Error is a classified connector error. Messages never hold credentials.
type Error struct {
	Class Class
	// Op names the operation: "get user", "create group", "check"...
	Op string
	// Status is the store's status code where it has one (HTTP status, LDAP result code).
	Status int
	// RetryAfter is how long the store asked to wait (ClassRateLimited, ClassUnavailable).
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	msg := e.Op + ": " + string(e.Class)
	if e.Status != 0 {
		msg += fmt.Sprintf(" (status %d)", e.Status)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorClass returns the error's class as text: how the API (which does not import connectors)
// names it.
func (e *Error) ErrorClass() string { return string(e.Class) }

// ClassOf returns the class of err: the class of the first *Error in its chain, ClassUnavailable
// for a context deadline, and ClassUnavailable for an unclassified error (a connector bug
// should be retried, not lose a change).
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return ClassUnavailable
}

// Transient reports whether err may succeed if retried later unchanged.
func Transient(err error) bool {
	switch ClassOf(err) {
	case ClassUnavailable, ClassRateLimited:
		return true
	}
	return false
}

// RetryAfterOf returns how long the store asked to wait before a retry (0: it did not say).
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// BatchCreator is a connector that creates many resources in few round trips and commits
// (SQL: one transaction per call). Results are per resource, in order: results[i] and errs[i]
// are attrs[i]'s, errs[i] classified as Create's (a uniqueness clash is ClassConflict for that
// resource only).
type BatchCreator interface {
	CreateMany(ctx context.Context, kind Kind, attrs []map[string]any) (results []Resource, errs []error)
}
