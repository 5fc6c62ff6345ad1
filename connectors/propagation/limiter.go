package propagation

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/idstream/idstream/domain"
)

// limiter is a token bucket per store: perMinute writes a minute with bursts of up to
// max(1, perMinute/60) writes (a second's worth). Watermill's Throttle middleware bounds a whole
// handler; stores need their own bounds. Safe for concurrent use.
type limiter struct {
	now func() time.Time
	// override, when > 0 for a store ID, replaces the store's WritesPerMinute.
	override map[string]int

	mu      sync.Mutex
	buckets map[string]*bucket
	// paused holds, per store, when a store's 429 Retry-After passes: no worker writes to it
	// before then.
	paused map[string]time.Time
}

// maxPause bounds a store's pause: a Retry-After of hours (or a broken header) does not stop
// a store for longer; the next 429 pauses it again.
const maxPause = 5 * time.Minute

// pause stops every write to store for d (at most maxPause) from now; an earlier end already
// set is extended, never shortened.
func (l *limiter) pause(store string, d time.Duration) {
	if d <= 0 {
		return
	}
	until := l.now().Add(min(d, maxPause))
	l.mu.Lock()
	defer l.mu.Unlock()
	if until.After(l.paused[store]) {
		l.paused[store] = until
	}
}

// pausedFor returns how long store's pause lasts from now (0: not paused).
func (l *limiter) pausedFor(store string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	until, ok := l.paused[store]
	if !ok {
		return 0
	}
	if d := until.Sub(l.now()); d > 0 {
		return d
	}
	delete(l.paused, store)
	return 0
}

type bucket struct {
	perMinute int
	tokens    float64
	last      time.Time
}

func newLimiter(now func() time.Time, override map[string]int) *limiter {
	return &limiter{now: now, override: override, buckets: map[string]*bucket{}, paused: map[string]time.Time{}}
}

// wait blocks until store may write once more (its pause over, a token taken), or ctx ends
// (an error of kind domain.ErrUnavailable). perMinute 0 (and no override) never waits but for
// a pause.
func (l *limiter) wait(ctx context.Context, store string, perMinute int) error {
	for {
		d := l.pausedFor(store)
		if d == 0 {
			d = l.reserve(store, perMinute)
		}
		if d == 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("store %s write rate limit: %w: %w", store, domain.ErrUnavailable, ctx.Err())
		}
	}
}

// reserve takes a token and returns 0, or returns how long until one is available. The
// override of store, if any, replaces perMinute; no bound (0) always returns 0.
func (l *limiter) reserve(store string, perMinute int) time.Duration {
	if o := l.override[store]; o > 0 {
		perMinute = o
	}
	if perMinute <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	burst := max(1, float64(perMinute)/60)
	b := l.buckets[store]
	if b == nil || b.perMinute != perMinute {
		b = &bucket{perMinute: perMinute, tokens: burst, last: now}
		l.buckets[store] = b
	}
	rate := float64(perMinute) / float64(time.Minute) // tokens per nanosecond
	b.tokens = min(burst, b.tokens+float64(now.Sub(b.last))*rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return max(time.Duration((1-b.tokens)/rate), time.Nanosecond)
}

// writeBound is the lower of a connector's write bound and the store's safety rail (0: off).
func writeBound(connector int, s *domain.StoreSafety) int {
	if s == nil || s.WritesPerMinute <= 0 {
		return connector
	}
	if connector <= 0 {
		return s.WritesPerMinute
	}
	return min(connector, s.WritesPerMinute)
}
