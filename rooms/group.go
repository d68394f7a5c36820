package rooms

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Group is a room, or the set of one user's connections, across all event
// loops. Each loop keeps its own shard of the members; the group holds, per
// loop, how many there are, so that a publisher knows which loops to queue
// a message for without asking them. A room also keeps its presence: the
// users in it, each with its connection count and meta.
//
// A Group is freed when its last member leaves; a later join creates a new
// one. Holding a *Group after that is safe: it simply has no members.
type Group[T any] struct {
	name   string
	room   bool
	counts []atomic.Int32 // members per loop; written by that loop only
	local  []*local[T]    // local[i] is owned by loop i
	shards int            // loops with a shard; guarded by Registry.mu

	pmu      sync.Mutex           // presence; never taken on the publish path
	presence map[string]*presence // user → connections in the room and meta
}

type presence struct {
	conns int32
	meta  []byte
	anon  bool // the key is an anonymous connection's id, not a user
}

func newGroup[T any](name string, loops int, room bool) *Group[T] {
	g := &Group[T]{
		name:   strings.Clone(name), // not a view of the request that created it
		room:   room,
		counts: make([]atomic.Int32, loops),
		local:  make([]*local[T], loops),
	}
	if room {
		g.presence = make(map[string]*presence)
	}
	return g
}

// Name returns the room name or user id. Safe for concurrent use.
func (g *Group[T]) Name() string { return g.name }

// kind is the broker's name for what g is: ToRoom or ToUser.
func (g *Group[T]) kind() Kind {
	if g.room {
		return ToRoom
	}
	return ToUser
}

// OnLoop returns how many members the group has on loop i: a publisher
// queues a message for the loops where it is not 0. Safe for concurrent use.
func (g *Group[T]) OnLoop(i int) int { return int(g.counts[i].Load()) }

// Len returns the number of member connections on all loops.
// Safe for concurrent use.
func (g *Group[T]) Len() int {
	n := 0
	for i := range g.counts {
		n += int(g.counts[i].Load())
	}
	return n
}

// UserCount returns the number of distinct users in a room (0 for a user
// group). Safe for concurrent use.
func (g *Group[T]) UserCount() int {
	if !g.room {
		return 0
	}
	g.pmu.Lock()
	defer g.pmu.Unlock()
	return len(g.presence)
}

// Present is one user in a room's presence.
type Present struct {
	User      string
	Conns     int    // the user's connections in the room
	Meta      []byte // the meta (raw JSON) of the user's latest join; nil if none
	Anonymous bool   // User is an anonymous connection's id (Shard.Join's anon)
}

// Presence returns up to limit users of the room (all if limit <= 0), in no
// particular order, and the total number of users. Meta slices are shared
// and must not be modified. Safe for concurrent use.
func (g *Group[T]) Presence(limit int) (users []Present, total int) {
	if !g.room {
		return nil, 0
	}
	g.pmu.Lock()
	defer g.pmu.Unlock()
	total = len(g.presence)
	n := total
	if limit > 0 && limit < n {
		n = limit
	}
	users = make([]Present, 0, n)
	for u, p := range g.presence {
		if len(users) == n {
			break
		}
		users = append(users, Present{User: u, Conns: int(p.conns), Meta: p.meta, Anonymous: p.anon})
	}
	return users, total
}

// enter counts one more connection of user in the room's presence; it
// reports whether it is the user's first. meta (copied) replaces the user's
// meta when not nil.
func (g *Group[T]) enter(user string, anon bool, meta []byte) (first bool) {
	g.pmu.Lock()
	defer g.pmu.Unlock()
	p := g.presence[user]
	if p == nil {
		p = &presence{anon: anon}
		g.presence[user] = p
		first = true
	}
	p.conns++
	if meta != nil {
		p.meta = append([]byte(nil), meta...)
	}
	return first
}

// setMeta replaces the meta of a user already present.
func (g *Group[T]) setMeta(user string, meta []byte) {
	g.pmu.Lock()
	defer g.pmu.Unlock()
	if p := g.presence[user]; p != nil {
		p.meta = append([]byte(nil), meta...)
	}
}

// exit counts one connection of user less; it reports whether it was the
// user's last.
func (g *Group[T]) exit(user string) (last bool) {
	g.pmu.Lock()
	defer g.pmu.Unlock()
	p := g.presence[user]
	if p == nil {
		return false
	}
	if p.conns--; p.conns > 0 {
		return false
	}
	delete(g.presence, user)
	return true
}

// local is one loop's shard of a group: its member connections on that
// loop, in a slice so that fan-out is a plain loop. Removal swaps the last
// member into the hole, so join and leave are O(1).
type local[T any] struct {
	g       *Group[T]
	members []*T
	back    []int32 // back[i]: index of this shard in members[i]'s Member.slots
}
