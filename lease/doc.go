// Package lease is wsloop's session leases (README "Session leases"): an
// application's backend starts a lease over the HTTP API and gets a
// conn_id and an auth_body; its client presents the auth_body when it
// opens the WebSocket, which binds that connection to the lease. The
// backend heartbeats the lease; one not heartbeated within the timeout
// expires, and the connections bound to it are closed.
//
//	HTTP API goroutines ── Start / Heartbeat / End ──┐
//	                                                 ▼
//	clock ticks (Attach) ─────── advance ──────► Table (mutex) ── timing wheel
//	                                                 ▲                │ expired
//	event loop, OnOpen of Table.Wrap ── bind ────────┘                ▼
//	                                           Closer.Evict(sid) ── job on the sid's loop
//
// Leases are not connection state: they live in one table under a mutex,
// outside the event loops, and in memory only (a restart forgets them). A
// loop touches the table once per handshake that presents an auth_body
// (to bind) and once per close of a bound connection (to unbind); the
// table reaches a connection only through the server's Evict, which queues
// a job on the connection's loop.
//
// Expiry is exact for the API: a lease whose last heartbeat is Timeout old
// is expired at once (heartbeats and binds fail). Its timer fires on the
// first tick after that and closes the bound connections, so they are
// closed within one Tick of the deadline. Time is read from Config.Clock.
//
// # Concurrency
//
// Every method of Table is safe for concurrent use. The Handler that Wrap
// returns runs on the event loops, as any server.Handler does.
package lease
