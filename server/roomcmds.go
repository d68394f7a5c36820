package server

import (
	"errors"

	"github.com/wsloop/wsloop/protocol"
	"github.com/wsloop/wsloop/rooms"
)

// The Router's room commands (README "Rooms"): join, leave, publish, send,
// members. Each runs on the requesting connection's loop.

// membersListed bounds the users a members reply lists; "count" is always
// the total.
const membersListed = 1000

// bindRoom binds the request's data into v and checks the room name; it
// answers the client itself (400) and returns false on a bad request.
func bindRoom(c *Context, v any, room *string) bool {
	if err := c.Bind(v); err != nil {
		c.Fail(protocol.StatusBadRequest, "data must be an object with a room")
		return false
	}
	return checkName(c, "room", *room)
}

// refuse answers a request the policy refuses (403 with the rule); it
// returns false when why is "".
func refuse(c *Context, why string) bool {
	if why == "" {
		return false
	}
	c.Fail(protocol.StatusForbidden, why)
	return true
}

func checkName(c *Context, field, name string) bool {
	if msg := protocol.CheckName(field, name, c.s.loop.srv.cfg.Rooms.MaxNameSize); msg != "" {
		c.Fail(protocol.StatusBadRequest, msg)
		return false
	}
	return true
}

// handleJoin: {room, meta?} → {room, count}; enter_room to the others.
func handleJoin(c *Context) {
	var d protocol.JoinData
	if !bindRoom(c, &d, &d.Room) {
		return
	}
	l := c.s.loop
	if refuse(c, l.srv.cfg.Policy.mayJoin(c.s, d.Room)) {
		return
	}
	var meta []byte
	if len(d.Meta) > 0 && string(d.Meta) != "null" {
		if len(d.Meta) > l.srv.cfg.Rooms.MaxMetaSize {
			c.Fail(protocol.StatusTooLarge, "meta too large")
			return
		}
		meta = d.Meta
	}
	if x := c.s.ext; x != nil && x.identity != nil && x.identity.Meta != nil {
		meta = x.identity.Meta // what the token says, not what the client does
	}
	g, err := l.join(c.s, d.Room, meta)
	switch {
	case errors.Is(err, ErrTooManyRooms):
		c.Fail(protocol.StatusForbidden, "too many rooms")
		return
	case g == nil:
		return // closing
	}
	l.scratch = protocol.AppendRoomReply(l.scratch[:0], d.Room, g.UserCount())
	c.reply(c.env.Cmd, 0, "ok", l.scratch)
}

// handleLeave: {room}; exit_room (leave) to the others.
func handleLeave(c *Context) {
	var d protocol.RoomData
	if !bindRoom(c, &d, &d.Room) {
		return
	}
	left, _ := c.s.loop.leave(c.s, d.Room, protocol.ReasonLeave)
	if !left {
		c.Fail(protocol.StatusBadRequest, "not a member of the room")
	}
}

// handlePublish: {room, payload, notify_type: "bc"|"ptp", to?}. The reply
// comes after the message is queued to every loop with members.
func handlePublish(c *Context) {
	var d protocol.PublishData
	if !bindRoom(c, &d, &d.Room) {
		return
	}
	if len(d.Payload) == 0 {
		c.Fail(protocol.StatusBadRequest, "payload required")
		return
	}
	ptp := false
	switch d.NotifyType {
	case "", protocol.NotifyBroadcast:
	case protocol.NotifyPtp:
		if !checkName(c, "to", d.To) {
			return
		}
		ptp = true
	default:
		c.Fail(protocol.StatusBadRequest, `notify_type must be "bc" or "ptp"`)
		return
	}
	l := c.s.loop
	pol := &l.srv.cfg.Policy
	if refuse(c, pol.mayPublish(c.s, d.Room, func() bool { return l.in(c.s, d.Room) })) || (ptp && refuse(c, pol.mayAddress(d.To))) {
		return
	}
	if !l.allow(c.s) {
		c.Fail(protocol.StatusRateLimited, "publish rate limit")
		return
	}
	l.scratch = protocol.AppendMessage(l.scratch[:0], d.Room, c.s.key(), d.Payload)
	ev := rooms.Event{Kind: rooms.ToRoom, Name: d.Room, Data: l.scratch}
	if ptp {
		ev = rooms.Event{Kind: rooms.ToUser, Name: d.To, Room: d.Room, Data: l.scratch}
	}
	failQueued(c, l.srv.publish(ev, nil, l))
}

// handleSend: {to, payload} → message (no room) to every connection of the
// user to.
func handleSend(c *Context) {
	var d protocol.SendData
	if err := c.Bind(&d); err != nil {
		c.Fail(protocol.StatusBadRequest, "data must be an object with to and payload")
		return
	}
	if !checkName(c, "to", d.To) {
		return
	}
	if len(d.Payload) == 0 {
		c.Fail(protocol.StatusBadRequest, "payload required")
		return
	}
	l := c.s.loop
	if refuse(c, l.srv.cfg.Policy.maySend(c.s, d.To)) {
		return
	}
	if !l.allow(c.s) {
		c.Fail(protocol.StatusRateLimited, "send rate limit")
		return
	}
	l.scratch = protocol.AppendMessage(l.scratch[:0], "", c.s.key(), d.Payload)
	failQueued(c, l.srv.publish(rooms.Event{Kind: rooms.ToUser, Name: d.To, Data: l.scratch}, nil, l))
}

// failQueued answers a fan-out that a full loop queue cut short.
func failQueued(c *Context, err error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrQueueFull):
		c.Fail(protocol.StatusUnavailable, "server busy, try again")
	default:
		c.Fail(protocol.StatusUnavailable, err.Error())
	}
}

// handleMembers: {room} → {room, count, conns, members:[{user, conns, meta}]}.
func handleMembers(c *Context) {
	var d protocol.RoomData
	if !bindRoom(c, &d, &d.Room) {
		return
	}
	l := c.s.loop
	srv := l.srv
	if refuse(c, srv.cfg.Policy.mayList(c.s, d.Room, func() bool { return l.in(c.s, d.Room) })) {
		return
	}
	if _, ok := srv.broker.(rooms.Presence); !ok {
		c.OK(srv.clientView(srv.RoomMembers(d.Room, membersListed))) // this node's registry: no wait
		return
	}
	// The other nodes answer within the broker's bound: wait off the loop.
	reply := c.Defer()
	go func() { _ = reply.OK(srv.clientView(srv.RoomMembers(d.Room, membersListed))) }()
}

// clientView is a room's presence as a client may see it: anonymous
// members without their session ids unless the namespace shows them.
func (srv *Server) clientView(info RoomInfo) RoomInfo {
	for i := range info.Members {
		m := &info.Members[i]
		m.User = srv.cfg.Policy.shown(info.Room, m.User, m.Anonymous)
	}
	return info
}
