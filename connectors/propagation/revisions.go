package propagation

import (
	"context"
	"sync"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/projections"
)

// Revisions answers an environment's latest published propagation revision (the configuration
// read model, projections.PropagationConfig, answers it; RevisionLog is the runtime's own).
type Revisions interface {
	Published(env string) (domain.PropagationRevisionPublished, bool)
}

// RevisionLog is the published revisions of every environment, folded by its own Follower
// from propagation.revision_published events. It keeps every revision by ID (revisions are few
// and publishing a revision resyncs against its predecessor). Safe for concurrent use.
type RevisionLog struct {
	follower *projections.Follower

	mu     sync.RWMutex
	latest map[string]domain.PropagationRevisionPublished
	byID   map[string]domain.PropagationRevisionPublished
}

var _ Revisions = (*RevisionLog)(nil)

// NewRevisionLog returns a revision log on store; Start it.
func NewRevisionLog(store eventstore.Store, reg *eventstore.Registry) *RevisionLog {
	l := &RevisionLog{latest: map[string]domain.PropagationRevisionPublished{}, byID: map[string]domain.PropagationRevisionPublished{}}
	l.follower = projections.NewFollower("propagation revisions", store, reg,
		&eventstore.Filter{EventTypePrefixes: []string{domain.EvPropRevisionPublished}}, l.fold)
	return l
}

func (l *RevisionLog) fold(_ *eventstore.RecordedEvent, d eventstore.Decoded) {
	rev, ok := d.Payload.(domain.PropagationRevisionPublished)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byID[rev.RevisionID] = rev
	if cur, ok := l.latest[rev.EnvironmentID]; !ok || cur.Number < rev.Number {
		l.latest[rev.EnvironmentID] = rev
	}
}

// Start folds in the background until ctx ends.
func (l *RevisionLog) Start(ctx context.Context) error { return l.follower.Start(ctx) }

// CatchUp waits until the log has folded the log's last event as of the call.
func (l *RevisionLog) CatchUp(ctx context.Context) error { return l.follower.CatchUp(ctx) }

// WaitFor returns once the log has folded everything up to pos.
func (l *RevisionLog) WaitFor(ctx context.Context, pos eventstore.Position) error {
	return l.follower.WaitFor(ctx, pos)
}

// Published returns env's latest published revision.
func (l *RevisionLog) Published(env string) (domain.PropagationRevisionPublished, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	rev, ok := l.latest[env]
	return rev, ok
}

// Revision returns a revision by ID.
func (l *RevisionLog) Revision(id string) (domain.PropagationRevisionPublished, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	rev, ok := l.byID[id]
	return rev, ok
}

// Environments returns the environments with a published revision.
func (l *RevisionLog) Environments() []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]string, 0, len(l.latest))
	for env := range l.latest {
		out = append(out, env)
	}
	return out
}
