// Package commands turns intentions into committed events: one handler per command, one file per
// handler. A handler loads the aggregate's stream from the event store, asks domain to decide,
// and appends the new events with the stream's expected revision. It returns the commit position
// so that callers can read their own writes.
//
// Commands that commute reload and retry a bounded number of times on a revision conflict; the
// others return the conflict. Uniqueness (usernames, emails, names, external IDs) is enforced by
// reservation streams appended with "no stream" expected, never by reading a read model first.
//
// Import rule: domain and eventstore (the port package, never a backend), plus the standard
// library and third-party modules. Enforced by cmd/idstream's layout test.
package commands
