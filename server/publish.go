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
// returns and not kept. The first error wins: ErrQueueFull (a loop's ring
// was full; the other loops still deliver) or the broker's.
// Safe for concurrent use.
func (srv *Server) publish(ev rooms.Event, f *codec.PreparedFrame, here *loop) error {
	err := srv.deliver(ev, f, here)
	if berr := srv.broker.Publish(ev); berr != nil && err == nil {
		err = fmt.Errorf("server: broker: %w", berr)
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

// deliver queues ev for this node's recipients (see publish).
func (srv *Server) deliver(ev rooms.Event, f *codec.PreparedFrame, here *loop) error {
	var j job
	switch ev.Kind {
	case rooms.ToRoom:
		g := srv.reg.Room(ev.Name)
		if g == nil {
			return nil
		}
		j = job{kind: jobGroup, group: g, sid: ev.Session}
	case rooms.ToUser:
		var room *group
		if ev.Room != "" {
			if room = srv.reg.Room(ev.Room); room == nil {
				return nil // nobody here is in that room
			}
		}
		u := srv.reg.User(ev.Name)
		if u == nil {
			return srv.deliverSession(ev.Name, room, ev.Data, f, here)
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

// deliverSession delivers to the anonymous session whose sid is name, if
// it is one of this node's and (room not nil) a member of room: the sid is
// what an anonymous sender is known by, so a reply may be sent to it.
func (srv *Server) deliverSession(name string, room *group, data []byte, f *codec.PreparedFrame, here *loop) error {
	sid, err := ParseSID(name)
	if err != nil {
		return nil
	}
	dst, err := srv.loopFor(sid)
	if err != nil {
		return nil // not a session of this node
	}
	if f == nil {
		f = frameOf(data)
	} else {
		f.Retain()
	}
	j := job{kind: jobSession, sid: sid, room: room, frame: f}
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
	if err := srv.serving(); err != nil {
		return err
	}
	raw, err := marshal(data)
	if err != nil {
		return fmt.Errorf("server: marshal %s event data: %w", kind, err)
	}
	bp := pushBufs.Get().(*[]byte)
	*bp = encode((*bp)[:0], raw)
	err = srv.publish(rooms.Event{Kind: kind, Name: name, Data: *bp}, nil, nil)
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

// Push sends {"cmd":cmd,"data":data} to session sid of this server; data
// is marshalled with sonic once (nil omits "data"). It returns once the
// push is queued on the session's loop; a session that has closed
// meanwhile drops it. Safe for concurrent use.
func (srv *Server) Push(sid uint64, cmd string, data any) error {
	l, err := srv.loopFor(sid)
	if err != nil {
		return err
	}
	raw, err := marshal(data)
	if err != nil {
		return fmt.Errorf("server: marshal %s data: %w", cmd, err)
	}
	bp := pushBufs.Get().(*[]byte)
	*bp = protocol.AppendPush((*bp)[:0], cmd, raw)
	f := frameOf(*bp)
	pushBufs.Put(bp)
	if err := l.enqueue(job{kind: jobPush, sid: sid, frame: f}); err != nil {
		f.Release()
		return err
	}
	return nil
}
