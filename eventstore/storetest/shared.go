package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idstream/idstream/eventstore"
)

// Prefill writes into st what earlier runs and other applications would have left in a shared
// log, in the suite's own categories and event types: 40 streams of three events, some with
// stream metadata, some soft-deleted, some tombstoned, and a few single-event streams. A
// backend's SharedLog run calls it once, before Run, on the store its cases share.
func Prefill(t testing.TB, st eventstore.Store) {
	t.Helper()
	ctx, cancel := callContext(t)
	defer cancel()
	for i := range 40 {
		stream := fmt.Sprintf("%s-%s", []string{"user", "group", "role", "usergroup"}[i%4], uuid.NewString())
		batch := []eventstore.EventData{unrelated("user.created"), unrelated("group.member_added"), unrelated("role.granted")}
		if _, err := st.Append(ctx, stream, eventstore.NoStream, batch...); err != nil {
			t.Fatalf("prefill: append to %s: %v", stream, err)
		}
		var err error
		switch i % 5 {
		case 1:
			_, err = st.SetStreamMetadata(ctx, stream, eventstore.NoStream, eventstore.StreamMetadata{MaxCount: 1})
		case 2:
			_, err = st.DeleteStream(ctx, stream, eventstore.Any)
		case 3:
			_, err = st.TombstoneStream(ctx, stream, eventstore.Any)
		}
		if err != nil {
			t.Fatalf("prefill: %s: %v", stream, err)
		}
	}
	for k := range 5 {
		if _, err := st.Append(ctx, fmt.Sprintf("user-filler%d", k), eventstore.Any, unrelated("user.imported")); err != nil {
			t.Fatalf("prefill: filler %d: %v", k, err)
		}
	}
}

// WriteUnrelated appends unrelated events to st, in the suite's own categories and event
// types, until the returned stop is called (stop waits for the writer to end). A backend's
// SharedLog run starts it before Run and stops it in a Cleanup: the cases then run while
// another writer is busy.
func WriteUnrelated(st eventstore.Store) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		stream := "user-" + uuid.NewString()
		for i := 0; ctx.Err() == nil; i++ {
			typ := []string{"user.created", "group.member_added", "user.renamed"}[i%3]
			if _, err := st.Append(ctx, stream, eventstore.Any, unrelated(typ)); err != nil {
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() { cancel(); <-done }
}

// unrelated is an event of another writer.
func unrelated(typ string) eventstore.EventData {
	return eventstore.EventData{ID: newID(), Type: typ, PayloadVersion: 1, Data: []byte(`{"unrelated":true}`),
		Metadata: eventstore.Metadata{Actor: "other-writer", OccurredAt: time.Now().UTC()}}
}
