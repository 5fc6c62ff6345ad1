package projections

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/idstream/idstream/eventstore"
)

// benchKeys is an in-memory eventstore.SubjectKeys for benchmarks (the real one,
// commands/subjectkeys, is measured in cmd/idstream's bench command).
type benchKeys struct {
	mu   sync.Mutex
	keys map[string][]byte
}

func (k *benchKeys) Keys(_ context.Context, subjects []string, create bool) (map[string][]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string][]byte{}
	for _, s := range subjects {
		if key, ok := k.keys[s]; ok {
			out[s] = key
		} else if create {
			key, err := eventstore.NewSubjectKey()
			if err != nil {
				return nil, err
			}
			k.keys[s], out[s] = key, key
		}
	}
	return out, nil
}

func (k *benchKeys) Destroy(_ context.Context, s string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, s)
	return nil
}

// BenchmarkDecodeUserCreated decodes user.created events as the Runner does (decodeChunk), with
// personal data in the clear (the reflection-free decoder) and sealed per subject (AES-GCM,
// keys from a warm cache), to price crypto-shredding on replays.
func BenchmarkDecodeUserCreated(b *testing.B) {
	const n = 4096
	for _, sealed := range []bool{false, true} {
		name := "clear"
		if sealed {
			name = "sealed"
		}
		b.Run(name, func(b *testing.B) {
			reg, err := NewRegistry()
			if err != nil {
				b.Fatal(err)
			}
			if sealed {
				reg.UseSubjectKeys(&benchKeys{keys: map[string][]byte{}})
			}
			c := &chunk{events: make([]eventstore.RecordedEvent, n)}
			for i := range n {
				ed, err := reg.Encode([16]byte{byte(i)}, benchUserCreated(env1, i+1), eventstore.Metadata{})
				if err != nil {
					b.Fatal(err)
				}
				c.events[i] = eventstore.RecordedEvent{Type: ed.Type, PayloadVersion: ed.PayloadVersion, Data: ed.Data,
					Position: eventstore.Position{Commit: uint64(i + 1), Prepare: uint64(i + 1)}}
			}
			var users *userCreatedDecoder
			if fastUserDecoding(reg) {
				users = newUserCreatedDecoder()
			}
			var unknown atomic.Uint64
			b.ReportAllocs()
			for b.Loop() {
				c.changes, c.err = c.changes[:0], nil
				decodeChunk(reg, &unknown, c, users)
				if c.err != nil || len(c.changes) != n {
					b.Fatal(c.err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
