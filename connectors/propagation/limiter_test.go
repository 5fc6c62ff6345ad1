package propagation

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestLimiter: a store's bucket allows a second's worth of writes at once, then one per
// 60/perMinute seconds; the override replaces the store's own bound; 0 is unbounded.
func TestLimiter(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	l := newLimiter(clock, map[string]int{"slow": 60})
	// 180 a minute (Slack): a burst of 3, then one every 333 ms.
	for i := range 3 {
		if d := l.reserve("slack", 180); d != 0 {
			t.Fatalf("write %d of the burst waits %v", i, d)
		}
	}
	if d := l.reserve("slack", 180); d < 300*time.Millisecond || d > 340*time.Millisecond {
		t.Errorf("the fourth write waits %v, want about 333ms", d)
	}
	advance(334 * time.Millisecond)
	if d := l.reserve("slack", 180); d != 0 {
		t.Errorf("after 334ms a write still waits %v", d)
	}
	// The override: 60 a minute whatever the store declares.
	if d := l.reserve("slow", 6000); d != 0 {
		t.Fatalf("first write waits %v", d)
	}
	if d := l.reserve("slow", 6000); d < 990*time.Millisecond {
		t.Errorf("override ignored: second write waits %v", d)
	}
	// Unbounded, and a cancelled wait is an error.
	if err := l.wait(context.Background(), "free", 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.wait(ctx, "slow", 0); err == nil {
		t.Errorf("a cancelled wait returned nil")
	}
}
