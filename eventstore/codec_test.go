package eventstore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idstream/idstream/eventstore"
)

type userCreated struct {
	Username string `json:"username"`
	Email    string `json:"email"`
}

// userRenamed is at version 3: v1 had "name", v2 split it into "given" and "family", v3 adds
// "display".
type userRenamed struct {
	Given   string `json:"given"`
	Family  string `json:"family"`
	Display string `json:"display"`
}

func renamedRegistry(t *testing.T) *eventstore.Registry {
	t.Helper()
	r := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[userCreated](r, "user.created", 1))
	require.NoError(t, eventstore.Register[userRenamed](r, "user.renamed", 3,
		eventstore.Upcaster{From: 2, Up: func(b json.RawMessage) (json.RawMessage, error) {
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, err
			}
			v["display"] = fmt.Sprint(v["given"], " ", v["family"])
			return json.Marshal(v)
		}},
		eventstore.Upcaster{From: 1, Up: func(b json.RawMessage) (json.RawMessage, error) {
			var v struct{ Name string }
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, err
			}
			given, family, _ := strings.Cut(v.Name, " ")
			return json.Marshal(map[string]string{"given": given, "family": family})
		}},
	))
	return r
}

func TestCodecRoundTrip(t *testing.T) {
	r := renamedRegistry(t)
	meta := eventstore.Metadata{EnvironmentID: "env-1", Actor: "admin", OccurredAt: time.Unix(1700000000, 0).UTC()}
	id := [16]byte{1}
	ed, err := r.Encode(id, userCreated{Username: "ada", Email: "ada@example.com"}, meta)
	require.NoError(t, err)
	assert.Equal(t, "user.created", ed.Type)
	assert.Equal(t, uint32(1), ed.PayloadVersion)
	assert.Equal(t, meta, ed.Metadata)
	assert.JSONEq(t, `{"username":"ada","email":"ada@example.com"}`, string(ed.Data))

	got, err := r.Decode(eventstore.RecordedEvent{Type: ed.Type, PayloadVersion: ed.PayloadVersion, Data: ed.Data})
	require.NoError(t, err)
	assert.Equal(t, userCreated{Username: "ada", Email: "ada@example.com"}, got)
}

func TestCodecUpcastsEveryOlderVersion(t *testing.T) {
	r := renamedRegistry(t)
	want := userRenamed{Given: "Ada", Family: "Lovelace", Display: "Ada Lovelace"}
	for v, data := range map[uint32]string{
		1: `{"name":"Ada Lovelace"}`,
		2: `{"given":"Ada","family":"Lovelace"}`,
		3: `{"given":"Ada","family":"Lovelace","display":"Ada Lovelace"}`,
	} {
		got, err := r.Decode(eventstore.RecordedEvent{Stream: "user-1", Type: "user.renamed", PayloadVersion: v, Data: json.RawMessage(data)})
		require.NoError(t, err, "version %d", v)
		assert.Equal(t, want, got, "version %d", v)
	}
	version, ok := r.Version("user.renamed")
	assert.True(t, ok)
	assert.Equal(t, uint32(3), version)
}

func TestCodecRefusals(t *testing.T) {
	r := renamedRegistry(t)
	_, err := r.Decode(eventstore.RecordedEvent{Stream: "user-1", Revision: 4, Type: "user.renamed", PayloadVersion: 4, Data: json.RawMessage(`{}`)})
	assert.ErrorIs(t, err, eventstore.ErrUnknownEventType, "a payload version newer than the build")
	assert.Contains(t, err.Error(), "user-1@4")

	_, err = r.Decode(eventstore.RecordedEvent{Type: "user.deleted", PayloadVersion: 1})
	assert.ErrorIs(t, err, eventstore.ErrUnknownEventType)

	_, err = r.Decode(eventstore.RecordedEvent{Type: "user.created", PayloadVersion: 1, Data: json.RawMessage(`{"username":1}`)})
	assert.ErrorIs(t, err, eventstore.ErrCorrupt, "a payload that does not fit the type")

	_, err = r.Decode(eventstore.RecordedEvent{Type: "user.renamed", PayloadVersion: 1, Data: json.RawMessage(`[`)})
	assert.ErrorIs(t, err, eventstore.ErrCorrupt, "an upcaster's failure")
	assert.Contains(t, err.Error(), "upcast user.renamed from version 1")

	_, err = r.Encode([16]byte{1}, struct{ X int }{}, eventstore.Metadata{})
	assert.ErrorIs(t, err, eventstore.ErrUnknownEventType)
}

func TestRegisterRefusals(t *testing.T) {
	up := func(b json.RawMessage) (json.RawMessage, error) { return b, nil }
	for name, reg := range map[string]func(*eventstore.Registry) error{
		"empty name":    func(r *eventstore.Registry) error { return eventstore.Register[userCreated](r, "", 1) },
		"reserved name": func(r *eventstore.Registry) error { return eventstore.Register[userCreated](r, "$stream", 1) },
		"version 0":     func(r *eventstore.Registry) error { return eventstore.Register[userCreated](r, "user.created", 0) },
		"missing upcaster": func(r *eventstore.Registry) error {
			return eventstore.Register[userCreated](r, "user.created", 3, eventstore.Upcaster{From: 1, Up: up})
		},
		"upcaster from the current version": func(r *eventstore.Registry) error {
			return eventstore.Register[userCreated](r, "user.created", 2, eventstore.Upcaster{From: 1, Up: up}, eventstore.Upcaster{From: 2, Up: up})
		},
		"two upcasters from one version": func(r *eventstore.Registry) error {
			return eventstore.Register[userCreated](r, "user.created", 2, eventstore.Upcaster{From: 1, Up: up}, eventstore.Upcaster{From: 1, Up: up})
		},
		"nil upcaster": func(r *eventstore.Registry) error {
			return eventstore.Register[userCreated](r, "user.created", 2, eventstore.Upcaster{From: 1})
		},
	} {
		assert.ErrorIs(t, reg(eventstore.NewRegistry()), eventstore.ErrInvalidArgument, name)
	}
	r := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[userCreated](r, "user.created", 1))
	assert.ErrorIs(t, eventstore.Register[userRenamed](r, "user.created", 1), eventstore.ErrInvalidArgument, "a name twice")
	assert.ErrorIs(t, eventstore.Register[userCreated](r, "user.made", 1), eventstore.ErrInvalidArgument, "a type twice")
}

func TestPositionStringParse(t *testing.T) {
	for _, p := range []eventstore.Position{{}, {Commit: 7, Prepare: 7}, {Commit: 10, Prepare: 4}, {Commit: 1<<64 - 1, Prepare: 1<<64 - 1}} {
		got, err := eventstore.ParsePosition(p.String())
		require.NoError(t, err, p.String())
		assert.Equal(t, p, got)
	}
	for _, bad := range []string{"", "-1", "1/", "/1", "1/2/3", "01", "1 ", "x", "18446744073709551616", "+5"} {
		_, err := eventstore.ParsePosition(bad)
		assert.ErrorIs(t, err, eventstore.ErrInvalidArgument, "%q", bad)
	}
	assert.True(t, eventstore.Position{Commit: 1, Prepare: 9}.Less(eventstore.Position{Commit: 2, Prepare: 0}))
	assert.True(t, eventstore.Position{Commit: 2, Prepare: 1}.Less(eventstore.Position{Commit: 2, Prepare: 2}))
	assert.False(t, eventstore.Position{Commit: 2, Prepare: 2}.Less(eventstore.Position{Commit: 2, Prepare: 2}))
}

func TestExpectedRevisionCheck(t *testing.T) {
	type state struct {
		exists bool
		last   uint64
	}
	missing, at3 := state{false, 0}, state{true, 3}
	for _, c := range []struct {
		rule eventstore.ExpectedRevision
		st   state
		ok   bool
	}{
		{eventstore.Any, missing, true}, {eventstore.Any, at3, true},
		{eventstore.NoStream, missing, true}, {eventstore.NoStream, at3, false},
		{eventstore.StreamExists, missing, false}, {eventstore.StreamExists, at3, true},
		{eventstore.Exact(3), at3, true}, {eventstore.Exact(2), at3, false}, {eventstore.Exact(0), missing, false},
	} {
		assert.Equal(t, c.ok, c.rule.Check(c.st.exists, c.st.last), "%s on %+v", c.rule, c.st)
	}
	rev, ok := eventstore.Exact(5).Revision()
	assert.True(t, ok)
	assert.Equal(t, uint64(5), rev)
	_, ok = eventstore.Any.Revision()
	assert.False(t, ok)
}

func TestFilter(t *testing.T) {
	var none *eventstore.Filter
	assert.NoError(t, none.Validate())
	assert.True(t, none.Match("user-1", "user.created"))
	streams := &eventstore.Filter{StreamPrefixes: []string{"user-", "group-"}}
	assert.True(t, streams.Match("group-9", "x"))
	assert.False(t, streams.Match("population-1", "user.created"))
	types := &eventstore.Filter{EventTypePrefixes: []string{"user."}}
	assert.True(t, types.Match("anything", "user.created"))
	assert.False(t, types.Match("user-1", "group.created"))
	assert.ErrorIs(t, (&eventstore.Filter{}).Validate(), eventstore.ErrInvalidArgument)
	assert.ErrorIs(t, (&eventstore.Filter{StreamPrefixes: []string{"a"}, EventTypePrefixes: []string{"b"}}).Validate(), eventstore.ErrInvalidArgument)
}

func TestValidateEventsNamesTheProblem(t *testing.T) {
	ok := eventstore.EventData{ID: [16]byte{1}, Type: "user.created", PayloadVersion: 1, Data: json.RawMessage(`{}`)}
	for want, evs := range map[string][]eventstore.EventData{
		"no events":                nil,
		"ID is zero":               {{Type: "t", PayloadVersion: 1}},
		"type is empty":            {{ID: [16]byte{1}, PayloadVersion: 1}},
		"reserved":                 {{ID: [16]byte{1}, Type: "$x", PayloadVersion: 1}},
		"payload version":          {{ID: [16]byte{1}, Type: "t"}},
		"not valid JSON":           {{ID: [16]byte{1}, Type: "t", PayloadVersion: 1, Data: json.RawMessage(`{`)}},
		"appears twice":            {ok, ok},
		"outside 1 to 9999":        {{ID: [16]byte{1}, Type: "t", PayloadVersion: 1, Metadata: eventstore.Metadata{OccurredAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}},
		"(UTC) is outside":         {{ID: [16]byte{1}, Type: "t", PayloadVersion: 1, Metadata: eventstore.Metadata{OccurredAt: time.Date(1, 1, 1, 0, 30, 0, 0, time.FixedZone("+1", 3600))}}},
		"actor is not valid UTF-8": {{ID: [16]byte{1}, Type: "t", PayloadVersion: 1, Metadata: eventstore.Metadata{Actor: "\xff"}}},
		"extra metadata":           {{ID: [16]byte{1}, Type: "t", PayloadVersion: 1, Metadata: eventstore.Metadata{Extra: map[string]string{"\x8e": "v"}}}},
	} {
		err := eventstore.ValidateEvents("user-1", evs)
		require.ErrorIs(t, err, eventstore.ErrInvalidArgument, want)
		assert.Contains(t, err.Error(), want)
	}
	assert.NoError(t, eventstore.ValidateEvents("user-1", []eventstore.EventData{ok}))
	for _, bad := range []string{"", "$all", strings.Repeat("s", 1025), "user-\xff"} {
		assert.ErrorIs(t, eventstore.ValidateStreamName(bad), eventstore.ErrInvalidArgument, "%q", bad)
	}
}

func TestCheckAppendSizeAgreesWithAppendSize(t *testing.T) {
	e := eventstore.EventData{ID: [16]byte{1}, Type: "t", PayloadVersion: 1, Data: json.RawMessage(`"` + strings.Repeat("a", 1000) + `"`),
		Metadata: eventstore.Metadata{Actor: strings.Repeat("<", 50), Extra: map[string]string{"ip": "::1"}, OccurredAt: time.Now()}}
	size := eventstore.AppendSize([]eventstore.EventData{e, e})
	assert.NoError(t, eventstore.CheckAppendSize("s", []eventstore.EventData{e, e}, size))
	err := eventstore.CheckAppendSize("s", []eventstore.EventData{e, e}, size-1)
	assert.ErrorIs(t, err, eventstore.ErrInvalidArgument)
	assert.True(t, errors.Is(err, eventstore.ErrInvalidArgument) && strings.Contains(err.Error(), fmt.Sprint(size)))
}

func TestRegisterValueMatchesRegister(t *testing.T) {
	type payload struct{ A string }
	r := eventstore.NewRegistry()
	if err := r.RegisterValue("x.happened", 1, payload{}); err != nil {
		t.Fatal(err)
	}
	if err := eventstore.Register[payload](r, "x.other", 1); err == nil {
		t.Fatal("the same type registered twice, by value then by type parameter, was accepted")
	}
	if err := r.RegisterValue("x.nil", 1, nil); err == nil {
		t.Fatal("a nil sample was accepted")
	}
	ev, err := r.Encode([16]byte{1}, payload{A: "a"}, eventstore.Metadata{})
	if err != nil || ev.Type != "x.happened" {
		t.Fatalf("encode: %v %v", ev.Type, err)
	}
	got, err := r.Decode(eventstore.RecordedEvent{Type: ev.Type, PayloadVersion: 1, Data: ev.Data})
	if err != nil || got.(payload).A != "a" {
		t.Fatalf("decode: %v %v", got, err)
	}
}
