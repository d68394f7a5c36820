package server

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/internal/wstest"
	"github.com/wsloop/wsloop/protocol"
)

// TestBinaryMessagesHeldToUTF8: the JSON endpoint reads binary messages as
// it reads text ones, so a binary message that is not UTF-8 closes its
// sender with 1007 and none of its bytes reach another connection; a
// binary message that is UTF-8 JSON is served as usual.
func TestBinaryMessagesHeldToUTF8(t *testing.T) {
	_, url := startServer(t, Config{}, NewRouter())
	member, _ := dialRouter(t, url)
	writeText(t, member, `{"cmd":"join","seqno":"1","data":{"room":"lobby"}}`)
	readText(t, member)

	sender, _ := dialRouter(t, url)
	valid := []byte(`{"cmd":"publish","seqno":"2","data":{"room":"lobby","payload":"héllo"}}`)
	if err := sender.WriteMessage(websocket.BinaryMessage, valid); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, member); !strings.Contains(got, `"payload":"héllo"`) {
		t.Fatalf("member got %s", got)
	}
	if got := readText(t, sender); got != `{"cmd":"publish","seqno":"2","status":0,"msg":"ok"}` {
		t.Fatalf("binary request answered %s", got)
	}

	for _, bad := range []string{
		"{\"cmd\":\"publish\",\"seqno\":\"3\",\"data\":{\"room\":\"lobby\",\"payload\":\"\xff\"}}",
		"{\"cmd\":\"join\",\"data\":{\"room\":\"lobby\",\"meta\":{\"nick\":\"\xc3\x28\"}}}",
		"{\"cmd\":\"echo\",\"data\":\"\xed\xa0\x80\"}",
		"{\"cmd\":\"send\",\"data\":{\"to\":\"x\",\"payload\":\"\xe2\x82\"}}",
	} {
		attacker, _ := dialRouter(t, url)
		if err := attacker.WriteMessage(websocket.BinaryMessage, []byte(bad)); err != nil {
			t.Fatal(err)
		}
		if ce := expectClose(t, attacker, 1007); ce.Text != invalidUTF8Message {
			t.Fatalf("close reason %q", ce.Text)
		}
	}
	// The member saw nothing of it and is still served.
	writeText(t, member, `{"cmd":"echo","seqno":"4"}`)
	if got := readText(t, member); got != `{"cmd":"echo","seqno":"4","status":0,"msg":"ok"}` {
		t.Fatalf("member after the attacks: %s", got)
	}
}

// TestDeepNestingAnswered: a message nested deeper than the limit is
// answered with its cmd and seqno and a message that says why.
func TestDeepNestingAnswered(t *testing.T) {
	_, url := startServer(t, Config{}, NewRouter())
	c, _ := dialRouter(t, url)
	deep := strings.Repeat("[", 64) + strings.Repeat("]", 64)
	writeText(t, c, `{"cmd":"echo","seqno":"9","data":`+deep+`}`)
	if got, want := readText(t, c), `{"cmd":"echo","seqno":"9","status":400,"msg":"too deeply nested"}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	writeText(t, c, `{"seqno":10,"data":`+deep+`,"cmd":"echo"}`)
	if got, want := readText(t, c), `{"cmd":"","seqno":10,"status":400,"msg":"too deeply nested"}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestLibraryRefusesInvalidText: every library call that puts what it is
// handed into a text frame refuses bytes that are not UTF-8 (and raw JSON
// that is not JSON) with an error, and sends nothing; Go strings are
// written with U+FFFD for their invalid bytes, as encoding/json does.
func TestLibraryRefusesInvalidText(t *testing.T) {
	type result struct {
		name string
		err  error
	}
	onLoop := make(chan result, 16)
	r := NewRouter()
	r.Handle("lib", func(c *Context) {
		s := c.Session()
		onLoop <- result{"WriteText", s.WriteText([]byte("\xff"))}
		onLoop <- result{"WriteMessage binary", s.WriteMessage(codec.OpBinary, []byte("\xff"))}
		onLoop <- result{"WriteMessage close", s.WriteMessage(codec.OpClose, []byte{3, 0xe8, 0xff})}
		onLoop <- result{"WriteMessage ping", s.WriteMessage(codec.OpPing, nil)}
		onLoop <- result{"Join meta", s.Join("r", []byte("{\"a\":\"\xff\"}"))}
		onLoop <- result{"Join bad meta", s.Join("r", []byte("{"))}
		onLoop <- result{"Push", c.Push("x", RawJSON([]byte("\"\xff\"")))}
		onLoop <- result{"OKRaw", c.OKRaw([]byte("\"\xff\""))}
	})
	r.Handle("reply", func(c *Context) { onLoop <- result{"Reply", c.Reply("other", 0, "ok", []byte("[1,"))} })
	srv, url := startServer(t, Config{}, r)
	c, sidStr := dialRouter(t, url)
	sid, _, _ := ParseSID(sidStr)
	writeText(t, c, `{"cmd":"join","seqno":"0","data":{"room":"r"}}`)
	readText(t, c)
	writeText(t, c, `{"cmd":"lib","seqno":"1"}`)
	want := map[string]error{
		"WriteText": ErrInvalidUTF8, "WriteMessage binary": nil, "Join meta": ErrInvalidUTF8,
		"WriteMessage close": ErrOpcode, "WriteMessage ping": ErrOpcode,
		"Join bad meta": ErrInvalidJSON, "Push": ErrInvalidUTF8, "OKRaw": ErrInvalidUTF8,
	}
	for range want {
		res := <-onLoop
		if !errors.Is(res.err, want[res.name]) || (want[res.name] == nil) != (res.err == nil) {
			t.Errorf("%s: %v, want %v", res.name, res.err, want[res.name])
		}
	}
	// The binary frame is the only thing written before the 500 reply.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if typ, p, err := c.ReadMessage(); err != nil || typ != websocket.BinaryMessage || string(p) != "\xff" {
		t.Fatalf("first frame: %d %q %v", typ, p, err)
	}
	if got := readText(t, c); got != `{"cmd":"lib","seqno":"1","status":500,"msg":"internal error"}` {
		t.Fatalf("OKRaw with invalid data answered %s", got)
	}
	writeText(t, c, `{"cmd":"reply","seqno":"2"}`)
	if res := <-onLoop; !errors.Is(res.err, ErrInvalidJSON) || !errors.Is(res.err, protocol.ErrBadJSON) {
		t.Errorf("Reply with bad JSON: %v", res.err)
	}
	if got := readText(t, c); got != `{"cmd":"other","seqno":"2","status":500,"msg":"internal error"}` {
		t.Fatalf("Reply with invalid data answered %s", got)
	}

	badRaw := RawJSON([]byte("{\"t\":\"\xff\"}"))
	type withRaw struct {
		Raw json.RawMessage `json:"raw"`
	}
	for _, tc := range []struct {
		name string
		err  error
		call func() error
	}{
		{"Push raw", ErrInvalidUTF8, func() error { return srv.Push(sid, "x", badRaw) }},

		{"Push bad raw JSON", ErrInvalidJSON, func() error { return srv.Push(sid, "x", RawJSON([]byte("{1}"))) }},
		{"Push too deep", ErrInvalidJSON, func() error {
			return srv.Push(sid, "x", RawJSON([]byte(strings.Repeat("[", 65)+strings.Repeat("]", 65))))
		}},
		{"Broadcast", ErrInvalidUTF8, func() error { return srv.Broadcast("x", badRaw) }},
		{"Publish", ErrInvalidUTF8, func() error { return srv.Publish("r", "x", badRaw) }},
		{"PublishMessage", ErrInvalidUTF8, func() error { return srv.PublishMessage("r", "ops", badRaw) }},
		{"SendUser", ErrInvalidUTF8, func() error { return srv.SendUser(sidStr, "x", badRaw) }},
		{"SendMessage", ErrInvalidUTF8, func() error { return srv.SendMessage(sidStr, "ops", badRaw) }},
		{"Disconnect", ErrInvalidUTF8, func() error { return srv.Disconnect(sid, 4000, "bye \xff") }},
		{"DisconnectUser", ErrInvalidUTF8, func() error { return srv.DisconnectUser("u", 4000, "\xc3") }},
	} {
		if err := tc.call(); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	// Go values are sanitized, not refused: a string, and a json.RawMessage
	// inside a struct (sonic checks the strings of what it encodes).
	if err := srv.Publish("r", "note", map[string]string{"t": "a\xffb"}); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, c); got != `{"cmd":"note","data":{"t":"a\ufffdb"}}` {
		t.Fatalf("sanitized push: %s", got)
	}
	if err := srv.Push(sid, "raw", withRaw{json.RawMessage("\"\xff\"")}); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, c); got != `{"cmd":"raw","data":{"raw":"\ufffd"}}` {
		t.Fatalf("sanitized json.RawMessage: %s", got)
	}
}

// TestSlowConsumerCloseSends1013: with --slow-consumer close, a client that
// stopped reading and then reads again finds the 1013 close frame with its
// reason after what had already been handed to its socket. The messages
// come one per wakeup (a publisher that waits for each reply), so that the
// kernel's send buffer fills and gnet holds output when the bound is hit.
func TestSlowConsumerCloseSends1013(t *testing.T) {
	rec := newCloseRecorder(NewRouter())
	clk := newFakeClock()
	srv, url := startServer(t, Config{Clock: clk, Tuning: Tuning{Loops: 1, SlowConsumer: SlowClose, MaxOutboundBytes: 64 << 10}, Limits: Limits{CloseTimeout: 20 * time.Second}, Heartbeat: Heartbeat{Tick: 100 * time.Millisecond}, Rooms: Rooms{PublishRate: -1}}, rec)
	d := websocket.Dialer{
		HandshakeTimeout: 5 * time.Second,
		NetDial: func(network, addr string) (net.Conn, error) {
			nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			}}
			return nd.Dial(network, addr)
		},
	}
	slow, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.SetCloseHandler(func(int, string) error { return nil })
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := slow.ReadMessage(); err != nil { // welcome
		t.Fatal(err)
	}
	writeText(t, slow, `{"cmd":"join","seqno":"1","data":{"room":"flood"}}`)
	if _, _, err := slow.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	// Publish until the server gives up on the client that does not read.
	pub, _ := dialRouter(t, url)
	req := `{"cmd":"publish","seqno":"p","data":{"room":"flood","payload":"` + strings.Repeat("x", 4000) + `"}}`
	deadline := time.Now().Add(20 * time.Second)
	for slowCount(srv) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the client that stopped reading was never closed as too slow")
		}
		writeText(t, pub, req)
		if got := readText(t, pub); !strings.Contains(got, `"status":0`) {
			t.Fatalf("publish answered %s", got)
		}
	}
	// Read again: messages, then the close frame.
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	n := 0
	for {
		_, _, err := slow.ReadMessage()
		if err == nil {
			n++
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 1013 || ce.Text != "client too slow" {
			t.Fatalf("after %d messages: %v, want close 1013 \"client too slow\"", n, err)
		}
		break
	}
	// The client does not answer the close (its handler sends nothing).
	// Once gnet has written everything, the server half-closes at the next
	// tick, long before CloseTimeout: the client reads EOF.
	syncLoops(t, srv)
	advance(t, srv, clk, 200*time.Millisecond)
	_ = slow.UnderlyingConn().SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := slow.UnderlyingConn().Read(make([]byte, 16)); err != io.EOF {
		t.Fatalf("after the close frame: %d bytes, %v; want EOF (half-close)", n, err)
	}
	advance(t, srv, clk, 20*time.Second) // CloseTimeout: the socket is closed
	if r := rec.next(t); r.Cause != CauseSlow || r.Code != 1013 {
		t.Fatalf("close reason %+v, want slow 1013", r)
	}
}

func slowCount(srv *Server) (n uint64) {
	for _, l := range *srv.loops.Load() {
		n += l.stats.slow.Load()
	}
	return n
}

// TestCloseCodeAfterReset: a client that sends its close frame and resets
// its socket at once is counted under its close code even when the loop
// writes to the dead socket (and gnet closes it) before reading the frame.
func TestCloseCodeAfterReset(t *testing.T) {
	t.Run("plain", func(t *testing.T) { closeCodeAfterReset(t, false) })
	// Over TLS the bytes left in the socket are records: opened first.
	t.Run("TLS", func(t *testing.T) { closeCodeAfterReset(t, true) })
}

func closeCodeAfterReset(t *testing.T, overTLS bool) {
	var mu sync.Mutex
	sessions := map[string]*Session{}
	entered, release := make(chan struct{}), make(chan struct{})
	r := NewRouter()
	r.HandleOpen(func(s *Session, _ *codec.Request) error {
		mu.Lock()
		sessions[s.SID()] = s
		mu.Unlock()
		return nil
	})
	// poke blocks the loop until the test lets go, then writes to the
	// victim, whose close frame and reset have arrived meanwhile.
	r.Handle("poke", func(c *Context) {
		close(entered)
		<-release
		mu.Lock()
		victim := sessions[string(bytes.Trim(c.Data, `"`))]
		mu.Unlock()
		_ = victim.WriteText([]byte("are you there"))
	})
	rec := newCloseRecorder(r)
	var srv *Server
	var url string
	var victim *rawConn
	if overTLS {
		var ca *wstest.CA
		srv, url, ca = startTLSServer(t, Config{Tuning: Tuning{Loops: 1}}, rec)
		victim = dialRawTLS(t, srv, ca, tls.VersionTLS13, true)
	} else {
		srv, url = startServer(t, Config{Tuning: Tuning{Loops: 1}}, rec)
		victim = dialRaw(t, srv, true)
	}
	poker, _ := dialRouter(t, url)

	_, welcome := victim.readFrame()
	var w struct {
		Data struct {
			SID string `json:"sid"`
		} `json:"data"`
	}
	if err := json.Unmarshal(welcome, &w); err != nil {
		t.Fatal(err)
	}
	writeText(t, poker, `{"cmd":"poke","data":"`+w.Data.SID+`"}`)
	<-entered
	// While the loop is held, the victim says goodbye and resets.
	victim.send(clientFrame(0x88, closePayload(1000, "bye"), true))
	tcp, ok := victim.Conn.(*net.TCPConn)
	if tc, isTLS := victim.Conn.(*tls.Conn); isTLS {
		tcp, ok = tc.NetConn().(*net.TCPConn)
	}
	if !ok {
		t.Fatalf("victim over %T", victim.Conn)
	}
	_ = tcp.SetLinger(0)
	_ = tcp.Close()                   // a reset, without close_notify
	time.Sleep(50 * time.Millisecond) // let the reset reach the server's socket
	close(release)

	if r := rec.next(t); r.Cause != CauseClient || r.Code != 1000 || r.Text != "bye" {
		t.Fatalf("close reason %+v, want the client's 1000 bye", r)
	}
	var c1000, c1006 uint64
	for _, l := range *srv.loops.Load() {
		c1000 += l.stats.closed[CloseSlot(1000)].Load()
		c1006 += l.stats.closed[CloseSlot(1006)].Load()
	}
	if c1000 != 1 || c1006 != 0 {
		t.Fatalf("closed_total: 1000=%d 1006=%d, want 1 and 0", c1000, c1006)
	}
}

// FuzzRouterText feeds any bytes, as a text message when they are UTF-8
// and as a binary one either way, to the Router with every built-in
// command in reach: whatever it writes back is a close frame or a text
// frame of valid UTF-8 JSON.
func FuzzRouterText(f *testing.F) {
	for _, seed := range []string{
		`{"cmd":"echo","seqno":"1","data":{"a":"é"}}`,
		"{\"cmd\":\"echo\",\"data\":\"\xff\"}",
		`{"cmd":"join","data":{"room":"r","meta":{"n":1}}}`,
		"{\"cmd\":\"join\",\"data\":{\"room\":\"r\xff\",\"meta\":\"\xc3\"}}",
		`{"cmd":"publish","data":{"room":"r","payload":[1,2]}}`,
		"{\"cmd\":\"publish\",\"data\":{\"room\":\"r\",\"payload\":\"\xed\xa0\x80\"}}",
		`{"cmd":"members","data":{"room":"r"}}`,
		`{"cmd":"send","data":{"to":"x","payload":1}}`,
		`{"cmd":"leave","data":{"room":"r"}}`,
		`{"cmd":"ping","seqno":2}`,
		`{"cmd":"nope","seqno":"` + strings.Repeat("[", 70) + `"}`,
		`{"cmd":"echo","data":` + strings.Repeat("[", 70) + `}`,
		"\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	e, fc := openFake(f, NewRouter())
	in := []byte(`{"cmd":"join","data":{"room":"r"}}`)
	fc.traffic(e, clientFrame(0x81, in, true))
	f.Fuzz(func(t *testing.T, p []byte) {
		s := fc.ctx.(*Session)
		if !s.Open() {
			// A previous input closed it (1007): start a new connection.
			e, fc = openFake(t, NewRouter())
			fc.traffic(e, clientFrame(0x81, in, true))
			s = fc.ctx.(*Session)
		}
		fc.reset()
		if utf8.Valid(p) {
			fc.traffic(e, clientFrame(0x81, p, true))
		}
		if s.Open() {
			fc.traffic(e, clientFrame(0x82, p, true))
		}
		rc := &rawConn{t: t, buf: fc.written}
		for len(rc.buf) > 0 {
			op, payload := rc.readFrame()
			switch op {
			case 0x8:
				if code, reason, err := codec.ParseClose(payload); err != nil || code != 1007 && code != 1009 {
					t.Fatalf("close %d %q %v after %q", code, reason, err, p)
				}
			case 0x1:
				if !utf8.Valid(payload) || !json.Valid(payload) {
					t.Fatalf("text frame %q after %q", payload, p)
				}
			default:
				t.Fatalf("frame opcode %d after %q", op, p)
			}
		}
	})
}
