// Package storetest is the conformance suite every eventstore.Store backend runs, with identical
// cases. A backend's test calls Run with a constructor of fresh, empty stores and the Features
// that declare its real behavioural differences; the suite never asks which backend it tests.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) eventstore.Store {
//			s, err := embedded.Open(t.TempDir(), embedded.Options{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		}, storetest.Features{DensePositions: true, MaxAppendBytes: 16 << 20, CaughtUpMessage: true})
//	}
//
// Every case opens its own store, so the cases run in parallel and a failure names one rule.
//
// A backend whose log cannot be fresh and empty per case (a real EventStoreDB server: one
// server for every case, earlier runs' data still there) sets Features.SharedLog. Each case
// then writes only streams whose names begin with a token of its own (event types that its type
// filters select carry the token too), notes the head of $all when it begins, and reads $all and
// subscribes through a stream-prefix filter on its token, from that head: "the whole log", "from
// the start" and "nothing written" mean the case's own part of the log. Only what has no meaning
// on a shared log is not checked: that positions are consecutive (DensePositions) and that
// nothing lies past the head. Everything else is asserted as on an empty store, and the
// filters that scope a case are the backend's own, so a backend that ignores them fails.
// Nothing sleeps to synchronise: waits are bounded polls or blocking calls under a deadline, and
// no case asserts a duration.
//
// # Contract decisions
//
// Where the port (package eventstore) leaves a behaviour open, the suite decides it, as follows.
// Backends must match these; a change here is a change of the port's contract.
//
// Expected revision:
//   - A soft-deleted stream does not exist: NoStream and Any revive it, StreamExists and every
//     Exact rule conflict with ActualExists == false (even Exact of its last revision).
//   - A tombstoned stream refuses every rule, Any included, with ErrStreamDeleted, which is not
//     a *WrongExpectedRevisionError.
//   - The conflict error carries the stream name and the rule given, besides the actual state.
//   - Validation comes before the revision check: a malformed append with a wrong expected
//     revision fails with ErrInvalidArgument. A batch that failed validation reserves nothing:
//     its valid events can be appended afterwards.
//
// Idempotency:
//   - A retry is the same batch: the same IDs in the same order, appended to the same stream. It
//     writes nothing and returns the first append's AppendResult when it repeats the original
//     expectation (NoStream, or the Exact revision), however much was appended since; with Any,
//     StreamExists or a conflicting Exact revision while the original is recent.
//   - With Features.StrictRetryMatching, any other batch that contains a recently committed ID
//     fails with ErrInvalidArgument and writes nothing: one mixing committed and new IDs, a
//     strict part or a reordering of a committed batch, IDs from two committed batches, or an ID
//     committed in another stream.
//
// Envelope:
//   - Data comes back byte for byte when it is compact JSON (what encoding/json produces);
//     other valid JSON comes back equal as JSON (a backend may compact it). Empty Data stays
//     empty. Metadata comes back equal, with OccurredAt in UTC and equal to the microsecond at
//     least (a zero OccurredAt stays zero); a nil and an empty Extra are the same.
//   - RecordedAt is in UTC and within a minute of the append call (the allowance is for the
//     clock of a remote server, not for speed).
//   - AppendResult names the last event of the batch: its Revision and its Position.
//
// Reads:
//   - ReadStream from a revision past the end of an existing stream yields nothing and no
//     error; ErrStreamNotFound is only for a stream without readable events at all.
//   - ReadStream Forwards with FromEnd yields the last event only ("starts at the last
//     event"); ReadAll Forwards with FromEnd yields nothing (the end of $all is after its last
//     event). Backwards with FromEnd reads everything, newest first, in both.
//   - MaxCount bounds the events returned, after filtering.
//   - An invalid Filter makes ReadAll yield ErrInvalidArgument and SubscribeAll return it.
//   - A read whose context is cancelled while it iterates ends with the context's error: it
//     never ends as if the log were exhausted.
//   - An empty stream name is ErrInvalidArgument for every method that takes one.
//   - DensePositions holds for stores that only ever saw appends: a backend may give positions
//     to system records (metadata, deletions) that ReadAll does not show.
//
// Subscriptions:
//   - The context given to SubscribeAll bounds only the call: the subscription lives until it
//     or the store is closed, and each Next has its own context.
//   - Consumers must accept checkpoints anywhere. Checkpoints strictly increase, are never
//     behind an event already delivered, and never reach past the head: an event appended after
//     a checkpoint was received has a greater position. Between the subscription's start (or a
//     checkpoint) and the next checkpoint, at most CheckpointInterval visible events were
//     filtered out; when caught up, a checkpoint covers the last event.
//   - Next blocked in one goroutine returns ErrClosed when another closes the subscription;
//     Next after Close returns ErrClosed; a second Close does not fail. Closing the store ends
//     subscriptions with ErrClosed, and every later call on the store returns ErrClosed.
//   - Closing a Store twice returns nil or ErrClosed.
//   - Events are never from system streams, nor of system types, on every read path.
//
// Stream metadata:
//   - A stream may have metadata before it has events. MaxAge may be rounded up to the
//     backend's resolution (EventStoreDB: seconds); the suite waits up to ten seconds for
//     expiry. A stream whose events are all hidden by its metadata reads as ErrStreamNotFound,
//     yet still exists for expected revisions (unlike a soft-deleted one).
//   - Metadata is replaced whole, never merged; writing the zero StreamMetadata still counts as
//     metadata (found == true). Metadata has its own revisions and adds no event to the stream.
//     Whether events hidden by metadata come back when it is relaxed is not pinned.
//   - After a soft delete and a revival, only the events written since the revival are readable.
//     Soft deletion and revival are not metadata: GetStreamMetadata returns what the caller
//     last wrote (found == false if it never wrote any), and its revision and the expected
//     revision of SetStreamMetadata count the caller's metadata writes only. Metadata written
//     after a delete neither brings deleted events back (whatever its TruncateBefore) nor
//     revives a deleted stream.
//   - A stream that never existed can be tombstoned (NoStream); its name is then dead.
//   - SetStreamMetadata on a tombstoned stream gives ErrStreamDeleted.
//
// Cancellation: an Append whose context is already cancelled returns the context's error; it
// may or may not have committed, and its retry with the same IDs leaves exactly one copy. So
// does an Append cancelled while in flight, retried with the same IDs and expectation until it
// succeeds. A filtered ReadAll cancelled while the backend scans events its filter leaves out
// ends with the context's error; a filtered Next cancelled mid-scan returns the context's error
// (after at most a few checkpoints or MessageCaughtUp already waiting, never an event).
//
// Occurred-at times come back exactly (Equal, to the nanosecond) from year 1 to 9999, the Unix
// epoch included, on every read path.
package storetest
