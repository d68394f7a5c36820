package server

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/gorilla/websocket"
	"github.com/panjf2000/gnet/v2"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/protocol"
)

func TestRouterEchoAndErrors(t *testing.T) {
	_, url := startServer(t, Config{}, NewRouter())
	c, sid := dialRouter(t, url)
	if sid == "" {
		t.Fatal("welcome without sid")
	}
	cases := []struct{ req, want string }{
		{`{"cmd":"echo","seqno":"1","data":{"a":[1,2,{"b":"c"}]}}`, `{"cmd":"echo","seqno":"1","status":0,"msg":"ok","data":{"a":[1,2,{"b":"c"}]}}`},
		{`{"cmd":"echo","seqno":7}`, `{"cmd":"echo","seqno":7,"status":0,"msg":"ok"}`},
		{`{"cmd":"echo"`, `{"cmd":"","status":400,"msg":"malformed JSON"}`},
		{`{"cmd":"echo","cmd":"echo","seqno":"d"}`, `{"cmd":"echo","seqno":"d","status":400,"msg":"duplicate key"}`},
		{`{"cmd":5,"seqno":"e"}`, `{"cmd":"","seqno":"e","status":400,"msg":"invalid cmd"}`},
		{`not json`, `{"cmd":"","status":400,"msg":"malformed JSON"}`},
		{`{"seqno":"2","data":1}`, `{"cmd":"","seqno":"2","status":400,"msg":"missing cmd"}`},
		{`{"cmd":"nope","seqno":"3"}`, `{"cmd":"nope","seqno":"3","status":404,"msg":"unknown cmd"}`},
		{`{"cmd":"echo","seqno":"4","data":"still here"}`, `{"cmd":"echo","seqno":"4","status":0,"msg":"ok","data":"still here"}`},
	}
	for _, tc := range cases {
		writeText(t, c, tc.req)
		if got := readText(t, c); got != tc.want {
			t.Errorf("request %s\n got  %s\n want %s", tc.req, got, tc.want)
		}
	}
}

func TestRouterPingPong(t *testing.T) {
	_, url := startServer(t, Config{}, NewRouter())
	c, _ := dialRouter(t, url)
	writeText(t, c, `{"cmd":"ping","seqno":"7","data":{}}`)
	got := readText(t, c)
	if !strings.HasPrefix(got, `{"cmd":"pong","seqno":"7","status":0,"msg":"ok","data":{"timestamp":`) {
		t.Fatalf("ping answered %s", got)
	}
}

func TestRouterMiddlewareAndHandlers(t *testing.T) {
	r := NewRouter()
	r.Use(func(next HandlerFunc) HandlerFunc {
		return func(c *Context) {
			if c.Cmd != "login" && c.Session().UserID() == "" {
				c.Fail(protocol.StatusUnauthenticated, "login first")
				return
			}
			c.Set("mw", "seen")
			next(c)
		}
	})
	r.Handle("login", func(c *Context) {
		var req struct {
			User string `json:"user"`
		}
		if err := c.Bind(&req); err != nil || req.User == "" {
			c.Fail(protocol.StatusBadRequest, "user required")
			return
		}
		c.Session().SetUserID(req.User)
		c.OK(map[string]string{"user": req.User})
	})
	r.Handle("whoami", func(c *Context) {
		v, _ := c.Get("mw")
		_ = c.Push("note", map[string]any{"mw": v})
		c.OK(map[string]string{"user": c.Session().UserID()})
	})
	r.Handle("boom", func(c *Context) { panic("handler bug") })
	r.Handle("silent", func(c *Context) {})
	_, url := startServer(t, Config{}, r)
	c, _ := dialRouter(t, url)

	steps := []struct {
		req  string
		want []string
	}{
		{`{"cmd":"whoami","seqno":"1"}`, []string{`{"cmd":"whoami","seqno":"1","status":401,"msg":"login first"}`}},
		{`{"cmd":"login","seqno":"2","data":{}}`, []string{`{"cmd":"login","seqno":"2","status":400,"msg":"user required"}`}},
		{`{"cmd":"login","seqno":"3","data":{"user":"ann"}}`, []string{`{"cmd":"login","seqno":"3","status":0,"msg":"ok","data":{"user":"ann"}}`}},
		{`{"cmd":"whoami","seqno":"4"}`, []string{`{"cmd":"note","data":{"mw":"seen"}}`, `{"cmd":"whoami","seqno":"4","status":0,"msg":"ok","data":{"user":"ann"}}`}},
		{`{"cmd":"boom","seqno":"5"}`, []string{`{"cmd":"boom","seqno":"5","status":500,"msg":"internal error"}`}},
		{`{"cmd":"silent","seqno":"6"}`, []string{`{"cmd":"silent","seqno":"6","status":0,"msg":"ok"}`}},
		{`{"cmd":"echo","seqno":"7","data":1}`, []string{`{"cmd":"echo","seqno":"7","status":0,"msg":"ok","data":1}`}},
	}
	for _, st := range steps {
		writeText(t, c, st.req)
		for _, want := range st.want {
			if got := readText(t, c); got != want {
				t.Errorf("after %s\n got  %s\n want %s", st.req, got, want)
			}
		}
	}
}

func TestEchoModeGorilla(t *testing.T) {
	rec := newCloseRecorder(EchoHandler{})
	_, url := startServer(t, Config{Limits: Limits{MaxMessageSize: 2 << 20}, Heartbeat: Heartbeat{Forms: HeartbeatPingFrame}}, rec)
	c := dial(t, url)

	// Text and binary, verbatim with their opcode.
	for _, m := range []struct {
		typ int
		p   []byte
	}{{websocket.TextMessage, []byte("héllo")}, {websocket.BinaryMessage, []byte{0, 1, 2, 255}}, {websocket.TextMessage, []byte{}}} {
		if err := c.WriteMessage(m.typ, m.p); err != nil {
			t.Fatal(err)
		}
		typ, p, err := c.ReadMessage()
		if err != nil || typ != m.typ || !bytes.Equal(p, m.p) {
			t.Fatalf("echo of %d %q: got %d %q %v", m.typ, m.p, typ, p, err)
		}
	}

	// A 1 MiB message in 4 KiB fragments (gorilla fragments at its buffer size).
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	w, err := c.NextWriter(websocket.BinaryMessage)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(big); off += 10000 {
		end := min(off+10000, len(big))
		if _, err := w.Write(big[off:end]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, p, err := c.ReadMessage()
	if err != nil || typ != websocket.BinaryMessage || !bytes.Equal(p, big) {
		t.Fatalf("1 MiB fragmented echo: type %d len %d err %v", typ, len(p), err)
	}

	// Ping with payload → Pong with the same payload.
	pong := make(chan string, 1)
	c.SetPongHandler(func(s string) error { pong <- s; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("ping-payload"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	go func() { _, _, _ = c.ReadMessage() }()
	select {
	case s := <-pong:
		if s != "ping-payload" {
			t.Fatalf("pong payload %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}

	// Clean close: the handler sees the client's code and reason.
	if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	r := rec.next(t)
	if r.Cause != CauseClient || r.Code != 1000 || r.Text != "bye" {
		t.Fatalf("close reason %+v, want client 1000 bye", r)
	}
}

func TestServerPushBroadcastDisconnect(t *testing.T) {
	var sids atomic.Value
	r := NewRouter()
	srv, url := startServer(t, Config{}, r)
	a, sidA := dialRouter(t, url)
	b, _ := dialRouter(t, url)
	sids.Store(sidA)

	id, _, err := ParseSID(sidA)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Push(id, "notice", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, a); got != `{"cmd":"notice","data":{"n":1}}` {
		t.Fatalf("push: %s", got)
	}
	if err := srv.Broadcast("news", RawJSON([]byte(`"all"`))); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*websocket.Conn{a, b} {
		if got := readText(t, c); got != `{"cmd":"news","data":"all"}` {
			t.Fatalf("broadcast: %s", got)
		}
	}
	if n := srv.Count(); n != 2 {
		t.Fatalf("Count = %d, want 2", n)
	}
	if err := srv.Disconnect(id, 4000, "kicked"); err != nil {
		t.Fatal(err)
	}
	if ce := expectClose(t, a, 4000); ce.Text != "kicked" {
		t.Fatalf("close text %q", ce.Text)
	}
	// Pushing to a closed session is dropped quietly; b is unaffected.
	_ = srv.Push(id, "late", nil)
	writeText(t, b, `{"cmd":"echo","seqno":"1"}`)
	if got := readText(t, b); got != `{"cmd":"echo","seqno":"1","status":0,"msg":"ok"}` {
		t.Fatalf("b after a's close: %s", got)
	}
	if _, _, err := ParseSID("x"); err == nil {
		t.Fatal("ParseSID accepted garbage")
	}
}

func TestShutdownSendsGoingAway(t *testing.T) {
	srv, err := New(Config{Addr: "127.0.0.1:0", Logger: testLogger(t), Tuning: Tuning{Loops: 2}}, NewRouter())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	<-srv.Ready()
	url := "ws://" + srv.Addr().String() + "/ws"
	clients := make([]*websocket.Conn, 5)
	for i := range clients {
		clients[i], _ = dialRouter(t, url)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	for _, c := range clients {
		expectClose(t, c, 1001)
		c.Close() // a client that answers by closing
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
	if _, _, err := websocket.DefaultDialer.Dial(url, nil); err == nil {
		t.Fatal("dial after shutdown succeeded")
	}
	if err := srv.Push(1, "x", nil); err != ErrServerClosed {
		t.Fatalf("Push after shutdown: %v", err)
	}
}

func TestCloseCodesFromHandler(t *testing.T) {
	r := NewRouter()
	r.HandleOpen(func(s *Session, req *codec.Request) error {
		if string(req.QueryValue("token")) != "good" {
			return codec.CloseError{Code: codec.StatusPolicyViolation, Reason: "bad token"}
		}
		return nil
	})
	_, url := startServer(t, Config{}, r)
	c := dial(t, url+"?token=bad")
	if ce := expectClose(t, c, 1008); ce.Text != "bad token" {
		t.Fatalf("reason %q", ce.Text)
	}
	c2, _ := dialRouter(t, url+"?token=good")
	writeText(t, c2, `{"cmd":"echo","seqno":"1"}`)
	readText(t, c2)
}

// TestSlowReaderBounded: a client that sends requests but never reads is
// closed with 1013 once the server holds MaxOutboundBytes for it; another
// client is unaffected.
func TestSlowReaderBounded(t *testing.T) {
	rec := newCloseRecorder(EchoHandler{})
	srv, url := startServer(t, Config{Tuning: Tuning{MaxOutboundBytes: 256 << 10}, Limits: Limits{CloseTimeout: 200 * time.Millisecond}}, rec)
	other := dial(t, url)
	rc := dialRaw(t, srv, true)
	payload := bytes.Repeat([]byte("x"), 16<<10)
	frame := clientFrame(0x82, payload, true)
	deadline := time.Now().Add(10 * time.Second)
	for srv.Count() == 2 && time.Now().Before(deadline) {
		_ = rc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = rc.Write(frame) // fails once the server has closed us
	}
	if srv.Count() != 1 {
		t.Fatalf("the slow reader was not closed (Count %d)", srv.Count())
	}
	// The socket is closed with the client's input unread, so what it still
	// receives may end in a reset; the handler is told why.
	if r := rec.next(t); r.Cause != CauseSlow || r.Code != 1013 {
		t.Fatalf("close reason %+v, want slow 1013", r)
	}
	if err := other.WriteMessage(websocket.TextMessage, []byte("fine")); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, other); got != "fine" {
		t.Fatalf("other client got %q", got)
	}
}

// TestRemoteAddr: a session reports its client's address (the acceptor
// trims the addresses gnet keeps; see trimAddrs), and two sockets of one
// listener share one local IP.
func TestRemoteAddr(t *testing.T) {
	r := NewRouter()
	r.Handle("addr", func(c *Context) { c.OK(c.Session().RemoteAddr().String()) })
	_, url := startServer(t, Config{}, r)
	for i := 0; i < 3; i++ {
		c, _ := dialRouter(t, url)
		writeText(t, c, `{"cmd":"addr","seqno":"1"}`)
		want := `{"cmd":"addr","seqno":"1","status":0,"msg":"ok","data":"` + c.LocalAddr().String() + `"}`
		if got := readText(t, c); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
}

// TestEnrollingCountedOnce: once a client has its handshake answer, its
// socket counts as a connection and no longer as enrolling, so that a
// server at MaxConns - 1 takes the next client (the enroller goroutine may
// not have run yet; OnOpen does the accounting).
func TestEnrollingCountedOnce(t *testing.T) {
	const n = 20
	srv, url := startServer(t, Config{Tuning: Tuning{MaxConns: n}}, EchoHandler{})
	for i := 0; i < n; i++ {
		dial(t, url)
		if e, c := srv.enrolling.Load(), srv.Count(); e != 0 || c != i+1 {
			t.Fatalf("after %d handshakes: %d enrolling, %d connections", i+1, e, c)
		}
	}
}

// TestLoopClockSystem: on the system clock the loop clock reads the
// monotonic clock alone and counts from New, as the injected clock does.
func TestLoopClockSystem(t *testing.T) {
	before := time.Now()
	srv, err := New(Config{Addr: "127.0.0.1:0", Logger: testLogger(t)}, BuiltinHandler{})
	if err != nil {
		t.Fatal(err)
	}
	if !srv.sysClock {
		t.Fatal("the default clock is not taken as the system clock")
	}
	lo := srv.clock()
	hi := int64(time.Since(before))
	if lo < 0 || lo > hi {
		t.Fatalf("loop clock %d ns, want within [0, %d]", lo, hi)
	}
	fake := newFakeClock()
	srv, err = New(Config{Addr: "127.0.0.1:0", Logger: testLogger(t), Clock: fake}, BuiltinHandler{})
	if err != nil {
		t.Fatal(err)
	}
	fake.Advance(3 * time.Second)
	if srv.sysClock || srv.clock() != int64(3*time.Second) {
		t.Fatalf("fake clock: sysClock %v, loop clock %d, want false and 3s", srv.sysClock, srv.clock())
	}
}

// onLoop runs f on loop l and waits for it.
func onLoop(t *testing.T, l *loop, f func()) {
	t.Helper()
	done := make(chan struct{})
	if err := l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		f()
		close(done)
		return nil
	})); err != nil {
		t.Fatalf("loop %d: %v", l.idx, err)
	}
	<-done
}

// TestSessionSlots: each loop's session table holds a slot per connection
// of its own (not one per descriptor of the process), a closed session's
// slot goes to a later connection, and a session id finds its session
// until it closes and never after, even once its slot is reused.
func TestSessionSlots(t *testing.T) {
	rec := newCloseRecorder(BuiltinHandler{})
	srv, _ := startServer(t, Config{Tuning: Tuning{Loops: 3}}, rec)
	const n = 60
	conns := make([]*rawConn, n)
	for i := range conns {
		conns[i] = dialRaw(t, srv, true)
	}
	// tables returns every loop's table length and session count and the
	// ids of all sessions, checking that each id finds its session.
	tables := func() (lens, counts []int, ids map[uint64]bool) {
		ids = map[uint64]bool{}
		for _, l := range *srv.loops.Load() {
			onLoop(t, l, func() {
				lens = append(lens, len(l.sessions))
				counts = append(counts, 0)
				for _, s := range l.sessions {
					if s == nil {
						continue
					}
					counts[len(counts)-1]++
					ids[s.id] = true
					if l.lookup(s.id) != s {
						t.Errorf("loop %d: session %x is not found by its id", l.idx, s.id)
					}
				}
			})
		}
		return lens, counts, ids
	}
	lens0, _, before := tables()
	if sum(lens0) != n || len(before) != n {
		t.Fatalf("%d connections take %d slots holding %d sessions, want %d", n, sum(lens0), len(before), n)
	}
	for _, c := range conns[:n/2] {
		_ = c.Close()
	}
	for range n / 2 {
		rec.next(t)
	}
	_, _, open := tables()
	var closed []uint64
	for id := range before {
		if !open[id] {
			closed = append(closed, id)
		}
	}
	if len(closed) != n/2 {
		t.Fatalf("%d sessions gone after %d closes", len(closed), n/2)
	}
	for i := range n / 2 {
		conns[i] = dialRaw(t, srv, true)
	}
	lens, counts, after := tables()
	if len(after) != n {
		t.Fatalf("%d sessions after reconnecting, want %d", len(after), n)
	}
	// A loop grows only by the connections it holds beyond its freed slots.
	for i := range lens {
		if want := max(lens0[i], counts[i]); lens[i] != want {
			t.Errorf("loop %d: %d slots for %d sessions, want %d (closed slots reused)", i, lens[i], counts[i], want)
		}
	}
	for _, l := range *srv.loops.Load() {
		onLoop(t, l, func() {
			for _, id := range closed {
				if int(id>>56) == l.idx && l.lookup(id) != nil {
					t.Errorf("closed session %x found again (its slot was reused)", id)
				}
			}
		})
	}
}

func sum(xs []int) (n int) {
	for _, x := range xs {
		n += x
	}
	return n
}

// TestLoopsMadeAtServe: every loop's state (job ring, timing wheel,
// io_uring ring) is allocated when Serve starts, not by the first
// connection a loop gets, and connections bind them to gnet's loops in
// turn.
func TestLoopsMadeAtServe(t *testing.T) {
	const loops = 3
	srv, _ := startServer(t, Config{Tuning: Tuning{Loops: loops}}, BuiltinHandler{})
	srv.loopsMu.Lock()
	made := len(srv.unbound)
	for i, l := range srv.unbound {
		if l == nil || l.idx != i || l.jobs == nil || l.wheel == nil || l.el != nil {
			t.Errorf("unbound loop %d: %+v", i, l)
		}
	}
	srv.loopsMu.Unlock()
	if made != loops || len(*srv.loops.Load()) != 0 {
		t.Fatalf("after Serve: %d loops made, %d bound; want %d and 0", made, len(*srv.loops.Load()), loops)
	}
	for range 4 * loops {
		dialRaw(t, srv, true)
	}
	bound := *srv.loops.Load()
	if len(bound) != loops {
		t.Fatalf("%d loops bound after %d connections, want %d", len(bound), 4*loops, loops)
	}
	for i, l := range bound {
		if l.idx != i || l.el == nil {
			t.Errorf("bound loop %d: idx %d, el %v", i, l.idx, l.el)
		}
	}
}

// TestJobSize: a ring entry stays 72 bytes (its small fields share a word).
func TestJobSize(t *testing.T) {
	if n := unsafe.Sizeof(job{}); n != 72 {
		t.Fatalf("job is %d bytes, want 72", n)
	}
}

// TestShutdownClosesDescriptors: a server that served no connection (its
// loops made at Serve, none bound) and one that served some leave no
// descriptor open after Shutdown: listener, gnet's pollers, io_uring rings.
func TestShutdownClosesDescriptors(t *testing.T) {
	// openFDs lists the open descriptors with what each refers to; a
	// descriptor another goroutine of the test binary closes meanwhile
	// only leaves the set, so the check below looks at new ones alone.
	openFDs := func() map[string]bool {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd:", err)
		}
		fds := map[string]bool{}
		for _, e := range ents {
			target, _ := os.Readlink("/proc/self/fd/" + e.Name())
			fds[e.Name()+" "+target] = true
		}
		return fds
	}
	warm, err := net.Listen("tcp", "127.0.0.1:0") // the runtime's own poller, made once
	if err != nil {
		t.Fatal(err)
	}
	warm.Close()
	before := openFDs()
	for _, conns := range []int{0, 5} {
		srv, err := New(Config{Addr: "127.0.0.1:0", Logger: testLogger(t), Tuning: Tuning{Loops: 3}}, BuiltinHandler{})
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve() }()
		<-srv.Ready()
		for range conns {
			c := dialRaw(t, srv, true)
			c.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		cancel()
		if err := <-served; err != ErrServerClosed {
			t.Fatalf("Serve: %v", err)
		}
		for fd := range openFDs() {
			if !before[fd] {
				t.Errorf("%d connections: descriptor %s open after Shutdown, not before New", conns, fd)
			}
		}
	}
}
