package server

import (
	"fmt"
	"sync"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/protocol"
	"github.com/wsloop/wsloop/rooms"
)

// The one publish path (docs/architecture.md, "One room publish"). Every
// event for a room, a user or everyone (the Router's publish and send, the
// room events, Server.Publish, PublishMessage, SendUser, SendMessage,
// Broadcast and the HTTP API on top of them) is encoded once into a
// rooms.Event and handed to publish, which delivers it to this node's
// members and then to the broker, for the members on other nodes. Events
// the broker brings from other nodes come in through deliverRemote.

// publish delivers ev to this node's recipients (at once on here, the
// caller's loop, nil if none; as one job on each other loop that has
// some) and hands it to the broker, whether or not this node had any. f,
// when not nil, is ev.Data already framed; otherwise it is framed once,
// only if this node has recipients. ev.Data is read before publish
// returns and not kept. It returns ErrQueueFull when a loop's ring was
// full (the other loops still deliver). Delivery to other nodes is at most
// once: a broker error is counted (Stats.BrokerErrors) and logged, and
// returned only for an event whose one recipient is another node's
// session. Safe for concurrent use.
func (srv *Server) publish(ev rooms.Event, f *codec.PreparedFrame, here *loop) error {
	if ev.Kind == rooms.ToUser && srv.reg.User(ev.Name) == nil {
		// A name that is the session id of another node's session is
		// that session (an anonymous sender is known by its sid): the
		// event goes to that node alone.
		if id, _, err := ParseSID(ev.Name); err == nil && srv.isRemote(id) {
			ev.Kind, ev.Session = rooms.ToSession, id
		}
	}
	err := srv.deliver(ev, f, here)
	if ev.Kind == rooms.ToSession && !srv.isRemote(ev.Session) {
		return err // this node's session: no other node has it
	}
	if berr := srv.broker.Publish(ev); berr != nil {
		if srv.brokerErrors.Add(1)%1000 == 1 {
			srv.log.Warn("event not sent to the other nodes", "kind", ev.Kind.String(), "err", berr, "errors", srv.brokerErrors.Load())
		}
		if ev.Kind == rooms.ToSession {
			return fmt.Errorf("server: broker: %w", berr)
		}
	}
	return err
}

// deliverRemote delivers an event another node published. It runs on the
// broker's goroutine.
func (srv *Server) deliverRemote(ev rooms.Event) {
	if srv.serving() != nil {
		return
	}
	if err := srv.deliver(ev, nil, nil); err != nil {
		srv.log.Debug("event from another node not queued", "kind", ev.Kind.String(), "name", ev.Name, "err", err)
	}
}

// deliver does ev on this node: queues its frame for this node's
// recipients (see publish), or runs its operation on their loops.
func (srv *Server) deliver(ev rooms.Event, f *codec.PreparedFrame, here *loop) error {
	switch ev.Op {
	case rooms.Kick:
		return srv.onUserLoops(ev.Name, func(l *loop) { l.kick(ev.Room, ev.Name) })
	case rooms.Disconnect:
		code, reason := codec.StatusCode(ev.Code), string(ev.Data)
		if ev.Kind == rooms.ToSession {
			if srv.isRemote(ev.Session) {
				return nil // the broker takes it to the session's node
			}
			return srv.disconnectLocal(ev.Session, code, reason)
		}
		return srv.onUserLoops(ev.Name, func(l *loop) { l.disconnectUser(ev.Name, code, reason) })
	}
	var j job
	switch ev.Kind {
	case rooms.ToRoom:
		g := srv.reg.Room(ev.Name)
		if g == nil {
			return nil
		}
		j = job{kind: jobGroup, group: g, sid: ev.Session}
	case rooms.ToUser, rooms.ToSession:
		var room *group
		if ev.Room != "" {
			if room = srv.reg.Room(ev.Room); room == nil {
				return nil // nobody here is in that room
			}
		}
		if ev.Kind == rooms.ToSession {
			if ev.Name == "" { // the server's own push: no tag to check
				return srv.deliverSession(ev.Session, 0, false, room, ev.Data, f, here)
			}
			_, tag, err := ParseSID(ev.Name) // a client's `to`: its tag must match
			if err != nil {
				return nil
			}
			return srv.deliverSession(ev.Session, tag, true, room, ev.Data, f, here)
		}
		u := srv.reg.User(ev.Name)
		if u == nil {
			id, tag, err := ParseSID(ev.Name)
			if err != nil {
				return nil
			}
			return srv.deliverSession(id, tag, true, room, ev.Data, f, here)
		}
		j = job{kind: jobPtp, group: u, room: room}
	case rooms.ToAll:
		j = job{kind: jobBroadcast}
	default:
		return fmt.Errorf("server: event of unknown kind %d", ev.Kind)
	}
	if f == nil {
		f = frameOf(ev.Data)
		defer f.Release()
	}
	j.frame = f
	return srv.fanout(j, here)
}

// deliverSession delivers to session sid if it is one of this node's, its
// random tag is tag (0: not checked, the server's own push), and (room not
// nil) it is a member of room; anonymous: only if it has no user (the sid
// was a `to`: an anonymous sender is known by its sid, so a reply may be
// sent to it, but a user's session is reached by its user).
func (srv *Server) deliverSession(sid, tag uint64, anonymous bool, room *group, data []byte, f *codec.PreparedFrame, here *loop) error {
	dst, err := srv.loopFor(sid)
	if err != nil {
		return nil // not a session of this node
	}
	if f == nil {
		f = frameOf(data)
	} else {
		f.Retain()
	}
	j := job{kind: jobSession, sid: sid, tag: tag, room: room, frame: f, anonymous: anonymous}
	if dst == here {
		here.run(j)
		return nil
	}
	if err := dst.enqueue(j); err != nil {
		f.Release()
		return err
	}
	return nil
}

// fanout runs the delivery job j on every loop where it has recipients
// (jobGroup, jobPtp: where j.group has members; jobBroadcast: every loop):
// at once on here (the caller's own loop, nil if none), as one ring entry
// on each other loop. Each gets its own reference to j.frame; the caller
// keeps its own. A full ring is reported (ErrQueueFull) after every other
// loop has been served. Safe for concurrent use.
func (srv *Server) fanout(j job, here *loop) error {
	var err error
	for i, l := range *srv.loops.Load() {
		if j.group != nil && j.group.OnLoop(i) == 0 {
			continue
		}
		j.frame.Retain()
		if l == here {
			l.run(j) // releases the reference
			continue
		}
		if e := l.enqueue(j); e != nil {
			j.frame.Release()
			err = e
		}
	}
	return err
}

// frameOf builds a prepared text frame from JSON text (copied).
func frameOf(text []byte) *codec.PreparedFrame { return codec.NewPreparedFrame(codec.OpText, text) }

// serving returns ErrNotServing or ErrServerClosed unless the server runs.
func (srv *Server) serving() error {
	switch srv.state.Load() {
	case stServing:
		return nil
	case stNew:
		return ErrNotServing
	}
	return ErrServerClosed
}

var pushBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// publishEncoded encodes an event with encode into a pooled buffer and
// publishes it from outside the loops.
func (srv *Server) publishEncoded(kind rooms.Kind, name string, data any, encode func(dst, raw []byte) []byte) error {
	return srv.publishEncodedExcept(kind, name, 0, data, encode)
}

// publishEncodedExcept is publishEncoded that spares session except (a
// ToRoom event; 0: none).
func (srv *Server) publishEncodedExcept(kind rooms.Kind, name string, except uint64, data any, encode func(dst, raw []byte) []byte) error {
	if err := srv.serving(); err != nil {
		return err
	}
	raw, err := marshal(data)
	if err != nil {
		return fmt.Errorf("server: marshal %s event data: %w", kind, err)
	}
	bp := pushBufs.Get().(*[]byte)
	*bp = encode((*bp)[:0], raw)
	err = srv.publish(rooms.Event{Kind: kind, Name: name, Session: except, Data: *bp}, nil, nil)
	pushBufs.Put(bp)
	return err
}

// Publish sends the event {"cmd":cmd,"data":data} to every member of room,
// encoded once; data is marshalled with sonic (RawJSON passes through, nil
// omits "data"). A room without members here is not an error: the event
// still goes to the broker, for other nodes. It returns once the event is
// queued on every loop with members, or ErrQueueFull if a loop's queue was
// full (the other loops still deliver). Safe for concurrent use.
func (srv *Server) Publish(room, cmd string, data any) error {
	return srv.publishEncoded(rooms.ToRoom, room, data, func(dst, raw []byte) []byte {
		return protocol.AppendPush(dst, cmd, raw)
	})
}

// PublishExcept is Publish to every member of room but the session whose
// Session.ID is except, on whichever node it is: "the others" of an
// event the session caused (it has its reply). Safe for concurrent use.
func (srv *Server) PublishExcept(room string, except uint64, cmd string, data any) error {
	return srv.publishEncodedExcept(rooms.ToRoom, room, except, data, func(dst, raw []byte) []byte {
		return protocol.AppendPush(dst, cmd, raw)
	})
}

// PublishMessage sends a room message in the shape clients get from the
// publish command, {"cmd":"message","data":{"room","from","payload"}}, to
// every member of room. payload is marshalled with sonic (RawJSON passes
// through). Safe for concurrent use.
func (srv *Server) PublishMessage(room, from string, payload any) error {
	return srv.publishEncoded(rooms.ToRoom, room, payload, func(dst, raw []byte) []byte {
		return protocol.AppendMessage(dst, room, from, raw)
	})
}

// SendUser sends the event {"cmd":cmd,"data":data} to every connection of
// user. A user with no connection is not an error.
// Safe for concurrent use.
func (srv *Server) SendUser(user, cmd string, data any) error {
	return srv.publishEncoded(rooms.ToUser, user, data, func(dst, raw []byte) []byte {
		return protocol.AppendPush(dst, cmd, raw)
	})
}

// SendMessage sends {"cmd":"message","data":{"from","payload"}} (the shape
// of the send command) to every connection of user.
// Safe for concurrent use.
func (srv *Server) SendMessage(user, from string, payload any) error {
	return srv.publishEncoded(rooms.ToUser, user, payload, func(dst, raw []byte) []byte {
		return protocol.AppendMessage(dst, "", from, raw)
	})
}

// Broadcast sends {"cmd":cmd,"data":data} to every open session, encoded
// and framed once. It fails with ErrQueueFull if any loop's queue is full
// (the loops that had room still deliver). Safe for concurrent use.
func (srv *Server) Broadcast(cmd string, data any) error {
	return srv.publishEncoded(rooms.ToAll, "", data, func(dst, raw []byte) []byte {
		return protocol.AppendPush(dst, cmd, raw)
	})
}

// Push sends {"cmd":cmd,"data":data} to session sid, on this node or,
// through the broker, on the node of the cluster that holds it; data is
// marshalled with sonic once (nil omits "data"). It returns once the push
// is queued on the session's loop (or handed to the broker); a session that
// has closed meanwhile drops it. Safe for concurrent use.
func (srv *Server) Push(sid uint64, cmd string, data any) error {
	if err := srv.serving(); err != nil {
		return err
	}
	raw, err := marshal(data)
	if err != nil {
		return fmt.Errorf("server: marshal %s data: %w", cmd, err)
	}
	bp := pushBufs.Get().(*[]byte)
	defer pushBufs.Put(bp)
	*bp = protocol.AppendPush((*bp)[:0], cmd, raw)
	if srv.isRemote(sid) {
		return srv.publish(rooms.Event{Kind: rooms.ToSession, Session: sid, Data: *bp}, nil, nil)
	}
	l, err := srv.loopFor(sid)
	if err != nil {
		return err
	}
	f := frameOf(*bp)
	if err := l.enqueue(job{kind: jobPush, sid: sid, frame: f}); err != nil {
		f.Release()
		return err
	}
	return nil
}
