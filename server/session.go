package server

import (
	"fmt"
	"net"
	"time"
	"unicode/utf8"

	"github.com/bytedance/sonic"
	"github.com/panjf2000/gnet/v2"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/protocol"
	"github.com/wsloop/wsloop/timingwheel"
)

type connState uint8

const (
	stateHandshake connState = iota // waiting for the upgrade request
	stateOpen                       // WebSocket open
	stateClosing                    // close frame sent; waiting for the peer's close or CloseTimeout
	stateClosed                     // gone; late jobs for it are dropped
)

type sessionTimer = timingwheel.Timer[Session]

// Session.flags.
const (
	sfIPCounted uint8 = 1 << iota // the per-address guard counted it (release at close)
	sfDeflate                     // negotiated permessage-deflate (Compression)
	sfProxied                     // its PROXY protocol header was read (Proxies.Protocol)
	sfTLS                         // a TLS connection: ext.tls is its record layer
)

// deflating reports whether s negotiated permessage-deflate.
func (s *Session) deflating() bool { return s.flags&sfDeflate != 0 }

// Session is one WebSocket connection and everything the server keeps about
// it. It is owned by the event loop that accepted the connection: methods
// that say "Must be called on the connection's event loop" may only be
// called from Handler callbacks (or Router handlers) running for a session
// of the same loop. The others are safe for concurrent use.
//
// A Session is not reused after it closes; holding a pointer to one is safe,
// and calls on a closed one report ErrClosed or do nothing.
type Session struct {
	gc   gnet.Conn
	loop *loop
	id   uint64 // where it lives: loop, node, generation, descriptor (newSID)
	tag  uint64 // 64 random bits, never 0: the part of SID no one can guess

	dec        codec.Decoder
	head, tail int32 // queued output: a chain of the loop's segments (cork.go); 0 when none
	outLen     int32 // bytes queued in the chain

	// One-byte fields, packed after outLen (an idle session stays at 128
	// bytes).
	state   connState
	dirty   bool // on loop.dirty
	closing bool // on loop.closeList
	shutWR  bool // half-close the socket once its output has left
	// notAlive: the message being handled does not count as a heartbeat
	notAlive bool
	opened   bool  // OnOpen accepted it: OnClose runs
	flags    uint8 // sfIPCounted, sfDeflate, sfProxied, sfTLS
	badSigns uint8 // signed pings rejected in a row
	// How the connection ended (CloseReason without its text, which is
	// kept in ext: a close is rare).
	cause Cause
	code  codec.StatusCode

	// lastSeen is the loop clock when the client last showed it is alive;
	// once the session is closing, the time its socket is closed at the
	// latest (the close deadline).
	lastSeen int64
	timer    sessionTimer

	// ext holds what only some connections need (a user, values, rooms,
	// the publish rate limiter); an idle anonymous connection has none.
	ext *sessionExt
}

// sessionExt is the part of a session allocated on first use.
type sessionExt struct {
	user   string
	sid    string // the sid as a string, once needed (the presence key of an anonymous session)
	values map[string]any
	member roomMember
	tat    int64  // publish rate limiter: theoretical arrival time (GCRA), loop clock
	why    string // CloseReason.Text

	identity *Identity    // SetIdentity: what the connection proved
	lastSign int64        // the timestamp of the last signed ping accepted
	remote   *net.TCPAddr // the client's address a trusted proxy gave (RemoteAddr)
	tls      *tlsConn     // the record layer of a TLS connection (server/tls.go)
	// deadline (loop clock, 0: none) closes the session with dlCode and
	// dlReason (SetDeadline).
	deadline int64
	dlCode   codec.StatusCode
	dlReason string
}

// Identity is what an authenticated connection proved, such as a verified
// token: its user, the presence meta it carries, and the rooms it may join
// where a room's namespace asks for a token. Set it with
// Session.SetIdentity.
type Identity struct {
	// User is the connection's user ("" for an authenticated connection
	// without one).
	User string
	// Meta, a JSON object or nil, is the connection's meta in every room it
	// joins, in place of any meta the client sends.
	Meta []byte
	// Rooms are room names the connection may join where the namespace
	// asks for a token; a name ending in '*' grants every room that
	// starts with what comes before it ("chat:team-*").
	Rooms []string
}

// Grants reports whether id's Rooms grant room.
func (id *Identity) Grants(room string) bool {
	for _, g := range id.Rooms {
		if g == room {
			return true
		}
		if n := len(g) - 1; n >= 0 && g[n] == '*' && len(room) >= n && room[:n] == g[:n] {
			return true
		}
	}
	return false
}

func (s *Session) setReason(cause Cause, code codec.StatusCode, text string) {
	s.cause, s.code = cause, code
	if text != "" || s.ext != nil {
		s.x().why = text
	}
}

func (s *Session) reasonText() string {
	if s.ext == nil {
		return ""
	}
	return s.ext.why
}

func (s *Session) closeReason() CloseReason {
	return CloseReason{Cause: s.cause, Code: s.code, Text: s.reasonText()}
}

func (s *Session) x() *sessionExt {
	if s.ext == nil {
		s.ext = &sessionExt{}
	}
	return s.ext
}

// ID returns the session's routing id, unique within the cluster while the
// session lives. It encodes the owning loop and node, so Server.Push can
// route without a lookup table. It is not a secret and not a capability:
// clients see SID, which adds 64 random bits. Safe for concurrent use.
func (s *Session) ID() uint64 { return s.id }

// SID returns the session id clients see (the welcome event, the from of
// an anonymous connection's messages) and may address: 32 hex digits, the
// routing id and then 64 random bits, so that a client cannot reach a
// session whose id it was not given. Safe for concurrent use.
func (s *Session) SID() string { return string(AppendSID(nil, s.id, s.tag)) }

// UserID returns the user bound to the session, "" if none.
// Must be called on the connection's event loop.
func (s *Session) UserID() string {
	if s.ext == nil {
		return ""
	}
	return s.ext.user
}

// SetUserID binds the session to a user (one user may hold several
// sessions): messages sent to the user reach it, and it appears in rooms
// under that id. Bind before joining rooms (in middleware or OnOpen): a
// session that changes user leaves its rooms first (exit_room with reason
// leave). "" unbinds. Must be called on the connection's event loop.
func (s *Session) SetUserID(u string) {
	if u == s.UserID() {
		return
	}
	x := s.x()
	if x.member.Rooms() > 0 {
		s.loop.leaveAll(s, Cause(0))
	}
	x.user = u
	if s.state != stateClosed {
		s.loop.shard.Bind(s, u)
	}
}

// key returns the id the session is known by in rooms and messages: its
// user, or its sid when it has none.
func (s *Session) key() string {
	x := s.x()
	if x.user != "" {
		return x.user
	}
	if x.sid == "" {
		x.sid = s.SID()
	}
	return x.sid
}

// SetIdentity records what the connection proved (a verified token): it
// binds the session to id.User (as SetUserID), and from now on the
// connection is authenticated (Identity reports it), its rooms carry
// id.Meta, and id.Rooms say which rooms it may join where a namespace asks
// for a token. Calling it again replaces the identity (a refreshed token).
// Must be called on the connection's event loop.
func (s *Session) SetIdentity(id Identity) {
	s.SetUserID(id.User)
	s.x().identity = &id
}

// Identity returns what the connection proved, and false for a connection
// that is not authenticated. Must be called on the connection's event
// loop.
func (s *Session) Identity() (Identity, bool) {
	if s.ext == nil || s.ext.identity == nil {
		return Identity{}, false
	}
	return *s.ext.identity, true
}

// SetDeadline closes the session at t with code and reason (a token's
// expiry: 1008 "token expired"), on the loop's timing wheel; a zero t
// removes the deadline, a later call replaces it. A t already past closes
// the session at the loop's next tick. Must be called on the connection's
// event loop.
func (s *Session) SetDeadline(t time.Time, code codec.StatusCode, reason string) {
	x := s.x()
	if t.IsZero() {
		x.deadline = 0
		return
	}
	l := s.loop
	x.deadline = max(1, int64(t.Sub(l.srv.epoch)))
	x.dlCode, x.dlReason = code, reason
	if s.state == stateOpen {
		l.rearm(s)
	}
}

// Set stores a value in the session's key/value store.
// Must be called on the connection's event loop.
func (s *Session) Set(key string, v any) {
	x := s.x()
	if x.values == nil {
		x.values = make(map[string]any, 2)
	}
	x.values[key] = v
}

// Get returns a value stored with Set.
// Must be called on the connection's event loop.
func (s *Session) Get(key string) (any, bool) {
	if s.ext == nil {
		return nil, false
	}
	v, ok := s.ext.values[key]
	return v, ok
}

// RemoteAddr returns the client's address: what a trusted proxy said it
// is (Config.Proxies: the PROXY protocol, X-Forwarded-For, X-Real-IP), or
// the address the connection comes from.
// Must be called on the connection's event loop.
func (s *Session) RemoteAddr() net.Addr {
	if s.ext != nil && s.ext.remote != nil {
		return s.ext.remote
	}
	return s.gc.RemoteAddr()
}

// Open reports whether the session can still send and receive messages.
// Must be called on the connection's event loop.
func (s *Session) Open() bool { return s.state == stateOpen }

// WriteMessage queues one data message, op codec.OpText or codec.OpBinary
// (ErrOpcode for any other: control frames are the server's), with
// payload p. It leaves with everything else written to this connection in
// the same wakeup, in one write. p may be reused as soon as WriteMessage
// returns. A text message that is not valid UTF-8 is not sent:
// ErrInvalidUTF8. Must be called on the connection's event loop.
func (s *Session) WriteMessage(op codec.OpCode, p []byte) error {
	if op != codec.OpText && op != codec.OpBinary {
		return ErrOpcode
	}
	if s.state != stateOpen {
		return ErrClosed
	}
	if op == codec.OpText && !utf8.Valid(p) {
		return ErrInvalidUTF8
	}
	s.writeFrame(op, p)
	return nil
}

// writeFrame queues one frame, unchecked: p is known to be valid for op.
func (s *Session) writeFrame(op codec.OpCode, p []byte) {
	s.loop.appendFrame(s, op, p)
	s.loop.stats.msgsOut.Add(1)
}

// WriteText is WriteMessage with codec.OpText.
// Must be called on the connection's event loop.
func (s *Session) WriteText(p []byte) error { return s.WriteMessage(codec.OpText, p) }

// Push sends the event {"cmd":cmd,"data":data} to this session; data is
// marshalled with sonic (nil omits "data"). It only queues the push: a
// session that closes meanwhile drops it. Safe for concurrent use.
func (s *Session) Push(cmd string, data any) error {
	return s.loop.srv.Push(s.id, cmd, data)
}

// Close sends a close frame with code and reason and closes the connection
// once the client answers (or after Config.Limits.CloseTimeout). The handler's
// OnClose then gets CauseServer. Safe for concurrent use.
func (s *Session) Close(code codec.StatusCode, reason string) error {
	return s.loop.srv.Disconnect(s.id, code, reason)
}

// pushEncoded writes {"cmd":cmd,"data":data} as a text frame.
func (s *Session) pushEncoded(cmd string, data []byte) {
	l := s.loop
	l.scratch = protocol.AppendPush(l.scratch[:0], cmd, data)
	l.appendFrame(s, codec.OpText, l.scratch)
	l.stats.msgsOut.Add(1)
}

// jsonAPI is sonic with strings validated: a Go string holding bytes that
// are not UTF-8 is written with U+FFFD in their place, as encoding/json does.
var jsonAPI = sonic.Config{ValidateString: true}.Froze()

// marshal encodes v with sonic; values wrapped by RawJSON pass through
// unchanged once checkRaw has passed them, and nil stays nil (the "data" key
// is then omitted). Whatever it returns may go into a text frame: valid
// UTF-8 (ErrInvalidUTF8 otherwise: json.Marshaler output, json.RawMessage
// among it, is copied as it is).
func marshal(v any) ([]byte, error) {
	switch d := v.(type) {
	case nil:
		return nil, nil
	case rawJSON:
		if len(d) == 0 {
			return nil, nil
		}
		return d, checkRaw(d)
	}
	raw, err := jsonAPI.Marshal(v)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(raw) {
		return nil, ErrInvalidUTF8
	}
	return raw, nil
}

// checkRaw checks raw JSON handed to the server by its caller before it
// goes into a text frame: ErrInvalidUTF8, ErrInvalidJSON (wrapping the
// codec's reason) or nil.
func checkRaw(b []byte) error {
	switch err := protocol.CheckJSON(b); err {
	case nil:
		return nil
	case protocol.ErrInvalidUTF8:
		return ErrInvalidUTF8
	default:
		return fmt.Errorf("%w: %w", ErrInvalidJSON, err)
	}
}

// rawJSON marks bytes that are already JSON.
type rawJSON []byte

// RawJSON wraps bytes that already hold one JSON value so that Push and
// Context.OK send them as they are instead of marshalling them.
func RawJSON(b []byte) any { return rawJSON(b) }

// Join makes the session a member of room, with meta (raw JSON, or nil) as
// its user's presence meta; the room's other members get enter_room when
// the session is its user's first connection there (and the room is small
// enough, see Config.Rooms.EventsMaxMembers). Joining a room twice changes
// nothing but the meta. Must be called on the connection's event loop.
func (s *Session) Join(room string, meta []byte) error {
	if len(meta) > 0 {
		if err := checkRaw(meta); err != nil {
			return err
		}
	}
	_, err := s.loop.join(s, room, meta)
	return err
}

// Leave removes the session from room; it reports whether the session was
// a member. The others get exit_room with reason "leave" when it was its
// user's last connection there. Must be called on the connection's event
// loop.
func (s *Session) Leave(room string) bool {
	left, _ := s.loop.leave(s, room, protocol.ReasonLeave)
	return left
}
