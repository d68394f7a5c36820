package server

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/protocol"
	"github.com/wsloop/wsloop/rooms"
)

type (
	group      = rooms.Group[Session]
	roomMember = rooms.Member[Session]
)

// memberOf is how the registry finds a session's membership record.
func memberOf(s *Session) *roomMember { return &s.x().member }

// droppable reports whether a server-initiated frame of n bytes must be
// dropped for s (SlowDrop), or closes s (SlowClose) when s is past the
// bound. It counts the drop.
func (l *loop) droppable(s *Session, n int) bool {
	max := l.srv.cfg.Tuning.MaxOutboundBytes
	if b := s.backlog(); b+n > max {
		if l.srv.cfg.Tuning.SlowConsumer == SlowClose {
			if b > max {
				l.slow(s)
				return true
			}
			return false // the frame takes it past the bound: the flush closes it
		}
		l.stats.dropped.Add(1)
		return true
	}
	return false
}

// pushShared queues the shared frame f for s, subject to the slow-consumer
// policy. Runs on the loop.
func (l *loop) pushShared(s *Session, f *codec.PreparedFrame) bool {
	if s.state != stateOpen {
		return false
	}
	l.hold(f)
	return l.sendShared(s, l.frameBytes(s, f))
}

// frameBytes is f as s gets it: compressed, once for every member, when s
// negotiated permessage-deflate and the payload reaches
// Compression.MinSize; else as it is.
func (l *loop) frameBytes(s *Session, f *codec.PreparedFrame) []byte {
	if s.deflating() && f.PayloadLen() >= l.srv.cfg.Compression.MinSize {
		return f.Deflated(l.srv.cfg.Compression.Level)
	}
	return f.Bytes()
}

// sendShared queues b, bytes of a frame the loop holds, for s, subject to
// the slow-consumer policy; it reports whether b was queued.
func (l *loop) sendShared(s *Session, b []byte) bool {
	if s.state != stateOpen || l.droppable(s, len(b)) {
		return false
	}
	l.share(s, b)
	l.stats.msgsOut.Add(1)
	return true
}

// deliver queues f for every member of g on this loop except session
// except (0: none), and returns how many got it. It allocates nothing: this
// is the fan-out loop. Runs on the loop.
func (l *loop) deliver(g *group, f *codec.PreparedFrame, except uint64) int {
	members := l.shard.Members(g)
	if len(members) == 0 {
		return 0
	}
	b := f.Bytes()
	var bd []byte // the compressed variant, fetched for the first member that takes it
	compressible := l.srv.cfg.Compression.Enabled && f.PayloadLen() >= l.srv.cfg.Compression.MinSize
	l.hold(f)
	n := 0
	for _, s := range members {
		out := b
		if s.deflating() && compressible {
			if bd == nil {
				bd = f.Deflated(l.srv.cfg.Compression.Level)
			}
			out = bd
		}
		if s.id == except || s.state != stateOpen || l.droppable(s, len(out)) {
			continue
		}
		l.share(s, out)
		n++
	}
	l.stats.msgsOut.Add(uint64(n))
	l.stats.deliveries.Add(uint64(n))
	return n
}

// deliverPtp queues f for the connections of user u on this loop that are
// members of room. Runs on the loop.
func (l *loop) deliverPtp(u, room *group, f *codec.PreparedFrame) {
	members := l.shard.Members(u)
	if len(members) == 0 {
		return
	}
	l.hold(f)
	for _, s := range members {
		if (room == nil || l.shard.In(s, room)) && l.sendShared(s, l.frameBytes(s, f)) {
			l.stats.deliveries.Add(1)
		}
	}
}

// broadcast queues f for every open session of the loop.
func (l *loop) broadcast(f *codec.PreparedFrame) {
	l.hold(f)
	for _, s := range l.sessions {
		if s != nil {
			l.sendShared(s, l.frameBytes(s, f))
		}
	}
}

// roomEvents reports whether enter_room/exit_room go to room g: its
// namespace sends them, and it has at most EventsMaxMembers connections.
func (l *loop) roomEvents(g *group) bool {
	max := l.srv.cfg.Rooms.EventsMaxMembers
	if max <= 0 || g.Len() > max {
		return false
	}
	_, n := l.srv.cfg.Policy.namespaceOf(g.Name())
	return !n.NoEvents
}

// join makes s a member of room with meta. Runs on the loop.
func (l *loop) join(s *Session, room string, meta []byte) (g *group, err error) {
	if s.state != stateOpen {
		return nil, ErrClosed
	}
	if memberOf(s).Rooms() >= l.srv.cfg.Rooms.MaxPerConn && !l.in(s, room) {
		return nil, ErrTooManyRooms
	}
	user, anon := s.key(), s.UserID() == ""
	g, joined, first := l.shard.Join(s, room, user, anon, meta)
	if joined && first && l.roomEvents(g) {
		l.scratch = protocol.AppendEnter(l.scratch[:0], room, l.srv.cfg.Policy.shown(room, user, anon), meta)
		err = l.srv.publish(rooms.Event{Kind: rooms.ToRoom, Name: room, Session: s.id, Data: l.scratch}, nil, l)
	}
	return g, err
}

// in reports whether s is in the room called name.
func (l *loop) in(s *Session, name string) bool {
	g := l.srv.reg.Room(name)
	return g != nil && l.shard.In(s, g)
}

// leave removes s from room, telling the others with reason. It reports
// whether s was a member. Runs on the loop.
func (l *loop) leave(s *Session, room, reason string) (bool, error) {
	g := l.srv.reg.Room(room)
	if g == nil || s.ext == nil {
		return false, nil
	}
	user := s.key()
	left, last := l.shard.Leave(s, g, user)
	if !left {
		return false, nil
	}
	if last {
		return true, l.exitEvent(g, user, s.UserID() == "", reason)
	}
	return true, nil
}

// exitEvent tells g's members that user left it: the members on this node,
// and, through the broker, those on others (even when this node has none
// left).
func (l *loop) exitEvent(g *group, user string, anon bool, reason string) error {
	if !l.roomEvents(g) {
		return nil
	}
	l.scratch = protocol.AppendExit(l.scratch[:0], g.Name(), l.srv.cfg.Policy.shown(g.Name(), user, anon), reason)
	return l.srv.publish(rooms.Event{Kind: rooms.ToRoom, Name: g.Name(), Data: l.scratch}, nil, l)
}

// leaveAll removes s from every room it is in, telling the others why
// (cause 0: it left on its own). Runs on the loop.
func (l *loop) leaveAll(s *Session, cause Cause) {
	if s.ext == nil || s.ext.member.Rooms() == 0 {
		return
	}
	reason := protocol.ReasonLeave
	if cause != 0 {
		reason = cause.ExitReason()
	}
	user, anon := s.key(), s.UserID() == ""
	l.shard.LeaveAll(s, user, func(g *group, last bool) {
		if last {
			if err := l.exitEvent(g, user, anon, reason); err != nil {
				l.srv.log.Warn("exit_room not queued", "room", g.Name(), "err", err)
			}
		}
	})
}

// kick removes user's connections on this loop from room: they and the
// room's other members get exit_room with reason kick.
func (l *loop) kick(room, user string) {
	g := l.srv.reg.Room(room)
	u := l.srv.reg.User(user)
	if g == nil || u == nil {
		return
	}
	members := l.shard.Members(u)
	kicked := make([]*Session, 0, len(members))
	for _, s := range members {
		if l.shard.In(s, g) {
			kicked = append(kicked, s)
		}
	}
	if len(kicked) == 0 {
		return
	}
	l.scratch = protocol.AppendExit(l.scratch[:0], room, user, protocol.ReasonKick)
	f := frameOf(l.scratch)
	l.hold(f)
	for _, s := range kicked {
		l.sendShared(s, l.frameBytes(s, f))
		if _, last := l.shard.Leave(s, g, user); last && l.roomEvents(g) {
			ev := rooms.Event{Kind: rooms.ToRoom, Name: room, Data: l.scratch}
			if err := l.srv.publish(ev, f, l); err != nil {
				l.srv.log.Warn("exit_room not queued", "room", room, "err", err)
			}
		}
	}
	f.Release()
}

// allow reports whether s may publish now (GCRA: PublishRate per second,
// bursts of PublishBurst). Runs on the loop.
func (l *loop) allow(s *Session) bool {
	rate := l.srv.cfg.Rooms.PublishRate
	if rate < 0 {
		return true
	}
	x := s.x()
	interval := int64(1e9 / rate)
	tat := max(x.tat, l.now)
	if tat-l.now > interval*int64(l.srv.cfg.Rooms.PublishBurst-1) {
		return false
	}
	x.tat = tat + interval
	return true
}

// Kick removes user's connections from room. They stay open; they and the
// room's other members get exit_room with reason "kick".
// Safe for concurrent use.
func (srv *Server) Kick(room, user string) error {
	if err := srv.serving(); err != nil {
		return err
	}
	return srv.publish(rooms.Event{Kind: rooms.ToUser, Op: rooms.Kick, Name: user, Room: room}, nil, nil)
}

// DisconnectUser closes every connection of user, on every node of the
// cluster, with code and reason. Safe for concurrent use.
func (srv *Server) DisconnectUser(user string, code codec.StatusCode, reason string) error {
	if !utf8.ValidString(reason) {
		return ErrInvalidUTF8
	}
	if err := srv.serving(); err != nil {
		return err
	}
	return srv.publish(rooms.Event{Kind: rooms.ToUser, Op: rooms.Disconnect, Name: user, Code: uint16(code), Data: []byte(reason)}, nil, nil)
}

// disconnectUser closes user's connections on this loop (CauseKick).
func (l *loop) disconnectUser(user string, code codec.StatusCode, reason string) {
	if u := l.srv.reg.User(user); u != nil {
		for _, s := range l.shard.Members(u) {
			l.closeWith(s, code, reason, CauseKick)
		}
	}
}

// onUserLoops runs fn on each loop where user has connections.
func (srv *Server) onUserLoops(user string, fn func(*loop)) error {
	if err := srv.serving(); err != nil {
		return err
	}
	u := srv.reg.User(user)
	if u == nil {
		return nil
	}
	var err error
	for i, l := range *srv.loops.Load() {
		if u.OnLoop(i) > 0 {
			if e := l.enqueue(job{kind: jobFunc, fn: fn}); e != nil {
				err = e
			}
		}
	}
	return err
}

// RoomConns returns the number of room's member connections on this
// server. Safe for concurrent use.
func (srv *Server) RoomConns(room string) int {
	if g := srv.reg.Room(room); g != nil {
		return g.Len()
	}
	return 0
}

// UserConns returns the number of user's connections on this server.
// Safe for concurrent use.
func (srv *Server) UserConns(user string) int {
	if u := srv.reg.User(user); u != nil {
		return u.Len()
	}
	return 0
}

// EachName calls fn with the name of every room (kind rooms.ToRoom) or
// user (rooms.ToUser) that has a member on this server, until fn returns
// false: what a cluster broker counts distinct names from. Safe for
// concurrent use.
func (srv *Server) EachName(kind rooms.Kind, fn func(name string) bool) { srv.reg.Each(kind, fn) }

// Online returns the number of distinct users with at least one
// connection (sessions bound with SetUserID). Safe for concurrent use.
func (srv *Server) Online() int { return srv.reg.Users() }

// Rooms returns the number of rooms with at least one member.
// Safe for concurrent use.
func (srv *Server) Rooms() int { return srv.reg.Rooms() }

// RoomInfo is a room's presence: its users and connections.
type RoomInfo struct {
	Room  string `json:"room"`
	Users int    `json:"count"`
	Conns int    `json:"conns"`
	// Members lists up to the limit asked of RoomMembers; Users is the total.
	Members []RoomUser `json:"members"`
	// Partial is set when some node of the cluster did not answer in time:
	// the figures are then lower bounds, and Missing names those nodes.
	Partial bool     `json:"partial,omitempty"`
	Missing []string `json:"missing,omitempty"`
}

// RoomUser is one user in a room.
type RoomUser struct {
	User  string          `json:"user"`
	Conns int             `json:"conns"`
	Meta  json.RawMessage `json:"meta,omitempty"`
	// Anonymous: User is the session id of a connection without a user
	// (shown to clients as "" unless its namespace has ShowSIDs).
	Anonymous bool `json:"anonymous,omitempty"`
}

// RoomMembers returns room's presence with up to limit users listed (all
// when limit <= 0). A room without members has Users 0. With a broker that
// answers for the cluster (rooms.Presence), it is the whole cluster's, and
// it may wait for the other nodes up to the broker's bound: call it off
// the event loops. Safe for concurrent use.
func (srv *Server) RoomMembers(room string, limit int) RoomInfo {
	local := srv.localPresence(room, limit)
	if p, ok := srv.broker.(rooms.Presence); ok {
		if all, err := p.RoomPresence(room, limit, local); err == nil {
			local = all
		} else {
			local.Partial = true
			srv.log.Warn("room presence from the cluster", "room", room, "err", err)
		}
	}
	info := RoomInfo{Room: room, Users: local.Total, Conns: local.Conns, Members: make([]RoomUser, 0, len(local.Users)),
		Partial: local.Partial, Missing: local.Missing}
	for _, p := range local.Users {
		info.Members = append(info.Members, RoomUser{User: p.User, Conns: p.Conns, Meta: p.Meta, Anonymous: p.Anonymous})
	}
	return info
}

// localPresence is this node's part of room's presence.
func (srv *Server) localPresence(room string, limit int) rooms.RoomPresence {
	var p rooms.RoomPresence
	g := srv.reg.Room(room)
	if g == nil {
		return p
	}
	users, total := g.Presence(limit)
	p.Total, p.Conns = total, g.Len()
	p.Users = make([]rooms.PresentUser, len(users))
	for i, u := range users {
		p.Users[i] = rooms.PresentUser{User: u.User, Conns: u.Conns, Meta: u.Meta, Anonymous: u.Anonymous}
	}
	return p
}

// LocalPresence is this node's part of room's presence (all users when
// limit <= 0): what a cluster broker answers other nodes with.
// Safe for concurrent use.
func (srv *Server) LocalPresence(room string, limit int) rooms.RoomPresence {
	return srv.localPresence(room, limit)
}

// Totals is the population of a server, or of its whole cluster.
type Totals struct {
	Users   int      `json:"users"` // distinct users with a connection
	Conns   int      `json:"conns"`
	Rooms   int      `json:"rooms"` // rooms with a member
	Partial bool     `json:"partial,omitempty"`
	Missing []string `json:"missing,omitempty"`
}

// Totals returns how many users, connections and rooms there are: on this
// node, or, with a broker that answers for the cluster, on every node (a
// user or room on two nodes is counted once when the broker can tell; see
// rooms.Presence). It may wait for the other nodes: call it off the event
// loops. Safe for concurrent use.
func (srv *Server) Totals() Totals {
	local := rooms.Online{Users: srv.Online(), Conns: srv.Count(), Rooms: srv.Rooms()}
	if p, ok := srv.broker.(rooms.Presence); ok {
		if all, err := p.Online(local); err == nil {
			local = all
		} else {
			local.Partial = true
			srv.log.Warn("online counts from the cluster", "err", err)
		}
	}
	return Totals{Users: local.Users, Conns: local.Conns, Rooms: local.Rooms, Partial: local.Partial, Missing: local.Missing}
}
