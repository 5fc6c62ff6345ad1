package projections

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// PropagationConfig is the read model of every environment's propagation configuration: the
// draft and the published revisions, folded by the domain's own Propagation aggregate from the
// propagation-<environment> streams (outcome streams, propaccount-… and propresync-…, are not
// read). It keeps the stores' credentials sealed, for the runtime; the API must only say whether
// they are set.
//
// Methods are safe for concurrent use. Returned values are copies, except the Content of a
// revision, which is shared and must not be modified.
type PropagationConfig struct {
	follower *Follower

	mu   sync.RWMutex
	envs map[string]*propagationEnv
}

type propagationEnv struct {
	agg       *domain.Propagation
	revisions []PropagationRevisionRecord // oldest first
}

// PropagationRevisionRecord is a published revision with where, when and by whom it was
// appended.
type PropagationRevisionRecord struct {
	domain.PropagationRevisionPublished
	Position    eventstore.Position
	PublishedAt time.Time
	Actor       string
}

// propagationStreamPrefix selects the configuration streams.
const propagationStreamPrefix = domain.CategoryPropagation + "-"

// NewPropagationConfig returns the read model following store (decoded with reg). Start it.
func NewPropagationConfig(store eventstore.Store, reg *eventstore.Registry) *PropagationConfig {
	m := &PropagationConfig{envs: map[string]*propagationEnv{}}
	m.follower = NewFollower("propagation config", store, reg,
		&eventstore.Filter{StreamPrefixes: []string{propagationStreamPrefix}}, m.fold)
	return m
}

// Start follows the log from its start in the background until ctx ends.
func (m *PropagationConfig) Start(ctx context.Context) error { return m.follower.Start(ctx) }

// WaitFor returns once every event up to pos is folded (see Follower.WaitFor).
func (m *PropagationConfig) WaitFor(ctx context.Context, pos eventstore.Position) error {
	return m.follower.WaitFor(ctx, pos)
}

// CatchUp waits until the model has folded the log's last event as of the call.
func (m *PropagationConfig) CatchUp(ctx context.Context) error { return m.follower.CatchUp(ctx) }

// Position returns the position of the last event folded.
func (m *PropagationConfig) Position() eventstore.Position { return m.follower.Position() }

// Err returns the error that stopped the model, or nil while it runs.
func (m *PropagationConfig) Err() error { return m.follower.Err() }

func (m *PropagationConfig) fold(e *eventstore.RecordedEvent, d eventstore.Decoded) {
	if !strings.HasPrefix(e.Stream, propagationStreamPrefix) {
		return
	}
	envID := strings.TrimPrefix(e.Stream, propagationStreamPrefix)
	m.mu.Lock()
	defer m.mu.Unlock()
	env := m.envs[envID]
	if env == nil {
		env = &propagationEnv{agg: &domain.Propagation{EnvironmentID: envID}}
		m.envs[envID] = env
	}
	env.agg.Apply(d.Payload)
	if rev, ok := d.Payload.(domain.PropagationRevisionPublished); ok {
		env.revisions = append(env.revisions, PropagationRevisionRecord{PropagationRevisionPublished: rev,
			Position: e.Position, PublishedAt: e.Metadata.OccurredAt, Actor: e.Metadata.Actor})
	}
}

// Environments returns the IDs of the environments that have a propagation configuration,
// sorted.
func (m *PropagationConfig) Environments() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Sorted(maps.Keys(m.envs))
}

// Draft returns environment envID's draft, normalized (empty when it has none).
func (m *PropagationConfig) Draft(envID string) domain.PropagationContent {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if env := m.envs[envID]; env != nil {
		return env.agg.Content()
	}
	return domain.PropagationContent{}.Normalize()
}

// Published returns environment envID's latest published revision: what the runtime runs.
func (m *PropagationConfig) Published(envID string) (domain.PropagationRevisionPublished, bool) {
	rec, ok := m.PublishedRecord(envID)
	return rec.PropagationRevisionPublished, ok
}

// PublishedRecord is Published with the revision's position, time and actor.
func (m *PropagationConfig) PublishedRecord(envID string) (PropagationRevisionRecord, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	env := m.envs[envID]
	if env == nil || len(env.revisions) == 0 {
		return PropagationRevisionRecord{}, false
	}
	return env.revisions[len(env.revisions)-1], true
}

// Revisions returns environment envID's published revisions, newest first.
func (m *PropagationConfig) Revisions(envID string) []PropagationRevisionRecord {
	m.mu.RLock()
	defer m.mu.RUnlock()
	env := m.envs[envID]
	if env == nil {
		return nil
	}
	out := slices.Clone(env.revisions)
	slices.Reverse(out)
	return out
}

// Revision returns revision id of environment envID.
func (m *PropagationConfig) Revision(envID, id string) (PropagationRevisionRecord, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if env := m.envs[envID]; env != nil {
		for _, r := range env.revisions {
			if r.RevisionID == id {
				return r, true
			}
		}
	}
	return PropagationRevisionRecord{}, false
}

// Store returns store id of environment envID's draft (Credentials sealed).
func (m *PropagationConfig) Store(envID, id string) (domain.PropagationStore, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if env := m.envs[envID]; env != nil {
		return env.agg.Store(id)
	}
	return domain.PropagationStore{}, false
}

// Plan returns plan id of environment envID's draft.
func (m *PropagationConfig) Plan(envID, id string) (domain.PropagationPlan, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if env := m.envs[envID]; env != nil {
		return env.agg.Plan(id)
	}
	return domain.PropagationPlan{}, false
}

// Rule returns rule id of environment envID's draft.
func (m *PropagationConfig) Rule(envID, id string) (domain.PropagationRule, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if env := m.envs[envID]; env != nil {
		return env.agg.Rule(id)
	}
	return domain.PropagationRule{}, false
}
