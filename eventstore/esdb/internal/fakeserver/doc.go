// Package fakeserver is a small in-memory model of the server side of EventStoreDB's gRPC
// Streams API, built on the generated server interfaces of EventStore-Client-Go/v4, so that the
// esdb backend can be tested on machines where EventStoreDB cannot run.
//
// IT IS AN ADAPTER CONTRACT TEST, NEVER A CLAIM OF COMPATIBILITY. It models what the esdb
// backend relies on, as far as its authors know EventStoreDB's behaviour: streams and revisions,
// the $all log with commit/prepare positions that grow like byte offsets (not dense: each record
// advances the position by its size, and the events of one append share the commit position of
// their transaction), expected-revision checks, idempotent appends by event ID, soft delete
// ($tb set to the deleted marker in the $$stream metadata, revived by a later append), tombstones
// ($streamDeleted), $$stream metadata ($maxAge, $maxCount, $tb), stream-prefix and event-type
// prefix filters, catch-up subscriptions with checkpoints and CaughtUp, the maximum append size,
// and the "exception" trailers the server attaches to failures. Everything else (ACLs, links,
// projections, persistent subscriptions, scavenging, clustering beyond a one-member gossip answer
// and a "not leader" switch) is absent. Passing against it proves that the backend maps this model
// correctly; only a run against a real server (IDSTREAM_TEST_ESDB) says anything about
// EventStoreDB itself.
//
// Test hooks: Options.CorruptCreatedType makes the server send a non-numeric "created" system
// metadata value for events of one type (the case that makes EventStore-Client-Go call
// log.Fatalf); SetNotLeader makes writes answer "not leader" with another node's address; Stop
// and Start restart the listener on the same address while keeping the data.
package fakeserver
