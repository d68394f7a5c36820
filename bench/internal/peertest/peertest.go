// Package peertest is the conformance test every peer server of the
// benchmark suite runs: the JSON protocol (echo, join, publish fan-out,
// errors), echo mode, and the heartbeat timeout, over real loopback
// connections with a minimal blocking client.
//
// A peer's test starts it in process with Start, giving its serve function,
// then calls Protocol, Raw and Heartbeat on the address.
package peertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wsloop/wsloop/bench/internal/peerproto"
	"github.com/wsloop/wsloop/bench/internal/wsframe"
)

// Serve runs a peer until ctx is done.
type Serve func(ctx context.Context, cfg *peerproto.Config) error

// Start runs serve on a free loopback port with cfg (its Addr is
// replaced), waits until it accepts connections, and stops it when the test
// ends. It returns the address.
func Start(t *testing.T, serve Serve, cfg peerproto.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, &cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("the server did not stop within 10 s")
		}
	})
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", cfg.Addr)
		if err == nil {
			c.Close()
			return cfg.Addr
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned before accepting: %v", err)
		default:
		}
		if i > 500 {
			t.Fatalf("the server did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Client is a blocking WebSocket client for tests.
type Client struct {
	t    *testing.T
	c    net.Conn
	buf  []byte
	mask [4]byte
}

// Dial connects to addr and completes the handshake on /ws; the request
// is sent in three pieces to exercise partial reads.
func Dial(t *testing.T, addr string) *Client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	key := wsframe.NewKey(uint64(time.Now().UnixNano()))
	req := wsframe.Request(addr, "/ws", key)
	for _, part := range [][]byte{req[:10], req[10:50], req[50:]} {
		if _, err := c.Write(part); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cl := &Client{t: t, c: c, mask: [4]byte{9, 8, 7, 6}}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	tmp := make([]byte, 4096)
	for {
		k, err := c.Read(tmp)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		cl.buf = append(cl.buf, tmp[:k]...)
		n, err := wsframe.ParseResponse(cl.buf, wsframe.AcceptKey(key))
		if err != nil {
			t.Fatalf("handshake: %v: %q", err, cl.buf)
		}
		if n > 0 {
			cl.buf = cl.buf[n:]
			return cl
		}
	}
}

// Send writes one masked frame.
func (cl *Client) Send(op wsframe.OpCode, p []byte) {
	cl.t.Helper()
	if _, err := cl.c.Write(wsframe.AppendClient(nil, op, p, cl.mask)); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

// Read returns the next frame (within 5 s).
func (cl *Client) Read() (wsframe.OpCode, []byte) {
	cl.t.Helper()
	op, p, err := cl.read(5 * time.Second)
	if err != nil {
		cl.t.Fatalf("read: %v", err)
	}
	return op, p
}

func (cl *Client) read(timeout time.Duration) (wsframe.OpCode, []byte, error) {
	_ = cl.c.SetReadDeadline(time.Now().Add(timeout))
	tmp := make([]byte, 4096)
	for {
		h, p, n, err := wsframe.Decode(cl.buf)
		if err != nil {
			return 0, nil, err
		}
		if n > 0 {
			p = append([]byte(nil), p...)
			cl.buf = cl.buf[n:]
			return h.OpCode, p, nil
		}
		k, err := cl.c.Read(tmp)
		if err != nil {
			return 0, nil, err
		}
		cl.buf = append(cl.buf, tmp[:k]...)
	}
}

// Request sends a JSON request and returns the reply text.
func (cl *Client) Request(req string) string {
	cl.t.Helper()
	cl.Send(wsframe.OpText, []byte(req))
	op, p := cl.Read()
	if op != wsframe.OpText {
		cl.t.Fatalf("%s: reply opcode %d", req, op)
	}
	return string(p)
}

// ExpectClosed waits up to within for the server to close the connection
// (a Close frame or EOF) and returns how long it took; data frames before
// the close fail the test.
func (cl *Client) ExpectClosed(within time.Duration) time.Duration {
	cl.t.Helper()
	start := time.Now()
	for {
		op, p, err := cl.read(within - time.Since(start))
		switch {
		case err == nil && op == wsframe.OpClose:
			return time.Since(start)
		case err == nil:
			cl.t.Fatalf("frame op %d %q before the close", op, p)
		case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset by peer"):
			return time.Since(start)
		case errors.Is(err, os.ErrDeadlineExceeded):
			cl.t.Fatalf("still open after %v", within)
		default:
			cl.t.Fatalf("read: %v", err)
		}
	}
}

// Protocol checks the JSON protocol: echo, errors, Ping, join and publish
// fan-out to members only, with the publisher not a member.
func Protocol(t *testing.T, addr string) {
	c := Dial(t, addr)
	for _, tc := range []struct{ in, want string }{
		{`{"cmd":"echo","seqno":"7","data":{"a":[1,2]}}`, `{"cmd":"echo","seqno":"7","status":0,"msg":"ok","data":{"a":[1,2]}}`},
		{`{"cmd":"echo","seqno":"8","data":"xxxx"}`, `{"cmd":"echo","seqno":"8","status":0,"msg":"ok","data":"xxxx"}`},
		{`{"cmd":"nope","seqno":"9"}`, `{"cmd":"nope","seqno":"9","status":404,"msg":"unknown cmd"}`},
		{`{"cmd":`, `{"cmd":"","status":400,"msg":"bad request"}`},
		{`{"cmd":"join","seqno":"1","data":{}}`, `{"cmd":"join","seqno":"1","status":400,"msg":"room required"}`},
		{`{"cmd":"publish","seqno":"2","data":{"room":"r1"}}`, `{"cmd":"publish","seqno":"2","status":400,"msg":"payload required"}`},
		{`{"cmd":"publish","seqno":"3","data":{"room":"r1","payload":1,"notify_type":"ptp"}}`, `{"cmd":"publish","seqno":"3","status":400,"msg":"notify_type must be \"bc\""}`},
		// Nobody in the room: the publisher still gets its reply.
		{`{"cmd":"publish","seqno":"4","data":{"room":"empty","payload":1,"notify_type":"bc"}}`, `{"cmd":"publish","seqno":"4","status":0,"msg":"ok"}`},
	} {
		if got := c.Request(tc.in); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.in, got, tc.want)
		}
	}
	c.Send(wsframe.OpPing, []byte("hi"))
	if op, p := c.Read(); op != wsframe.OpPong || string(p) != "hi" {
		t.Errorf("ping: got op %d %q", op, p)
	}
	// Two requests in one write: each gets its reply, in order.
	two := wsframe.AppendClient(nil, wsframe.OpText, []byte(`{"cmd":"echo","seqno":"a","data":1}`), c.mask)
	two = wsframe.AppendClient(two, wsframe.OpText, []byte(`{"cmd":"echo","seqno":"b","data":2}`), c.mask)
	if _, err := c.c.Write(two); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{"cmd":"echo","seqno":"a","status":0,"msg":"ok","data":1}`, `{"cmd":"echo","seqno":"b","status":0,"msg":"ok","data":2}`} {
		if _, p := c.Read(); string(p) != want {
			t.Errorf("pipelined: got %s, want %s", p, want)
		}
	}

	// Two members of r1, one of r2, and a publisher in no room.
	members := []*Client{Dial(t, addr), Dial(t, addr)}
	for i, m := range members {
		for range 2 { // joining twice is joining once
			if got, want := m.Request(fmt.Sprintf(`{"cmd":"join","seqno":"%d","data":{"room":"r1"}}`, i)), fmt.Sprintf(`{"cmd":"join","seqno":"%d","status":0,"msg":"ok"}`, i); got != want {
				t.Fatalf("join: got %s, want %s", got, want)
			}
		}
	}
	other := Dial(t, addr)
	other.Request(`{"cmd":"join","seqno":"1","data":{"room":"r2"}}`)
	pub := Dial(t, addr)
	for n := range 3 {
		payload := fmt.Sprintf(`{"t":%d,"n":%d,"s":"x y"}`, 1000+n, n)
		got := pub.Request(fmt.Sprintf(`{"cmd":"publish","seqno":"p%d","data":{"room":"r1","payload":%s,"notify_type":"bc"}}`, n, payload))
		if want := fmt.Sprintf(`{"cmd":"publish","seqno":"p%d","status":0,"msg":"ok"}`, n); got != want {
			t.Fatalf("publish: got %s, want %s", got, want)
		}
		for _, m := range members {
			op, p := m.Read()
			if op != wsframe.OpText {
				t.Fatalf("push opcode %d", op)
			}
			var push struct {
				Cmd  string `json:"cmd"`
				Data struct {
					Room    string          `json:"room"`
					From    string          `json:"from"`
					Payload json.RawMessage `json:"payload"`
				} `json:"data"`
			}
			if err := json.Unmarshal(p, &push); err != nil {
				t.Fatalf("push %s: %v", p, err)
			}
			prefix := `{"cmd":"message","data":{"room":"r1","from":"`
			if !strings.HasPrefix(string(p), prefix) || push.Data.From == "" || string(push.Data.Payload) != payload || strings.Contains(string(p), "seqno") {
				t.Fatalf("push %s", p)
			}
		}
	}
	// The member of r2 got nothing: its next frame is its own echo reply.
	if got := other.Request(`{"cmd":"echo","seqno":"e","data":0}`); got != `{"cmd":"echo","seqno":"e","status":0,"msg":"ok","data":0}` {
		t.Errorf("r2 member: got %s", got)
	}
	// A member that leaves (closes) is no longer written to.
	members[0].c.Close()
	time.Sleep(50 * time.Millisecond)
	if got := pub.Request(`{"cmd":"publish","seqno":"q","data":{"room":"r1","payload":"after","notify_type":"bc"}}`); got != `{"cmd":"publish","seqno":"q","status":0,"msg":"ok"}` {
		t.Errorf("publish after close: %s", got)
	}
	if _, p := members[1].Read(); !bytes.Contains(p, []byte(`"payload":"after"`)) {
		t.Errorf("push after close: %s", p)
	}

	c.Send(wsframe.OpClose, []byte{0x03, 0xe8})
	if op, p := c.Read(); op != wsframe.OpClose || len(p) < 2 || !bytes.Equal(p[:2], []byte{0x03, 0xe8}) {
		t.Errorf("close answer: op %d %x", op, p)
	}
}

// Raw checks echo mode: text and binary messages come back verbatim with
// their opcode, JSON is not interpreted.
func Raw(t *testing.T, addr string) {
	c := Dial(t, addr)
	big := bytes.Repeat([]byte{0, 1, 2, 0xff}, 5000)
	for _, tc := range []struct {
		op wsframe.OpCode
		p  []byte
	}{
		{wsframe.OpBinary, []byte{0, 1, 2, 3, 0xfe}},
		{wsframe.OpText, []byte(`{"cmd":"echo","seqno":"1","data":1}`)},
		{wsframe.OpBinary, big},
	} {
		c.Send(tc.op, tc.p)
		if op, p := c.Read(); op != tc.op || !bytes.Equal(p, tc.p) {
			t.Errorf("echo of op %d (%d bytes): got op %d, %d bytes", tc.op, len(tc.p), op, len(p))
		}
	}
	c.Send(wsframe.OpPing, []byte("hi"))
	if op, p := c.Read(); op != wsframe.OpPong || string(p) != "hi" {
		t.Errorf("ping: got op %d %q", op, p)
	}
}

// Heartbeat checks the heartbeat timeout d (short, ~300 ms): a silent
// connection is closed after about d; one that sends Pings or messages
// more often than d stays open.
func Heartbeat(t *testing.T, addr string, d time.Duration) {
	silent := Dial(t, addr)
	pinger := Dial(t, addr)
	talker := Dial(t, addr)
	start := time.Now()
	done := make(chan time.Duration)
	go func() { done <- silent.ExpectClosed(d*4 + time.Second) }()
	for i := 0; time.Since(start) < 2*d; i++ {
		time.Sleep(d / 4)
		pinger.Send(wsframe.OpPing, []byte("p"))
		if op, _ := pinger.Read(); op != wsframe.OpPong {
			t.Fatalf("pinger: op %d", op)
		}
		if got := talker.Request(fmt.Sprintf(`{"cmd":"echo","seqno":"%d","data":0}`, i)); !strings.Contains(got, `"status":0`) {
			t.Fatalf("talker: %s", got)
		}
	}
	took := <-done
	if took < d*3/4 {
		t.Errorf("silent connection closed after %v, before the timeout %v", took, d)
	}
	t.Logf("silent connection closed after %v (timeout %v)", took, d)
	// The active ones are still open.
	if got := talker.Request(`{"cmd":"echo","seqno":"z","data":0}`); !strings.Contains(got, `"status":0`) {
		t.Errorf("talker after the timeout: %s", got)
	}
	pinger.Send(wsframe.OpPing, []byte("p"))
	if op, _ := pinger.Read(); op != wsframe.OpPong {
		t.Errorf("pinger after the timeout: op %d", op)
	}
}

// Config returns a peer configuration for tests.
func Config(heartbeat time.Duration, echo bool) peerproto.Config {
	return peerproto.Config{Loops: 2, HeartbeatTimeout: heartbeat, Echo: echo}
}

// Conformance runs the whole conformance test against a peer: the
// protocol (the handshake arriving in pieces, then JSON echo, unknown
// commands, bad JSON, Ping, join and publish fan-out answered as wsloop
// answers them), echo mode, and the heartbeat timeout.
func Conformance(t *testing.T, serve Serve) {
	t.Run("protocol", func(t *testing.T) {
		Protocol(t, Start(t, serve, Config(0, false)))
	})
	t.Run("raw echo", func(t *testing.T) {
		Raw(t, Start(t, serve, Config(0, true)))
	})
	t.Run("heartbeat timeout", func(t *testing.T) {
		d := 300 * time.Millisecond
		Heartbeat(t, Start(t, serve, Config(d, false)), d)
	})
}
