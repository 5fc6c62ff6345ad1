package propagation

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/idstream/idstream/connectors"
)

// timedFactories wraps every connector of f to sum the time spent in each call, for the
// benchmarks' breakdown.
type callTimes struct {
	find, create, update, get atomic.Int64 // nanoseconds
	n                         atomic.Int64 // creates
}

func (ct *callTimes) wrap(f connectors.Factories) connectors.Factories {
	out := connectors.Factories{}
	for k, fac := range f {
		out[k] = func(cfg connectors.StoreConfig) (connectors.Connector, error) {
			c, err := fac(cfg)
			if err != nil {
				return nil, err
			}
			return timedConn{Connector: c, ct: ct}, nil
		}
	}
	return out
}

type timedConn struct {
	connectors.Connector
	ct *callTimes
}

func since(a *atomic.Int64, t0 time.Time) { a.Add(int64(time.Since(t0))) }

func (c timedConn) Find(ctx context.Context, k connectors.Kind, a, v string) ([]connectors.Resource, error) {
	defer since(&c.ct.find, time.Now())
	return c.Connector.Find(ctx, k, a, v)
}

func (c timedConn) Create(ctx context.Context, k connectors.Kind, attrs map[string]any) (connectors.Resource, error) {
	defer since(&c.ct.create, time.Now())
	c.ct.n.Add(1)
	return c.Connector.Create(ctx, k, attrs)
}

func (c timedConn) Get(ctx context.Context, k connectors.Kind, id string) (connectors.Resource, error) {
	defer since(&c.ct.get, time.Now())
	return c.Connector.Get(ctx, k, id)
}

func (c timedConn) Features() connectors.Features { return connectors.FeaturesOf(c.Connector) }
