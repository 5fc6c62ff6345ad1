package esdb

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	client "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/idstream/idstream/eventstore"
)

// Options tune the backend. The zero value is usable.
type Options struct {
	// ReconnectAfter is the number of consecutive unavailability failures after which the
	// connection is dropped and a new one discovered. 0 means 3.
	ReconnectAfter int
	// ReadPageSize is the number of events asked per read request. 0 means 512.
	ReadPageSize uint64
	// IdempotencyScan bounds how many of a stream's newest events are searched for a retried
	// batch after a wrong-expected-version answer. 0 means 10,000.
	IdempotencyScan uint64
	// MaxAppendBytes bounds one append, counted as the port counts it: the sum over its events
	// of len(Data) plus the length of the JSON encoding of Metadata. Larger appends fail with
	// ErrInvalidArgument before anything is sent. 0 means DefaultMaxAppendBytes, which keeps
	// the wire size (custom metadata is a little larger) under EventStoreDB's default 1 MiB
	// MaxAppendSize; raise it with the server's setting.
	MaxAppendBytes int
	// OperationTimeout bounds appends, deletes and metadata writes whose context has no
	// deadline. 0 means the connection string's defaultDeadline, else 10 seconds.
	OperationTimeout time.Duration
}

func (o *Options) defaults(cfg *client.Configuration) {
	if o.ReconnectAfter <= 0 {
		o.ReconnectAfter = 3
	}
	if o.ReadPageSize < 2 {
		o.ReadPageSize = 512
	}
	if o.MaxAppendBytes <= 0 {
		o.MaxAppendBytes = DefaultMaxAppendBytes
	}
	if o.IdempotencyScan == 0 {
		o.IdempotencyScan = 10_000
	}
	if o.OperationTimeout <= 0 {
		o.OperationTimeout = 10 * time.Second
		if cfg.DefaultDeadline != nil && *cfg.DefaultDeadline > 0 {
			o.OperationTimeout = *cfg.DefaultDeadline
		}
	}
}

// DefaultMaxAppendBytes is EventStoreDB's default MaxAppendSize (1 MiB) less the most our
// custom metadata can add to the port's Metadata encoding.
const DefaultMaxAppendBytes = 1<<20 - 64

// Store is an eventstore.Store on EventStoreDB. It is safe for concurrent use.
type Store struct {
	cfg  *client.Configuration
	opts Options

	mu       sync.Mutex
	cur      *conn
	failures int
	closed   bool
	done     chan struct{} // closed by Close: ends subscriptions
	// finding is non-nil while one caller discovers and dials a node, outside mu; it is
	// closed when that ends. Other callers wait for it instead of discovering too.
	finding chan struct{}
	// life is cancelled by Close: it ends a discovery in progress.
	life    context.Context
	endLife context.CancelFunc
}

var _ eventstore.Store = (*Store)(nil)

// conn is one gRPC connection to one node.
type conn struct {
	cc      *grpc.ClientConn
	streams api.StreamsClient
	target  string
}

// New connects lazily to the server of connectionString: esdb://, esdb+discover:// or their
// kurrentdb:// / kurrent:// spellings, with EventStoreDB's query options (tls, tlsVerifyCert,
// defaultDeadline, keepAliveInterval...). No request is made until the first operation.
func New(connectionString string, opts Options) (*Store, error) {
	for _, scheme := range []string{"kurrentdb", "kurrent"} {
		if rest, ok := strings.CutPrefix(connectionString, scheme); ok && (strings.HasPrefix(rest, "://") || strings.HasPrefix(rest, "+discover://")) {
			connectionString = "esdb" + rest
		}
	}
	cfg, err := parseConnectionString(connectionString)
	if err != nil {
		return nil, err
	}
	opts.defaults(cfg)
	s := &Store{cfg: cfg, opts: opts, done: make(chan struct{})}
	s.life, s.endLife = context.WithCancel(context.Background())
	return s, nil
}

// parseConnectionString parses with the client module's parser, never letting the password
// into an error: the credentials are cut out before the parser sees the string (its errors
// quote the whole string) and decoded here, and every error names the string with the
// password replaced by "xxxxx".
func parseConnectionString(connectionString string) (*client.Configuration, error) {
	userinfo, stripped, hasCreds := cutUserinfo(connectionString)
	shown := stripped
	if hasCreds {
		user, _, _ := strings.Cut(userinfo, ":")
		shown = strings.Replace(stripped, "://", "://"+user+":xxxxx@", 1)
	}
	fail := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		if i := strings.Index(stripped, "://"); i >= 0 && strings.Contains(stripped[i:], "@") {
			// An "@" after the query's start: maybe a password with an unescaped "?" that
			// the parser read as a host or a query. Withhold the parser's words and the string.
			at := strings.LastIndexByte(stripped, '@')
			shown = stripped[:i+3] + "xxxxx" + stripped[at:]
			msg = "not a valid connection string (details withheld: the part before \"@\" may hold a password)"
		}
		return fmt.Errorf("%w: esdb: connection string %s: %s", eventstore.ErrInvalidArgument, shown, msg)
	}
	cfg, err := client.ParseConnectionString(stripped)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue quotes the string, which fail names
		}
		return nil, fail("%v", err)
	}
	if hasCreds {
		rawUser, rawPass, _ := strings.Cut(userinfo, ":")
		user, errUser := url.PathUnescape(rawUser)
		pass, errPass := url.PathUnescape(rawPass)
		switch {
		case errUser != nil || errPass != nil:
			return nil, fail("the credentials are not validly %%-escaped")
		case user == "":
			return nil, fail("credentials were provided with an empty username")
		}
		cfg.Username, cfg.Password = user, pass
	}
	if err := cfg.Validate(); err != nil {
		return nil, fail("%v", err)
	}
	return cfg, nil
}

// cutUserinfo splits "scheme://user:password@rest" into "user:password" and "scheme://rest".
// The credentials end at the last "@" before the query: hosts and paths hold no "@".
func cutUserinfo(s string) (userinfo, stripped string, ok bool) {
	i := strings.Index(s, "://")
	if i < 0 {
		return "", s, false
	}
	rest := s[i+3:]
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest = rest[:q]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return "", s, false
	}
	return rest[:at], s[:i+3] + s[i+3+at+1:], true
}

// Close closes the connection; later calls and open subscriptions end with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	s.endLife()
	if s.cur != nil {
		_ = s.cur.cc.Close()
		s.cur = nil
	}
	return nil
}

// connection returns the current connection, discovering a node if there is none. Discovery
// (dialling, gossip reads) runs outside mu, by one caller at a time: the others wait for it
// (or for their context, or Close), and Close and calls on a live connection never wait.
func (s *Store) connection(ctx context.Context) (*conn, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, eventstore.ErrClosed
		}
		if c := s.cur; c != nil {
			s.mu.Unlock()
			return c, nil
		}
		if wait := s.finding; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				continue // installed, failed or abandoned: look again
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-s.done:
				return nil, eventstore.ErrClosed
			}
		}
		wait := make(chan struct{})
		s.finding = wait
		s.mu.Unlock()

		c, err := s.find(ctx)

		s.mu.Lock()
		s.finding = nil
		close(wait)
		if err == nil && s.closed {
			_ = c.cc.Close()
			c, err = nil, eventstore.ErrClosed
		}
		if err == nil {
			s.cur, s.failures = c, 0
		}
		closed := s.closed
		s.mu.Unlock()
		if err != nil && closed {
			err = eventstore.ErrClosed
		}
		return c, err
	}
}

// find discovers a node and dials it, until ctx is done or the store is closed.
func (s *Store) find(ctx context.Context) (*conn, error) {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.life, cancel)()
	target, err := s.discover(dctx)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	return s.dial(target)
}

// observe feeds the outcome of a call on c into the reconnection rule: unavailable results
// count, anything else resets the count; at ReconnectAfter the connection is dropped.
func (s *Store) observe(c *conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != c {
		return
	}
	if !errors.Is(err, eventstore.ErrUnavailable) {
		s.failures = 0
		return
	}
	s.failures++
	if s.failures >= s.opts.ReconnectAfter {
		s.dropLocked()
	}
}

// switchTo replaces c by a connection to the leader a "not leader" answer named.
func (s *Store) switchTo(c *conn, leader string) {
	nc, err := s.dial(leader) // outside mu: dialling may read certificate files
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != c || s.closed {
		if err == nil {
			_ = nc.cc.Close()
		}
		return
	}
	s.dropLocked()
	if err == nil {
		s.cur = nc
	}
}

func (s *Store) dropLocked() {
	if s.cur != nil {
		_ = s.cur.cc.Close()
		s.cur = nil
	}
	s.failures = 0
}

func (s *Store) dial(target string) (*conn, error) {
	var transport credentials.TransportCredentials = insecure.NewCredentials()
	if !s.cfg.DisableTLS {
		tc := &tls.Config{InsecureSkipVerify: s.cfg.SkipCertificateVerification, RootCAs: s.cfg.RootCAs}
		if s.cfg.UserCertFile != "" {
			cert, err := tls.LoadX509KeyPair(s.cfg.UserCertFile, s.cfg.UserKeyFile)
			if err != nil {
				return nil, fmt.Errorf("%w: esdb: user certificate: %v", eventstore.ErrInvalidArgument, err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		transport = credentials.NewTLS(tc)
	}
	dopts := []grpc.DialOption{
		grpc.WithTransportCredentials(transport),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(17 << 20)),
	}
	if s.cfg.KeepAliveInterval >= 0 {
		dopts = append(dopts, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: s.cfg.KeepAliveInterval, Timeout: s.cfg.KeepAliveTimeout, PermitWithoutStream: true}))
	}
	if s.cfg.Username != "" {
		dopts = append(dopts, grpc.WithPerRPCCredentials(basicAuth{
			header: "Basic " + base64.StdEncoding.EncodeToString([]byte(s.cfg.Username+":"+s.cfg.Password)),
			secure: !s.cfg.DisableTLS,
		}))
	}
	cc, err := grpc.NewClient(target, dopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: esdb: connect %s: %v", eventstore.ErrUnavailable, target, err)
	}
	return &conn{cc: cc, streams: api.NewStreamsClient(cc), target: target}, nil
}

type basicAuth struct {
	header string
	secure bool
}

func (b basicAuth) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.header}, nil
}
func (b basicAuth) RequireTransportSecurity() bool { return b.secure }

// discover returns the address to dial: the single node of the connection string, or the
// best member (by node preference) of the first gossip seed that answers.
func (s *Store) discover(ctx context.Context) (string, error) {
	var seeds []string
	switch {
	case s.cfg.DnsDiscover:
		seeds = []string{s.cfg.Address}
	case len(s.cfg.GossipSeeds) > 0:
		for _, e := range s.cfg.GossipSeeds {
			seeds = append(seeds, net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))))
		}
	default:
		return s.cfg.Address, nil
	}
	var last error
	for _, seed := range seeds {
		c, err := s.dial(seed)
		if err != nil {
			last = err
			continue
		}
		timeout := time.Duration(max(s.cfg.GossipTimeout, 1)) * time.Second
		gctx, cancel := context.WithTimeout(ctx, timeout)
		info, err := gossip.NewGossipClient(c.cc).Read(gctx, &shared.Empty{})
		cancel()
		_ = c.cc.Close()
		if err != nil {
			last = err
			continue
		}
		if m := bestMember(info.GetMembers(), s.cfg.NodePreference); m != nil {
			return net.JoinHostPort(m.GetHttpEndPoint().GetAddress(), strconv.Itoa(int(m.GetHttpEndPoint().GetPort()))), nil
		}
		last = errors.New("no eligible member in gossip")
	}
	return "", fmt.Errorf("%w: esdb: discovery: %v", eventstore.ErrUnavailable, last)
}

func bestMember(members []*gossip.MemberInfo, pref client.NodePreference) *gossip.MemberInfo {
	want := gossip.MemberInfo_Leader
	switch pref {
	case client.NodePreferenceFollower:
		want = gossip.MemberInfo_Follower
	case client.NodePreferenceReadOnlyReplica:
		want = gossip.MemberInfo_ReadOnlyReplica
	}
	var fallback *gossip.MemberInfo
	for _, m := range members {
		if !m.GetIsAlive() || m.GetHttpEndPoint() == nil {
			continue
		}
		switch m.GetState() {
		case want:
			return m
		case gossip.MemberInfo_Leader, gossip.MemberInfo_Follower, gossip.MemberInfo_ReadOnlyReplica:
			if fallback == nil {
				fallback = m
			}
		}
	}
	return fallback
}
