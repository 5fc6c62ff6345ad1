package eventstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idstream/idstream/eventstore"
)

// memKeys is the smallest SubjectKeys: keys in a map, destroyed ones remembered. (The real key
// store, commands/subjectkeys, has its own tests; this package may import nothing of ours.)
type memKeys struct {
	mu        sync.Mutex
	keys      map[string][]byte
	destroyed map[string]bool
	calls     int
}

func newMemKeys() *memKeys {
	return &memKeys{keys: map[string][]byte{}, destroyed: map[string]bool{}}
}

func (m *memKeys) Keys(_ context.Context, subjects []string, create bool) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	out := map[string][]byte{}
	for _, s := range subjects {
		if m.destroyed[s] {
			continue
		}
		if k, ok := m.keys[s]; ok {
			out[s] = k
			continue
		}
		if create {
			k, err := eventstore.NewSubjectKey()
			if err != nil {
				return nil, err
			}
			m.keys[s], out[s] = k, k
		}
	}
	return out, nil
}

func (m *memKeys) Destroy(_ context.Context, s string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, s)
	m.destroyed[s] = true
	return nil
}

type personCreated struct {
	PersonID string            `json:"personId" personal:"subject"`
	Team     string            `json:"team"`
	Name     string            `json:"name" personal:"data"`
	Emails   []string          `json:"emails,omitempty" personal:"data"`
	Extra    map[string]string `json:"extra,omitempty" personal:"data"`
}

type personForgotten struct {
	PersonID string `json:"personId"`
}

func (p personForgotten) ForgottenSubject() string { return p.PersonID }

func personalRegistry(t *testing.T, keys eventstore.SubjectKeys) *eventstore.Registry {
	t.Helper()
	r := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[personCreated](r, "person.created", 1))
	require.NoError(t, eventstore.Register[personForgotten](r, "person.forgotten", 1))
	if keys != nil {
		r.UseSubjectKeys(keys)
	}
	return r
}

func recorded(t *testing.T, r *eventstore.Registry, p any) (eventstore.EventData, eventstore.RecordedEvent) {
	t.Helper()
	id, err := eventstore.NewEventID(rand.Reader)
	require.NoError(t, err)
	ed, err := r.Encode(id, p, eventstore.Metadata{})
	require.NoError(t, err)
	return ed, eventstore.RecordedEvent{ID: ed.ID, Stream: "person-1", Type: ed.Type, PayloadVersion: ed.PayloadVersion, Data: ed.Data}
}

func TestPersonalDataIsSealedAndOpens(t *testing.T) {
	keys := newMemKeys()
	r := personalRegistry(t, keys)
	in := personCreated{PersonID: "p1", Team: "blue", Name: "Ada Lovelace", Emails: []string{"ada@example.com"}, Extra: map[string]string{"nick": "countess"}}
	ed, e := recorded(t, r, in)
	for _, secret := range []string{"Ada", "ada@example.com", "countess", `"name"`, `"emails"`} {
		assert.NotContains(t, string(ed.Data), secret, "personal data must not be in the clear")
	}
	assert.Contains(t, string(ed.Data), `"team":"blue"`, "other fields stay readable")
	assert.Contains(t, string(ed.Data), `"$personal"`)

	d, err := r.DecodeEvent(e)
	require.NoError(t, err)
	assert.False(t, d.Erased)
	assert.Equal(t, in, d.Payload)

	// A second registry on the same keys (another process) opens it too.
	d2, err := personalRegistry(t, keys).DecodeEvent(e)
	require.NoError(t, err)
	assert.Equal(t, in, d2.Payload)
}

func TestForgottenSubjectDecodesErased(t *testing.T) {
	keys := newMemKeys()
	r := personalRegistry(t, keys)
	other := personalRegistry(t, keys) // another process, its cache warm
	_, e := recorded(t, r, personCreated{PersonID: "p1", Team: "blue", Name: "Ada"})
	_, e2 := recorded(t, r, personCreated{PersonID: "p2", Team: "red", Name: "Grace"})
	_, err := other.Decode(e)
	require.NoError(t, err)

	require.NoError(t, r.DestroySubject(context.Background(), "p1"))
	d, err := r.DecodeEvent(e)
	require.NoError(t, err)
	assert.True(t, d.Erased)
	assert.Equal(t, personCreated{PersonID: "p1", Team: "blue"}, d.Payload, "personal fields zero, the rest intact")

	// The other process still caches the key until it reads the erasure event.
	_, fe := recorded(t, r, personForgotten{PersonID: "p1"})
	_, err = other.Decode(fe)
	require.NoError(t, err)
	d, err = other.DecodeEvent(e)
	require.NoError(t, err)
	assert.True(t, d.Erased, "reading the erasure event drops the cached key")

	d, err = r.DecodeEvent(e2)
	require.NoError(t, err)
	assert.False(t, d.Erased, "other subjects are untouched")
	assert.Equal(t, "Grace", d.Payload.(personCreated).Name)

	_, err = r.Encode([16]byte{1}, personCreated{PersonID: "p1", Name: "again"}, eventstore.Metadata{})
	assert.ErrorIs(t, err, eventstore.ErrSubjectForgotten, "a forgotten subject's data is never written again")
	assert.ErrorIs(t, r.PrepareKeys(context.Background(), personCreated{PersonID: "p1", Name: "x"}), eventstore.ErrSubjectForgotten)
}

func TestPrepareKeysCreatesOnceForABatch(t *testing.T) {
	keys := newMemKeys()
	r := personalRegistry(t, keys)
	var batch []any
	for _, id := range []string{"a", "b", "c", "a"} {
		batch = append(batch, personCreated{PersonID: id, Name: "n-" + id})
	}
	require.NoError(t, r.PrepareKeys(context.Background(), batch...))
	require.Equal(t, 1, keys.calls)
	for _, p := range batch {
		_, err := r.Encode([16]byte{2}, p, eventstore.Metadata{})
		require.NoError(t, err)
	}
	assert.Equal(t, 1, keys.calls, "encoding a prepared batch asks the key store nothing more")
	assert.Len(t, keys.keys, 3)
}

func TestSealedPersonalDataRefusesTampering(t *testing.T) {
	keys := newMemKeys()
	r := personalRegistry(t, keys)
	_, e := recorded(t, r, personCreated{PersonID: "p1", Name: "Ada"})
	_, e2 := recorded(t, r, personCreated{PersonID: "p2", Name: "Grace"})

	// Sealed data moved onto another subject's event does not open.
	var a, b map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(e.Data, &a))
	require.NoError(t, json.Unmarshal(e2.Data, &b))
	b["$personal"] = a["$personal"]
	moved, _ := json.Marshal(b)
	bad := e2
	bad.Data = moved
	_, err := r.Decode(bad)
	assert.ErrorIs(t, err, eventstore.ErrCorrupt)
	assert.Contains(t, err.Error(), "subject p1 on an event of subject p2")

	// A flipped ciphertext byte is refused, never decoded as something else.
	flipped := e
	flipped.Data = bytes.Replace(e.Data, []byte(`"c":"`), []byte(`"c":"A`), 1)
	_, err = r.Decode(flipped)
	assert.ErrorIs(t, err, eventstore.ErrCorrupt)

	// Bound to the event type: the same bytes recorded as another type do not open.
	other := e
	other.Type = "person.forgotten"
	_, err = personalRegistry(t, keys).Decode(other)
	assert.ErrorIs(t, err, eventstore.ErrCorrupt)
}

func TestPersonalDataWithoutKeyStore(t *testing.T) {
	clear := personalRegistry(t, nil)
	in := personCreated{PersonID: "p1", Name: "Ada"}
	ed, e := recorded(t, clear, in)
	assert.Contains(t, string(ed.Data), "Ada", "without a key store personal data is written in the clear")
	d, err := clear.DecodeEvent(e)
	require.NoError(t, err)
	assert.Equal(t, in, d.Payload)

	// A registry with keys reads old clear events as they are.
	d, err = personalRegistry(t, newMemKeys()).DecodeEvent(e)
	require.NoError(t, err)
	assert.Equal(t, in, d.Payload)
	assert.False(t, d.Erased)

	// Sealed data read without keys decodes as erased, never fails.
	_, se := recorded(t, personalRegistry(t, newMemKeys()), in)
	d, err = clear.DecodeEvent(se)
	require.NoError(t, err)
	assert.True(t, d.Erased)
	err = clear.DestroySubject(context.Background(), "p1")
	assert.ErrorIs(t, err, eventstore.ErrInvalidArgument)
}

func TestPersonalTagsAreChecked(t *testing.T) {
	type noSubject struct {
		Name string `json:"name" personal:"data"`
	}
	type twoSubjects struct {
		A string `personal:"subject"`
		B string `personal:"subject"`
		N string `personal:"data"`
	}
	type badTag struct {
		A string `personal:"subject"`
		N string `personal:"secret"`
	}
	for name, sample := range map[string]any{"no subject": noSubject{}, "two subjects": twoSubjects{}, "bad tag": badTag{}} {
		err := eventstore.NewRegistry().RegisterValue("x.y", 1, sample)
		assert.ErrorIs(t, err, eventstore.ErrInvalidArgument, name)
	}
}

func TestPersonalUpcastSeesClearData(t *testing.T) {
	type v2 struct {
		PersonID string `json:"personId" personal:"subject"`
		Name     string `json:"name" personal:"data"`
		Upper    string `json:"upper" personal:"data"`
	}
	keys := newMemKeys()
	v1 := personalRegistry(t, keys)
	_, e := recorded(t, v1, personCreated{PersonID: "p1", Name: "ada"})
	r := eventstore.NewRegistry()
	r.UseSubjectKeys(keys)
	require.NoError(t, eventstore.Register[v2](r, "person.created", 2, eventstore.Upcaster{From: 1, Up: func(b json.RawMessage) (json.RawMessage, error) {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		if _, sealed := m["$personal"]; sealed {
			return nil, errors.New("upcaster saw sealed data")
		}
		name, _ := m["name"].(string)
		m["upper"] = strings.ToUpper(name)
		return json.Marshal(m)
	}}))
	d, err := r.DecodeEvent(e)
	require.NoError(t, err)
	assert.Equal(t, v2{PersonID: "p1", Name: "ada", Upper: "ADA"}, d.Payload)

	require.NoError(t, keys.Destroy(context.Background(), "p1"))
	r2 := eventstore.NewRegistry()
	r2.UseSubjectKeys(keys)
	require.NoError(t, eventstore.Register[v2](r2, "person.created", 2, eventstore.Upcaster{From: 1, Up: func(b json.RawMessage) (json.RawMessage, error) { return b, nil }}))
	d, err = r2.DecodeEvent(e)
	require.NoError(t, err)
	assert.True(t, d.Erased)
	assert.Equal(t, v2{PersonID: "p1"}, d.Payload)
}

// FuzzDecodePersonal: whatever bytes a recorded event holds, decoding a type with personal data
// answers a payload or ErrCorrupt, never panics, and never reports data both erased and present.
func FuzzDecodePersonal(f *testing.F) {
	keys := newMemKeys()
	r := eventstore.NewRegistry()
	if err := eventstore.Register[personCreated](r, "person.created", 1); err != nil {
		f.Fatal(err)
	}
	r.UseSubjectKeys(keys)
	for _, p := range []personCreated{{PersonID: "p1", Name: "Ada", Emails: []string{"a@x"}}, {PersonID: "p2", Team: "t"}} {
		ed, err := r.Encode([16]byte{9}, p, eventstore.Metadata{})
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(ed.Data))
	}
	f.Add([]byte(`{"personId":"p1","$personal":{"v":1,"s":"p1","c":"!!"}}`))
	f.Add([]byte(`{"$personal":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := r.DecodeEvent(eventstore.RecordedEvent{Stream: "person-1", Type: "person.created", PayloadVersion: 1, Data: data})
		if err != nil {
			if !errors.Is(err, eventstore.ErrCorrupt) {
				t.Fatalf("error of another kind: %v", err)
			}
			return
		}
		if p := d.Payload.(personCreated); d.Erased && (p.Name != "" || p.Emails != nil || p.Extra != nil) {
			t.Fatalf("erased, yet personal data decoded: %+v", p)
		}
	})
}
