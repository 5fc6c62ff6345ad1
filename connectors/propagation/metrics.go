package propagation

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the runtime's Prometheus metrics; a nil *metrics records nothing.
type metrics struct {
	outcomes *prometheus.CounterVec
	latency  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "idstream_propagation_change_orders_total",
			Help: "Change orders recorded, by outcome (operation, SKIPPED, FAILED, DISPUTED)."}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "idstream_propagation_latency_seconds",
			Help:    "From a source change's commit to its change order's completion.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
	}
	for _, c := range []prometheus.Collector{m.outcomes, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) outcome(o string) {
	if m != nil {
		m.outcomes.WithLabelValues(o).Inc()
	}
}

func (m *metrics) observe(d time.Duration) {
	if m != nil {
		m.latency.Observe(d.Seconds())
	}
}
