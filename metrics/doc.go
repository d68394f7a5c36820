// Package metrics exposes a wsloop server's counters to Prometheus: the
// Collector reads server.Stats and lease.Stats at scrape time, and Handler
// serves them with the Go runtime's and the process's metrics (README
// "Metrics" lists every metric).
//
//	event loops ── atomic per-loop counters ──┐
//	lease table ── atomic counters ───────────┤
//	                                          ▼  at scrape time
//	GET /metrics ── Handler ── Collector.Collect ── Server.Stats(), Table.Stats()
//
// Every plain metric is one row of one table (name, help, type, the field
// it reads); the labelled ones are wsloop_connections_closed_total{code}
// and wsloop_loop_connections{loop}.
//
// # Concurrency
//
// Collector and Handler are safe for concurrent use: counting on the loops
// takes no lock, and a scrape only reads.
package metrics
