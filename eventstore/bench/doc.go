// Package bench measures an event store: durable appends under concurrency, set against a
// raw-disk baseline of the same shape (a plain file, group-committed with one fsync per group),
// a warm scan of the global log, a subscription's catch-up over it, and live delivery latency.
//
// Every workload takes any eventstore.Store, so the same figures come from every backend. The
// results are plain values: the go test benchmarks report them as metrics, and "idstream bench
// eventstore" prints them as a table (WriteTable). The package imports only the eventstore port
// and the standard library, and never asserts a timing: it measures.
//
// Events are realistic: ~500-byte JSON identity payloads with varied content (names, e-mail
// addresses, departments, IDs drawn from a seeded generator), so that compression cannot make
// them look smaller than they are, and every metadata field is filled.
package bench
