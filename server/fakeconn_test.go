package server

import (
	"bytes"
	"net"
	"testing"

	"github.com/panjf2000/gnet/v2"
)

// fakeConn is a gnet.Conn without a socket: it serves OnTraffic from a byte
// slice and counts writes, so tests can see what one wakeup writes and how
// often. Methods the server must not use on this path are left to the nil
// embedded interface and panic if called.
type fakeConn struct {
	gnet.Conn
	in      []byte
	ctx     any
	fd      int // 0: 7
	writes  int
	written []byte
}

func (f *fakeConn) Peek(n int) ([]byte, error) { return f.in, nil }
func (f *fakeConn) Discard(n int) (int, error) {
	f.in = f.in[n:]
	return n, nil
}
func (f *fakeConn) Write(p []byte) (int, error) {
	f.writes++
	f.written = append(f.written, p...)
	return len(p), nil
}
func (f *fakeConn) Writev(bs [][]byte) (int, error) {
	f.writes++
	n := 0
	for _, b := range bs {
		f.written = append(f.written, b...)
		n += len(b)
	}
	return n, nil
}
func (f *fakeConn) Context() any     { return f.ctx }
func (f *fakeConn) SetContext(c any) { f.ctx = c }
func (f *fakeConn) Fd() int {
	if f.fd == 0 {
		return 7
	}
	return f.fd
}
func (f *fakeConn) EventLoop() gnet.EventLoop   { return nil }
func (f *fakeConn) OutboundBuffered() int       { return 0 }
func (f *fakeConn) RemoteAddr() net.Addr        { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (f *fakeConn) reset()                      { f.writes, f.written = 0, f.written[:0] }
func (f *fakeConn) traffic(e *events, b []byte) { f.in = b; e.OnTraffic(f) }

// handshakeFake returns a server's event glue and a fake connection that
// has sent its upgrade request; fc.written holds what the server answered.
func handshakeFake(t testing.TB, h Handler) (*events, *fakeConn) {
	t.Helper()
	srv, err := New(Config{Logger: testLogger(t)}, h)
	if err != nil {
		t.Fatal(err)
	}
	srv.noDirect = true
	e := &events{srv: srv}
	fc := &fakeConn{}
	e.OnOpen(fc)
	fc.traffic(e, []byte(upgradeRequest))
	if fc.writes != 1 || !bytes.HasPrefix(fc.written, []byte("HTTP/1.1 101 ")) {
		t.Fatalf("handshake: %d writes: %q", fc.writes, fc.written)
	}
	return e, fc
}

// openFake is handshakeFake with the answer consumed.
func openFake(t testing.TB, h Handler) (*events, *fakeConn) {
	e, fc := handshakeFake(t, h)
	fc.reset()
	return e, fc
}

// TestCorkedReplies: all replies to the frames of one read leave in one
// write (docs/architecture.md, "The one rule").
func TestCorkedReplies(t *testing.T) {
	e, fc := openFake(t, NewRouter())
	var in []byte
	for i := 0; i < 4; i++ {
		in = append(in, clientFrame(0x81, []byte(`{"cmd":"echo","seqno":"`+itoa(i)+`","data":"x"}`), true)...)
	}
	in = append(in, clientFrame(0x89, []byte("p"), true)...) // a ping among them
	fc.traffic(e, in)
	if fc.writes != 1 {
		t.Fatalf("4 requests and a ping in one read produced %d writes, want 1", fc.writes)
	}
	rc := &rawConn{t: t, buf: fc.written}
	for i := 0; i < 4; i++ {
		op, p := rc.readFrame()
		want := `{"cmd":"echo","seqno":"` + itoa(i) + `","status":0,"msg":"ok","data":"x"}`
		if op != 1 || string(p) != want {
			t.Fatalf("reply %d: op %d %s", i, op, p)
		}
	}
	if op, p := rc.readFrame(); op != 0xA || string(p) != "p" {
		t.Fatalf("pong: op %d %q", op, p)
	}
}

// TestHandshakeAndWelcomeOneWrite: the 101 response and the welcome event
// leave together.
func TestHandshakeAndWelcomeOneWrite(t *testing.T) {
	_, fc := handshakeFake(t, NewRouter())
	if !bytes.Contains(fc.written, []byte(`{"cmd":"welcome","data":{"sid":"`)) {
		t.Fatalf("the one write lacks the welcome: %q", fc.written)
	}
}
