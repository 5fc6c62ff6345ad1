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
//     deliveries therefore converge to the same target state and record one outcome. For an
//     identity event on a linked account whose record holds a digest of every mapped value,
//     it writes what differs from that record without reading the account (one request, or
//     none); resyncs, provisionUserNow and a record that is incomplete read the account and
//     compare with the store itself, so what the event path trusts is checked at every resync.
//   - Resync, ProvisionUserNow and Preview reuse the Reconciler (Preview as a dry run that
//     reads idstream's own record of each account instead of the store).
//   - Drift (drift.go): where the Reconciler reads an account it compares it with the digests
//     of what it last wrote, and applies the rule's drift policy (REPORT leaves the target's
//     value and records drift_detected; OVERWRITE writes the source's back). ReconcileRule, run
//     every Config.ReconcileInterval and by reconcilePropagationRule, is a resync that also
//     lists the target for accounts no identity owns.
//
// Matching: an identity without a linked account is matched by its rule's correlation
// attribute. When that attribute is userName, which SCIM stores keep unique (RFC 7643 §4.1.1),
// the reconciler creates first and searches only when the store answers 409: one request per
// new identity instead of two (a store that does not enforce userName uniqueness should
// correlate on another attribute). Two matches are a disputed outcome, never a guess.
//
// Removal: leaving scope, disabling (unless the store provisions disabled users) and deleting
// apply the store's remove action to accounts this rule linked or created: DELETE only to an
// account idstream created in a store that deletes, else DISABLE (active=false) where allowed;
// a paused plan, rule or store does nothing (pausing is not deprovisioning).
//
// Availability (availability.go, backlog.go): an order failing with UNAVAILABLE or AUTH makes
// the runtime probe its store (connectors.Checker, one probe in flight per store). A failing
// probe records store_unavailable on propstore-<store>; from then every order of a rule
// targeting the store is appended to the rule's backlog (change_deferred on proprule-<rule>)
// and its message acked, the deferral durable first; on-demand orders get ErrUnavailable. A
// prober checks the store with back-off (Config.ProbeInterval doubling to ProbeMax); when it
// answers, store_available is recorded and each backlog drains: deferred orders deduplicated
// by identity (the latest cause at the first place), users before groups, identities in
// parallel, then backlog_drained{Through}. New orders keep being deferred until the drain finds
// every backlog empty under the store's gate, so none overtakes the backlog. The state is
// loaded from the log at Start: a restart resumes probing or redrains from the last
// backlog_drained. Several processes record an outage once (store_unavailable and
// store_available are appended at the expected revision), but each learns it from its own
// failing order: a process that never tried the store does not pause.
//
// Known limits: a deleted group's former members get their "groups" attribute updated at
// their next change or resync; every change of a user reconciles the dynamic groups its rule
// selects (a cost that grows with those groups' size). Several processes may share a NATS
// bus: run the forwarder (Config.NoForward false) in one of them, or accept duplicate
// deliveries beyond JetStream's two-minute de-duplication window (effects stay idempotent).
//
// Ordering: messages of one identity go to one shard (hash of the identity ID), and a shard's
// messages are handled one at a time in publish order, so an identity's changes are applied in
// log order while it has a single consumer. A redelivery after a failure or a consumer change
// may run an older change after a newer one; since every run reads the current state, the
// target still converges to the latest state.
//
// Safety rails (rails.go, quarantine.go): a removal past a store's MaxRemovalsPerHour (sliding,
// counted from the log's outcomes, so across restarts) or MaxRemovalsPerPublish (per revision
// resynced by a publication) is held (change_held on propstore-<store>) and its order recorded
// as skipped; held_approved reruns it past the rails with a fresh cause (level-triggered: an
// identity back in scope keeps its account); held_discarded does nothing, and a later change or
// resync evaluates the identity again. A deleted managed store's deprovisioning is not held.
// A rule whose last 20 final outcomes are at least 80% permanent failures (INVALID, CONFLICT,
// NOT_FOUND; at least 10 judged) is quarantined (rule_quarantined on proprule-<rule>): its
// orders are skipped until rule_released (an administrator, then a resync; or a publication
// changing the rule, whose resync follows). A 429 with Retry-After pauses every write to the
// store. The counts are per process.
package propagation
