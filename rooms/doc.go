// Package rooms is wsloop's room registry: which connections are in which
// room, and which connections belong to which user, split by event loop so
// that fan-out takes no lock.
//
//	publisher (any goroutine)           loop k (owns its connections)
//	  g := reg.Room("r1")  ── no lock ──►  Shard(k).Members(g) → []*T
//	  for each loop with g.OnLoop(i) > 0:     append the prepared frame
//	      one ring entry (server)             to each member's cork
//
// A Group is a room (or the set of one user's connections) across all
// loops. Every loop keeps its own shard of a group's members, a plain slice
// in which join and leave are O(1) (a member knows its index; removal swaps
// the last member in). The group keeps an atomic member count per loop, so
// a publisher queues one job for each loop that has members and none for
// the others. A room also keeps its presence: each user in it with its
// connection count and meta, behind a per-room mutex that only joins,
// leaves and presence queries take.
//
// Concurrency contract: Registry and Group methods are safe for concurrent
// use. Shard methods must be called on the shard's event loop, and a
// Member may only be touched by its connection's loop. The registry's one
// mutex is taken only when a loop's shard of a group appears or empties
// (groups are created on first join and freed with their last member),
// never on the publish path.
//
// The package does not import gnet and does not know about sockets: the
// server (package server) owns the loops, their rings and the frames; this
// package owns membership and the JSON of room events (AppendMessage,
// AppendEnter, AppendExit).
package rooms
