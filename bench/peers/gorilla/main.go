// Command gorilla is a peer of wsbench built the usual way with
// gorilla/websocket: net/http, one goroutine per connection reading with
// ReadMessage, and the JSON protocol of peerproto (sonic).
//
//	gorilla --addr 127.0.0.1:9001 [--heartbeat-timeout 20s] [--echo] [--compression] [--tls-cert F --tls-key K]
//
// Every write (reply, Pong, room message) holds the connection's mutex
// with a 10 s write deadline, so the reading goroutine and publishers can
// share it. A room is a member list; a publish is prepared once
// (websocket.NewPreparedMessage) and written to each member in turn by the
// publisher's goroutine. --heartbeat-timeout D sets a read deadline of D,
// moved forward on every message and Ping: a silent connection's
// ReadMessage fails and the connection is closed. --echo sends every data
// message back verbatim with its opcode.
//
// SIGINT or SIGTERM stops it.
package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsloop/wsloop/bench/internal/peerproto"
)

// writeWait bounds one write to a client.
const writeWait = 10 * time.Second

func main() { peerproto.Main("gorilla", false, serve) }

// serve runs the server until ctx is done.
func serve(ctx context.Context, cfg *peerproto.Config) error {
	// gorilla compresses every message once negotiated (no size threshold;
	// its level is set per connection, to the same as the others).
	s := &server{cfg: *cfg, upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, EnableCompression: cfg.Compression}}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.handle)
	return peerproto.ServeHTTP(ctx, "gorilla", cfg, mux)
}

type server struct {
	cfg      peerproto.Config
	upgrader websocket.Upgrader
	rooms    peerproto.Rooms[*client]
}

// client is one connection.
type client struct {
	s      *server
	ws     *websocket.Conn
	id     string
	joined []string // rooms, for leaving them on close; reader goroutine only

	mu sync.Mutex // serializes writes
}

var _ peerproto.Session = (*client)(nil)

func (s *server) handle(w http.ResponseWriter, r *http.Request) {
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	if s.cfg.Compression {
		_ = conn.SetCompressionLevel(peerproto.CompressionLevel)
	}
	c := &client{s: s, ws: conn, id: peerproto.NewID()}
	defer func() {
		for _, room := range c.joined {
			s.rooms.Leave(room, c)
		}
		conn.Close()
	}()
	d := s.cfg.HeartbeatTimeout
	if d > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(d))
		conn.SetPingHandler(func(data string) error {
			_ = conn.SetReadDeadline(time.Now().Add(d))
			err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
			if errors.Is(err, websocket.ErrCloseSent) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) {
				return nil
			}
			return err
		})
	}
	for {
		mt, p, err := conn.ReadMessage()
		if err != nil {
			return // closed, timed out, or a protocol error
		}
		if d > 0 {
			_ = conn.SetReadDeadline(time.Now().Add(d))
		}
		if s.cfg.Echo {
			c.write(mt, p)
			continue
		}
		if out := peerproto.Handle(p, c); out != nil {
			c.write(websocket.TextMessage, out)
		}
	}
}

func (c *client) write(mt int, p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
	_ = c.ws.WriteMessage(mt, p)
}

func (c *client) writePrepared(pm *websocket.PreparedMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
	_ = c.ws.WritePreparedMessage(pm)
}

func (c *client) ID() string { return c.id }

func (c *client) Join(room string) {
	if c.s.rooms.Join(room, c) {
		c.joined = append(c.joined, room)
	}
}

// Publish prepares push once and writes it to every member in turn.
func (c *client) Publish(room string, push []byte) {
	members := c.s.rooms.Members(room)
	if len(members) == 0 {
		return
	}
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, push)
	if err != nil {
		return
	}
	for _, m := range members {
		m.writePrepared(pm)
	}
}
