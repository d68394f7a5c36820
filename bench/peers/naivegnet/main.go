// Command naivegnet is the naive peer of wsbench: a WebSocket server built
// the way an application would first write one on gnet v2 and gobwas/ws.
//
//	naivegnet --addr 127.0.0.1:9001 --loops 2 [--heartbeat-timeout 20s] [--echo]
//
// It does the handshake with ws.Upgrade over a small io.ReadWriter adapter
// on the inbound bytes, parses frames with ws.ReadHeader and ws.Cipher,
// decodes the JSON envelope with sonic and encodes the reply with sonic
// (peerproto), and writes every reply with its own c.Write (one syscall per
// message, no corking). It speaks the echo, join and publish commands of
// wsloop's JSON protocol (see peerproto):
//
//	{"cmd":"echo","seqno":"N","data":…}  →  {"cmd":"echo","seqno":"N","status":0,"msg":"ok","data":…}
//
// A publish is framed once and sent to every member of the room with one
// c.AsyncWrite each: one task on the member's loop and one write syscall
// per member per message, the naive fan-out.
//
// With --echo it sends every data message back verbatim with its opcode
// (no JSON). With --heartbeat-timeout D a ticker scans every connection
// every D/10 (at least 10 ms, at most 1 s) and closes those silent for D.
//
// It answers Ping with Pong and Close with Close. Other commands get status
// 404, bad JSON 400. Fragmented messages are not supported (the connection
// is closed). Idle connections cost what gnet's conn and this package's
// connState cost; there is no goroutine per connection.
//
// SIGINT or SIGTERM stops it.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"

	"github.com/wsloop/wsloop/bench/internal/peerproto"
)

func main() { peerproto.Main("naivegnet", true, serve) }

// serve runs the server until ctx is done.
func serve(ctx context.Context, cfg *peerproto.Config) error {
	proto := "tcp://" + cfg.Addr
	s := &server{cfg: *cfg, conns: map[*connState]struct{}{}}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gnet.Stop(sctx, proto)
	}()
	return gnet.Run(s, proto,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(cfg.Loops),
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithTicker(cfg.HeartbeatTimeout > 0),
		gnet.WithLogLevel(logging.WarnLevel),
	)
}

type server struct {
	gnet.BuiltinEventEngine
	cfg   peerproto.Config
	rooms peerproto.Rooms[gnet.Conn]

	mu    sync.Mutex
	conns map[*connState]struct{} // for the heartbeat scan
}

// connState is all the per-connection state the naive server keeps.
type connState struct {
	s        *server
	c        gnet.Conn
	id       string
	upgraded bool
	joined   []string
	last     atomic.Int64 // unix ns of the last bytes received
}

var _ peerproto.Session = (*connState)(nil)

// inbound adapts the bytes gnet has buffered to the io.ReadWriter ws.Upgrade
// wants: reads come from the buffered bytes, writes go to the connection.
type inbound struct {
	*bytes.Reader
	io.Writer
}

func (s *server) OnBoot(eng gnet.Engine) gnet.Action {
	log.Printf("naivegnet: serving")
	return gnet.None
}

func (s *server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	st := &connState{s: s, c: c, id: peerproto.NewID()}
	st.last.Store(time.Now().UnixNano())
	c.SetContext(st)
	if s.cfg.HeartbeatTimeout > 0 {
		s.mu.Lock()
		s.conns[st] = struct{}{}
		s.mu.Unlock()
	}
	return nil, gnet.None
}

func (s *server) OnClose(c gnet.Conn, err error) gnet.Action {
	st, ok := c.Context().(*connState)
	if !ok {
		return gnet.None
	}
	for _, r := range st.joined {
		s.rooms.Leave(r, c)
	}
	if s.cfg.HeartbeatTimeout > 0 {
		s.mu.Lock()
		delete(s.conns, st)
		s.mu.Unlock()
	}
	return gnet.None
}

// OnTick closes the connections silent for the heartbeat timeout.
func (s *server) OnTick() (time.Duration, gnet.Action) {
	d := s.cfg.HeartbeatTimeout
	if d <= 0 {
		return time.Hour, gnet.None
	}
	cutoff := time.Now().Add(-d).UnixNano()
	s.mu.Lock()
	for st := range s.conns {
		if st.last.Load() < cutoff {
			_ = st.c.Close()
		}
	}
	s.mu.Unlock()
	return min(max(d/10, 10*time.Millisecond), time.Second), gnet.None
}

func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	st := c.Context().(*connState)
	if s.cfg.HeartbeatTimeout > 0 {
		st.last.Store(time.Now().UnixNano())
	}
	buf, _ := c.Peek(-1)
	if !st.upgraded {
		r := bytes.NewReader(buf)
		_, err := ws.Upgrade(inbound{r, c})
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return gnet.None // the request is not all here yet
		}
		if err != nil {
			return gnet.Close
		}
		_, _ = c.Discard(len(buf) - r.Len())
		st.upgraded = true
		buf, _ = c.Peek(-1)
	}
	consumed := 0
	action := gnet.None
	for action == gnet.None {
		r := bytes.NewReader(buf[consumed:])
		h, err := ws.ReadHeader(r)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return gnet.Close
		}
		if err := ws.CheckHeader(h, ws.StateServerSide); err != nil {
			return gnet.Close
		}
		hn := len(buf) - consumed - r.Len()
		if int64(r.Len()) < h.Length {
			break // the payload is not all here yet
		}
		p := buf[consumed+hn : consumed+hn+int(h.Length)]
		consumed += hn + int(h.Length)
		ws.Cipher(p, h.Mask, 0)
		action = st.frame(h, p)
	}
	if consumed > 0 { // gnet's Discard(0) would drop everything, a partial frame too
		_, _ = c.Discard(consumed)
	}
	return action
}

// frame handles one client frame; p is unmasked.
func (st *connState) frame(h ws.Header, p []byte) gnet.Action {
	c := st.c
	switch h.OpCode {
	case ws.OpPing:
		write(c, ws.NewPongFrame(p))
	case ws.OpPong:
	case ws.OpClose:
		write(c, ws.NewCloseFrame(p))
		return gnet.Close
	case ws.OpText, ws.OpBinary:
		if !h.Fin {
			return gnet.Close // fragmented messages: not supported
		}
		if st.s.cfg.Echo {
			write(c, ws.NewFrame(h.OpCode, true, p))
			break
		}
		if out := peerproto.Handle(p, st); out != nil {
			write(c, ws.NewTextFrame(out))
		}
	default:
		return gnet.Close
	}
	return gnet.None
}

func (st *connState) ID() string { return st.id }

func (st *connState) Join(room string) {
	if st.s.rooms.Join(room, st.c) {
		st.joined = append(st.joined, room)
	}
}

// Publish frames push once and queues it to every member with its own
// AsyncWrite.
func (st *connState) Publish(room string, push []byte) {
	frame, err := ws.CompileFrame(ws.NewTextFrame(push))
	if err != nil {
		return
	}
	for _, m := range st.s.rooms.Members(room) {
		_ = m.AsyncWrite(frame, nil)
	}
}

// write sends one frame with one c.Write.
func write(c gnet.Conn, f ws.Frame) {
	b, err := ws.CompileFrame(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "naivegnet:", err)
		return
	}
	_, _ = c.Write(b)
}
