package propagation

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idstream/idstream/connectors"
	"github.com/idstream/idstream/connectors/scim"
	"github.com/idstream/idstream/domain"
)

// TestLimiterPause: a store's pause holds every caller until it passes, whatever their own
// bound; a later, shorter pause does not shorten it; a pause is bounded by maxPause; a
// cancelled wait returns.
func TestLimiterPause(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	l := newLimiter(clock, nil)
	l.pause("s", 2*time.Second)
	l.pause("s", time.Second)
	if d := l.pausedFor("s"); d != 2*time.Second {
		t.Fatalf("paused for %v, want 2s (a shorter pause does not shorten it)", d)
	}
	if d := l.pausedFor("other"); d != 0 {
		t.Fatalf("another store is paused for %v", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.wait(ctx, "s", 0); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("a cancelled wait on a paused store: %v", err)
	}
	advance(2 * time.Second)
	if err := l.wait(context.Background(), "s", 0); err != nil {
		t.Fatal(err)
	}
	l.pause("s", 10*time.Hour)
	if d := l.pausedFor("s"); d != maxPause {
		t.Fatalf("a Retry-After of hours pauses for %v, want %v", d, maxPause)
	}
	if got := writeBound(600, &domain.StoreSafety{WritesPerMinute: 60}); got != 60 {
		t.Errorf("bound %d, want the store's 60", got)
	}
	if got := writeBound(60, &domain.StoreSafety{WritesPerMinute: 600}); got != 60 {
		t.Errorf("bound %d, want the connector's 60", got)
	}
	if got := writeBound(0, &domain.StoreSafety{WritesPerMinute: 30}); got != 30 {
		t.Errorf("bound %d, want 30", got)
	}
}

// TestSCIMRateLimitPausesStore: a store on loopback answering 429 with Retry-After to a write
// pauses the whole store in the runtime's limiter (every worker), and the change lands after.
func TestSCIMRateLimitPausesStore(t *testing.T) {
	s := newSCIMEnv(t)
	up, err := url.Parse(s.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(up)
	var limited atomic.Int32
	var tmu sync.Mutex
	var sentAt, retryAt time.Time
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			n := limited.Add(1)
			tmu.Lock()
			if n == 2 {
				retryAt = time.Now()
			}
			tmu.Unlock()
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				if f, ok := w.(http.Flusher); ok {
					f.Flush()
				}
				tmu.Lock()
				sentAt = time.Now()
				tmu.Unlock()
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	c := s.content("", allActions())
	c.Stores[1].Config = map[string]string{scim.KeyBaseURL: front.URL}
	s.publish(c)
	rt := s.runtime(func(c *Config) {
		s.scimConfig(c)
		c.RetryMax = 2 * time.Second
	})
	defer rt.Close()
	before := time.Now()
	s.user("limited", "L", nil)
	s.settle(rt)
	if _, ok := listAll(t, s.client(), connectors.KindUser, "userName")["limited"]; !ok {
		t.Fatalf("the user never reached the target")
	}
	rt.rec.limits.mu.Lock()
	until, paused := rt.rec.limits.paused["s-scim"]
	rt.rec.limits.mu.Unlock()
	// The pause may have been cleared once passed (pausedFor deletes it): then it held a write.
	if limited.Load() < 2 {
		t.Fatalf("%d write requests, want the 429 and its retry", limited.Load())
	}
	tmu.Lock()
	gap := retryAt.Sub(sentAt)
	tmu.Unlock()
	// A lower bound only: the next write may not come before the store's Retry-After.
	if gap < time.Second {
		t.Fatalf("the next write came %v after the 429, before its Retry-After of 1s", gap)
	}
	if paused && until.Before(before.Add(time.Second)) {
		t.Fatalf("paused until %v, less than the Retry-After after %v", until, before)
	}
}
