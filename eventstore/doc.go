// Package eventstore is idstream's port to its append-only event log: the Store contract every
// backend fulfils, the event envelope (EventData in, RecordedEvent out), and the codec that turns
// typed payloads into envelopes and back, upcasting old payload versions on the way in.
//
// Backends live in subpackages (embedded, esdb); the conformance suite every backend passes is
// storetest. Nothing here imports any other idstream package.
//
// Vocabulary, borrowed from EventStoreDB so that the esdb backend is a thin mapping:
//
//   - A stream is a named, ordered sequence of events; its events are numbered by revision from 0.
//     Streams are named "<category>-<id>". Names beginning with "$" are reserved for the store.
//   - The global log, "$all", orders every event of every stream by Position. A Position is
//     strictly increasing in commit order; positions of one backend need not be dense (EventStoreDB
//     uses byte offsets), but the embedded backend's are 1, 2, 3, ... with no holes.
//   - Reads are inclusive of their starting point; subscriptions are exclusive (they deliver what
//     comes after the position they start from).
//
// # Contract
//
// Every backend keeps these rules; eventstore/storetest checks them, declaring in its Features
// the few places where backends legitimately differ.
//
// Expected revision. A soft-deleted stream does not exist: NoStream and Any revive it (its
// revisions continue after the last ever written), StreamExists and every Exact rule conflict
// with ActualExists false. A tombstoned stream refuses every rule, Any included, with
// ErrStreamDeleted. Validation comes before the revision check, and a refused batch reserves
// nothing.
//
// Idempotency. A retry is the same batch (same IDs, same order, same stream). It writes nothing
// and returns the original AppendResult when it repeats the original expectation (NoStream or
// the Exact revision), however much was appended since; with Any, StreamExists or a conflicting
// Exact revision, while the original is among the backend's recent writes. A true retry never
// duplicates. Misuse of IDs (part of a committed batch, committed IDs mixed with new ones, an ID
// of another stream) is refused with ErrInvalidArgument by backends that can see it (the
// embedded store, for recent writes: Features.StrictRetryMatching); EventStoreDB checks only
// what its server checks, and neither backend keeps a global index of every ID ever written.
//
// Durability and visibility. An append, deletion or metadata write returns once durable, and no
// read or subscription shows anything that is not durable yet. An operation whose context ends
// while it is in flight may or may not have taken effect; retrying it with the same IDs leaves
// exactly one copy.
//
// Envelope. Data comes back equal as JSON (byte for byte when compact); metadata comes back
// equal, with OccurredAt in UTC (every instant of years 1 to 9999; the zero time stays zero).
// RecordedAt is in UTC. AppendResult names the last event of the batch.
//
// Reads. ErrStreamNotFound is for a stream without readable events at all (never written,
// soft-deleted, or every event hidden by its metadata); reading past the end of an existing
// stream yields nothing. Forwards with FromEnd yields a stream's last event, and nothing of
// $all; Backwards with FromEnd reads newest first. MaxCount counts events after filtering. A read
// whose context ends while it iterates ends with the context's error, never as if exhausted.
//
// Subscriptions. The context given to SubscribeAll bounds only the call; each Next has its own.
// Checkpoints strictly increase, never precede an event already delivered and never pass the
// head; between two checkpoints at most CheckpointInterval events are filtered out. Subscribing
// after a position beyond the head is ErrInvalidArgument where the backend can tell (the embedded
// store: a checkpoint from another store or from a restored data directory would skip events).
// Closing a subscription or the store makes Next return ErrClosed; Close may be called twice.
//
// Stream metadata. Metadata has its own revisions, adds no event to the stream and is replaced
// whole; it may exist before the stream's first event. A stream whose events it all hides reads
// as not found yet still exists for expected revisions. After a soft delete and a revival only
// the events written since the revival are readable, whatever metadata is written later.
package eventstore
