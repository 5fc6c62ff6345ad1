// Package propagation is the outbound identity propagation runtime: it turns directory changes
// into change orders for the rules of each environment's published propagation revision,
// applies them to target stores through their connectors, and appends each order's outcome to
// the log.
//
// The pieces, from the log to the target:
//
//   - Forwarder: follows $all from its own durable checkpoint (Checkpoints) and publishes one
//     Watermill message per affected identity on the bus (NewBus: gochannel or NATS
//     JetStream). Group membership and nesting changes fan out to the groups and users they
//     affect. Its checkpoint passes an event only once every message of that event and of
//     every earlier one was acknowledged by the bus: delivery is at least once.
//   - Router: a Watermill router with correlation, timeout, retry (exponential back-off that
//     honours a store's Retry-After), a per-store write rate limit and a poison queue. It runs
//     one change order per (rule, identity) through the Reconciler.
//   - Reconciler: level-triggered. It waits for the Directory to reach the source change, reads
//     the identity's current state (never the message's), decides scope, and converges the
//     target account with the mappings' desired values; its outcome is appended to the
//     (rule, identity) account stream propaccount-<rule>_<identity> with an event ID derived
//     from the change order, at the stream's expected revision. Duplicate and out-of-order
//     deliveries therefore converge to the same target state and record one outcome.
//   - Resync, ProvisionUserNow and Preview reuse the Reconciler (Preview as a dry run that
//     reads idstream's own record of each account instead of the store).
//
// Ordering: messages of one identity go to one shard (hash of the identity ID), and a shard's
// messages are handled one at a time in publish order, so an identity's changes are applied in
// log order while it has a single consumer. A redelivery after a failure or a consumer change
// may run an older change after a newer one; since every run reads the current state, the
// target still converges to the latest state.
package propagation
