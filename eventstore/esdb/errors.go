package esdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/idstream/idstream/eventstore"
)

// The "exception" trailer values EventStoreDB attaches to failed calls.
const (
	excStreamDeleted    = "stream-deleted"
	excWrongExpected    = "wrong-expected-version"
	excNotLeader        = "not-leader"
	excMaxAppendSize    = "maximum-append-size-exceeded"
	excStreamNotFound   = "stream-not-found"
	excAccessDenied     = "access-denied"
	excInvalidTx        = "invalid-transaction"
	excNotAuthenticated = "not-authenticated"
)

// callError is a failed call, classified once: err carries a port sentinel (or the
// context's error), leader is the address a "not leader" answer named.
type callError struct {
	err    error
	leader string
}

// Messages of the failures that are misconfiguration rather than outage. They are
// ErrUnavailable (nothing idstream can do, retrying is safe, readiness must fail) with words
// that say what to fix.
const (
	msgNotAuthenticated = "EventStoreDB refused the credentials (check the user name and password of the connection string)"
	msgAccessDenied     = "EventStoreDB denied access: the connection string's user lacks the permission (check the stream ACLs and the user's groups)"
	msgUnimplemented    = "EventStoreDB does not implement this call (server version too old, or not an EventStoreDB gRPC endpoint)"
)

// classify maps a gRPC failure and its trailers to the port's errors. It is the only place that
// knows the wire's failure vocabulary. Every error it returns carries a port kind: what it does
// not recognise is ErrUnavailable, the kind after which a retry with the same IDs is safe.
func classify(ctx context.Context, op, stream string, err error, trailers metadata.MD) callError {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if c := status.Code(err); c == codes.Canceled || c == codes.DeadlineExceeded || errors.Is(err, ctxErr) {
			return callError{err: fmt.Errorf("%s %q: %w", op, stream, ctxErr)}
		}
	}
	st := status.Convert(err)
	wrap := func(kind error) callError {
		return callError{err: fmt.Errorf("%w: %s %q: %s", kind, op, stream, st.Message())}
	}
	explain := func(kind error, why string) callError {
		return callError{err: fmt.Errorf("%w: esdb: %s %q: %s (server said %s: %q)", kind, op, stream, why, st.Code(), st.Message())}
	}
	switch first(trailers, "exception") {
	case excStreamDeleted:
		return wrap(eventstore.ErrStreamDeleted)
	case excStreamNotFound:
		return wrap(eventstore.ErrStreamNotFound)
	case excMaxAppendSize:
		return callError{err: fmt.Errorf("%w: %s %q: append larger than the server's maximum of %s bytes",
			eventstore.ErrInvalidArgument, op, stream, first(trailers, "maximum-append-size"))}
	case excNotLeader:
		host, port := first(trailers, "leader-endpoint-host"), first(trailers, "leader-endpoint-port")
		ce := wrap(eventstore.ErrUnavailable)
		if host != "" && port != "" {
			ce.leader = net.JoinHostPort(host, port)
		}
		return ce
	case excWrongExpected:
		w := &eventstore.WrongExpectedRevisionError{Stream: stream}
		if v, err := strconv.ParseInt(first(trailers, "actual-version"), 10, 64); err == nil && v >= 0 {
			w.ActualExists, w.ActualRevision = true, uint64(v)
		}
		return callError{err: w}
	case excNotAuthenticated:
		return explain(eventstore.ErrUnavailable, msgNotAuthenticated)
	case excAccessDenied:
		return explain(eventstore.ErrUnavailable, msgAccessDenied)
	case excInvalidTx:
		// The server refused the write as a whole before committing any of it.
		return explain(eventstore.ErrInvalidArgument, "EventStoreDB refused the write as an invalid transaction; nothing was written")
	}
	switch st.Code() {
	case codes.Unavailable, codes.Aborted, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Canceled, codes.Internal, codes.Unknown:
		return wrap(eventstore.ErrUnavailable)
	case codes.InvalidArgument, codes.OutOfRange:
		return wrap(eventstore.ErrInvalidArgument)
	case codes.Unauthenticated:
		return explain(eventstore.ErrUnavailable, msgNotAuthenticated)
	case codes.PermissionDenied:
		return explain(eventstore.ErrUnavailable, msgAccessDenied)
	case codes.Unimplemented:
		return explain(eventstore.ErrUnavailable, msgUnimplemented)
	case codes.DataLoss:
		return explain(eventstore.ErrCorrupt, "EventStoreDB reported data loss")
	}
	// NotFound, AlreadyExists, FailedPrecondition, OK or a code gRPC does not know, without an
	// exception this backend knows: an answer outside the model. It may or may not have taken
	// effect, which is what ErrUnavailable says.
	return explain(eventstore.ErrUnavailable, "unexpected answer from EventStoreDB")
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: esdb: "+format, append([]any{eventstore.ErrCorrupt}, args...)...)
}
