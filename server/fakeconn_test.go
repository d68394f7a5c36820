package server

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/internal/tlsrec"
	"github.com/wsloop/wsloop/internal/wstest"
	"golang.org/x/sys/unix"
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

// openFakeTLS is openFake for a TLS connection: the handshake runs over a
// pipe (as the accept path runs it), the fake connection opens with its
// keys, and the returned peer is the client's side of the record layer,
// which seals what the test sends and opens what the server wrote.
func openFakeTLS(t testing.TB, h Handler, version uint16) (*events, *fakeConn, *tlsrec.State) {
	t.Helper()
	ca := wstest.NewCA(t, t.TempDir(), "fake")
	srv, err := New(Config{Logger: testLogger(t), TLS: TLS{CertFile: ca.CertFile, KeyFile: ca.KeyFile}}, h)
	if err != nil {
		t.Fatal(err)
	}
	srv.noDirect = true
	sc, cc := net.Pipe()
	defer sc.Close()
	defer cc.Close()
	done := make(chan error, 1)
	go func() {
		c := tls.Client(cc, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost", MinVersion: version, MaxVersion: version})
		done <- c.Handshake()
	}()
	st, err := tlsrec.Handshake(sc, srv.tlsCfg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	peer := st.Peer()
	e := &events{srv: srv}
	fc := &fakeConn{ctx: &enrollToken{tls: st}}
	e.OnOpen(fc)
	fc.traffic(e, peer.Seal(nil, []byte(upgradeRequest)))
	if plain := openAll(t, peer, fc.written); !bytes.HasPrefix(plain, []byte("HTTP/1.1 101 ")) {
		t.Fatalf("handshake: %q", plain)
	}
	fc.reset()
	return e, fc, peer
}

// openAll opens the records in b with peer and returns their plaintext.
func openAll(t testing.TB, peer *tlsrec.State, b []byte) []byte {
	t.Helper()
	var plain []byte
	for len(b) > 0 {
		n, err := tlsrec.Next(b)
		if err != nil || n == 0 {
			t.Fatalf("not whole records: %v (%d bytes left)", err, len(b))
		}
		p, err := peer.Open(b[:n])
		if err != nil {
			t.Fatal(err)
		}
		plain = append(plain, p...)
		b = b[n:]
	}
	return plain
}

// TestTLSCorkedReplies: the replies to the requests of one read leave in
// one write, sealed in one record (docs/architecture.md, "TLS").
func TestTLSCorkedReplies(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		e, fc, peer := openFakeTLS(t, NewRouter(), v)
		var in []byte
		for i := 0; i < 4; i++ {
			in = append(in, clientFrame(0x81, []byte(`{"cmd":"echo","seqno":"`+itoa(i)+`","data":"x"}`), true)...)
		}
		// Two records in one read, the second split from the first mid-frame.
		rec := peer.Seal(nil, in[:50])
		rec = peer.Seal(rec, in[50:])
		fc.traffic(e, rec)
		if fc.writes != 1 {
			t.Fatalf("4 requests in one read produced %d writes, want 1", fc.writes)
		}
		if n, _ := tlsrec.Next(fc.written); n != len(fc.written) {
			t.Fatalf("the replies are not one record: first %d of %d bytes", n, len(fc.written))
		}
		rc := &rawConn{t: t, buf: openAll(t, peer, fc.written)}
		for i := 0; i < 4; i++ {
			op, p := rc.readFrame()
			if want := `{"cmd":"echo","seqno":"` + itoa(i) + `","status":0,"msg":"ok","data":"x"}`; op != 1 || string(p) != want {
				t.Fatalf("reply %d: op %d %s", i, op, p)
			}
		}
	}
}

// fdRecorder reports the descriptor of each connection it opens.
type fdRecorder struct {
	BuiltinHandler
	fds chan int
}

func (h fdRecorder) OnOpen(s *Session, _ *codec.Request) error {
	h.fds <- s.gc.Fd()
	return nil
}

// TestAcceptedSocketOptions: an accepted socket has TCP_NODELAY (replies
// leave at once) and no TCP keepalive (heartbeats find dead clients; a
// million idle sockets probed every 15 s would be the kernel's load).
func TestAcceptedSocketOptions(t *testing.T) {
	h := fdRecorder{fds: make(chan int, 1)}
	_, url := startServer(t, Config{}, h)
	c := dial(t, url)
	defer c.Close()
	fd := <-h.fds
	if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || v == 0 {
		t.Errorf("TCP_NODELAY = %d, %v; want on", v, err)
	}
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE); err != nil || v != 0 {
		t.Errorf("SO_KEEPALIVE = %d, %v; want off", v, err)
	}
}
