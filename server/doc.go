// Package server is wsloop's engine: gnet event loops, the connection
// lifecycle, the cork, the JSON Router, and the push and publish API
// (docs/architecture.md). It is the only package of wsloop that imports
// gnet, and it imports neither net/http nor Prometheus: the HTTP API
// (httpapi), leases (lease) and metrics (metrics, over Stats) are built on
// it.
//
// # Data flow
//
//	accept (Go poller, EMFILE-safe) ──Enroll──► loop k (least loaded)
//	                                              │
//	  OnTraffic: handshake (codec.ParseRequest) or frames (codec.Decoder),
//	             zero-copy payloads → Handler.OnMessage → replies corked
//	  ring drain: Push / Broadcast / Disconnect jobs from other goroutines,
//	              room fan-out (one job per publish per loop with members)
//	  tick:       timing wheel → handshake, heartbeat and close timeouts
//	                                              │
//	  end of every wakeup: each touched connection is written once ──► client
//
// # Concurrency contract
//
// A connection and all its state (its Session, its timer, its decoder)
// belong to the event loop that accepted it. Handler callbacks, Router
// handlers and middleware run on that loop, one at a time per loop, and must
// not block. Methods documented "Must be called on the connection's event
// loop" may be called only from there. Everything else — Server.Push,
// Server.Broadcast, Server.Disconnect, Server.Publish and the other room and
// user calls, Session.Push, Session.Close — is safe
// for concurrent use: it puts a job on the owning loop's bounded ring and
// wakes the loop (one wakeup drains many jobs). A full ring returns
// ErrQueueFull at once; nothing blocks.
//
// # Cork
//
// Everything a loop writes to one connection during one wakeup (the replies
// to all frames of one read, all pushes and room messages of one ring
// drain) leaves in a single write (or writev) at the end of that wakeup.
// Room frames are not copied: the connection's queue points into the
// shared prepared frame (see cork.go). When a wakeup has output for two or
// more connections, their writes are made with one io_uring submission
// (one entry per connection, completed inside the call) where the kernel
// allows it; Config.Tuning.NoIOUring turns that off.
//
// # Rooms
//
// Room membership lives in package rooms, one shard per loop. Every publish
// goes through one function (publish.go): it is encoded once, delivered at
// once on the publisher's loop, queued as one job on each other loop that
// has members, and handed to Config.Broker for the other nodes of a
// cluster, whether or not this node has members. A connection that does
// not read is bounded by Config.Tuning.MaxOutboundBytes: room frames past
// it are dropped (SlowDrop) or the connection is closed with 1013
// (SlowClose).
//
// # Time
//
// The loops, their timing wheels, the rate limits and the signed-ping
// window read Config.Clock; ticks are armed on it.
//
// # Bad input
//
// Protocol violations close the connection with the RFC 6455 code (1002,
// 1007, 1009) and a reason, after which the server half-closes the socket
// and drains the client's input so the close frame is not lost to a reset.
// Malformed requests get HTTP 400/404/405/426/431. A panicking handler is
// recovered and logged; the Router answers status 500. Descriptor
// exhaustion refuses new connections (503 or a closed socket) and never
// stops the server.
package server
