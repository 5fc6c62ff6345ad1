package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/idstream/idstream/eventstore"
)

// errStop ends a read the consumer stopped iterating.
var errStop = errors.New("consumer stopped")

func isSystem(stream, typ string) bool {
	return strings.HasPrefix(stream, "$") || strings.HasPrefix(typ, "$")
}

// maxTicks is the largest "created" value (100 ns ticks since the Unix epoch) a time.Time in
// nanoseconds can hold.
const maxTicks = math.MaxInt64 / 100

// decode turns a recorded event into the port's envelope. It validates everything
// EventStore-Client-Go would trust blindly: a bad "created" value, which makes that client call
// log.Fatalf, is ErrCorrupt here, and so is every other record the port cannot represent: no
// stream name, no type, a "created" out of range, an unreadable ID, data that is not JSON,
// custom metadata that is not our envelope. Each error names the record and what is wrong.
// System events are reported as such and not decoded further.
func decode(ev *api.ReadResp_ReadEvent) (e eventstore.RecordedEvent, system bool, err error) {
	r := ev.GetEvent()
	if r == nil {
		return e, false, corrupt("read: event without a record")
	}
	e.Stream = string(r.GetStreamIdentifier().GetStreamName())
	e.Type = r.GetMetadata()["type"]
	e.Revision = r.GetStreamRevision()
	e.Position = eventstore.Position{Commit: r.GetCommitPosition(), Prepare: r.GetPreparePosition()}
	where := fmt.Sprintf("%q@%d (position %v)", e.Stream, e.Revision, e.Position)
	if e.Stream == "" {
		return e, false, corrupt("record at position %v: no stream name", e.Position)
	}
	if isSystem(e.Stream, e.Type) {
		e.Data = json.RawMessage(r.GetData())
		return e, true, nil
	}
	if e.Type == "" {
		return e, false, corrupt("%s: no \"type\" metadata", where)
	}
	rawCreated := r.GetMetadata()["created"]
	created, err := strconv.ParseInt(rawCreated, 10, 64)
	switch {
	case err != nil:
		return e, false, corrupt("%s: \"created\" metadata %q is not a number of ticks", where, rawCreated)
	case created < 0 || created > maxTicks:
		return e, false, corrupt("%s: \"created\" metadata %d is out of range (0 to %d ticks since 1970)", where, created, int64(maxTicks))
	}
	e.RecordedAt = time.Unix(0, created*100).UTC()
	switch id := r.GetId().GetValue().(type) {
	case *shared.UUID_Structured_:
		var b [16]byte
		for i := 0; i < 8; i++ {
			b[i] = byte(uint64(id.Structured.GetMostSignificantBits()) >> (56 - 8*i))
			b[8+i] = byte(uint64(id.Structured.GetLeastSignificantBits()) >> (56 - 8*i))
		}
		e.ID = b
	case *shared.UUID_String_:
		if e.ID, err = uuid.Parse(id.String_); err != nil {
			return e, false, corrupt("%s: event ID %q: %v", where, id.String_, err)
		}
	default:
		return e, false, corrupt("%s: no event ID", where)
	}
	if data := r.GetData(); len(data) > 0 {
		if !json.Valid(data) {
			return e, false, corrupt("%s: data (%d bytes, content-type %q) is not JSON", where, len(data), r.GetMetadata()["content-type"])
		}
		e.Data = json.RawMessage(data)
	}
	if custom := r.GetCustomMetadata(); len(custom) > 0 {
		var w wireMeta
		if err := json.Unmarshal(custom, &w); err != nil {
			return e, false, corrupt("%s: custom metadata: %v", where, err)
		}
		if at := w.OccurredAt.UTC(); !w.OccurredAt.IsZero() && (at.Year() < 1 || at.Year() > 9999) {
			return e, false, corrupt("%s: custom metadata: occurred-at %s is outside the years 1 to 9999 in UTC", where, w.OccurredAt.Format(time.RFC3339Nano))
		}
		e.PayloadVersion = w.PayloadVersion
		e.Metadata = eventstore.Metadata{EnvironmentID: w.Env, Actor: w.Actor, CorrelationID: w.Correlation,
			CausationID: w.Causation, OccurredAt: w.OccurredAt.UTC(), Extra: w.Extra}
		if w.OccurredAt.IsZero() {
			e.Metadata.OccurredAt = time.Time{}
		}
	}
	return e, false, nil
}

// page runs one read request and hands each decoded event (system ones included) to each.
// It returns the number of events received.
func (s *Store) page(ctx context.Context, op, stream string, req *api.ReadReq, each func(e eventstore.RecordedEvent, system bool) bool) (int, error) {
	n := 0
	err := s.do(ctx, op, stream, func(ctx context.Context, c *conn, md *metadata.MD) error {
		n = 0
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		call, err := c.streams.Read(ctx, req, grpc.Trailer(md))
		if err != nil {
			return err
		}
		for {
			resp, err := call.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			switch m := resp.GetContent().(type) {
			case *api.ReadResp_Event:
				n++
				e, system, err := decode(m.Event)
				if err != nil {
					return final{err}
				}
				if !each(e, system) {
					return final{errStop}
				}
			case *api.ReadResp_StreamNotFound_:
				return final{fmt.Errorf("%w: %s %q", eventstore.ErrStreamNotFound, op, stream)}
			}
		}
	})
	return n, err
}

func streamReadReq(stream string, backwards bool, from uint64, fromEnd bool, count uint64) *api.ReadReq {
	so := &api.ReadReq_Options_StreamOptions{StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(stream)}}
	if fromEnd {
		so.RevisionOption = &api.ReadReq_Options_StreamOptions_End{End: &shared.Empty{}}
	} else {
		so.RevisionOption = &api.ReadReq_Options_StreamOptions_Revision{Revision: from}
	}
	dir := api.ReadReq_Options_Forwards
	if backwards {
		dir = api.ReadReq_Options_Backwards
	}
	return &api.ReadReq{Options: &api.ReadReq_Options{
		StreamOption:  &api.ReadReq_Options_Stream{Stream: so},
		ReadDirection: dir,
		CountOption:   &api.ReadReq_Options_Count{Count: count},
		FilterOption:  &api.ReadReq_Options_NoFilter{NoFilter: &shared.Empty{}},
		UuidOption:    &api.ReadReq_Options_UUIDOption{Content: &api.ReadReq_Options_UUIDOption_Structured{Structured: &shared.Empty{}}},
	}}
}

// readRaw pages through stream (system events included).
func (s *Store) readRaw(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		backwards := opts.Direction == eventstore.Backwards
		from, fromEnd := opts.From, opts.FromEnd
		var got uint64
		for {
			if err := ctx.Err(); err != nil {
				yield(eventstore.RecordedEvent{}, fmt.Errorf("read %q: %w", stream, err))
				return
			}
			count := s.opts.ReadPageSize
			if opts.MaxCount > 0 {
				count = min(count, opts.MaxCount-got)
			}
			var last uint64
			n, err := s.page(ctx, "read", stream, streamReadReq(stream, backwards, from, fromEnd, count), func(e eventstore.RecordedEvent, _ bool) bool {
				last = e.Revision
				got++
				return yield(e, nil)
			})
			if errors.Is(err, errStop) {
				return
			}
			if err != nil {
				yield(eventstore.RecordedEvent{}, err)
				return
			}
			if uint64(n) < count || (opts.MaxCount > 0 && got >= opts.MaxCount) || (backwards && last == 0) {
				if err := ctx.Err(); err != nil && uint64(n) < count {
					yield(eventstore.RecordedEvent{}, fmt.Errorf("read %q: %w", stream, err))
				}
				return
			}
			fromEnd = false
			if backwards {
				from = last - 1
			} else {
				from = last + 1
			}
		}
	}
}

// ReadStream yields stream's readable events. See eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return s.readStream(ctx, stream, opts, false)
}

// readStream is ReadStream; internal reads (the idempotency search) skip the not-found probe.
func (s *Store) readStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions, internal bool) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		if err := eventstore.ValidateStreamName(stream); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		if opts.Direction == eventstore.Forwards && opts.FromEnd {
			// "Starts at the last event": the newest event alone.
			opts = eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: 1}
		}
		yielded := false
		for e, err := range s.readRaw(ctx, stream, opts) {
			if err != nil {
				yield(e, err)
				return
			}
			if isSystem(e.Stream, e.Type) {
				continue
			}
			yielded = true
			if !yield(e, nil) {
				return
			}
		}
		if yielded || internal {
			return
		}
		// Nothing in range: a stream whose events are all hidden (metadata, deletion) is not found.
		for _, err := range s.readRaw(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: 1}) {
			if err != nil {
				yield(eventstore.RecordedEvent{}, err)
			}
			return
		}
		if err := ctx.Err(); err != nil {
			yield(eventstore.RecordedEvent{}, fmt.Errorf("read %q: %w", stream, err))
			return
		}
		yield(eventstore.RecordedEvent{}, fmt.Errorf("%w: read %q: no readable events", eventstore.ErrStreamNotFound, stream))
	}
}

func filterOptions(f *eventstore.Filter, window uint32) *api.ReadReq_Options_FilterOptions {
	expr := &api.ReadReq_Options_FilterOptions_Expression{Prefix: f.StreamPrefixes}
	fo := &api.ReadReq_Options_FilterOptions{
		Window:                       &api.ReadReq_Options_FilterOptions_Max{Max: window},
		CheckpointIntervalMultiplier: 1,
	}
	if len(f.EventTypePrefixes) > 0 {
		expr.Prefix = f.EventTypePrefixes
		fo.Filter = &api.ReadReq_Options_FilterOptions_EventType{EventType: expr}
	} else {
		fo.Filter = &api.ReadReq_Options_FilterOptions_StreamIdentifier{StreamIdentifier: expr}
	}
	return fo
}

func allReadReq(from eventstore.Position, start, end, backwards bool, count uint64, f *eventstore.Filter) *api.ReadReq {
	ao := &api.ReadReq_Options_AllOptions{}
	switch {
	case end:
		ao.AllOption = &api.ReadReq_Options_AllOptions_End{End: &shared.Empty{}}
	case start:
		ao.AllOption = &api.ReadReq_Options_AllOptions_Start{Start: &shared.Empty{}}
	default:
		ao.AllOption = &api.ReadReq_Options_AllOptions_Position{Position: &api.ReadReq_Options_Position{
			CommitPosition: from.Commit, PreparePosition: from.Prepare}}
	}
	dir := api.ReadReq_Options_Forwards
	if backwards {
		dir = api.ReadReq_Options_Backwards
	}
	o := &api.ReadReq_Options{
		StreamOption:  &api.ReadReq_Options_All{All: ao},
		ReadDirection: dir,
		CountOption:   &api.ReadReq_Options_Count{Count: count},
		FilterOption:  &api.ReadReq_Options_NoFilter{NoFilter: &shared.Empty{}},
		UuidOption:    &api.ReadReq_Options_UUIDOption{Content: &api.ReadReq_Options_UUIDOption_Structured{Structured: &shared.Empty{}}},
	}
	if f != nil {
		o.FilterOption = &api.ReadReq_Options_Filter{Filter: filterOptions(f, uint32(min(count, 1<<16)))}
	}
	return &api.ReadReq{Options: o}
}

// ReadAll yields the global log. See eventstore.Store. Backwards reads of EventStoreDB start
// before the given position, so the event at From itself is looked up first.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		if err := opts.Filter.Validate(); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		if s.isClosed() {
			yield(eventstore.RecordedEvent{}, fmt.Errorf("read $all: %w", eventstore.ErrClosed))
			return
		}
		backwards := opts.Direction == eventstore.Backwards
		if !backwards && opts.FromEnd {
			return // the end of $all is after its last event
		}
		if backwards && !opts.FromEnd && opts.From.IsZero() {
			return // nothing is at or before the start
		}
		var got uint64
		var last *eventstore.Position
		visit := func(e eventstore.RecordedEvent, system bool) bool {
			if last != nil && ((!backwards && !last.Less(e.Position)) || (backwards && !e.Position.Less(*last))) {
				return true // already seen: pages overlap at their boundary
			}
			p := e.Position
			last = &p
			if system || !opts.Filter.Match(e.Stream, e.Type) {
				return true
			}
			got++
			return yield(e, nil) && (opts.MaxCount == 0 || got < opts.MaxCount)
		}
		if backwards && !opts.FromEnd {
			stopped := false
			_, err := s.page(ctx, "read", "$all", allReadReq(opts.From, false, false, false, 1, nil), func(e eventstore.RecordedEvent, system bool) bool {
				if e.Position == opts.From {
					stopped = !visit(e, system)
				}
				return false
			})
			if err != nil && !errors.Is(err, errStop) {
				yield(eventstore.RecordedEvent{}, err)
				return
			}
			if stopped {
				return
			}
		}
		from, start, end := opts.From, !backwards && opts.From.IsZero(), backwards && opts.FromEnd
		if last != nil {
			from, start, end = *last, false, false
		}
		for {
			if err := ctx.Err(); err != nil {
				yield(eventstore.RecordedEvent{}, fmt.Errorf("read $all: %w", err))
				return
			}
			count := s.opts.ReadPageSize
			n, err := s.page(ctx, "read", "$all", allReadReq(from, start, end, backwards, count, opts.Filter), visit)
			if errors.Is(err, errStop) {
				return
			}
			if err != nil {
				yield(eventstore.RecordedEvent{}, err)
				return
			}
			if uint64(n) < count || last == nil {
				if err := ctx.Err(); err != nil {
					// Cancelled while the server scanned (a filtered read sends only what
					// matches): not the end of the log.
					yield(eventstore.RecordedEvent{}, fmt.Errorf("read $all: %w", err))
				}
				return
			}
			from, start, end = *last, false, false
		}
	}
}
