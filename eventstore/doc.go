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
package eventstore
