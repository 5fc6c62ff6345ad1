package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/idstream/idstream/eventstore"
)

// do runs call on the current connection and classifies its gRPC failure. A "not leader"
// answer moves to the leader it names and runs call once more there.
func (s *Store) do(ctx context.Context, op, stream string, call func(ctx context.Context, c *conn, trailers *metadata.MD) error) error {
	for attempt := 0; ; attempt++ {
		c, err := s.connection(ctx)
		if err != nil {
			return fmt.Errorf("%s %q: %w", op, stream, err)
		}
		var md metadata.MD
		err = call(ctx, c, &md)
		if err == nil {
			s.observe(c, nil)
			return nil
		}
		var f final
		if errors.As(err, &f) {
			s.observe(c, nil)
			return f.err
		}
		if s.isClosed() {
			return fmt.Errorf("%s %q: %w", op, stream, eventstore.ErrClosed)
		}
		ce := classify(ctx, op, stream, err, md)
		s.observe(c, ce.err)
		if ce.leader != "" && attempt == 0 {
			s.switchTo(c, ce.leader)
			continue
		}
		return ce.err
	}
}

// final carries an error out of a call unclassified: it is not a gRPC failure.
type final struct{ err error }

func (f final) Error() string { return f.err.Error() }

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.opts.OperationTimeout)
}

// wireMeta is the custom metadata of an idstream event.
type wireMeta struct {
	Env            string            `json:"env,omitempty"`
	Actor          string            `json:"actor,omitempty"`
	Correlation    string            `json:"$correlationId,omitempty"`
	Causation      string            `json:"$causationId,omitempty"`
	OccurredAt     time.Time         `json:"at"`
	Extra          map[string]string `json:"x,omitempty"`
	PayloadVersion uint32            `json:"payloadVersion"`
}

func toWire(e eventstore.EventData) ([]byte, error) {
	m := e.Metadata
	return json.Marshal(wireMeta{Env: m.EnvironmentID, Actor: m.Actor, Correlation: m.CorrelationID, Causation: m.CausationID,
		OccurredAt: m.OccurredAt.UTC(), Extra: m.Extra, PayloadVersion: e.PayloadVersion})
}

func structuredUUID(id [16]byte) *shared.UUID {
	var most, least uint64
	for i := 0; i < 8; i++ {
		most = most<<8 | uint64(id[i])
		least = least<<8 | uint64(id[8+i])
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits: int64(most), LeastSignificantBits: int64(least)}}}
}

func proposedMessages(events []eventstore.EventData) ([]*api.AppendReq, error) {
	out := make([]*api.AppendReq, 0, len(events))
	for _, e := range events {
		custom, err := toWire(e)
		if err != nil {
			return nil, fmt.Errorf("%w: event %s: metadata: %v", eventstore.ErrInvalidArgument, e.ID, err)
		}
		out = append(out, &api.AppendReq{Content: &api.AppendReq_ProposedMessage_{ProposedMessage: &api.AppendReq_ProposedMessage{
			Id:             structuredUUID(e.ID),
			Metadata:       map[string]string{"type": e.Type, "content-type": "application/json"},
			CustomMetadata: custom,
			Data:           e.Data,
		}}})
	}
	return out, nil
}

func appendOptions(stream string, expected eventstore.ExpectedRevision) *api.AppendReq {
	o := &api.AppendReq_Options{StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(stream)}}
	setExpected(o, expected)
	return &api.AppendReq{Content: &api.AppendReq_Options_{Options: o}}
}

// setExpected sets the expected_stream_revision oneof of an append, delete or tombstone
// request's options: the three messages spell it alike (revision, no_stream, stream_exists,
// any), so the rule is mapped here once.
func setExpected(options proto.Message, expected eventstore.ExpectedRevision) {
	m := options.ProtoReflect()
	fields := m.Descriptor().Fields()
	empty := protoreflect.ValueOfMessage((&shared.Empty{}).ProtoReflect())
	switch rev, exact := expected.Revision(); {
	case exact:
		m.Set(fields.ByName("revision"), protoreflect.ValueOfUint64(rev))
	case expected.IsNoStream():
		m.Set(fields.ByName("no_stream"), empty)
	case expected.IsStreamExists():
		m.Set(fields.ByName("stream_exists"), empty)
	default:
		m.Set(fields.ByName("any"), empty)
	}
}

// appendRaw sends one append; a wrong expected version comes back as wrong, not as err.
func (s *Store) appendRaw(ctx context.Context, op, stream string, expected eventstore.ExpectedRevision, msgs []*api.AppendReq) (res eventstore.AppendResult, wrong *eventstore.WrongExpectedRevisionError, err error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	err = s.do(ctx, op, stream, func(ctx context.Context, c *conn, md *metadata.MD) error {
		call, err := c.streams.Append(ctx, grpc.Trailer(md))
		if err != nil {
			return err
		}
		for _, m := range append([]*api.AppendReq{appendOptions(stream, expected)}, msgs...) {
			if err := call.Send(m); err != nil {
				if errors.Is(err, io.EOF) {
					break // the server answered early; CloseAndRecv has its answer
				}
				return err
			}
		}
		resp, err := call.CloseAndRecv()
		if err != nil {
			return err
		}
		switch r := resp.GetResult().(type) {
		case *api.AppendResp_Success_:
			res.NextExpectedRevision = r.Success.GetCurrentRevision()
			if p := r.Success.GetPosition(); p != nil {
				res.Position = eventstore.Position{Commit: p.CommitPosition, Prepare: p.PreparePosition}
			}
		case *api.AppendResp_WrongExpectedVersion_:
			w := r.WrongExpectedVersion
			wrong = &eventstore.WrongExpectedRevisionError{Stream: stream, Expected: expected}
			if _, none := w.GetCurrentRevisionOption().(*api.AppendResp_WrongExpectedVersion_CurrentNoStream); !none && w.GetCurrentRevisionOption() != nil {
				wrong.ActualExists, wrong.ActualRevision = true, w.GetCurrentRevision()
			} else if w.GetCurrentRevisionOption() == nil && w.GetNoStream_20_6_0() == nil {
				wrong.ActualExists, wrong.ActualRevision = true, w.GetCurrentRevision_20_6_0()
			}
		default:
			return final{corrupt("%s %q: empty append response", op, stream)}
		}
		return nil
	})
	return res, wrong, err
}

// Append writes events to stream. See eventstore.Store; EventStoreDB's own idempotency by
// event ID is completed by a search of the stream after a wrong-expected-version answer.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := eventstore.ValidateEvents(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: %w", stream, err)
	}
	if err := eventstore.CheckAppendSize(stream, events, s.opts.MaxAppendBytes); err != nil {
		return eventstore.AppendResult{}, err
	}
	msgs, err := proposedMessages(events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	res, wrong, err := s.appendRaw(ctx, "append to", stream, expected, msgs)
	if err != nil || wrong == nil {
		return res, err
	}
	if res, found, err := s.findBatch(ctx, stream, events); err != nil || found {
		return res, err
	}
	return eventstore.AppendResult{}, wrong
}

// findBatch searches the newest events of stream for events' IDs: the whole batch in order is
// a retry (its result is returned), some of them a reuse (ErrInvalidArgument).
func (s *Store) findBatch(ctx context.Context, stream string, events []eventstore.EventData) (eventstore.AppendResult, bool, error) {
	want := make(map[[16]byte]int, len(events))
	for i, e := range events {
		want[e.ID] = i
	}
	var run []eventstore.RecordedEvent // newest first: the batch appears reversed
	seen := 0
	for e, err := range s.readStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, MaxCount: s.opts.IdempotencyScan}, true) {
		if err != nil {
			if errors.Is(err, eventstore.ErrStreamNotFound) || errors.Is(err, eventstore.ErrStreamDeleted) {
				break
			}
			return eventstore.AppendResult{}, false, err
		}
		i, ok := want[e.ID]
		if !ok {
			if len(run) > 0 {
				break
			}
			continue
		}
		seen++
		if i != len(events)-1-len(run) {
			break
		}
		run = append(run, e)
		if len(run) == len(events) {
			last := run[0]
			return eventstore.AppendResult{NextExpectedRevision: last.Revision, Position: last.Position}, true, nil
		}
	}
	if seen > 0 {
		return eventstore.AppendResult{}, false, fmt.Errorf("%w: append to %q: the batch reuses event IDs of a different committed batch",
			eventstore.ErrInvalidArgument, stream)
	}
	return eventstore.AppendResult{}, false, nil
}

// deleteCall runs Delete or Tombstone.
func (s *Store) deleteCall(ctx context.Context, op, stream string, expected eventstore.ExpectedRevision, tombstone bool) (eventstore.DeleteResult, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.DeleteResult{}, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var res eventstore.DeleteResult
	ident := &shared.StreamIdentifier{StreamName: []byte(stream)}
	err := s.do(ctx, op, stream, func(ctx context.Context, c *conn, md *metadata.MD) error {
		if tombstone {
			o := &api.TombstoneReq_Options{StreamIdentifier: ident}
			setExpected(o, expected)
			resp, err := c.streams.Tombstone(ctx, &api.TombstoneReq{Options: o}, grpc.Trailer(md))
			if err != nil {
				return err
			}
			if p := resp.GetPosition(); p != nil {
				res.Position = eventstore.Position{Commit: p.CommitPosition, Prepare: p.PreparePosition}
			}
			return nil
		}
		o := &api.DeleteReq_Options{StreamIdentifier: ident}
		setExpected(o, expected)
		resp, err := c.streams.Delete(ctx, &api.DeleteReq{Options: o}, grpc.Trailer(md))
		if err != nil {
			return err
		}
		if p := resp.GetPosition(); p != nil {
			res.Position = eventstore.Position{Commit: p.CommitPosition, Prepare: p.PreparePosition}
		}
		return nil
	})
	var w *eventstore.WrongExpectedRevisionError
	if errors.As(err, &w) {
		w.Expected = expected
	}
	return res, err
}

// DeleteStream soft-deletes stream (EventStoreDB sets its $tb to the deleted marker).
func (s *Store) DeleteStream(ctx context.Context, stream string, expected eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	return s.deleteCall(ctx, "delete", stream, expected, false)
}

// TombstoneStream hard-deletes stream.
func (s *Store) TombstoneStream(ctx context.Context, stream string, expected eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	return s.deleteCall(ctx, "tombstone", stream, expected, true)
}
