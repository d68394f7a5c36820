package rooms

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Registry is the directory of rooms and users of one server. T is the
// embedding server's connection type; member returns the Member embedded in
// (or owned by) a connection, the way timingwheel finds a connection's
// timer.
//
// The directory itself (Room, User, Len) is safe for concurrent use and
// takes no lock on lookups: a publisher finds a room and the loops that
// hold its members without blocking anyone. Membership changes go through
// the Shard of the connection's loop.
type Registry[T any] struct {
	loops  int
	member func(*T) *Member[T]
	broker Broker
	onErr  func(error)

	// mu serializes creating and removing groups: a loop takes it only when
	// its shard of a group appears or empties, never to publish.
	mu     sync.Mutex
	rooms  sync.Map // string → *Group[T]
	users  sync.Map // string → *Group[T]
	nrooms atomic.Int64
	nusers atomic.Int64

	shards []*Shard[T]
}

// NewRegistry returns an empty registry for a server with loops event loops
// (numbered 0..loops-1). b (nil: Local) is told when the node gets its first
// member of a room or connection of a user (Subscribe) and loses its last
// (Unsubscribe); onErr (nil: ignored) gets what those calls fail with.
// Safe for concurrent use.
func NewRegistry[T any](loops int, member func(*T) *Member[T], b Broker, onErr func(error)) *Registry[T] {
	if loops < 1 {
		loops = 1
	}
	if b == nil {
		b = Local{}
	}
	if onErr == nil {
		onErr = func(error) {}
	}
	r := &Registry[T]{loops: loops, member: member, broker: b, onErr: onErr}
	r.shards = make([]*Shard[T], loops)
	for i := range r.shards {
		r.shards[i] = &Shard[T]{reg: r, idx: i}
	}
	return r
}

// Loops returns the number of event loops the registry was made for.
// Safe for concurrent use.
func (r *Registry[T]) Loops() int { return r.loops }

// Shard returns loop i's shard. Its methods must be called on loop i.
// Safe for concurrent use.
func (r *Registry[T]) Shard(i int) *Shard[T] { return r.shards[i] }

// Room returns the room called name, or nil when it has no members.
// Safe for concurrent use; allocation-free.
func (r *Registry[T]) Room(name string) *Group[T] { return load[T](&r.rooms, name) }

// User returns the group of user id's connections, or nil when the user
// has none. Safe for concurrent use; allocation-free.
func (r *Registry[T]) User(id string) *Group[T] { return load[T](&r.users, id) }

// Each calls fn with the name of every room (kind ToRoom) or user (ToUser)
// with a member, until fn returns false. Safe for concurrent use; it sees
// the directory as it is while it runs (a name may come or go meanwhile).
func (r *Registry[T]) Each(kind Kind, fn func(name string) bool) {
	m := &r.users
	if kind == ToRoom {
		m = &r.rooms
	}
	m.Range(func(k, _ any) bool { return fn(k.(string)) })
}

// Rooms returns the number of rooms with at least one member.
// Safe for concurrent use.
func (r *Registry[T]) Rooms() int { return int(r.nrooms.Load()) }

// Users returns the number of users with at least one connection.
// Safe for concurrent use.
func (r *Registry[T]) Users() int { return int(r.nusers.Load()) }

// mapOf and counter name the registry's two directories and their sizes.
type (
	mapOf   = *sync.Map
	counter = *atomic.Int64
)

func load[T any](m mapOf, name string) *Group[T] {
	if v, ok := m.Load(name); ok {
		return v.(*Group[T])
	}
	return nil
}

// attach returns the live group called name in m (creating it) and counts
// loop idx's shard in it. Called by loop idx when its shard of the group
// appears.
func (r *Registry[T]) attach(m mapOf, n counter, name string, room bool) *Group[T] {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := load[T](m, name)
	if g == nil {
		g = newGroup[T](name, r.loops, room)
		m.Store(g.name, g) // the group's own copy of the name
		n.Add(1)
		if err := r.broker.Subscribe(g.kind(), g.name); err != nil {
			r.onErr(fmt.Errorf("rooms: subscribe to %s %q: %w", g.kind(), g.name, err))
		}
	}
	g.shards++
	return g
}

// detach uncounts loop idx's shard of g and frees g once no loop holds a
// shard of it. Called by the loop whose shard of g emptied.
func (r *Registry[T]) detach(m mapOf, n counter, g *Group[T]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g.shards--; g.shards == 0 {
		m.CompareAndDelete(g.name, g)
		n.Add(-1)
		if err := r.broker.Unsubscribe(g.kind(), g.name); err != nil {
			r.onErr(fmt.Errorf("rooms: unsubscribe from %s %q: %w", g.kind(), g.name, err))
		}
	}
}
