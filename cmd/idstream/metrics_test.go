package main

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/idstream/idstream/eventstore"
)

func TestMeteredStoreCountsAppends(t *testing.T) {
	reg := prometheus.NewRegistry()
	store := withMetrics(openEmbedded(t), reg)
	ctx := context.Background()
	ev := func() eventstore.EventData {
		id, err := eventstore.NewEventID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return eventstore.EventData{ID: id, Type: "user.created", PayloadVersion: 1, Data: []byte(`{}`)}
	}
	if _, err := store.Append(ctx, "user-1", eventstore.NoStream, ev(), ev()); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, "user-1", eventstore.NoStream, ev()); err == nil {
		t.Fatal("second NoStream append succeeded")
	}
	m := store.(*meteredStore)
	if got := testutil.ToFloat64(m.appends.WithLabelValues("ok")); got != 1 {
		t.Errorf("ok appends = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.appends.WithLabelValues("conflict")); got != 1 {
		t.Errorf("conflicting appends = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.events); got != 2 {
		t.Errorf("appended events = %v, want 2", got)
	}
	if n, err := testutil.GatherAndCount(reg, "idstream_eventstore_append_duration_seconds"); err != nil || n != 1 {
		t.Errorf("duration histogram: %d series, %v", n, err)
	}
}
