package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/idstream/idstream/eventstore"
)

// LiveOptions configure Live.
type LiveOptions struct {
	// Rate is the number of appends per second the writer aims at (one event each).
	Rate float64
	// Events is the number of events measured.
	Events int
	// StreamPrefix names the streams written; the subscriber filters on it, so it must be
	// unique in the store.
	StreamPrefix string
}

// Latency summarises delivery latencies.
type Latency struct {
	// Events is the number of latencies measured; Rate the appends per second achieved.
	Events int
	Rate   float64
	P50    time.Duration
	P99    time.Duration
	Max    time.Duration
}

// maxLiveWait bounds how long Live waits for the subscriber after the last append returned.
const maxLiveWait = 30 * time.Second

// Live measures live delivery: a subscriber waits at the end of the log while one writer
// appends single events at opts.Rate; an event's latency is the time from its Append returning
// to the subscriber receiving it (0 when it arrived first: a backend may publish before it
// acknowledges). One unmeasured event is sent first, so that the subscription is known to be
// live when measurement starts.
func Live(ctx context.Context, store eventstore.Store, o LiveOptions) (Latency, error) {
	if o.Rate <= 0 || o.Events < 1 || o.StreamPrefix == "" {
		return Latency{}, fmt.Errorf("%w: bench: live: want a positive rate, at least one event and a stream prefix", eventstore.ErrInvalidArgument)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sub, err := store.SubscribeAll(ctx, eventstore.SubscribeAllOptions{
		FromEnd: true,
		Filter:  &eventstore.Filter{StreamPrefixes: []string{o.StreamPrefix + "-"}},
	})
	if err != nil {
		return Latency{}, fmt.Errorf("bench: live: %w", err)
	}
	defer sub.Close()

	received := make(map[[16]byte]time.Time, o.Events+1)
	recvDone := make(chan error, 1)
	warm := make(chan struct{})
	go func() {
		for len(received) < o.Events+1 {
			m, err := sub.Next(ctx)
			now := time.Now()
			if err != nil {
				recvDone <- fmt.Errorf("bench: live: subscription after %d events: %w", len(received), err)
				return
			}
			if m.Kind == eventstore.MessageEvent {
				received[[16]byte(m.Event.ID)] = now
				if len(received) == 1 {
					close(warm)
				}
			}
		}
		recvDone <- nil
	}()

	g := newGenerator(99)
	const streams = 8
	var revs [streams]eventstore.ExpectedRevision
	for i := range revs {
		revs[i] = eventstore.NoStream
	}
	acked := make(map[[16]byte]time.Time, o.Events)
	appendOne := func(i int) ([16]byte, error) {
		evs, err := g.events(1)
		if err != nil {
			return [16]byte{}, err
		}
		res, err := store.Append(ctx, fmt.Sprintf("%s-s%d", o.StreamPrefix, i%streams), revs[i%streams], evs...)
		if err != nil {
			return [16]byte{}, fmt.Errorf("bench: live: append: %w", err)
		}
		revs[i%streams] = eventstore.Exact(res.NextExpectedRevision)
		return [16]byte(evs[0].ID), nil
	}
	if _, err := appendOne(0); err != nil {
		return Latency{}, err
	}
	select {
	case <-warm:
	case err := <-recvDone:
		return Latency{}, err
	case <-time.After(maxLiveWait):
		return Latency{}, fmt.Errorf("%w: bench: live: the subscriber did not receive the first event within %v", eventstore.ErrUnavailable, maxLiveWait)
	}

	interval := time.Duration(float64(time.Second) / o.Rate)
	start := time.Now()
	for i := range o.Events {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		id, err := appendOne(i + 1)
		if err != nil {
			return Latency{}, err
		}
		acked[id] = time.Now()
	}
	elapsed := time.Since(start)
	select {
	case err := <-recvDone:
		if err != nil {
			return Latency{}, err
		}
	case <-time.After(maxLiveWait):
		cancel(errors.New("bench: live: timed out"))
		<-recvDone
		return Latency{}, fmt.Errorf("%w: bench: live: the subscriber had %d of %d events %v after the last append", eventstore.ErrUnavailable, len(received)-1, o.Events, maxLiveWait)
	}

	lat := make([]time.Duration, 0, len(acked))
	for id, at := range acked {
		r, ok := received[id]
		if !ok {
			return Latency{}, fmt.Errorf("bench: live: event %x was acknowledged but never delivered", id)
		}
		lat = append(lat, max(r.Sub(at), 0))
	}
	slices.Sort(lat)
	return Latency{
		Events: len(lat),
		Rate:   float64(len(lat)) / elapsed.Seconds(),
		P50:    percentile(lat, 50),
		P99:    percentile(lat, 99),
		Max:    lat[len(lat)-1],
	}, nil
}

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100 // ceil(n*p/100), 1-based rank
	return sorted[max(i-1, 0)]
}
