package rooms

import "errors"

// Kind says who an Event is for.
type Kind uint8

// Kinds of events.
const (
	// ToRoom: every member connection of room Event.Name, except session
	// Event.Session (0: none), such as a joiner told of its own entry.
	ToRoom Kind = iota + 1
	// ToUser: every connection of user Event.Name, or, when no user is
	// called that, the anonymous session whose id (Session.SID) it is; with
	// Event.Room set, only those of them that are members of that room (a
	// publish with notify_type ptp).
	ToUser
	// ToAll: every connection (a broadcast).
	ToAll
	// ToSession: the one session Event.Session, on whichever node holds it
	// (with Event.Room set, only if it is an anonymous member of that room:
	// a ptp or send addressed to a session id).
	ToSession
)

// String returns "room", "user", "all" or "session".
func (k Kind) String() string {
	switch k {
	case ToRoom:
		return "room"
	case ToUser:
		return "user"
	case ToAll:
		return "all"
	case ToSession:
		return "session"
	}
	return "unknown"
}

// Op says what an Event does to its recipients.
type Op uint8

// Operations.
const (
	// Deliver sends Data to the recipients (the zero value).
	Deliver Op = iota
	// Kick removes user Name (ToUser) from room Room: the user's
	// connections stay open; they and the room are told exit_room with
	// reason "kick".
	Kick
	// Disconnect closes the recipients (ToUser: a user's connections;
	// ToSession: one session) with close code Code and Data as the reason.
	Disconnect
)

// Event is one publish: an event already encoded, addressed to a room, a
// user, a session, or everyone; or an operation on a user's connections.
type Event struct {
	Kind Kind
	Op   Op
	// Name is the room (ToRoom) or the user or session id (ToUser).
	Name string
	// Room narrows a ToUser or ToSession event to the connections in this
	// room; "" for all of them. For Kick, the room to leave.
	Room string
	// Session is a session id that does not get a ToRoom event (0: none),
	// or the session a ToSession event is for.
	Session uint64
	// Code is the close code of a Disconnect.
	Code uint16
	// Data is the event as clients receive it: one JSON object, valid
	// UTF-8, encoded once by the publisher ({"cmd":"message","data":{…}});
	// for a Disconnect, the close reason. It is valid only until Publish (or
	// the function given to Start) returns: keep a copy.
	Data []byte
}

// ErrUnsupported is returned by a Broker for an operation it does not
// implement (a broker without presence, say); callers treat it as "this
// node cannot do that", not as a failure of the event.
var ErrUnsupported = errors.New("rooms: not supported by this broker")

// Broker carries events between the nodes of a cluster. Every publish of a
// server goes through it: the server delivers an event to its own members
// at once (never through the broker: no round trip) and hands the same
// encoded event to Publish, whether or not the node has members of the room
// or connections of the user, since other nodes may. Implementations:
// Local, the default, for a single node; a cluster broker (over NATS) for
// many.
//
// Publish sends ev to every other node that may deliver it, as one message
// (not one per node or per member); each receiving node frames it once and
// delivers it to its own members. Delivery is at most once: an event lost
// between nodes (a broken link, a node that restarts) is not retried, and
// Publish reports only what it knew when it returned (an error means the
// event did not leave this node). Ordering: the events of one publisher
// (one goroutine, or one connection's loop) for one room or user reach
// each node's members in the order they were published. ToAll events reach
// every node; ToRoom and ToUser events reach at least the nodes subscribed
// to that room or user (ToUser also those that may hold the session the
// name could be: every node, unless the broker knows better).
//
// Subscribe and Unsubscribe are driven by the Registry: Subscribe when this
// node gets its first local member of a room (kind ToRoom) or its first
// connection of a user (ToUser), Unsubscribe when the last one leaves. They
// are called in order for any one name, under the registry's lock, on an
// event loop: they must not block (queue the work and return). An error is
// logged by the caller; the membership change stands.
//
// Start is called once, before the server serves, with the function that
// delivers events from other nodes to this node's members; the broker may
// call deliver from any goroutine, and must not call it for events this
// node published itself. Close stops it (Shutdown calls it); after Close,
// Publish returns an error.
//
// A broker that can also answer for the whole cluster's presence
// implements Presence too.
//
// Every method is safe for concurrent use.
type Broker interface {
	Start(deliver func(Event)) error
	Publish(ev Event) error
	Subscribe(kind Kind, name string) error
	Unsubscribe(kind Kind, name string) error
	Close() error
}

// PresentUser is one user of a room as presence reports it.
type PresentUser struct {
	User      string
	Conns     int
	Meta      []byte
	Anonymous bool // User is an anonymous connection's session id
}

// RoomPresence is a room's presence across the cluster.
type RoomPresence struct {
	Users   []PresentUser // up to the limit asked for
	Total   int           // distinct users
	Conns   int           // member connections
	Partial bool          // some node did not answer in time: the figures are lower bounds
	Missing []string      // the names of those nodes
}

// Online is the cluster's population.
type Online struct {
	Users, Conns, Rooms int
	Partial             bool
	Missing             []string
}

// Presence is implemented by brokers that answer for the whole cluster:
// each asks every live node for its part (bounded in time) and merges the
// answers. local is this node's own part, which the broker adds without
// asking. Both may block up to the broker's bound: call them off the event
// loops. Safe for concurrent use.
type Presence interface {
	RoomPresence(room string, limit int, local RoomPresence) (RoomPresence, error)
	Online(local Online) (Online, error)
}

// Local is the broker of a single node, the default: every member is
// local and the server has delivered each event before Publish is called,
// so there is no other node to reach and every method does nothing. Its
// cost on the publish path is one interface call.
type Local struct{}

var _ Broker = Local{}

// Start implements Broker: no other node will deliver anything.
func (Local) Start(func(Event)) error { return nil }

// Publish implements Broker: there is no other node.
func (Local) Publish(Event) error { return nil }

// Subscribe implements Broker: nothing to subscribe to.
func (Local) Subscribe(Kind, string) error { return nil }

// Unsubscribe implements Broker.
func (Local) Unsubscribe(Kind, string) error { return nil }

// Close implements Broker.
func (Local) Close() error { return nil }
