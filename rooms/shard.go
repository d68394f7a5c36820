package rooms

// Member is what a connection carries for the registry: the shards it is
// in, each with its index there, so that leaving is O(1). Embed it in the
// connection's state (or keep it lazily: an idle connection needs none).
// The zero value is a connection in no room and bound to no user.
//
// A Member belongs to its connection's loop: only that loop's Shard may
// touch it.
type Member[T any] struct {
	user  slot[T]   // the user group, if bound
	rooms []slot[T] // rooms joined
}

type slot[T any] struct {
	l   *local[T]
	idx int32 // index in l.members
}

// Rooms returns how many rooms the connection is in.
// Must be called on the connection's event loop.
func (m *Member[T]) Rooms() int { return len(m.rooms) }

// Shard is one event loop's part of the registry: the members of every
// room and user on that loop. Its methods must be called on that loop; they
// take a lock only when the loop's shard of a group appears or empties.
type Shard[T any] struct {
	reg *Registry[T]
	idx int
}

// Join makes t a member of room name, as user (the presence key: a user id,
// or any stable id of an anonymous connection), with meta (raw JSON, copied;
// nil keeps the user's earlier meta). It returns the room, whether t joined
// now (false: it was already a member; nothing changed), and whether t is
// user's first connection in the room (the moment to announce the user).
// Must be called on the connection's event loop.
func (sh *Shard[T]) Join(t *T, name, user string, anon bool, meta []byte) (g *Group[T], joined, first bool) {
	m := sh.reg.member(t)
	for _, s := range m.rooms {
		if s.l.g.name == name {
			if meta != nil {
				s.l.g.setMeta(user, meta)
			}
			return s.l.g, false, false
		}
	}
	l := sh.shardOf(&sh.reg.rooms, name, true)
	m.rooms = append(m.rooms, sh.add(l, t, int32(len(m.rooms))))
	return l.g, true, l.g.enter(user, anon, meta)
}

// Leave removes t from room g. It reports whether t was a member, and
// whether it was user's last connection in the room (the moment to
// announce the user's exit). The room is freed with its last member.
// Must be called on the connection's event loop.
func (sh *Shard[T]) Leave(t *T, g *Group[T], user string) (left, last bool) {
	m := sh.reg.member(t)
	for i, s := range m.rooms {
		if s.l.g == g {
			sh.removeRoom(m, i)
			return true, g.exit(user)
		}
	}
	return false, false
}

// LeaveAll removes t from every room it is in, calling fn (if not nil) for
// each after t has left it, with whether t was user's last connection there.
// Use it when the connection closes. Must be called on the connection's
// event loop.
func (sh *Shard[T]) LeaveAll(t *T, user string, fn func(g *Group[T], last bool)) {
	m := sh.reg.member(t)
	for len(m.rooms) > 0 {
		i := len(m.rooms) - 1
		g := m.rooms[i].l.g
		sh.removeRoom(m, i)
		last := g.exit(user)
		if fn != nil {
			fn(g, last)
		}
	}
}

// In reports whether t is a member of g. O(rooms t is in).
// Must be called on the connection's event loop.
func (sh *Shard[T]) In(t *T, g *Group[T]) bool {
	for _, s := range sh.reg.member(t).rooms {
		if s.l.g == g {
			return true
		}
	}
	return false
}

// Bind makes t one of user's connections (unbinding it from any earlier
// user); "" unbinds. Must be called on the connection's event loop.
func (sh *Shard[T]) Bind(t *T, user string) {
	m := sh.reg.member(t)
	if m.user.l != nil {
		if m.user.l.g.name == user {
			return
		}
		l, idx := m.user.l, m.user.idx
		m.user = slot[T]{}
		sh.remove(l, idx, &sh.reg.users, &sh.reg.nusers)
	}
	if user == "" {
		return
	}
	l := sh.shardOf(&sh.reg.users, user, false)
	m.user = sh.add(l, t, -1)
}

// Members returns g's members on this loop. The slice is the shard's own:
// it is valid only until the next join or leave on this loop, and must not
// be modified. Allocation-free: this is the fan-out loop's input.
// Must be called on the shard's event loop.
func (sh *Shard[T]) Members(g *Group[T]) []*T {
	if l := g.local[sh.idx]; l != nil {
		return l.members
	}
	return nil
}

// shardOf returns this loop's shard of the group called name in m, creating
// the shard (and the group) if needed.
func (sh *Shard[T]) shardOf(m mapOf, name string, room bool) *local[T] {
	if g := load[T](m, name); g != nil {
		if l := g.local[sh.idx]; l != nil {
			return l // our shard holds g, so g is live
		}
	}
	n := &sh.reg.nusers
	if room {
		n = &sh.reg.nrooms
	}
	g := sh.reg.attach(m, n, name, room)
	l := &local[T]{g: g}
	g.local[sh.idx] = l
	return l
}

// add appends t to l; back is t's slot index for l (-1: the user slot).
func (sh *Shard[T]) add(l *local[T], t *T, back int32) slot[T] {
	l.members = append(l.members, t)
	l.back = append(l.back, back)
	l.g.counts[sh.idx].Store(int32(len(l.members)))
	return slot[T]{l: l, idx: int32(len(l.members) - 1)}
}

// removeRoom removes m's room slot i (swapping the last slot into it).
func (sh *Shard[T]) removeRoom(m *Member[T], i int) {
	s := m.rooms[i]
	last := len(m.rooms) - 1
	if i != last {
		m.rooms[i] = m.rooms[last]
		moved := m.rooms[i]
		moved.l.back[moved.idx] = int32(i)
	}
	m.rooms[last] = slot[T]{}
	m.rooms = m.rooms[:last]
	sh.remove(s.l, s.idx, &sh.reg.rooms, &sh.reg.nrooms)
}

// remove takes member idx out of l, moving l's last member into the hole,
// and frees l (and its group, if no other loop has a shard) when empty.
func (sh *Shard[T]) remove(l *local[T], idx int32, m mapOf, n counter) {
	last := int32(len(l.members) - 1)
	if idx != last {
		t, back := l.members[last], l.back[last]
		l.members[idx], l.back[idx] = t, back
		mm := sh.reg.member(t)
		if back < 0 {
			mm.user.idx = idx
		} else {
			mm.rooms[back].idx = idx
		}
	}
	l.members[last] = nil
	l.members, l.back = l.members[:last], l.back[:last]
	if c := cap(l.members); c > 64 && int(last) < c/4 {
		// A room that shrank gives its memory back.
		l.members = append(make([]*T, 0, c/2), l.members...)
		l.back = append(make([]int32, 0, c/2), l.back...)
	}
	g := l.g
	g.counts[sh.idx].Store(last)
	if last == 0 {
		g.local[sh.idx] = nil
		sh.reg.detach(m, n, g)
	}
}
