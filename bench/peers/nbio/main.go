// Command nbio is a peer of wsbench built with lesismal/nbio in its
// non-blocking mode, the way nbio's examples do it: an nbhttp.Engine
// (epoll pollers, IOModNonBlocking) serving a ServeMux whose /ws handler
// calls a websocket.Upgrader, message handlers run by nbio's executor, and
// the JSON protocol of peerproto (sonic).
//
//	nbio --addr 127.0.0.1:9001 --loops 2 [--heartbeat-timeout 20s] [--echo]
//
// --loops sets the number of pollers (0: one per CPU). Replies and room
// messages are written with Conn.WriteMessage, which frames the message and
// writes it without blocking (nbio buffers what the socket does not take).
// A room is a member list; a publish writes to each member in turn.
// --heartbeat-timeout D sets the upgrader's KeepaliveTime: nbio moves the
// connection's read deadline D forward after every message and closes it
// when the deadline passes. --echo sends every data message back verbatim
// with its opcode.
//
// SIGINT or SIGTERM stops it.
package main

import (
	"context"
	"log"
	"net/http"
	"runtime"
	"time"

	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/wsloop/wsloop/bench/internal/peerproto"
)

func main() { peerproto.Main("nbio", true, serve) }

// serve runs the server until ctx is done.
func serve(ctx context.Context, cfg *peerproto.Config) error {
	logging.SetLevel(logging.LevelError)
	s := &server{cfg: *cfg}
	up := websocket.NewUpgrader()
	up.CheckOrigin = func(*http.Request) bool { return true }
	up.KeepaliveTime = cfg.HeartbeatTimeout // 0: no read deadline
	if cfg.Compression {
		// nbio compresses every message once negotiated (no size threshold).
		up.EnableCompression(true)
		if err := up.SetCompressionLevel(peerproto.CompressionLevel); err != nil {
			return err
		}
	}
	up.OnOpen(func(c *websocket.Conn) {
		c.SetSession(&client{s: s, conn: c, id: peerproto.NewID()})
	})
	up.OnClose(s.onClose)
	up.OnMessage(s.onMessage)
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		_, _ = up.Upgrade(w, r, nil) // on error the upgrader answered
	})
	loops := cfg.Loops
	if loops <= 0 {
		loops = runtime.NumCPU()
	}
	engine := nbhttp.NewEngine(nbhttp.Config{
		Network:                 "tcp",
		Addrs:                   []string{cfg.Addr},
		NPoller:                 loops,
		IOMod:                   nbhttp.IOModNonBlocking,
		Handler:                 mux,
		ReleaseWebsocketPayload: true,
	})
	if err := engine.Start(); err != nil {
		return err
	}
	log.Printf("nbio: serving")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return engine.Shutdown(sctx)
}

type server struct {
	cfg   peerproto.Config
	rooms peerproto.Rooms[*websocket.Conn]
}

// client is one connection's state, kept in its nbio session.
type client struct {
	s      *server
	conn   *websocket.Conn
	id     string
	joined []string // rooms, for leaving them on close
}

var _ peerproto.Session = (*client)(nil)

func (s *server) onClose(c *websocket.Conn, err error) {
	if cl, ok := c.Session().(*client); ok {
		for _, room := range cl.joined {
			s.rooms.Leave(room, c)
		}
	}
}

// onMessage handles one message; data is released when it returns.
func (s *server) onMessage(c *websocket.Conn, mt websocket.MessageType, data []byte) {
	if s.cfg.Echo {
		_ = c.WriteMessage(mt, data)
		return
	}
	cl, ok := c.Session().(*client)
	if !ok {
		return
	}
	if out := peerproto.Handle(data, cl); out != nil {
		_ = c.WriteMessage(websocket.TextMessage, out)
	}
}

func (cl *client) ID() string { return cl.id }

func (cl *client) Join(room string) {
	if cl.s.rooms.Join(room, cl.conn) {
		cl.joined = append(cl.joined, room)
	}
}

// Publish writes push to every member in turn.
func (cl *client) Publish(room string, push []byte) {
	for _, m := range cl.s.rooms.Members(room) {
		_ = m.WriteMessage(websocket.TextMessage, push)
	}
}
