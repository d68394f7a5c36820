// Package peerproto is the part of wsloop's JSON protocol that every peer
// server of the benchmark suite shares, so that the peers differ only in
// their network and frame layers: the envelope, decoded and encoded with
// sonic the way an application would (sonic.Unmarshal into a struct,
// sonic.Marshal of the reply), the command dispatch, a room registry, and
// the flags every peer takes. The data of the commands, the status codes
// and the name checks are wsloop's own (package protocol).
//
//	frame layer (gnet, gorilla, gws, nbio)        peerproto
//	text message ──────────────────────────────►  Handle(p, sess)
//	                                               ├ echo    → reply
//	                                               ├ join    → sess.Join(room), reply
//	                                               └ publish → sess.Publish(room, push), reply
//	reply ◄────────────────────────────────────────┘
//
// Requests and replies:
//
//	{"cmd":"echo","seqno":"N","data":…}                    → {"cmd":"echo","seqno":"N","status":0,"msg":"ok","data":…}
//	{"cmd":"join","seqno":"N","data":{"room":"r1"}}        → {"cmd":"join","seqno":"N","status":0,"msg":"ok"}
//	{"cmd":"publish","seqno":"N","data":{"room":"r1","payload":…,"notify_type":"bc"}}
//	                                                       → {"cmd":"publish","seqno":"N","status":0,"msg":"ok"}
//	and to every member of r1:                               {"cmd":"message","data":{"room":"r1","from":"<id>","payload":…}}
//
// Unknown commands get status 404, bad JSON or missing fields 400, as in
// wsloop.
//
// # Concurrency
//
// Handle and the encoders are safe for concurrent use; so is Rooms.
package peerproto

import (
	"flag"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bytedance/sonic"

	"github.com/wsloop/wsloop/protocol"
)

// Request is a client request.
type Request struct {
	Cmd   string                 `json:"cmd"`
	Seqno string                 `json:"seqno"`
	Data  sonic.NoCopyRawMessage `json:"data"`
}

// Reply answers a request.
type Reply struct {
	Cmd    string                 `json:"cmd"`
	Seqno  string                 `json:"seqno,omitempty"`
	Status int                    `json:"status"`
	Msg    string                 `json:"msg"`
	Data   sonic.NoCopyRawMessage `json:"data,omitempty"`
}

// Push is a server-initiated message (no seqno).
type Push struct {
	Cmd  string      `json:"cmd"`
	Data MessageData `json:"data"`
}

// MessageData is the data of a room message push.
type MessageData struct {
	Room    string                 `json:"room"`
	From    string                 `json:"from"`
	Payload sonic.NoCopyRawMessage `json:"payload"`
}

// Session is one connection as the protocol sees it.
type Session interface {
	// ID names the connection in the "from" of the messages it publishes.
	ID() string
	// Join makes the connection a member of room (again: no effect).
	Join(room string)
	// Publish sends push, an encoded message, to every member of room.
	// push is a fresh slice that the callee may keep.
	Publish(room string, push []byte)
}

// Handle answers one text message p and returns the encoded reply. p must
// stay valid until Handle returns; the reply is a fresh slice.
func Handle(p []byte, s Session) []byte {
	var req Request
	var rep Reply
	if err := sonic.Unmarshal(p, &req); err != nil {
		rep = Reply{Cmd: req.Cmd, Status: protocol.StatusBadRequest, Msg: "bad request"}
	} else {
		rep = Reply{Cmd: req.Cmd, Seqno: req.Seqno, Msg: "ok"}
		switch req.Cmd {
		case "echo":
			rep.Data = req.Data
		case "join":
			join(&req, &rep, s)
		case "publish":
			publish(&req, &rep, s)
		default:
			rep.Status, rep.Msg = protocol.StatusNotFound, "unknown cmd"
		}
	}
	out, err := sonic.Marshal(&rep)
	if err != nil {
		return nil
	}
	return out
}

func join(req *Request, rep *Reply, s Session) {
	var d protocol.RoomData
	if err := sonic.Unmarshal(req.Data, &d); err != nil {
		rep.Status, rep.Msg = protocol.StatusBadRequest, "data must be an object with a room"
		return
	}
	if msg := protocol.CheckName("room", d.Room, maxName); msg != "" {
		rep.Status, rep.Msg = protocol.StatusBadRequest, msg
		return
	}
	s.Join(d.Room)
}

// maxName bounds room names, as wsloop's default does.
const maxName = 256

func publish(req *Request, rep *Reply, s Session) {
	var d protocol.PublishData
	switch err := sonic.Unmarshal(req.Data, &d); {
	case err != nil:
		rep.Status, rep.Msg = protocol.StatusBadRequest, "data must be an object with a room"
	case protocol.CheckName("room", d.Room, maxName) != "":
		rep.Status, rep.Msg = protocol.StatusBadRequest, protocol.CheckName("room", d.Room, maxName)
	case len(d.Payload) == 0:
		rep.Status, rep.Msg = protocol.StatusBadRequest, "payload required"
	case d.NotifyType != "" && d.NotifyType != protocol.NotifyBroadcast:
		rep.Status, rep.Msg = protocol.StatusBadRequest, `notify_type must be "bc"`
	default:
		push, err := sonic.Marshal(&Push{Cmd: "message", Data: MessageData{Room: d.Room, From: s.ID(), Payload: d.Payload}})
		if err != nil {
			rep.Status, rep.Msg = protocol.StatusInternal, "encode"
			return
		}
		s.Publish(d.Room, push)
	}
}

var lastID atomic.Int64

// NewID returns a fresh connection id: "c1", "c2", …
func NewID() string {
	return "c" + strconv.FormatInt(lastID.Add(1), 10)
}

// Rooms maps room names to their members. A room's member list is copied on
// every join and leave, so that Members is one read lock and no copy: the
// slice it returns is never modified. Safe for concurrent use.
type Rooms[C comparable] struct {
	mu    sync.RWMutex
	rooms map[string][]C
}

// Join adds c to room; it returns false if c was a member already.
func (r *Rooms[C]) Join(room string, c C) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.rooms[room]
	for _, m := range old {
		if m == c {
			return false
		}
	}
	if r.rooms == nil {
		r.rooms = map[string][]C{}
	}
	next := make([]C, len(old), len(old)+1)
	copy(next, old)
	r.rooms[room] = append(next, c)
	return true
}

// Leave removes c from room.
func (r *Rooms[C]) Leave(room string, c C) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.rooms[room]
	for i, m := range old {
		if m == c {
			if len(old) == 1 {
				delete(r.rooms, room)
				return
			}
			next := make([]C, 0, len(old)-1)
			next = append(next, old[:i]...)
			r.rooms[room] = append(next, old[i+1:]...)
			return
		}
	}
}

// Members returns the members of room. The slice must not be modified.
func (r *Rooms[C]) Members(room string) []C {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.rooms[room]
}

// Config is what every peer is told on its command line.
type Config struct {
	// Addr is the listen address.
	Addr string
	// Loops is the number of event loops or pollers (0: one per CPU), for
	// the peers that have them.
	Loops int
	// HeartbeatTimeout closes a connection silent for this long; 0: never.
	HeartbeatTimeout time.Duration
	// Echo: no JSON; every data message is sent back verbatim with its
	// opcode (wsloop --echo).
	Echo bool
	// Compression accepts permessage-deflate with no context takeover,
	// compressing messages of at least CompressionMinSize bytes at
	// CompressionLevel where the library lets it be set (wsloop's
	// defaults: 128 bytes, level 3), for the peers that support it.
	Compression bool
	// TLSCert and TLSKey (PEM files) serve wss:// with crypto/tls, for the
	// peers on net/http.
	TLSCert, TLSKey string
}

// Compression settings the peers use (where their library has them): the
// same as wsloop's defaults.
const (
	CompressionMinSize = 128
	CompressionLevel   = 3
)

// Flags declares the common flags on fs: --addr, --heartbeat-timeout,
// --echo, and --loops when loops is true.
func Flags(fs *flag.FlagSet, loops bool) *Config {
	c := &Config{}
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:9001", "listen address")
	if loops {
		fs.IntVar(&c.Loops, "loops", 0, "event loops (0 = one per CPU)")
	}
	fs.DurationVar(&c.HeartbeatTimeout, "heartbeat-timeout", 0, "close connections silent for this long (0 = never)")
	fs.BoolVar(&c.Echo, "echo", false, "echo mode: send every data message back verbatim, no JSON protocol")
	fs.BoolVar(&c.Compression, "compression", false, "accept permessage-deflate (no context takeover), for the peers that support it")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate: serve wss:// (crypto/tls), for the peers on net/http")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM key of --tls-cert")
	return c
}
