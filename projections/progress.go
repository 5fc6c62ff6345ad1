package projections

import (
	"context"
	"fmt"
	"sync"

	"github.com/idstream/idstream/domain"
	"github.com/idstream/idstream/eventstore"
)

// Progress is how far a follower of the log has got: the last position it passed, the error
// that stopped it, and waiting for a position (read-your-writes). It is safe for concurrent use;
// make one with NewProgress.
type Progress struct {
	name    string
	mu      sync.Mutex
	at      eventstore.Position
	err     error
	changed chan struct{} // closed and replaced at every change
}

// NewProgress returns the progress of the follower called name (in WaitFor's errors), at the
// start of the log.
func NewProgress(name string) *Progress {
	return &Progress{name: name, changed: make(chan struct{})}
}

// Advance records that everything up to pos was passed; an earlier pos changes nothing.
func (p *Progress) Advance(pos eventstore.Position) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.at.Less(pos) {
		p.at = pos
		p.broadcastLocked()
	}
}

// Stop records the error that stopped the follower: waiters short of their position get it.
func (p *Progress) Stop(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
	p.broadcastLocked()
}

func (p *Progress) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Position returns the last position passed.
func (p *Progress) Position() eventstore.Position {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.at
}

// Err returns the error that stopped the follower, or nil while it runs.
func (p *Progress) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// WaitFor returns once everything up to pos was passed, or with the follower's error, or with
// an error of kind domain.ErrUnavailable wrapping ctx's when ctx ends first.
func (p *Progress) WaitFor(ctx context.Context, pos eventstore.Position) error {
	for {
		p.mu.Lock()
		at, err, ch := p.at, p.err, p.changed
		p.mu.Unlock()
		if !at.Less(pos) {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%s: wait for position %s (at %s): %w: %w", p.name, pos, at, domain.ErrUnavailable, ctx.Err())
		}
	}
}
