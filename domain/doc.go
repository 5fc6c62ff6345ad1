// Package domain holds idstream's aggregates (environments, populations, users, groups, roles,
// identity providers, propagation plans and rules...), their events, their invariants and the
// domain error kinds.
//
// Aggregates decide, then evolve: a behaviour method validates its input against the current
// state and records new events; a single apply switch per aggregate is the only place state
// changes, and loading an aggregate is a fold of its past events. Decisions are pure: no I/O, no
// clock, no ID generation in here. Callers pass the time and the new IDs in.
//
// Import rule: the standard library only. Nothing of idstream's, no third-party module.
// Enforced by cmd/idstream's layout test.
package domain
