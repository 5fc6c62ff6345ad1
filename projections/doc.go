// Package projections builds read models as folds of the event log: named, versioned folds, the
// runner that subscribes to $all from a stored checkpoint, the read-model stores (in memory;
// PostgreSQL later), rebuilds, and time travel (a throw-away model replayed up to a position or
// an instant). The same fold code serves all three.
//
// Directory is the in-memory directory read model and its query API (environments,
// populations, schema, users with SCIM filters and Relay pages, groups with dynamic and nested
// membership, API clients by token hash). Runner feeds it from the log: Start, then WaitFor a
// mutation's position (read-your-writes) or CatchUp; Ready and Lag serve /readyz and metrics.
//
// Import rule: domain and eventstore (the port package, never a backend), plus the standard
// library and third-party modules. Enforced by cmd/idstream's layout test.
package projections
