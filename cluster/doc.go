// Package cluster joins wsloop nodes over NATS (README "Cluster"): a Node
// is the rooms.Broker and rooms.Presence of one server, and LeaseStore
// keeps session leases in a NATS JetStream key-value bucket so that every
// node sees them. Every node is equal: no leader, no node owns a room.
//
//	publisher on node A ── Server.publish ── A's own members, at once
//	                            │
//	                            ▼ one NATS message per publish (no echo to A)
//	   wsloop.<prefix>.room.<room> · .user.<user> · .all · .node.<id>
//	                            │
//	     node B (subscribed while it has a member of the room or a
//	     connection of the user) ── deliver ── frame once, fan out on its loops
//
// Subjects: rooms and users are named in subjects by the base64url of
// their names (any byte may appear in a room name; subjects take few).
// A node subscribes to a room's or user's subject only while it has a local
// member (the registry drives Subscribe and Unsubscribe), to .all and to
// its own .node.<id> (events for one of its sessions: a session id carries
// its node's id) always. Messages are a small binary header (the event's
// kind, operation, close code, session, names) and the event's JSON as
// clients receive it; one goroutine per node takes them in the order NATS
// delivers them, so the events of one publisher for one room or user keep
// their order.
//
// Delivery across nodes is at most once: NATS core pub/sub, no
// acknowledgement, no replay. While a node is cut off from NATS, what it
// publishes does not leave it (each refused publish is counted) and what
// others publish does not reach its members; its local delivery never
// stops. The connection is retried for ever and the subscriptions are
// restored on reconnection.
//
// Presence: each node announces itself every second on .nodes (and at
// once when it hears of a node it did not know); a node not heard from for
// 3 s is gone. A presence query (a room's members, the
// online counts) asks every live node on .presence and waits for their
// answers up to Config.PresenceTimeout (200 ms); whoever has not answered
// by then is named in the answer, marked partial.
//
// # Concurrency
//
// Node and LeaseStore are safe for concurrent use. Subscribe and
// Unsubscribe do not wait for the network (they run on event loops); the
// presence calls wait up to the timeout and must be called off the loops.
package cluster
