package projections

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// HeldChange is a pending held change (a removal a store's safety rail held for approval) and
// when it was held.
type HeldChange struct {
	domain.PropagationChangeHeld
	HeldAt time.Time
}

// PropagationHeld is the read model of the stores' held changes: the fold of the propstore-*
// streams by its own Follower, rebuilt from the log at every start. It keeps IDs, operations,
// rails and reasons, never values of identities. Methods are safe for concurrent use.
type PropagationHeld struct {
	follower *Follower

	mu     sync.RWMutex
	stores map[string]*heldStore
}

type heldStore struct {
	h  domain.HeldChanges
	at map[string]time.Time
	// revision is the stream's last revision (any event of it, availability included): the
	// expected revision of a decision on what this model shows.
	revision uint64
}

// NewPropagationHeld returns the held-changes read model over store. Start it.
func NewPropagationHeld(store eventstore.Store, reg *eventstore.Registry) *PropagationHeld {
	m := &PropagationHeld{stores: map[string]*heldStore{}}
	m.follower = NewFollower("propagation held changes", store, reg,
		&eventstore.Filter{StreamPrefixes: []string{domain.CategoryPropagationStoreState + "-"}}, m.fold)
	return m
}

// Start folds the log from its start in the background until ctx ends.
func (m *PropagationHeld) Start(ctx context.Context) error { return m.follower.Start(ctx) }

// WaitFor returns once the model has folded everything up to pos.
func (m *PropagationHeld) WaitFor(ctx context.Context, pos eventstore.Position) error {
	return m.follower.WaitFor(ctx, pos)
}

// CatchUp waits until the model has folded the log's last event as of the call.
func (m *PropagationHeld) CatchUp(ctx context.Context) error { return m.follower.CatchUp(ctx) }

func (m *PropagationHeld) fold(e *eventstore.RecordedEvent, d eventstore.Decoded) {
	id := strings.TrimPrefix(e.Stream, domain.CategoryPropagationStoreState+"-")
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stores[id]
	if s == nil {
		s = &heldStore{h: domain.HeldChanges{StoreID: id}, at: map[string]time.Time{}}
		m.stores[id] = s
	}
	s.revision = e.Revision
	switch p := d.Payload.(type) {
	case domain.PropagationChangeHeld:
		if _, ok := s.at[p.HeldID]; !ok {
			s.at[p.HeldID] = e.Metadata.OccurredAt
		}
	case domain.PropagationHeldApproved:
		for _, h := range p.HeldIDs {
			delete(s.at, h)
		}
	case domain.PropagationHeldDiscarded:
		for _, h := range p.HeldIDs {
			delete(s.at, h)
		}
	}
	s.h.Apply(d.Payload)
}

// Held returns env's pending held changes, of store storeID only when not "", oldest first.
func (m *PropagationHeld) Held(env, storeID string) []HeldChange {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []HeldChange
	for id, s := range m.stores {
		if storeID != "" && id != storeID {
			continue
		}
		for _, p := range s.h.Pending {
			if p.EnvironmentID == env {
				out = append(out, HeldChange{PropagationChangeHeld: p, HeldAt: s.at[p.HeldID]})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b HeldChange) int {
		if c := a.HeldAt.Compare(b.HeldAt); c != 0 {
			return c
		}
		return strings.Compare(a.HeldID, b.HeldID)
	})
	return out
}

// StoreRevision returns the last revision of store storeID's stream, if it has one.
func (m *PropagationHeld) StoreRevision(storeID string) (uint64, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.stores[storeID]
	if !ok {
		return 0, false
	}
	return s.revision, true
}
