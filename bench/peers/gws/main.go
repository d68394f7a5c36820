// Command gws is a peer of wsbench built with lxzan/gws the way its README
// shows: a gws.Upgrader behind net/http, socket.ReadLoop on the
// connection's goroutine, an event handler, and the JSON protocol of
// peerproto (sonic).
//
//	gws --addr 127.0.0.1:9001 [--heartbeat-timeout 20s] [--echo] [--compression] [--tls-cert F --tls-key K]
//
// Replies are written with WriteMessage (gws serializes writes with its
// own mutex). A room is a member list; a publish goes through
// gws.NewBroadcaster, which frames the message once and queues one write
// per member on that member's write queue. --heartbeat-timeout D sets a
// read deadline of D on open, moved forward on every message and Ping.
// --echo sends every data message back verbatim with its opcode.
//
// SIGINT or SIGTERM stops it.
package main

import (
	"context"
	"net/http"
	"time"

	"github.com/lxzan/gws"

	"github.com/wsloop/wsloop/bench/internal/peerproto"
)

func main() { peerproto.Main("gws", false, serve) }

// serve runs the server until ctx is done.
func serve(ctx context.Context, cfg *peerproto.Config) error {
	h := &handler{cfg: *cfg}
	opt := &gws.ServerOption{}
	if cfg.Compression {
		opt.PermessageDeflate = gws.PermessageDeflate{Enabled: true, Level: peerproto.CompressionLevel,
			Threshold: peerproto.CompressionMinSize, ServerContextTakeover: false, ClientContextTakeover: false}
	}
	up := gws.NewUpgrader(h, opt)
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		socket, err := up.Upgrade(w, r)
		if err != nil {
			return // the upgrader answered
		}
		socket.ReadLoop()
	})
	return peerproto.ServeHTTP(ctx, "gws", cfg, mux)
}

// handler is the gws event handler.
type handler struct {
	cfg   peerproto.Config
	rooms peerproto.Rooms[*gws.Conn]
}

var _ gws.Event = (*handler)(nil)

// client is one connection's state, kept in its gws session.
type client struct {
	h      *handler
	socket *gws.Conn
	id     string
	joined []string // rooms, for leaving them on close; read goroutine only
}

var _ peerproto.Session = (*client)(nil)

const sessionKey = "c"

func (h *handler) alive(socket *gws.Conn) {
	if h.cfg.HeartbeatTimeout > 0 {
		_ = socket.SetReadDeadline(time.Now().Add(h.cfg.HeartbeatTimeout))
	}
}

func (h *handler) OnOpen(socket *gws.Conn) {
	socket.Session().Store(sessionKey, &client{h: h, socket: socket, id: peerproto.NewID()})
	h.alive(socket)
}

func (h *handler) OnClose(socket *gws.Conn, err error) {
	if v, ok := socket.Session().Load(sessionKey); ok {
		c := v.(*client)
		for _, room := range c.joined {
			h.rooms.Leave(room, socket)
		}
	}
}

func (h *handler) OnPing(socket *gws.Conn, payload []byte) {
	h.alive(socket)
	_ = socket.WritePong(payload)
}

func (h *handler) OnPong(socket *gws.Conn, payload []byte) {}

func (h *handler) OnMessage(socket *gws.Conn, message *gws.Message) {
	defer message.Close()
	h.alive(socket)
	if h.cfg.Echo {
		_ = socket.WriteMessage(message.Opcode, message.Bytes())
		return
	}
	v, _ := socket.Session().Load(sessionKey)
	if out := peerproto.Handle(message.Bytes(), v.(*client)); out != nil {
		_ = socket.WriteMessage(gws.OpcodeText, out)
	}
}

func (c *client) ID() string { return c.id }

func (c *client) Join(room string) {
	if c.h.rooms.Join(room, c.socket) {
		c.joined = append(c.joined, room)
	}
}

// Publish frames push once with a Broadcaster and queues it to every
// member.
func (c *client) Publish(room string, push []byte) {
	members := c.h.rooms.Members(room)
	if len(members) == 0 {
		return
	}
	b := gws.NewBroadcaster(gws.OpcodeText, push)
	for _, m := range members {
		_ = b.Broadcast(m)
	}
	_ = b.Close()
}
