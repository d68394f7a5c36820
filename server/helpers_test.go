package server

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/wsloop/wsloop/clock"
	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/internal/wstest"
)

// Client helpers shared with the other packages' tests.
var (
	testLogger  = wstest.Logger
	dial        = wstest.Dial
	dialRouter  = wstest.DialRouter
	readText    = wstest.ReadText
	writeText   = wstest.WriteText
	expectClose = wstest.ExpectClose
	newClient   = wstest.NewClient
	data        = wstest.Data
)

type client = wstest.Client

// startServer runs a server on a free loopback port until the test ends and
// returns it with its ws:// URL.
func startServer(t testing.TB, cfg Config, h Handler) (*Server, string) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.Tuning.Loops == 0 {
		cfg.Tuning.Loops = 2
	}
	srv, err := New(cfg, h)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-served:
		t.Fatalf("Serve: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-served; err != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	scheme := "ws://"
	if cfg.TLS.Enabled() {
		scheme = "wss://"
	}
	return srv, scheme + srv.Addr().String() + srv.Config().Path
}

// rawConn is a hand-driven client for cases a real client will not produce.
type rawConn struct {
	t testing.TB
	net.Conn
	buf []byte
}

const upgradeRequest = "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// dialRaw opens a TCP connection and, if upgrade, performs the handshake.
func dialRaw(t testing.TB, srv *Server, upgrade bool) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawConn{t: t, Conn: c}
	if upgrade {
		rc.upgrade()
	}
	return rc
}

// upgrade sends the upgrade request and expects 101.
func (rc *rawConn) upgrade() {
	rc.t.Helper()
	rc.send([]byte(upgradeRequest))
	if head := rc.readHTTP(); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		rc.t.Fatalf("handshake answer %q", head)
	}
}

func (rc *rawConn) send(b []byte) {
	rc.t.Helper()
	if _, err := rc.Write(b); err != nil {
		rc.t.Fatalf("raw write: %v", err)
	}
}

func (rc *rawConn) fill() bool {
	_ = rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	tmp := make([]byte, 64<<10)
	n, err := rc.Read(tmp)
	rc.buf = append(rc.buf, tmp[:n]...)
	// crypto/tls returns the last bytes together with io.EOF when a
	// close_notify follows them in the same read.
	return err == nil || n > 0
}

// readHTTP returns one HTTP response head plus its body if Content-Length says so.
func (rc *rawConn) readHTTP() string {
	rc.t.Helper()
	for !bytes.Contains(rc.buf, []byte("\r\n\r\n")) {
		if !rc.fill() {
			rc.t.Fatalf("connection ended before a response head: %q", rc.buf)
		}
	}
	i := bytes.Index(rc.buf, []byte("\r\n\r\n")) + 4
	head := string(rc.buf[:i])
	rc.buf = rc.buf[i:]
	if j := strings.Index(strings.ToLower(head), "content-length: "); j >= 0 {
		var n int
		for _, ch := range head[j+16:] {
			if ch < '0' || ch > '9' {
				break
			}
			n = n*10 + int(ch-'0')
		}
		for len(rc.buf) < n && rc.fill() {
		}
		head += string(rc.buf[:n])
		rc.buf = rc.buf[n:]
	}
	return head
}

// readFrame returns the next server frame (server frames are unmasked).
func (rc *rawConn) readFrame() (op byte, payload []byte) {
	rc.t.Helper()
	for {
		if len(rc.buf) >= 2 {
			n := int(rc.buf[1] & 0x7f)
			hdr := 2
			switch n {
			case 126:
				hdr = 4
			case 127:
				hdr = 10
			}
			if len(rc.buf) >= hdr {
				switch n {
				case 126:
					n = int(rc.buf[2])<<8 | int(rc.buf[3])
				case 127:
					n = 0
					for _, b := range rc.buf[2:10] {
						n = n<<8 | int(b)
					}
				}
				if len(rc.buf) >= hdr+n {
					op, payload = rc.buf[0]&0x0f, append([]byte(nil), rc.buf[hdr:hdr+n]...)
					rc.buf = rc.buf[hdr+n:]
					return op, payload
				}
			}
		}
		if !rc.fill() {
			rc.t.Fatalf("connection ended mid-frame (buffered %d bytes)", len(rc.buf))
		}
	}
}

// readRawFrame reads the next frame and returns its header (with its RSV
// bits) and payload.
func (rc *rawConn) readRawFrame() (codec.Header, []byte) {
	rc.t.Helper()
	for {
		var h codec.Header
		if n, err := h.Decode(rc.buf); err == nil && len(rc.buf) >= n+int(h.Length) {
			p := append([]byte(nil), rc.buf[n:n+int(h.Length)]...)
			rc.buf = rc.buf[n+int(h.Length):]
			return h, p
		}
		if !rc.fill() {
			rc.t.Fatalf("connection ended mid-frame (buffered %d bytes)", len(rc.buf))
		}
	}
}

// expectCloseCode reads frames until a close frame and checks its code.
func (rc *rawConn) expectCloseCode(code int) string {
	rc.t.Helper()
	for {
		op, p := rc.readFrame()
		if op != 0x8 {
			continue
		}
		if len(p) < 2 {
			rc.t.Fatalf("close frame without code, want %d", code)
		}
		got := int(p[0])<<8 | int(p[1])
		if got != code {
			rc.t.Fatalf("close code %d (%q), want %d", got, p[2:], code)
		}
		return string(p[2:])
	}
}

// clientFrame builds a client frame; mask=false produces the illegal unmasked form.
func clientFrame(b0 byte, payload []byte, mask bool) []byte {
	f := []byte{b0}
	mbit := byte(0)
	if mask {
		mbit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		f = append(f, mbit|byte(n))
	case n < 1<<16:
		f = append(f, mbit|126, byte(n>>8), byte(n))
	default:
		f = append(f, mbit|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	if !mask {
		return append(f, payload...)
	}
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	f = append(f, key[:]...)
	for i, b := range payload {
		f = append(f, b^key[i&3])
	}
	return f
}

// closeRecorder is a Handler that records OnClose reasons.
type closeRecorder struct {
	Handler
	mu      sync.Mutex
	reasons []CloseReason
	closed  chan CloseReason
}

func newCloseRecorder(h Handler) *closeRecorder {
	return &closeRecorder{Handler: h, closed: make(chan CloseReason, 1<<14)}
}

func (r *closeRecorder) OnClose(s *Session, reason CloseReason) {
	r.Handler.OnClose(s, reason)
	r.closed <- reason
}

func (r *closeRecorder) next(t testing.TB) CloseReason {
	t.Helper()
	select {
	case reason := <-r.closed:
		return reason
	case <-time.After(5 * time.Second):
		t.Fatal("OnClose was not called")
		return CloseReason{}
	}
}

// sendPaths runs test twice: with the loops' io_uring batching (the
// default) and with one system call per connection (Config.Tuning.NoIOUring).
// test returns its server; with batching, at least one submission must
// have happened (unless this kernel refuses io_uring, which is logged).
func sendPaths(t *testing.T, test func(t *testing.T, noIOUring bool) *Server) {
	t.Run("io_uring", func(t *testing.T) {
		srv := test(t, false)
		if !srv.batchSends {
			t.Log("io_uring unavailable here: the loops sent one system call per connection")
			return
		}
		var submits uint64
		for _, l := range *srv.loops.Load() {
			submits += l.stats.uringSubmits.Load()
		}
		if submits == 0 {
			t.Fatal("no io_uring submission happened")
		}
	})
	t.Run("send", func(t *testing.T) {
		if srv := test(t, true); srv.batchSends {
			t.Fatal("NoIOUring set, but the loops batch with io_uring")
		}
	})
}

// newFakeClock returns a fake clock at a fixed time, for Config.Clock.
func newFakeClock() *clock.Fake { return clock.NewFake(time.Unix(1_700_000_000, 0)) }

// syncLoops waits until every loop of srv has run what was queued on it
// before the call: gnet runs a loop's tasks in order, and the events of
// sockets that were readable before the task was queued come first.
func syncLoops(t testing.TB, srv *Server) {
	t.Helper()
	for _, l := range *srv.loops.Load() {
		done := make(chan struct{})
		if err := l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			close(done)
			return nil
		})); err != nil {
			t.Fatalf("loop %d: %v", l.idx, err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("loop %d did not run a task within 10 s", l.idx)
		}
	}
}

// advance moves the fake clock c of srv by d and waits until the loops
// have run the ticks it caused (timeouts fired, closes done).
func advance(t testing.TB, srv *Server, c *clock.Fake, d time.Duration) {
	t.Helper()
	c.Advance(d)
	syncLoops(t, srv)
}
