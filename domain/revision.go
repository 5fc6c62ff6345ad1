package domain

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CategoryConfigRevision is the stream of an environment's configuration revisions:
// configrevision-<environment id>. One stream per environment makes names unique race-free
// (every creation names the stream's revision).
const CategoryConfigRevision = "configrevision"

// Configuration revision events.
const (
	EvConfigRevisionCreated  = "configuration.revision_created"
	EvConfigRevisionRestored = "configuration.revision_restored"
)

// ConfigRevisionCreated records an immutable, named pointer to log position Position (the
// eventstore.Position's string form) and the hash of the environment's configuration there.
// It is chained to the revision created before it in the environment (empty for the first).
type ConfigRevisionCreated struct {
	RevisionID         string `json:"revisionId"`
	EnvironmentID      string `json:"environmentId"`
	Name               string `json:"name"`
	Description        string `json:"description,omitempty"`
	Position           string `json:"position"`
	ContentHash        string `json:"contentHash"`
	PreviousRevisionID string `json:"previousRevisionId,omitempty"`
	PreviousHash       string `json:"previousHash,omitempty"`
}

// ConfigRevisionRestored records that the environment's configuration was brought back to
// revision RevisionID's: FromHash was the configuration's hash before, ToHash after (equal to
// the revision's ContentHash when the restore converged), by Changes steps.
type ConfigRevisionRestored struct {
	RevisionID    string `json:"revisionId"`
	EnvironmentID string `json:"environmentId"`
	FromHash      string `json:"fromHash"`
	ToHash        string `json:"toHash"`
	Changes       int    `json:"changes"`
}

// ConfigRevision is one revision, as recorded.
type ConfigRevision = ConfigRevisionCreated

// ConfigRevisions is the aggregate of an environment's configuration revisions, folded from
// configrevision-<environment id>. Revisions are immutable: there is no update and no delete.
type ConfigRevisions struct {
	EnvironmentID string
	revisions     []ConfigRevision
	byName        map[string]int // normalized name → index
}

// MaxRevisionName bounds a revision's name, in characters.
const MaxRevisionName = 100

// Apply folds one event payload into the state.
func (r *ConfigRevisions) Apply(event any) {
	if ev, ok := event.(ConfigRevisionCreated); ok {
		if r.byName == nil {
			r.byName = map[string]int{}
		}
		r.EnvironmentID = ev.EnvironmentID
		r.byName[normalizeRevisionName(ev.Name)] = len(r.revisions)
		r.revisions = append(r.revisions, ev)
	}
}

func normalizeRevisionName(n string) string { return strings.ToLower(strings.TrimSpace(n)) }

// Revisions returns the revisions in the order they were created.
func (r *ConfigRevisions) Revisions() []ConfigRevision {
	return append([]ConfigRevision(nil), r.revisions...)
}

// Revision returns revision id.
func (r *ConfigRevisions) Revision(id string) (ConfigRevision, bool) {
	for _, rev := range r.revisions {
		if rev.RevisionID == id {
			return rev, true
		}
	}
	return ConfigRevision{}, false
}

// Create decides a new revision id named name at position (the caller checked that it is not
// after the log's head) whose configuration hashes to hash. The name is required, at most
// MaxRevisionName characters and unique in the environment case-insensitively (ErrConflict on
// "input.name"); every problem is returned at once.
func (r *ConfigRevisions) Create(env, id, name, description, position, hash string) ([]any, error) {
	name = strings.TrimSpace(name)
	var errs []error
	switch n := utf8.RuneCountInString(name); {
	case !utf8.ValidString(name):
		errs = append(errs, Invalidf("input.name", "must be valid UTF-8"))
	case n == 0:
		errs = append(errs, Invalidf("input.name", "is required"))
	case n > MaxRevisionName:
		errs = append(errs, Invalidf("input.name", "must be at most %d characters, got %d", MaxRevisionName, n))
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		errs = append(errs, Invalidf("input.name", "must not contain control characters"))
	default:
		if i, taken := r.byName[normalizeRevisionName(name)]; taken {
			errs = append(errs, FieldConflictf("input.name", "revision %q already exists (%s)", r.revisions[i].Name, r.revisions[i].RevisionID))
		}
	}
	if err := validateDescription("input.description", description); err != nil {
		errs = append(errs, err)
	}
	if position == "" {
		errs = append(errs, Invalidf("input.position", "is required"))
	}
	if !strings.HasPrefix(hash, "sha256:") {
		errs = append(errs, Invalidf("input.contentHash", "must be a sha256: hash"))
	}
	if len(errs) > 0 {
		return nil, FieldErrors(errs...)
	}
	ev := ConfigRevisionCreated{RevisionID: id, EnvironmentID: env, Name: name, Description: description,
		Position: position, ContentHash: hash}
	if n := len(r.revisions); n > 0 {
		ev.PreviousRevisionID, ev.PreviousHash = r.revisions[n-1].RevisionID, r.revisions[n-1].ContentHash
	}
	return []any{ev}, nil
}
