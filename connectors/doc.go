// Package connectors propagates identities between idstream and other identity stores: the
// connector contract and its conformance suite, the connectors (SCIM 2.0, LDAP, SQL, HR
// systems...), the propagation runtime (a forwarder from the log to Watermill topics and the
// router handlers that evaluate rules, map attributes and apply change orders), inbound sync,
// and the SCIM 2.0 service.
//
// Connectors do not retry: they return classified errors, and the runtime owns retry, back-off,
// rate limits and pausing. Outcomes are appended back to the log as events.
//
// Import rule: commands, projections, domain and eventstore (the port package, never a backend),
// plus the standard library and third-party modules. Enforced by cmd/idstream's layout test.
package connectors
