package esdb

// Fuzz tests of what this backend decodes from the server: recorded events (system metadata
// "type", "content-type", "created"; the custom metadata that carries our envelope; ID, stream
// name, revision, positions) and stream metadata. Run one at a time, e.g.
//
//	go test -run '^$' -fuzz FuzzDecodeRecordedEvent -fuzztime 60s ./eventstore/esdb/

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"

	"github.com/idstream/idstream/eventstore"
	"github.com/idstream/idstream/eventstore/esdb/internal/fakeserver"
)

// wireRecord is the fuzzed content of one recorded event. idKind picks the ID's form:
// 0 structured, 1 string, else none.
type wireRecord struct {
	stream                 string
	rev, commit, prepare   uint64
	typ, ctype, created    string
	idKind                 uint8
	most, least            int64
	idString               string
	data, custom           []byte
	omitType, omitCreated  bool
	omitContentType, extra bool
}

func (w wireRecord) event() *api.ReadResp_ReadEvent {
	md := map[string]string{"type": w.typ, "content-type": w.ctype, "created": w.created}
	if w.omitType {
		delete(md, "type")
	}
	if w.omitCreated {
		delete(md, "created")
	}
	if w.omitContentType {
		delete(md, "content-type")
	}
	if w.extra {
		md["is-json"] = "true"
	}
	r := &api.ReadResp_ReadEvent_RecordedEvent{
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(w.stream)},
		StreamRevision:   w.rev,
		CommitPosition:   w.commit,
		PreparePosition:  w.prepare,
		Metadata:         md,
		CustomMetadata:   w.custom,
		Data:             w.data,
	}
	switch w.idKind {
	case 0:
		r.Id = &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: w.most, LeastSignificantBits: w.least}}}
	case 1:
		r.Id = &shared.UUID{Value: &shared.UUID_String_{String_: w.idString}}
	}
	return &api.ReadResp_ReadEvent{Event: r}
}

// problem is what decode must report about w ("" when w is a valid record): a fragment the
// error message must contain.
func (w wireRecord) problem() string {
	typ := w.typ
	if w.omitType {
		typ = ""
	}
	created := w.created
	if w.omitCreated {
		created = ""
	}
	if w.stream == "" {
		return "no stream name"
	}
	if isSystem(w.stream, typ) {
		return ""
	}
	if typ == "" {
		return `no "type"`
	}
	ticks, err := strconv.ParseInt(created, 10, 64)
	if err != nil {
		return `"created" metadata`
	}
	if ticks < 0 || ticks > math.MaxInt64/100 {
		return "out of range"
	}
	switch w.idKind {
	case 0:
	case 1:
		if _, err := uuid.Parse(w.idString); err != nil {
			return "event ID"
		}
	default:
		return "no event ID"
	}
	if len(w.data) > 0 && !json.Valid(w.data) {
		return "is not JSON"
	}
	if len(w.custom) > 0 {
		var m wireMeta
		if err := json.Unmarshal(w.custom, &m); err != nil {
			return "custom metadata"
		}
		if at := m.OccurredAt.UTC(); !m.OccurredAt.IsZero() && (at.Year() < 1 || at.Year() > 9999) {
			return "occurred-at"
		}
	}
	return ""
}

// reencode is the record our own writer would have produced for e: the envelope as Append
// sends it, "created" as the server stamps it.
func reencode(t *testing.T, e eventstore.RecordedEvent) *api.ReadResp_ReadEvent {
	t.Helper()
	custom, err := toWire(eventstore.EventData{ID: e.ID, Type: e.Type, PayloadVersion: e.PayloadVersion, Data: e.Data, Metadata: e.Metadata})
	if err != nil {
		t.Fatalf("re-encode the custom metadata of a decoded event: %v", err)
	}
	return &api.ReadResp_ReadEvent{Event: &api.ReadResp_ReadEvent_RecordedEvent{
		Id:               structuredUUID(e.ID),
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(e.Stream)},
		StreamRevision:   e.Revision,
		CommitPosition:   e.Position.Commit,
		PreparePosition:  e.Position.Prepare,
		Metadata:         map[string]string{"type": e.Type, "content-type": "application/json", "created": strconv.FormatInt(e.RecordedAt.UnixNano()/100, 10)},
		CustomMetadata:   custom,
		Data:             e.Data,
	}}
}

// normal makes a nil and an empty Extra the same.
func normal(e eventstore.RecordedEvent) eventstore.RecordedEvent {
	if len(e.Metadata.Extra) == 0 {
		e.Metadata.Extra = nil
	}
	return e
}

// fakeRecords are records as the fake server sends them, for seeds.
func fakeRecords(f *testing.F) []*api.ReadResp_ReadEvent_RecordedEvent {
	srv := fakeserver.New(fakeserver.Options{})
	if err := srv.Start("127.0.0.1:0"); err != nil {
		f.Fatal(err)
	}
	defer srv.Stop()
	s, err := New(srv.ConnectionString(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	full := ev("user.created")
	full.Metadata = eventstore.Metadata{EnvironmentID: "env-1", Actor: "user:ada", CorrelationID: "corr", CausationID: "cause",
		OccurredAt: time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600)), Extra: map[string]string{"ip": "192.0.2.7"}}
	full.PayloadVersion = 3
	minimal := eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "user.touched", PayloadVersion: 1}
	if _, err := s.Append(ctx, "user-1", eventstore.NoStream, full, minimal, ev("user.renamed")); err != nil {
		f.Fatal(err)
	}
	if _, err := s.SetStreamMetadata(ctx, "user-1", eventstore.NoStream, eventstore.StreamMetadata{MaxCount: 5}); err != nil {
		f.Fatal(err)
	}
	c, err := s.connection(ctx)
	if err != nil {
		f.Fatal(err)
	}
	var out []*api.ReadResp_ReadEvent_RecordedEvent
	for _, stream := range []string{"user-1", "$$user-1"} {
		call, err := c.streams.Read(ctx, streamReadReq(stream, false, 0, false, 100))
		if err != nil {
			f.Fatal(err)
		}
		for {
			resp, err := call.Recv()
			if err != nil {
				break
			}
			if r := resp.GetEvent().GetEvent(); r != nil {
				out = append(out, r)
			}
		}
	}
	if len(out) != 4 {
		f.Fatalf("read %d records from the fake; want 4", len(out))
	}
	return out
}

func addRecord(f *testing.F, w wireRecord) {
	f.Add(w.stream, w.rev, w.commit, w.prepare, w.typ, w.ctype, w.created, w.idKind, w.most, w.least, w.idString, w.data, w.custom,
		w.omitType, w.omitCreated, w.omitContentType, w.extra)
}

// FuzzDecodeRecordedEvent: decode never panics; what it refuses is ErrCorrupt and names the
// record and its fault; what it accepts keeps every field, and decodes the same once encoded
// again as our writer and the server would.
func FuzzDecodeRecordedEvent(f *testing.F) {
	for _, r := range fakeRecords(f) {
		w := wireRecord{stream: string(r.GetStreamIdentifier().GetStreamName()), rev: r.GetStreamRevision(), commit: r.GetCommitPosition(),
			prepare: r.GetPreparePosition(), typ: r.GetMetadata()["type"], ctype: r.GetMetadata()["content-type"], created: r.GetMetadata()["created"],
			most: r.GetId().GetStructured().GetMostSignificantBits(), least: r.GetId().GetStructured().GetLeastSignificantBits(),
			data: r.GetData(), custom: r.GetCustomMetadata()}
		addRecord(f, w)
		for _, created := range []string{"not-a-number", "", "-1", "92233720368547758", "92233720368547759", "9223372036854775807", "99999999999999999999", "1e9", " 1", "+5"} {
			b := w
			b.created = created
			addRecord(f, b)
		}
		for _, custom := range []string{`{`, `[]`, `null`, `"x"`, `{"payloadVersion":-1}`, `{"payloadVersion":4294967296}`, `{"at":"not a time"}`,
			`{"at":"0000-01-01T00:00:00Z"}`, `{"at":"0001-01-01T00:30:00+01:00"}`, `{"at":"9999-12-31T23:30:00-01:00"}`, `{"x":{"k":1}}`, `{"x":[]}`,
			`{"env":"e","$correlationId":"c","x":{}}`, "{\"actor\":\"\xff\"}"} {
			b := w
			b.custom = []byte(custom)
			addRecord(f, b)
		}
		for _, data := range []string{`{"a":`, "\xff", `null`, ` { "a" : 1 } `, `1e400`} {
			b := w
			b.data = []byte(data)
			addRecord(f, b)
		}
		b := w
		b.rev, b.commit, b.prepare = math.MaxUint64, math.MaxUint64, 0
		addRecord(f, b)
		b = w
		b.idKind, b.idString = 1, "not-a-uuid"
		addRecord(f, b)
		b.idString = "urn:uuid:0192f7c4-0000-7000-8000-000000000001"
		addRecord(f, b)
		b = w
		b.idKind = 2
		addRecord(f, b)
		b = w
		b.stream = ""
		addRecord(f, b)
		b = w
		b.omitType, b.omitCreated, b.omitContentType = true, true, true
		addRecord(f, b)
	}
	f.Fuzz(func(t *testing.T, stream string, rev, commit, prepare uint64, typ, ctype, created string, idKind uint8, most, least int64,
		idString string, data, custom []byte, omitType, omitCreated, omitContentType, extra bool) {
		w := wireRecord{stream, rev, commit, prepare, typ, ctype, created, idKind % 3, most, least, idString, data, custom,
			omitType, omitCreated, omitContentType, extra}
		e, system, err := decode(w.event())
		want := w.problem()
		if err != nil {
			if !errors.Is(err, eventstore.ErrCorrupt) {
				t.Fatalf("decode error %v is not ErrCorrupt", err)
			}
			if want == "" {
				t.Fatalf("decode refused a valid record: %v", err)
			}
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "esdb:") {
				t.Fatalf("decode error %q does not say %q", err, want)
			}
			if stream != "" && !strings.Contains(err.Error(), strconv.Quote(stream)) {
				t.Fatalf("decode error %q does not name the stream %q", err, stream)
			}
			return
		}
		if want != "" {
			t.Fatalf("decode accepted a record with a fault (%s): %+v", want, e)
		}
		if e.Stream != stream || e.Revision != rev || e.Position != (eventstore.Position{Commit: commit, Prepare: prepare}) {
			t.Fatalf("decoded %s@%d at %v; want %s@%d at %d/%d", e.Stream, e.Revision, e.Position, stream, rev, commit, prepare)
		}
		if system {
			return
		}
		if e.Type != typ {
			t.Fatalf("type %q; want %q", e.Type, typ)
		}
		ticks, _ := strconv.ParseInt(created, 10, 64)
		if e.RecordedAt.Location() != time.UTC || e.RecordedAt.UnixNano() != ticks*100 {
			t.Fatalf("RecordedAt %v from %d ticks", e.RecordedAt, ticks)
		}
		if string(e.Data) != string(data) || (len(data) == 0 && e.Data != nil) {
			t.Fatalf("data %q; want %q", e.Data, data)
		}
		if at := e.Metadata.OccurredAt; !at.IsZero() && at.Location() != time.UTC {
			t.Fatalf("OccurredAt %v is not in UTC", at)
		}
		again, system, err := decode(reencode(t, e))
		if err != nil || system {
			t.Fatalf("decode of the re-encoded event: %v (system %v)", err, system)
		}
		if !reflect.DeepEqual(normal(e), normal(again)) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", normal(again), normal(e))
		}
	})
}

// FuzzDecodeRoundTrip: every event Append accepts comes back from decode as it was written,
// whatever the server's positions, revision and "created" are.
func FuzzDecodeRoundTrip(f *testing.F) {
	f.Add("env-1", "user:ada", "corr", "cause", int64(1741961366), int64(535897932), int64(3600), "ip", "192.0.2.7", uint32(3),
		[]byte(`{"name":"Ada","n":1.5}`), "user.created", int64(17419613665358979), uint64(7), uint64(4096), uint64(4096))
	f.Add("", "", "", "", int64(0), int64(0), int64(0), "", "", uint32(1), []byte(nil), "t", int64(0), uint64(0), uint64(0), uint64(0))
	f.Add("é✓", "\u2028", "\x00", "\"", int64(-62135596800), int64(0), int64(-3600), "k", "", uint32(math.MaxUint32),
		[]byte(` { "b" : [1, 2] } `), "x", int64(math.MaxInt64/100), uint64(math.MaxUint64), uint64(math.MaxUint64), uint64(0))
	f.Add("e", "a", "c", "c", int64(253402300799), int64(999999999), int64(-60), "", "", uint32(1), []byte(`"s"`), "user.renamed",
		int64(1), uint64(1), uint64(1), uint64(2))
	f.Fuzz(func(t *testing.T, env, actor, corr, cause string, sec, nsec, zone int64, k, v string, pv uint32, data []byte, typ string,
		ticks int64, rev, commit, prepare uint64) {
		var at time.Time
		if sec != 0 || nsec != 0 {
			at = time.Unix(sec, nsec%1e9).In(time.FixedZone("Z", int(zone%86400)))
		}
		var extra map[string]string
		if k != "" {
			extra = map[string]string{k: v}
		}
		in := eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: typ, PayloadVersion: pv, Data: data,
			Metadata: eventstore.Metadata{EnvironmentID: env, Actor: actor, CorrelationID: corr, CausationID: cause, OccurredAt: at, Extra: extra}}
		if eventstore.ValidateEvents("user-1", []eventstore.EventData{in}) != nil || ticks < 0 || ticks > math.MaxInt64/100 {
			return
		}
		msgs, err := proposedMessages([]eventstore.EventData{in})
		if err != nil {
			if !errors.Is(err, eventstore.ErrInvalidArgument) {
				t.Fatalf("encode: %v", err)
			}
			return
		}
		p := msgs[0].GetProposedMessage()
		md := map[string]string{"created": strconv.FormatInt(ticks, 10)}
		for key, val := range p.GetMetadata() {
			md[key] = val
		}
		out, system, err := decode(&api.ReadResp_ReadEvent{Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id: p.GetId(), StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte("user-1")}, StreamRevision: rev,
			CommitPosition: commit, PreparePosition: prepare, Metadata: md, CustomMetadata: p.GetCustomMetadata(), Data: p.GetData()}})
		if err != nil || system {
			t.Fatalf("decode of an accepted event: %v (system %v)", err, system)
		}
		want := eventstore.RecordedEvent{ID: in.ID, Stream: "user-1", Revision: rev, Position: eventstore.Position{Commit: commit, Prepare: prepare},
			Type: in.Type, PayloadVersion: in.PayloadVersion, Data: in.Data, Metadata: in.Metadata, RecordedAt: time.Unix(0, ticks*100).UTC()}
		if len(want.Data) == 0 {
			want.Data = nil
		}
		if at.IsZero() { // the zero instant in any zone stays zero
			want.Metadata.OccurredAt = time.Time{}
		} else {
			want.Metadata.OccurredAt = at.UTC()
		}
		if !reflect.DeepEqual(normal(want), normal(out)) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", normal(out), normal(want))
		}
	})
}

// FuzzDecodeStreamMeta: stream metadata from the server never panics; what is refused is
// ErrCorrupt and names the stream and revision; what is accepted is in range and comes back
// the same once written again.
func FuzzDecodeStreamMeta(f *testing.F) {
	for _, s := range []string{`{}`, `{"$maxAge":60,"$maxCount":3,"$tb":5}`, `{"$maxAge":9223372036}`, `{"$maxAge":9223372037}`,
		`{"$maxAge":9223372036854775807}`, `{"$maxAge":-1,"$maxCount":-5,"$tb":-1}`, `{"$tb":9223372036854775807}`,
		`{"$maxAge":1e3}`, `{"$maxAge":"60"}`, `{"$maxCount":18446744073709551615}`, `null`, `[]`, `{`, ``, `{"$acl":{"$r":"$all"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeStreamMeta("user-1", 3, data)
		if err != nil {
			if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), `metadata of "user-1" at revision 3`) {
				t.Fatalf("error %q: want ErrCorrupt naming the stream and revision", err)
			}
			return
		}
		if m.MaxAge < 0 || m.MaxCount > math.MaxInt64 || (m.TruncateBefore != nil && *m.TruncateBefore > math.MaxInt64) {
			t.Fatalf("decoded out of range: %+v", m)
		}
		enc, err := encodeStreamMeta("user-1", m)
		if err != nil {
			t.Fatalf("encode %+v: %v", m, err)
		}
		again, err := decodeStreamMeta("user-1", 3, enc)
		if err != nil || !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip of %+v: %+v, %v", m, again, err)
		}
	})
}
