// Package esdb is the EventStoreDB / KurrentDB backend of the eventstore port.
//
// It speaks EventStoreDB's gRPC Streams API through the generated stubs of
// github.com/EventStore/EventStore-Client-Go/v4 (protos/streams, protos/gossip) on a gRPC
// connection it owns, and uses that module's connection-string parser. It does not go through
// the module's esdb.Client, for three reasons found in v4.2.0:
//
//   - esdb.Client decodes every recorded event with log.Fatalf on a "created" value that is not a
//     number (protobuf_utils.go), which would kill the process on one bad record; and it offers no
//     dial-option hook through which an interceptor could vet responses first. Here every
//     recorded event is decoded by this package, and a bad record is an ErrCorrupt error.
//   - esdb.Client flattens a wrong-expected-version answer into a message string and drops the
//     server's trailers, so the actual revision (for appends, deletes and tombstones) could only
//     be had by matching strings.
//   - esdb.Client cannot filter a $all read on the server side.
//
// Connection handling replaces esdb.Client's: after Options.ReconnectAfter consecutive
// unavailability failures (or at once on a "not leader" answer naming the leader) the
// connection is dropped and a fresh one is made, by gossip discovery for cluster connection
// strings. esdb.Client keeps a dead connection after a leader change; this does not.
//
// Mapping of the port:
//
//   - The envelope's Metadata and PayloadVersion are the event's custom metadata, a JSON object
//     that also carries EventStoreDB's "$correlationId" and "$causationId" conventions; the
//     content type is application/json.
//   - Append keeps EventStoreDB's idempotency by event ID and adds what the port asks beyond it:
//     on a wrong-expected-version answer, the stream is searched (newest first, up to
//     Options.IdempotencyScan events) for the batch; the same batch returns its first result,
//     a partial match is ErrInvalidArgument.
//   - Positions are EventStoreDB's (commit, prepare) pair: not dense.
//   - ReadAll and SubscribeAll filter by prefix on the server; system events ("$" streams and
//     types) are dropped on this side too.
//   - StreamMetadata maps to $maxAge (whole seconds, rounded up), $maxCount and $tb of the
//     metastream $$<stream>. The server writes there too ($tb at a soft delete and at the
//     revival that follows), so $tb is written as the higher of the caller's TruncateBefore
//     and the deletion's, and the caller's own values travel under private keys
//     ("idstream.rev", "idstream.tb", ...; see metadata.go). GetStreamMetadata reports only
//     what the caller wrote (found is false until it writes), and metadata revisions count
//     the caller's writes only, as on every backend: the metastream's own revision, which
//     also counts the server's records, is not exposed. Known limit: a revival sets $tb to
//     its first revision, so a caller's TruncateBefore above that point is enforced again
//     only from the caller's next SetStreamMetadata (GetStreamMetadata still reports it).
package esdb
