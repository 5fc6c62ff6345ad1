package main

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idstream/idstream/eventstore"
)

// meteredStore is the Store decorator that counts and times writes for /metrics. It is applied
// once, at wiring; backends know nothing of metrics.
type meteredStore struct {
	eventstore.Store
	appends  *prometheus.CounterVec
	events   prometheus.Counter
	duration prometheus.Observer
}

// withMetrics wraps store so that its appends are counted on reg.
func withMetrics(store eventstore.Store, reg prometheus.Registerer) eventstore.Store {
	m := &meteredStore{
		Store: store,
		appends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idstream_eventstore_appends_total",
			Help: "Appends to the event store, by outcome (ok, or the kind of error).",
		}, []string{"outcome"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "idstream_eventstore_appended_events_total",
			Help: "Events committed by successful appends (idempotent retries included).",
		}),
	}
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "idstream_eventstore_append_duration_seconds",
		Help:    "Time from an append's call to its durable acknowledgement or error.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100µs to about 3s
	})
	m.duration = h
	reg.MustRegister(m.appends, m.events, h)
	return m
}

func (m *meteredStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	start := time.Now()
	res, err := m.Store.Append(ctx, stream, expected, events...)
	m.duration.Observe(time.Since(start).Seconds())
	m.appends.WithLabelValues(outcome(err)).Inc()
	if err == nil {
		m.events.Add(float64(len(events)))
	}
	return res, err
}

// outcome names an error's kind for a metric label: a small, fixed set of values.
func outcome(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{eventstore.ErrWrongExpectedRevision, "conflict"},
		{eventstore.ErrStreamDeleted, "deleted"},
		{eventstore.ErrStreamNotFound, "not_found"},
		{eventstore.ErrInvalidArgument, "invalid"},
		{eventstore.ErrUnavailable, "unavailable"},
		{eventstore.ErrClosed, "closed"},
		{eventstore.ErrCorrupt, "corrupt"},
		{context.Canceled, "canceled"},
		{context.DeadlineExceeded, "deadline"},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	if err == nil {
		return "ok"
	}
	return "other"
}
