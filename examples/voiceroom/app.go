package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"sync"

	"github.com/wsloop/wsloop/protocol"
	"github.com/wsloop/wsloop/server"
)

// seatCount is how many mic seats a room has.
const seatCount = 8

// Seat statuses.
const (
	seatFree  = 0
	seatTaken = 1
)

// seat is one mic seat of a room, as clients see it.
type seat struct {
	ID         int    `json:"id"`
	Status     int    `json:"status"`
	Microphone int    `json:"microphone"`
	UserID     string `json:"user_id"`
}

// seatView is a seat in exit_room and mic events.
type seatView struct {
	ID         int `json:"id"`
	Status     int `json:"status"`
	Microphone int `json:"microphone"`
}

// profile is who a user is, from its token's meta (set at login).
type profile struct {
	UserID         string `json:"user_id"`
	Nickname       string `json:"nickname"`
	Sex            int    `json:"sex"`
	AvatarURL      string `json:"avatar_url"`
	AvatarSmallURL string `json:"avatar_small_url"`
}

// room is one channel's state: its seats and the users in it (with how
// many of their connections entered it). Its mutex is the room's own: no
// lock is shared by two rooms, and nothing on the message path (topic
// messages, gifts) holds it longer than a lookup.
type room struct {
	name  string
	mu    sync.Mutex
	seats [seatCount]seat
	users map[string]*presence
}

type presence struct {
	profile
	conns int
}

// call is a 1:1 call between two users, started in a channel.
type call struct {
	caller, callee, channel string
}

// app is the voice-room application on a wsloop server: its commands are
// Router handlers (they run on the connections' event loops), its events
// go out through the server's publish calls.
type app struct {
	srv   *server.Server
	log   *slog.Logger
	rooms sync.Map // channel_name → *room
	where sync.Map // user_id → channel_name: the user's current room
	calls sync.Map // user_id → *call, under both parties
}

// sessionChannel is the Session value key of the channel a connection
// entered.
const sessionChannel = "voiceroom.channel"

// install adds the voice-room commands to r.
func (a *app) install(r *server.Router) {
	r.Handle("enter_room", a.enterRoom)
	r.Handle("exit_room", a.exitRoom)
	r.Handle("exit_room_report", a.exitRoomReport)
	r.Handle("send_topic_msg", a.sendTopicMsg)
	r.Handle("send_gift", a.sendGift)
	r.Handle("up", a.up)
	r.Handle("down", a.down)
	r.Handle("mic", a.mic)
	r.Handle("call", a.call)
	r.Handle("hang_up", a.hangUp)
	r.HandleClose(a.closed)
}

// who returns the connection's user, or answers 401 and "".
func who(c *server.Context) (profile, bool) {
	id, ok := c.Session().Identity()
	if !ok || id.User == "" {
		c.Fail(protocol.StatusUnauthenticated, "log in first")
		return profile{}, false
	}
	p := profile{UserID: id.User}
	if len(id.Meta) > 0 {
		_ = json.Unmarshal(id.Meta, &p) // the login wrote it
		p.UserID = id.User
	}
	return p, true
}

// channelOf binds the request and checks its channel_name.
func channelOf(c *server.Context, v any, channel *string) bool {
	if err := c.Bind(v); err != nil {
		c.Fail(protocol.StatusBadRequest, "data must be an object with a channel_name")
		return false
	}
	if msg := protocol.CheckName("channel_name", *channel, 128); msg != "" {
		c.Fail(protocol.StatusBadRequest, msg)
		return false
	}
	return true
}

// request starts a command about a room the connection entered: its user,
// the request bound into v (whose channel_name is *channel), and the room;
// false once it has answered a refusal.
func (a *app) request(c *server.Context, v any, channel *string) (profile, *room, bool) {
	p, ok := who(c)
	if !ok || !channelOf(c, v, channel) {
		return p, nil, false
	}
	r := a.inRoom(c, *channel)
	return p, r, r != nil
}

// inRoom returns the room the connection entered, if it is channel.
func (a *app) inRoom(c *server.Context, channel string) *room {
	if channelOfSession(c.Session()) != channel {
		c.Fail(protocol.StatusForbidden, "enter the room first")
		return nil
	}
	r, ok := a.rooms.Load(channel)
	if !ok {
		c.Fail(protocol.StatusForbidden, "enter the room first")
		return nil
	}
	return r.(*room)
}

// channelOfSession is the channel s entered, "" if none.
func channelOfSession(s *server.Session) string {
	v, _ := s.Get(sessionChannel)
	ch, _ := v.(string)
	return ch
}

func (a *app) room(channel string) *room {
	r, _ := a.rooms.LoadOrStore(channel, &room{name: channel, users: make(map[string]*presence)})
	rm := r.(*room)
	rm.mu.Lock()
	if rm.seats[0].ID == 0 {
		for i := range rm.seats {
			rm.seats[i].ID = i + 1
		}
	}
	rm.mu.Unlock()
	return rm
}

// enter_room {channel_name} → {channel_name, seats, members}; the others
// get enter_room with the user's profile.
func (a *app) enterRoom(c *server.Context) {
	p, ok := who(c)
	if !ok {
		return
	}
	var d struct {
		Channel string `json:"channel_name"`
	}
	if !channelOf(c, &d, &d.Channel) {
		return
	}
	s := c.Session()
	if prev := channelOfSession(s); prev != "" && prev != d.Channel {
		a.leave(s, p.UserID, prev) // one room at a time
	} else if prev == d.Channel {
		a.replyRoom(c, a.room(d.Channel))
		return
	}
	if err := s.Join(d.Channel, nil); err != nil {
		c.Fail(protocol.StatusForbidden, err.Error())
		return
	}
	s.Set(sessionChannel, d.Channel)
	r := a.room(d.Channel)
	r.mu.Lock()
	pr := r.users[p.UserID]
	first := pr == nil
	if first {
		pr = &presence{profile: p}
		r.users[p.UserID] = pr
	}
	pr.conns++
	r.mu.Unlock()
	a.where.Store(p.UserID, d.Channel)
	a.replyRoom(c, r)
	if first {
		a.publishExcept(d.Channel, s.ID(), "enter_room", struct {
			profile
			Channel string `json:"channel_name"`
		}{p, d.Channel})
	}
}

func (a *app) replyRoom(c *server.Context, r *room) {
	type member = profile
	r.mu.Lock()
	seats := r.seats
	members := make([]member, 0, len(r.users))
	for _, u := range r.users {
		members = append(members, u.profile)
	}
	r.mu.Unlock()
	c.OK(struct {
		Channel string          `json:"channel_name"`
		Seats   [seatCount]seat `json:"seats"`
		Members []member        `json:"members"`
	}{r.name, seats, members})
}

// exit_room {channel_name}: the user leaves on purpose.
func (a *app) exitRoom(c *server.Context) {
	var d struct {
		Channel string `json:"channel_name"`
	}
	p, _, ok := a.request(c, &d, &d.Channel)
	if !ok {
		return
	}
	a.leave(c.Session(), p.UserID, d.Channel)
	c.OK(nil)
}

// exit_room_report {user_id}: clients report a peer they saw drop. The
// server has already told everyone (it sees the drop itself): accepted,
// nothing to do.
func (a *app) exitRoomReport(c *server.Context) {
	if _, ok := who(c); ok {
		c.OK(nil)
	}
}

// leave takes the session s of user out of channel: when it was the
// user's last connection there, the seat is freed, a call ends, and the
// others get exit_room.
func (a *app) leave(s *server.Session, user, channel string) {
	s.Leave(channel)
	s.Set(sessionChannel, "")
	v, ok := a.rooms.Load(channel)
	if !ok {
		return
	}
	r := v.(*room)
	r.mu.Lock()
	pr := r.users[user]
	last := pr != nil && pr.conns <= 1
	var freed *seatView
	if pr != nil {
		pr.conns--
	}
	if last {
		delete(r.users, user)
		for i := range r.seats {
			if r.seats[i].UserID == user {
				freed = &seatView{ID: r.seats[i].ID}
				r.seats[i] = seat{ID: r.seats[i].ID}
			}
		}
	}
	r.mu.Unlock()
	if !last {
		return
	}
	a.where.CompareAndDelete(user, channel)
	a.publish(channel, "exit_room", struct {
		UserID  string    `json:"user_id"`
		Channel string    `json:"channel_name"`
		Seat    *seatView `json:"room_seat"`
	}{user, channel, freed})
	a.endCall(user) // after: the room hears of the exit first
}

// closed runs when a connection closes (on purpose, dropped, or silent
// past the heartbeat timeout): as exit_room.
func (a *app) closed(s *server.Session, _ server.CloseReason) {
	channel := channelOfSession(s)
	if channel == "" {
		return
	}
	a.leave(s, s.UserID(), channel)
}

// send_topic_msg {channel_name, content} → every member, the sender too.
func (a *app) sendTopicMsg(c *server.Context) {
	var d struct {
		Channel string          `json:"channel_name"`
		Content json.RawMessage `json:"content"`
	}
	p, _, ok := a.request(c, &d, &d.Channel)
	if !ok {
		return
	}
	if len(d.Content) == 0 || string(d.Content) == `""` || string(d.Content) == "null" {
		c.Fail(protocol.StatusBadRequest, "content required")
		return
	}
	c.OK(nil)
	a.publish(d.Channel, "send_topic_msg", struct {
		profile
		Content json.RawMessage `json:"content"`
		Channel string          `json:"channel_name"`
	}{p, d.Content, d.Channel})
}

type gift struct {
	ID              json.RawMessage `json:"id"`
	Name            string          `json:"name"`
	DynamicImageURL string          `json:"dynamic_image_url"`
	ImageURL        string          `json:"image_url"`
	ImageBigURL     string          `json:"image_big_url"`
	ImageSmallURL   string          `json:"image_small_url"`
	Num             int             `json:"num"`
}

// send_gift {channel_name, receiver_id, notify_type, gift} → every member
// (bc) or the receiver's connections (ptp).
func (a *app) sendGift(c *server.Context) {
	var d struct {
		Channel    string `json:"channel_name"`
		ReceiverID string `json:"receiver_id"`
		NotifyType string `json:"notify_type"`
		Gift       *gift  `json:"gift"`
	}
	p, r, ok := a.request(c, &d, &d.Channel)
	switch {
	case !ok:
		return
	case d.ReceiverID == "":
		c.Fail(protocol.StatusBadRequest, "receiver_id required")
		return
	case d.NotifyType != protocol.NotifyBroadcast && d.NotifyType != protocol.NotifyPtp:
		c.Fail(protocol.StatusBadRequest, `notify_type must be "bc" or "ptp"`)
		return
	case d.Gift == nil || d.Gift.Num < 1:
		c.Fail(protocol.StatusBadRequest, "gift with num ≥ 1 required")
		return
	}
	r.mu.Lock()
	recv := r.users[d.ReceiverID]
	senderSeat, receiverSeat := r.seatOf(p.UserID), r.seatOf(d.ReceiverID)
	var receiverNick string
	if recv != nil {
		receiverNick = recv.Nickname
	}
	r.mu.Unlock()
	if recv == nil {
		c.Fail(protocol.StatusNotFound, "the receiver is not in the room")
		return
	}
	ev := struct {
		SenderSeat       int    `json:"sender_room_seat_id"`
		ReceiverSeat     int    `json:"receiver_room_seat_id"`
		SenderID         string `json:"sender_id"`
		ReceiverID       string `json:"receiver_id"`
		SenderNickname   string `json:"sender_nickname"`
		ReceiverNickname string `json:"receiver_nickname"`
		NotifyType       string `json:"notify_type"`
		Channel          string `json:"channel_name"`
		Gift             *gift  `json:"gift"`
	}{senderSeat, receiverSeat, p.UserID, d.ReceiverID, p.Nickname, receiverNick, d.NotifyType, d.Channel, d.Gift}
	c.OK(nil)
	if d.NotifyType == protocol.NotifyPtp {
		a.sendUser(d.ReceiverID, "send_gift", ev)
		return
	}
	a.publish(d.Channel, "send_gift", ev)
}

// seatOf returns user's seat id, 0 when not seated. Under r.mu.
func (r *room) seatOf(user string) int {
	for _, s := range r.seats {
		if s.UserID == user {
			return s.ID
		}
	}
	return 0
}

// up {channel_name, room_seat_id}: take a free seat (leaving the one held).
func (a *app) up(c *server.Context) {
	var d struct {
		Channel string `json:"channel_name"`
		SeatID  int    `json:"room_seat_id"`
	}
	p, r, ok := a.request(c, &d, &d.Channel)
	if !ok {
		return
	}
	if d.SeatID < 1 || d.SeatID > seatCount {
		c.Fail(protocol.StatusBadRequest, "room_seat_id must be 1 to 8")
		return
	}
	r.mu.Lock()
	target := &r.seats[d.SeatID-1]
	if target.Status == seatTaken && target.UserID != p.UserID {
		r.mu.Unlock()
		c.Fail(409, "seat taken")
		return
	}
	for i := range r.seats {
		if r.seats[i].UserID == p.UserID {
			r.seats[i] = seat{ID: r.seats[i].ID}
		}
	}
	*target = seat{ID: d.SeatID, Status: seatTaken, Microphone: 1, UserID: p.UserID}
	r.mu.Unlock()
	c.OK(nil)
	a.publish(d.Channel, "up", struct {
		UserID         string `json:"user_id"`
		Seat           int    `json:"current_room_seat_id"`
		Sex            int    `json:"sex"`
		AvatarURL      string `json:"avatar_url"`
		AvatarSmallURL string `json:"avatar_small_url"`
		Nickname       string `json:"nickname"`
		Channel        string `json:"channel_name"`
	}{p.UserID, d.SeatID, p.Sex, p.AvatarURL, p.AvatarSmallURL, p.Nickname, d.Channel})
}

// down {channel_name}: leave the seat held.
func (a *app) down(c *server.Context) {
	var d struct {
		Channel string `json:"channel_name"`
	}
	p, r, ok := a.request(c, &d, &d.Channel)
	if !ok {
		return
	}
	r.mu.Lock()
	id := r.seatOf(p.UserID)
	if id != 0 {
		r.seats[id-1] = seat{ID: id}
	}
	r.mu.Unlock()
	if id == 0 {
		c.Fail(protocol.StatusBadRequest, "not on a seat")
		return
	}
	c.OK(nil)
	a.publish(d.Channel, "down", struct {
		UserID  string `json:"user_id"`
		Seat    int    `json:"current_room_seat_id"`
		Channel string `json:"channel_name"`
	}{p.UserID, id, d.Channel})
}

// mic {channel_name, microphone: 0|1}: switch the seat's microphone.
func (a *app) mic(c *server.Context) {
	var d struct {
		Channel    string `json:"channel_name"`
		Microphone *int   `json:"microphone"`
	}
	p, r, ok := a.request(c, &d, &d.Channel)
	if !ok {
		return
	}
	if d.Microphone == nil || (*d.Microphone != 0 && *d.Microphone != 1) {
		c.Fail(protocol.StatusBadRequest, "microphone must be 0 or 1")
		return
	}
	r.mu.Lock()
	id := r.seatOf(p.UserID)
	var view seatView
	if id != 0 {
		r.seats[id-1].Microphone = *d.Microphone
		view = seatView{ID: id, Status: seatTaken, Microphone: *d.Microphone}
	}
	r.mu.Unlock()
	if id == 0 {
		c.Fail(protocol.StatusBadRequest, "not on a seat")
		return
	}
	c.OK(nil)
	a.publish(d.Channel, "mic", struct {
		UserID  string   `json:"user_id"`
		Seat    seatView `json:"room_seat"`
		Channel string   `json:"channel_name"`
	}{p.UserID, view, d.Channel})
}

// call {receiver_id, channel_name}: ring another user.
func (a *app) call(c *server.Context) {
	p, ok := who(c)
	if !ok {
		return
	}
	var d struct {
		ReceiverID string `json:"receiver_id"`
		Channel    string `json:"channel_name"`
	}
	if !channelOf(c, &d, &d.Channel) {
		return
	}
	switch {
	case d.ReceiverID == "" || d.ReceiverID == p.UserID:
		c.Fail(protocol.StatusBadRequest, "receiver_id must be another user")
		return
	case a.srv.UserConns(d.ReceiverID) == 0:
		c.Fail(protocol.StatusNotFound, "the receiver is not online")
		return
	}
	cl := &call{caller: p.UserID, callee: d.ReceiverID, channel: d.Channel}
	if _, busy := a.calls.LoadOrStore(p.UserID, cl); busy {
		c.Fail(409, "already in a call")
		return
	}
	if _, busy := a.calls.LoadOrStore(d.ReceiverID, cl); busy {
		a.calls.CompareAndDelete(p.UserID, cl)
		c.Fail(409, "the receiver is in another call")
		return
	}
	c.OK(nil)
	a.sendUser(d.ReceiverID, "call", struct {
		UserID     string `json:"user_id"`
		ReceiverID string `json:"receiver_id"`
		Channel    string `json:"channel_name"`
	}{p.UserID, d.ReceiverID, d.Channel})
}

// hang_up {}: end the user's call; the other party is told.
func (a *app) hangUp(c *server.Context) {
	p, ok := who(c)
	if !ok {
		return
	}
	if !a.endCall(p.UserID) {
		c.Fail(protocol.StatusBadRequest, "not in a call")
		return
	}
	c.OK(nil)
}

// endCall ends user's call, if any, telling the other party; it reports
// whether there was one.
func (a *app) endCall(user string) bool {
	v, ok := a.calls.Load(user)
	if !ok {
		return false
	}
	cl := v.(*call)
	a.calls.CompareAndDelete(cl.caller, cl)
	a.calls.CompareAndDelete(cl.callee, cl)
	other := cl.callee
	if user == cl.callee {
		other = cl.caller
	}
	a.sendUser(other, "hang_up", struct {
		UserID     string `json:"user_id"`
		ReceiverID string `json:"receiver_id"`
		Channel    string `json:"channel_name"`
	}{user, other, cl.channel})
	return true
}

// currentRoom is the user's room, "" when it is in none.
func (a *app) currentRoom(user string) string {
	v, _ := a.where.Load(user)
	s, _ := v.(string)
	return s
}

// publish, publishExcept and sendUser send an event; a full queue (the
// server overloaded) or a stopping server is logged: the event is lost
// for those it did not reach, as any at-most-once push.
func (a *app) publish(channel, cmd string, data any) {
	a.check(cmd, a.srv.Publish(channel, cmd, data))
}

func (a *app) publishExcept(channel string, except uint64, cmd string, data any) {
	a.check(cmd, a.srv.PublishExcept(channel, except, cmd, data))
}

func (a *app) sendUser(user, cmd string, data any) {
	a.check(cmd, a.srv.SendUser(user, cmd, data))
}

func (a *app) check(cmd string, err error) {
	if err != nil && !errors.Is(err, server.ErrServerClosed) {
		a.log.Warn("event not delivered to everyone", "cmd", cmd, "err", err)
	}
}
