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

// callError is a failed call, classified once: kind is the port's sentinel (nil for a failure of
// no port kind), leader the address a "not leader" answer named.
type callError struct {
	err    error
	leader string
}

// classify maps a gRPC failure and its trailers to the port's errors. It is the only place that
// knows the wire's failure vocabulary.
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
	case excAccessDenied, excNotAuthenticated, excInvalidTx:
		return callError{err: fmt.Errorf("esdb: %s %q: %s", op, stream, st.Message())}
	}
	switch st.Code() {
	case codes.Unavailable, codes.Aborted, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Canceled, codes.Internal, codes.Unknown:
		return wrap(eventstore.ErrUnavailable)
	case codes.InvalidArgument, codes.OutOfRange:
		return wrap(eventstore.ErrInvalidArgument)
	}
	return callError{err: fmt.Errorf("esdb: %s %q: %s: %s", op, stream, st.Code(), st.Message())}
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
