// Package mapping is the attribute mapping engine of outbound propagation: it turns a source
// identity (the runtime's JSON-shaped view of a directory user) into the target attribute
// values a rule's mappings ask for, and compares and applies them to target resources.
//
//   - Path: SCIM attribute paths (RFC 7644 §3.5.2 PATCH path subset) with Get, Set and
//     Remove on JSON-decoded resources; value filters are parsed by scim2/filter-parser.
//   - Expression: expr-lang expressions over the source identity with a small nil-safe
//     function library, bounded in size, memory and result length.
//   - Check, Compile and Set: validation and evaluation of a rule's mappings, one
//     connectors.Change per mapping; Build, Apply and Diff turn changes into a resource to
//     create, a modified resource (PUT fallback) or the changes an update needs; Digest
//     remembers what was written.
//
// Everything here is pure computation, safe for concurrent use once compiled, and never
// panics on outside input.
package mapping
