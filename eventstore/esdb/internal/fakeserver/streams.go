package fakeserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type streamsService struct {
	api.UnimplementedStreamsServer
	s *Server
}

func uuidFrom(u *shared.UUID) (uuid.UUID, error) {
	if st := u.GetStructured(); st != nil {
		var b [16]byte
		for i := 0; i < 8; i++ {
			b[i] = byte(uint64(st.MostSignificantBits) >> (56 - 8*i))
			b[8+i] = byte(uint64(st.LeastSignificantBits) >> (56 - 8*i))
		}
		return uuid.UUID(b), nil
	}
	return uuid.Parse(u.GetString_())
}

func structured(id uuid.UUID) *shared.UUID {
	var most, least uint64
	for i := 0; i < 8; i++ {
		most = most<<8 | uint64(id[i])
		least = least<<8 | uint64(id[8+i])
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits: int64(most), LeastSignificantBits: int64(least)}}}
}

type expectedOption interface {
	GetRevision() uint64
	GetNoStream() *shared.Empty
	GetStreamExists() *shared.Empty
}

func expectationOf(o expectedOption, exact bool) expectation {
	switch {
	case o.GetNoStream() != nil:
		return expectation{kind: 1}
	case o.GetStreamExists() != nil:
		return expectation{kind: 2}
	case exact:
		return expectation{kind: 3, rev: o.GetRevision()}
	}
	return expectation{}
}

func (s *Server) notLeaderError(setTrailer func(metadata.MD)) error {
	host, port, _ := net.SplitHostPort(s.notLeader)
	return fail(setTrailer, codes.NotFound, "Leader info available",
		"exception", "not-leader", "leader-endpoint-host", host, "leader-endpoint-port", port)
}

func deletedError(setTrailer func(metadata.MD), name string) error {
	return fail(setTrailer, codes.FailedPrecondition, "Event stream '"+name+"' is deleted.",
		"exception", "stream-deleted", "stream-name", name)
}

// Append implements a single-stream append with EventStoreDB's checks, in its order: size,
// leadership, tombstone, idempotency, expected revision.
func (v *streamsService) Append(srv api.Streams_AppendServer) error {
	s := v.s
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	o := first.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "append: options expected first")
	}
	name := string(o.GetStreamIdentifier().GetStreamName())
	_, exact := o.GetExpectedStreamRevision().(*api.AppendReq_Options_Revision)
	exp := expectationOf(o, exact)
	var evs []proposed
	size := 0
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		pm := req.GetProposedMessage()
		if pm == nil {
			return status.Error(codes.InvalidArgument, "append: proposed message expected")
		}
		id, err := uuidFrom(pm.GetId())
		if err != nil {
			return status.Error(codes.InvalidArgument, "append: bad event id")
		}
		size += len(pm.GetData()) + len(pm.GetCustomMetadata())
		evs = append(evs, proposed{id: id, typ: pm.GetMetadata()["type"], ctype: pm.GetMetadata()["content-type"],
			data: pm.GetData(), custom: pm.GetCustomMetadata()})
	}
	if size > s.opts.MaxAppendSize {
		return fail(srv.SetTrailer, codes.InvalidArgument, "Maximum Append Size of "+strconv.Itoa(s.opts.MaxAppendSize)+" Exceeded.",
			"exception", "maximum-append-size-exceeded", "maximum-append-size", strconv.Itoa(s.opts.MaxAppendSize))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notLeader != "" {
		return s.notLeaderError(srv.SetTrailer)
	}
	if s.isTombstoned(name) {
		return deletedError(srv.SetTrailer, name)
	}
	exists, last := s.state(name)
	st := s.get(name)
	if recs, verdict := s.idempotency(st, exp, exists, last, evs); verdict == idempotent {
		return srv.SendAndClose(success(recs[len(recs)-1]))
	} else if verdict == corrupted {
		return srv.SendAndClose(wrongExpected(exp, exists, last))
	}
	if !exp.check(exists, last) {
		return srv.SendAndClose(wrongExpected(exp, exists, last))
	}
	if len(evs) == 0 {
		// EventStoreDB acknowledges an empty append without writing.
		resp := &api.AppendResp_Success{PositionOption: &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}}
		if exists {
			resp.CurrentRevisionOption = &api.AppendResp_Success_CurrentRevision{CurrentRevision: last}
		} else {
			resp.CurrentRevisionOption = &api.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
		}
		return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: resp}})
	}
	revive := !isMetaStream(name) && s.softDeleted(name)
	firstRev := uint64(len(st.events))
	recs := s.write(name, evs, firstRev)
	if revive {
		// A write to a soft-deleted stream recreates it: the old incarnation stays hidden.
		_, raw := s.metaOf(name)
		raw["$tb"] = json.RawMessage(strconv.FormatUint(firstRev, 10))
		s.writeMeta(name, raw)
	}
	return srv.SendAndClose(success(recs[len(recs)-1]))
}

type verdict int

const (
	fresh verdict = iota
	idempotent
	corrupted
)

// idempotency decides as EventStoreDB does (from what we know): an exact expectation compares
// the events right after it; the other rules look the first event ID up in the stream. A full
// match is an idempotent success; a match of the first event only is "corrupted idempotency",
// which EventStoreDB reports as a wrong expected version. IDs elsewhere go unnoticed.
func (s *Server) idempotency(st *stream, exp expectation, exists bool, last uint64, evs []proposed) ([]*record, verdict) {
	if len(evs) == 0 {
		return nil, fresh
	}
	start := -1
	switch exp.kind {
	case 3:
		if exists && last == exp.rev {
			return nil, fresh
		}
		start = int(exp.rev) + 1
	case 1:
		if !exists {
			return nil, fresh
		}
		start = 0
	default:
		for i, r := range st.events {
			if r.id == evs[0].id {
				start = i
				break
			}
		}
	}
	if start < 0 || start >= len(st.events) || st.events[start].id != evs[0].id {
		return nil, fresh
	}
	for i, e := range evs {
		if start+i >= len(st.events) || st.events[start+i].id != e.id {
			return nil, corrupted
		}
	}
	return st.events[start : start+len(evs)], idempotent
}

func success(r *record) *api.AppendResp {
	return &api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
		CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: r.rev},
		PositionOption: &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
			CommitPosition: r.commit, PreparePosition: r.prepare}},
	}}}
}

func wrongExpected(exp expectation, exists bool, last uint64) *api.AppendResp {
	w := &api.AppendResp_WrongExpectedVersion{}
	if exists {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: last}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: last}
	} else {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	}
	switch exp.kind {
	case 0:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
	case 1:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case 2:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
	case 3:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: exp.rev}
	}
	return &api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

// deletion runs the checks shared by Delete and Tombstone; it returns a status error or nil.
func (s *Server) deletion(ctx context.Context, name string, exp expectation) error {
	setTrailer := func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) }
	if s.notLeader != "" {
		return s.notLeaderError(setTrailer)
	}
	if s.isTombstoned(name) {
		return deletedError(setTrailer, name)
	}
	if exists, last := s.state(name); !exp.check(exists, last) {
		actual := "-1"
		if exists {
			actual = strconv.FormatUint(last, 10)
		}
		return fail(setTrailer, codes.FailedPrecondition, "Append failed due to WrongExpectedVersion.",
			"exception", "wrong-expected-version", "stream-name", name,
			"expected-version", exp.wire(), "actual-version", actual)
	}
	return nil
}

// Delete soft-deletes: the stream's metadata gets $tb = the deleted marker.
func (v *streamsService) Delete(ctx context.Context, req *api.DeleteReq) (*api.DeleteResp, error) {
	s := v.s
	o := req.GetOptions()
	name := string(o.GetStreamIdentifier().GetStreamName())
	_, exact := o.GetExpectedStreamRevision().(*api.DeleteReq_Options_Revision)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.deletion(ctx, name, expectationOf(o, exact)); err != nil {
		return nil, err
	}
	_, raw := s.metaOf(name)
	if raw == nil {
		raw = map[string]json.RawMessage{}
	}
	raw["$tb"] = json.RawMessage(strconv.FormatInt(deletedMarker, 10))
	r := s.writeMeta(name, raw)
	return &api.DeleteResp{PositionOption: &api.DeleteResp_Position_{Position: &api.DeleteResp_Position{
		CommitPosition: r.commit, PreparePosition: r.prepare}}}, nil
}

// Tombstone writes $streamDeleted at revision long.MaxValue; the name is dead for ever.
func (v *streamsService) Tombstone(ctx context.Context, req *api.TombstoneReq) (*api.TombstoneResp, error) {
	s := v.s
	o := req.GetOptions()
	name := string(o.GetStreamIdentifier().GetStreamName())
	_, exact := o.GetExpectedStreamRevision().(*api.TombstoneReq_Options_Revision)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.deletion(ctx, name, expectationOf(o, exact)); err != nil {
		return nil, err
	}
	r := s.write(name, []proposed{{id: uuid.New(), typ: "$streamDeleted", ctype: "application/octet-stream"}}, deletedMarker)[0]
	s.get(name).tombstoned = true
	return &api.TombstoneResp{PositionOption: &api.TombstoneResp_Position_{Position: &api.TombstoneResp_Position{
		CommitPosition: r.commit, PreparePosition: r.prepare}}}, nil
}

func readEvent(r *record) *api.ReadResp {
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id:               structured(r.id),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.rev,
			PreparePosition:  r.prepare,
			CommitPosition:   r.commit,
			Metadata:         map[string]string{"type": r.typ, "content-type": r.ctype, "created": r.created},
			CustomMetadata:   r.custom,
			Data:             r.data,
		},
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.commit},
	}}}
}

// matcher is a server-side filter; nil matches everything.
type matcher func(*record) bool

func matcherOf(f *api.ReadReq_Options_FilterOptions) (matcher, error) {
	if f == nil {
		return nil, nil
	}
	expr, byType := f.GetStreamIdentifier(), false
	if e := f.GetEventType(); e != nil {
		expr, byType = e, true
	}
	if expr == nil {
		return nil, status.Error(codes.InvalidArgument, "filter: no expression")
	}
	var re *regexp.Regexp
	if expr.GetRegex() != "" {
		var err error
		if re, err = regexp.Compile(expr.GetRegex()); err != nil {
			return nil, status.Error(codes.InvalidArgument, "filter: bad regex")
		}
	}
	prefixes := expr.GetPrefix()
	return func(r *record) bool {
		s := r.stream
		if byType {
			s = r.typ
		}
		if re != nil {
			return re.MatchString(s)
		}
		for _, p := range prefixes {
			if strings.HasPrefix(s, p) {
				return true
			}
		}
		return false
	}, nil
}

func before(c1, p1, c2, p2 uint64) bool { return c1 < c2 || (c1 == c2 && p1 < p2) }

// Read serves stream reads, $all reads and $all subscriptions.
func (v *streamsService) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	o := req.GetOptions()
	if _, sub := o.GetCountOption().(*api.ReadReq_Options_Subscription); sub {
		if o.GetAll() == nil {
			return status.Error(codes.Unimplemented, "fakeserver: stream subscriptions are not modelled")
		}
		return v.subscribe(o, srv)
	}
	if st := o.GetStream(); st != nil {
		return v.readStream(o, st, srv)
	}
	return v.readAll(o, srv)
}

func (v *streamsService) readStream(o *api.ReadReq_Options, so *api.ReadReq_Options_StreamOptions, srv api.Streams_ReadServer) error {
	s := v.s
	name := string(so.GetStreamIdentifier().GetStreamName())
	backwards := o.GetReadDirection() == api.ReadReq_Options_Backwards
	s.mu.Lock()
	if s.isTombstoned(name) {
		s.mu.Unlock()
		return deletedError(srv.SetTrailer, name)
	}
	st := s.streams[name]
	if st == nil || len(st.events) == 0 || (!isMetaStream(name) && s.softDeleted(name)) {
		s.mu.Unlock()
		return srv.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)}}}})
	}
	evs := s.readable(name)
	s.mu.Unlock()

	count := o.GetCount()
	var out []*record
	switch {
	case backwards:
		from := uint64(deletedMarker)
		if r, ok := so.GetRevisionOption().(*api.ReadReq_Options_StreamOptions_Revision); ok {
			from = r.Revision
		} else if so.GetStart() != nil {
			from = 0
		}
		for i := len(evs) - 1; i >= 0 && uint64(len(out)) < count; i-- {
			if evs[i].rev <= from {
				out = append(out, evs[i])
			}
		}
	default:
		from := uint64(0)
		if r, ok := so.GetRevisionOption().(*api.ReadReq_Options_StreamOptions_Revision); ok {
			from = r.Revision
		} else if so.GetEnd() != nil {
			from = deletedMarker
		}
		for _, r := range evs {
			if uint64(len(out)) >= count {
				break
			}
			if r.rev >= from {
				out = append(out, r)
			}
		}
	}
	for _, r := range out {
		if err := srv.Send(readEvent(r)); err != nil {
			return err
		}
	}
	return nil
}

// readAll reads $all. Forwards from a position includes the record there; backwards from a
// position returns the records before it (EventStoreDB reads the log backwards from an offset).
func (v *streamsService) readAll(o *api.ReadReq_Options, srv api.Streams_ReadServer) error {
	s := v.s
	match, err := matcherOf(o.GetFilter())
	if err != nil {
		return err
	}
	s.mu.Lock()
	log := s.log
	s.mu.Unlock()
	ao := o.GetAll()
	backwards := o.GetReadDirection() == api.ReadReq_Options_Backwards
	count := o.GetCount()
	sent := uint64(0)
	send := func(r *record) (bool, error) {
		if match != nil && !match(r) {
			return true, nil
		}
		sent++
		return sent < count, srv.Send(readEvent(r))
	}
	if count == 0 {
		return nil
	}
	if backwards {
		i := len(log) - 1
		if p := ao.GetPosition(); p != nil {
			for i >= 0 && !before(log[i].commit, log[i].prepare, p.CommitPosition, p.PreparePosition) {
				i--
			}
		} else if ao.GetStart() != nil {
			i = -1
		}
		for ; i >= 0; i-- {
			if more, err := send(log[i]); err != nil || !more {
				return err
			}
		}
		return nil
	}
	i := 0
	if p := ao.GetPosition(); p != nil {
		for i < len(log) && before(log[i].commit, log[i].prepare, p.CommitPosition, p.PreparePosition) {
			i++
		}
	} else if ao.GetEnd() != nil {
		i = len(log)
	}
	for ; i < len(log); i++ {
		if more, err := send(log[i]); err != nil || !more {
			return err
		}
	}
	return nil
}

// subscribe serves a catch-up subscription to $all: everything after the start point, a
// checkpoint whenever the window of filtered-out records is full and whenever the subscription
// reaches the head with records filtered out since the last message, CaughtUp once, then live.
func (v *streamsService) subscribe(o *api.ReadReq_Options, srv api.Streams_ReadServer) error {
	s := v.s
	f := o.GetFilter()
	match, err := matcherOf(f)
	if err != nil {
		return err
	}
	interval := uint64(f.GetMax()) * uint64(max(f.GetCheckpointIntervalMultiplier(), 1))
	if interval == 0 {
		interval = 32
	}
	if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString()}}}); err != nil {
		return err
	}
	ao := o.GetAll()
	s.mu.Lock()
	idx := 0
	switch {
	case ao.GetEnd() != nil:
		idx = len(s.log)
	case ao.GetPosition() != nil:
		p := ao.GetPosition()
		for idx < len(s.log) && !before(p.CommitPosition, p.PreparePosition, s.log[idx].commit, s.log[idx].prepare) {
			idx++
		}
	}
	stopping := s.stopping
	s.mu.Unlock()

	checkpoint := func(r *record) error {
		return srv.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{
			CommitPosition: r.commit, PreparePosition: r.prepare}}})
	}
	var skipped uint64
	var lastSkipped *record
	caughtUp := false
	for {
		s.mu.Lock()
		log, changed := s.log[idx:], s.changed
		s.mu.Unlock()
		for _, r := range log {
			idx++
			if match == nil || match(r) {
				if err := srv.Send(readEvent(r)); err != nil {
					return err
				}
				skipped, lastSkipped = 0, nil
				continue
			}
			skipped++
			lastSkipped = r
			if skipped >= interval {
				if err := checkpoint(r); err != nil {
					return err
				}
				skipped, lastSkipped = 0, nil
			}
		}
		if match != nil && lastSkipped != nil {
			if err := checkpoint(lastSkipped); err != nil {
				return err
			}
			skipped, lastSkipped = 0, nil
		}
		if !caughtUp {
			caughtUp = true
			if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
		}
		select {
		case <-changed:
		case <-srv.Context().Done():
			return srv.Context().Err()
		case <-stopping:
			return status.Error(codes.Unavailable, "server is stopping")
		}
	}
}
