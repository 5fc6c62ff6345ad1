package propagation

import (
	"context"
	"time"

	"github.com/idstream/idstream/connectors"
)

func retryAfterOf(err error) time.Duration { return connectors.RetryAfterOf(err) }

// sleepCtx waits d or until ctx ends (its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
