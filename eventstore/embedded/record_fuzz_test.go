package embedded

import (
	"errors"
	"testing"
	"time"

	"github.com/idstream/idstream/eventstore"
)

// FuzzDecodeRecord: records are read back from disk, where anything can happen to them. Decoding
// never panics, and damage is ErrCorrupt naming the position.
func FuzzDecodeRecord(f *testing.F) {
	e := eventstore.EventData{ID: [16]byte{7}, Type: "user.created", PayloadVersion: 2, Data: []byte(`{"a":1}`),
		Metadata: eventstore.Metadata{EnvironmentID: "env", Actor: "admin", CorrelationID: "corr", CausationID: "cause",
			OccurredAt: time.Unix(1700000000, 5).UTC(), Extra: map[string]string{"ip": "::1"}}}
	valid := appendRecord(nil, 42, 3, time.Unix(1700000001, 0), e.Metadata.OccurredAt, encodeBody("user-1", &e))
	f.Add(uint64(42), valid, false)
	f.Add(uint64(42), valid, true)
	f.Add(uint64(1), []byte{}, true)
	f.Add(uint64(1), make([]byte, recordFixed), true)
	f.Fuzz(func(t *testing.T, pos uint64, v []byte, reseal bool) {
		if reseal && len(v) >= 4 {
			// Fix the checksum so the fuzzer reaches the body's decoding.
			v = append([]byte(nil), v...)
			crc := recordCRC(pos, v[4:])
			v[0], v[1], v[2], v[3] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
		}
		h, r, err := decodeHead(pos, v)
		if err == nil {
			_, err = newDecoder().decode(pos, v, h, r)
		}
		if err != nil && !errors.Is(err, eventstore.ErrCorrupt) {
			t.Fatalf("error %v is not ErrCorrupt", err)
		}
	})
}

func TestRecordRoundTrip(t *testing.T) {
	e := eventstore.EventData{ID: [16]byte{7}, Type: "user.created", PayloadVersion: 2, Data: []byte(`{"a":1}`),
		Metadata: eventstore.Metadata{EnvironmentID: "env", Actor: "admin", CorrelationID: "corr", CausationID: "cause",
			OccurredAt: time.Unix(1700000000, 5).UTC(), Extra: map[string]string{"ip": "::1"}}}
	rec := time.Unix(1700000001, 0).UTC()
	v := appendRecord(nil, 42, 3, rec, e.Metadata.OccurredAt, encodeBody("user-1", &e))
	h, r, err := decodeHead(42, v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := newDecoder().decode(42, v, h, r)
	if err != nil {
		t.Fatal(err)
	}
	want := eventstore.RecordedEvent{ID: e.ID, Stream: "user-1", Revision: 3, Position: position(42), Type: e.Type,
		PayloadVersion: 2, Data: e.Data, Metadata: e.Metadata, RecordedAt: rec}
	if got.Metadata.Extra["ip"] != "::1" || string(got.Data) != string(want.Data) || got.ID != want.ID || got.Stream != want.Stream ||
		got.Revision != 3 || got.Position != want.Position || got.PayloadVersion != 2 || !got.RecordedAt.Equal(rec) ||
		got.Metadata.CorrelationID != "corr" || got.Metadata.CausationID != "cause" || !got.Metadata.OccurredAt.Equal(e.Metadata.OccurredAt) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// A record moved to another position no longer checks out.
	if _, _, err := decodeHead(43, v); !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("record of position 42 read at 43: %v", err)
	}
}

// FuzzRecordRoundTrip: whatever ValidateEvents accepts, a record encodes and decodes back equal.
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add("user-1", "user.created", "env", "admin", "corr", "cause", "ip", "::1", []byte(`{"a":1}`), int64(1700000000), uint32(5), uint32(1))
	f.Add("s", "t", "", "", "", "", "", "", []byte(nil), int64(0), uint32(0), uint32(7))
	f.Add("s", "t", "e", "a", "", "", "k", "", []byte(`[]`), int64(-62135596800), uint32(0), uint32(1))
	f.Add("s", "t", "e", "a", "c", "", "", "", []byte(`"x"`), int64(253402300799), uint32(999999999), uint32(3))
	f.Fuzz(func(t *testing.T, stream, typ, env, actor, corr, cause, xk, xv string, data []byte, sec int64, nsec, version uint32) {
		occurred := time.Unix(sec, int64(nsec%1e9)).UTC()
		if sec == 0 && nsec == 0 {
			occurred = time.Time{}
		}
		e := eventstore.EventData{ID: [16]byte{1}, Type: typ, PayloadVersion: version, Data: data,
			Metadata: eventstore.Metadata{EnvironmentID: env, Actor: actor, CorrelationID: corr, CausationID: cause, OccurredAt: occurred}}
		if xk != "" {
			e.Metadata.Extra = map[string]string{xk: xv}
		}
		if eventstore.ValidateStreamName(stream) != nil || eventstore.ValidateEvents(stream, []eventstore.EventData{e}) != nil {
			return
		}
		rec := time.Unix(1700000000, 123).UTC()
		v := appendRecord(nil, 9, 4, rec, occurred, encodeBody(stream, &e))
		h, r, err := decodeHead(9, v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := newDecoder().decode(9, v, h, r)
		if err != nil {
			t.Fatal(err)
		}
		if got.Stream != stream || got.Type != typ || got.PayloadVersion != version || string(got.Data) != string(data) ||
			got.Revision != 4 || got.Position.Commit != 9 || !got.RecordedAt.Equal(rec) ||
			got.Metadata.EnvironmentID != env || got.Metadata.Actor != actor || got.Metadata.CorrelationID != corr ||
			got.Metadata.CausationID != cause || !got.Metadata.OccurredAt.Equal(occurred) || got.Metadata.OccurredAt.IsZero() != occurred.IsZero() ||
			len(got.Metadata.Extra) != len(e.Metadata.Extra) || got.Metadata.Extra[xk] != e.Metadata.Extra[xk] {
			t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", got, e)
		}
	})
}
