// Package graph is idstream's GraphQL API: the schema (graph/schema/*.graphqls), the code gqlgen
// generates from it, thin resolvers that call commands and read projections, the error presenter
// that maps error kinds to extensions.code, dataloaders and authentication.
//
// Import rule: commands, projections and domain, plus the eventstore port package for
// eventstore.Position alone (mutation payloads return the commit position and queries accept a
// minimum one). Resolvers never append to or read from the Store themselves; they go through
// commands and projections. Never a backend subpackage. Enforced by cmd/idstream's layout test.
//
// GraphiQL at GET / is gqlgen's playground.Handler: an HTML page that loads GraphiQL 4.1.2,
// React 18.2 and the explorer plugin from cdn.jsdelivr.net. It works only where the browser can
// reach that CDN (not on machines without Internet access); the API itself needs nothing external.
package graph
