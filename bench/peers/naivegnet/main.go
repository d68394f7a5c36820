// Command naivegnet is the naive peer of wsbench: a WebSocket server built
// the way an application would first write one on gnet v2 and gobwas/ws.
//
//	naivegnet --addr 127.0.0.1:9001 --loops 2
//
// It does the handshake with ws.Upgrade over a small io.ReadWriter adapter
// on the inbound bytes, parses frames with ws.ReadHeader and ws.Cipher,
// decodes the JSON envelope with sonic and encodes the reply with sonic, and
// writes every reply with its own c.Write (one syscall per message, no
// corking). It speaks the echo command of wsloop's JSON protocol:
//
//	{"cmd":"echo","seqno":"N","data":…}  →  {"cmd":"echo","seqno":"N","status":0,"msg":"ok","data":…}
//
// and answers Ping with Pong and Close with Close. Other commands get status
// 404, bad JSON 400. Fragmented messages are not supported (the connection
// is closed). Idle connections cost what gnet's conn and this package's
// connState cost; there is no goroutine per connection.
//
// SIGINT or SIGTERM stops it.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bytedance/sonic"
	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	loops := flag.Int("loops", 0, "event loops (0 = one per CPU)")
	flag.Parse()

	proto := "tcp://" + *addr
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gnet.Stop(sctx, proto)
	}()
	err := gnet.Run(&server{}, proto,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(*loops),
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogLevel(logging.WarnLevel),
	)
	if err != nil {
		log.Printf("naivegnet: %v", err)
		os.Exit(1)
	}
}

type server struct {
	gnet.BuiltinEventEngine
}

// connState is all the per-connection state the naive server keeps.
type connState struct {
	upgraded bool
}

// inbound adapts the bytes gnet has buffered to the io.ReadWriter ws.Upgrade
// wants: reads come from the buffered bytes, writes go to the connection.
type inbound struct {
	*bytes.Reader
	io.Writer
}

type request struct {
	Cmd   string                 `json:"cmd"`
	Seqno string                 `json:"seqno"`
	Data  sonic.NoCopyRawMessage `json:"data"`
}

type reply struct {
	Cmd    string                 `json:"cmd"`
	Seqno  string                 `json:"seqno,omitempty"`
	Status int                    `json:"status"`
	Msg    string                 `json:"msg"`
	Data   sonic.NoCopyRawMessage `json:"data,omitempty"`
}

func (s *server) OnBoot(eng gnet.Engine) gnet.Action {
	log.Printf("naivegnet: serving")
	return gnet.None
}

func (s *server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&connState{})
	return nil, gnet.None
}

func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	st := c.Context().(*connState)
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
		action = s.frame(c, h, p)
	}
	_, _ = c.Discard(consumed)
	return action
}

// frame handles one client frame; p is unmasked.
func (s *server) frame(c gnet.Conn, h ws.Header, p []byte) gnet.Action {
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
		s.message(c, p)
	default:
		return gnet.Close
	}
	return gnet.None
}

// message answers one JSON request.
func (s *server) message(c gnet.Conn, p []byte) {
	var req request
	var rep reply
	if err := sonic.Unmarshal(p, &req); err != nil {
		rep = reply{Cmd: req.Cmd, Status: 400, Msg: "bad request"}
	} else if req.Cmd == "echo" {
		rep = reply{Cmd: req.Cmd, Seqno: req.Seqno, Msg: "ok", Data: req.Data}
	} else {
		rep = reply{Cmd: req.Cmd, Seqno: req.Seqno, Status: 404, Msg: "unknown cmd"}
	}
	out, err := sonic.Marshal(&rep)
	if err != nil {
		return
	}
	write(c, ws.NewTextFrame(out))
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
