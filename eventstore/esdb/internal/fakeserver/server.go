package fakeserver

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// deletedMarker is the $tb value of a soft-deleted stream and the revision of a tombstone
// (EventStoreDB's EventNumber.DeletedStream, long.MaxValue).
const deletedMarker = math.MaxInt64

// firstPosition is where the first record starts: a real log begins with its own records.
const firstPosition = 4096

// Options shape a fake server. The zero value is a server with EventStoreDB's defaults.
type Options struct {
	// MaxAppendSize bounds the bytes (data plus custom metadata) of one append; 0 means 1 MiB,
	// EventStoreDB's default.
	MaxAppendSize int
	// Now is the server clock; nil means time.Now.
	Now func() time.Time
	// CorruptCreatedType: events of this type are sent with a non-numeric "created" value.
	CorruptCreatedType string
}

// Server is an in-memory EventStoreDB stand-in. Its data outlives Stop, so a test can restart it
// on the same address.
type Server struct {
	opts Options

	mu        sync.Mutex
	log       []*record
	streams   map[string]*stream
	nextPos   uint64
	changed   chan struct{} // closed and replaced at every commit
	notLeader string        // host:port of the "leader" while this node plays a follower
	failNext  []injected    // failures the next calls return, first first
	addr      string
	grpc      *grpc.Server
	stopping  chan struct{}
	wg        sync.WaitGroup
}

type record struct {
	id       uuid.UUID
	stream   string
	rev      uint64
	commit   uint64
	prepare  uint64
	typ      string
	ctype    string
	created  string
	data     []byte
	custom   []byte
	recorded time.Time
}

type stream struct {
	events     []*record // index == revision
	tombstoned bool
}

// New returns a stopped server; call Start.
func New(opts Options) *Server {
	if opts.MaxAppendSize == 0 {
		opts.MaxAppendSize = 1 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{opts: opts, streams: map[string]*stream{}, nextPos: firstPosition, changed: make(chan struct{})}
}

// Start listens on addr ("127.0.0.1:0" for any free port, or the address of an earlier Start).
func (s *Server) Start(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("fakeserver: listen %s: %w", addr, err)
	}
	g := grpc.NewServer(grpc.ChainUnaryInterceptor(s.unaryInjected), grpc.ChainStreamInterceptor(s.streamInjected))
	api.RegisterStreamsServer(g, &streamsService{s: s})
	gossip.RegisterGossipServer(g, &gossipService{s: s})
	s.mu.Lock()
	s.addr, s.grpc, s.stopping = lis.Addr().String(), g, make(chan struct{})
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = g.Serve(lis)
	}()
	return nil
}

// Stop closes the listener and every open call; the data stays.
func (s *Server) Stop() {
	s.mu.Lock()
	g, stopping := s.grpc, s.stopping
	s.grpc = nil
	s.mu.Unlock()
	if g == nil {
		return
	}
	close(stopping)
	g.Stop()
	s.wg.Wait()
}

// Addr is the listening address (host:port).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// ConnectionString is an esdb:// connection string for this server, without TLS.
func (s *Server) ConnectionString() string { return "esdb://" + s.Addr() + "?tls=false" }

// SetNotLeader makes this node answer writes with EventStoreDB's "not leader" exception naming
// leader (host:port); an empty leader makes it a leader again.
func (s *Server) SetNotLeader(leader string) {
	s.mu.Lock()
	s.notLeader = leader
	s.mu.Unlock()
}

// injected is a failure a test asked for: a status and the trailers that go with it.
type injected struct {
	code     codes.Code
	msg      string
	trailers metadata.MD
}

// FailNext makes the next call (of any method, gossip included) fail with the given status
// code and message, with trailers given as key, value pairs (for example "exception",
// "access-denied"). Calls queue: each consumes one failure.
func (s *Server) FailNext(code codes.Code, msg string, trailers ...string) {
	s.mu.Lock()
	s.failNext = append(s.failNext, injected{code: code, msg: msg, trailers: metadata.Pairs(trailers...)})
	s.mu.Unlock()
}

func (s *Server) takeInjected() *injected {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failNext) == 0 {
		return nil
	}
	f := s.failNext[0]
	s.failNext = s.failNext[1:]
	return &f
}

func (s *Server) unaryInjected(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if f := s.takeInjected(); f != nil {
		_ = grpc.SetTrailer(ctx, f.trailers)
		return nil, status.Error(f.code, f.msg)
	}
	return next(ctx, req)
}

func (s *Server) streamInjected(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	if f := s.takeInjected(); f != nil {
		ss.SetTrailer(f.trailers)
		return status.Error(f.code, f.msg)
	}
	return next(srv, ss)
}

// ---- model (every method below runs with s.mu held) ----

func (s *Server) get(name string) *stream {
	st := s.streams[name]
	if st == nil {
		st = &stream{}
		s.streams[name] = st
	}
	return st
}

// meta is the subset of EventStoreDB stream metadata the model enforces.
type meta struct {
	MaxAge   *int64 `json:"$maxAge,omitempty"`
	MaxCount *int64 `json:"$maxCount,omitempty"`
	TB       *int64 `json:"$tb,omitempty"`
}

func (s *Server) metaOf(name string) (meta, map[string]json.RawMessage) {
	var m meta
	var raw map[string]json.RawMessage
	if ms := s.streams["$$"+name]; ms != nil && len(ms.events) > 0 {
		last := ms.events[len(ms.events)-1]
		_ = json.Unmarshal(last.data, &m)
		_ = json.Unmarshal(last.data, &raw)
	}
	return m, raw
}

func (s *Server) softDeleted(name string) bool {
	m, _ := s.metaOf(name)
	return m.TB != nil && *m.TB == deletedMarker
}

// state is what expected-revision checks see: a soft-deleted stream does not exist.
func (s *Server) state(name string) (exists bool, last uint64) {
	st := s.streams[name]
	if st == nil || len(st.events) == 0 || (!isMetaStream(name) && s.softDeleted(name)) {
		return false, 0
	}
	return true, uint64(len(st.events) - 1)
}

func isMetaStream(name string) bool { return len(name) > 2 && name[:2] == "$$" }

func (s *Server) isTombstoned(name string) bool {
	if isMetaStream(name) {
		name = name[2:]
	}
	st := s.streams[name]
	return st != nil && st.tombstoned
}

// readable returns the revisions of name's events that reads may return, and whether the
// stream has any at all.
func (s *Server) readable(name string) []*record {
	st := s.streams[name]
	if st == nil {
		return nil
	}
	evs := st.events
	if isMetaStream(name) {
		return evs
	}
	m, _ := s.metaOf(name)
	from := 0
	if m.TB != nil {
		from = int(min(*m.TB, int64(len(evs))))
	}
	if m.MaxCount != nil && int64(len(evs))-*m.MaxCount > int64(from) {
		from = len(evs) - int(*m.MaxCount)
	}
	out := evs[from:]
	if m.MaxAge != nil {
		cut := s.opts.Now().Add(-time.Duration(*m.MaxAge) * time.Second)
		for len(out) > 0 && out[0].recorded.Before(cut) {
			out = out[1:]
		}
	}
	return out
}

type proposed struct {
	id     uuid.UUID
	typ    string
	ctype  string
	data   []byte
	custom []byte
}

// write appends a transaction: prepares at growing offsets, one commit position for all.
func (s *Server) write(name string, evs []proposed, firstRev uint64) []*record {
	st := s.get(name)
	now := s.opts.Now().UTC()
	commit := s.nextPos
	out := make([]*record, 0, len(evs))
	for i, e := range evs {
		created := strconv.FormatInt(now.UnixNano()/100, 10)
		if e.typ == s.opts.CorruptCreatedType && e.typ != "" {
			created = "not-a-number"
		}
		r := &record{id: e.id, stream: name, rev: firstRev + uint64(i), commit: commit, prepare: s.nextPos,
			typ: e.typ, ctype: e.ctype, created: created, data: e.data, custom: e.custom, recorded: now}
		s.nextPos += uint64(96 + len(name) + len(e.typ) + len(e.data) + len(e.custom))
		if r.rev != deletedMarker {
			st.events = append(st.events, r)
		}
		s.log = append(s.log, r)
		out = append(out, r)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return out
}

func (s *Server) writeMeta(name string, m map[string]json.RawMessage) *record {
	data, _ := json.Marshal(m)
	ms := "$$" + name
	rev := uint64(len(s.get(ms).events))
	return s.write(ms, []proposed{{id: uuid.New(), typ: "$metadata", ctype: "application/json", data: data}}, rev)[0]
}

// expectation is an expected revision as the wire carries it.
type expectation struct {
	kind int // 0 any, 1 no stream, 2 stream exists, 3 exact
	rev  uint64
}

func (e expectation) check(exists bool, last uint64) bool {
	switch e.kind {
	case 1:
		return !exists
	case 2:
		return exists
	case 3:
		return exists && last == e.rev
	}
	return true
}

// wire is the expected version as EventStoreDB writes it into trailers (-2 any, -1 no stream,
// -4 stream exists).
func (e expectation) wire() string {
	switch e.kind {
	case 1:
		return "-1"
	case 2:
		return "-4"
	case 3:
		return strconv.FormatUint(e.rev, 10)
	}
	return "-2"
}

// ---- gRPC plumbing ----

// fail sets the "exception" trailers EventStoreDB attaches to a failure and returns its status.
func fail(setTrailer func(metadata.MD), code codes.Code, msg string, kv ...string) error {
	setTrailer(metadata.Pairs(kv...))
	return status.Error(code, msg)
}

type gossipService struct {
	gossip.UnimplementedGossipServer
	s *Server
}

// Read answers with a one-member cluster: this node, alive, as leader.
func (g *gossipService) Read(context.Context, *shared.Empty) (*gossip.ClusterInfo, error) {
	host, port, err := net.SplitHostPort(g.s.Addr())
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	p, _ := strconv.ParseUint(port, 10, 16)
	return &gossip.ClusterInfo{Members: []*gossip.MemberInfo{{
		State: gossip.MemberInfo_Leader, IsAlive: true,
		HttpEndPoint: &gossip.EndPoint{Address: host, Port: uint32(p)},
	}}}, nil
}
