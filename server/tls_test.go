package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/internal/wstest"
)

// startTLSServer is startServer with TLS on, from a fresh test CA's
// certificate files; Dial trusts the CA for the returned wss:// URL.
func startTLSServer(t testing.TB, cfg Config, h Handler) (*Server, string, *wstest.CA) {
	t.Helper()
	ca := wstest.NewCA(t, t.TempDir(), "tls")
	cfg.TLS.CertFile, cfg.TLS.KeyFile = ca.CertFile, ca.KeyFile
	srv, url := startServer(t, cfg, h)
	wstest.Trust(srv.Addr().String(), ca.Pool)
	return srv, url, ca
}

// dialRawTLS is dialRaw over TLS (version: the most the client offers).
func dialRawTLS(t testing.TB, srv *Server, ca *wstest.CA, version uint16, upgrade bool) *rawConn {
	t.Helper()
	c, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: ca.Pool, MaxVersion: version})
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

// TestTLSGorilla: gorilla over crypto/tls, TLS 1.2 and 1.3, speaks the
// JSON protocol to a TLS server: echoes small and larger than a record,
// a room message to several TLS members, the closing handshakes both ways.
func TestTLSGorilla(t *testing.T) {
	srv, url, ca := startTLSServer(t, Config{Limits: Limits{MaxMessageSize: 1 << 20}, Rooms: Rooms{PublishRate: -1}}, NewRouter())
	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}} {
		t.Run(v.name, func(t *testing.T) {
			d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: &tls.Config{RootCAs: ca.Pool, MaxVersion: v.version}}
			var conns []*websocket.Conn
			var sids []string
			for i := 0; i < 3; i++ {
				c, _, err := d.Dial(url, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if cs := c.NetConn().(*tls.Conn).ConnectionState(); cs.Version != v.version {
					t.Fatalf("version %x", cs.Version)
				}
				sids = append(sids, welcomeSID(t, readText(t, c)))
				conns = append(conns, c)
			}
			c := conns[0]
			for _, size := range []int{10, 20000, 300000} {
				text := strings.Repeat("x", size)
				writeText(t, c, `{"cmd":"echo","seqno":"1","data":"`+text+`"}`)
				if got := readText(t, c); got != `{"cmd":"echo","seqno":"1","status":0,"msg":"ok","data":"`+text+`"}` {
					t.Fatalf("echo of %d bytes: %.80s…", size, got)
				}
			}
			for _, cl := range conns {
				writeText(t, cl, `{"cmd":"join","seqno":"2","data":{"room":"tls-`+v.name+`"}}`)
				for !strings.HasPrefix(readText(t, cl), `{"cmd":"join"`) {
				}
			}
			payload := strings.Repeat("y", 40000) // three records
			writeText(t, c, `{"cmd":"publish","seqno":"3","data":{"room":"tls-`+v.name+`","payload":"`+payload+`"}}`)
			for i, cl := range conns {
				for {
					got := readText(t, cl)
					if strings.HasPrefix(got, `{"cmd":"message"`) {
						if !strings.Contains(got, payload) {
							t.Fatalf("member %d: %.80s…", i, got)
						}
						break
					}
				}
			}
			// A client closes one, the server another (Disconnect).
			if err := c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "bye")); err != nil {
				t.Fatal(err)
			}
			expectClose(t, c, 4000)
			id, _, err := ParseSID(sids[1])
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Disconnect(id, 4001, "server says bye"); err != nil {
				t.Fatal(err)
			}
			if ce := expectClose(t, conns[1], 4001); ce.Text != "server says bye" {
				t.Fatalf("close reason %q", ce.Text)
			}
		})
	}
}

// welcomeSID returns the sid a welcome event carries.
func welcomeSID(t testing.TB, msg string) string {
	t.Helper()
	const prefix = `{"cmd":"welcome","data":{"sid":"`
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		t.Fatalf("not a welcome: %s", msg)
	}
	sid, _, _ := strings.Cut(rest, `"`)
	return sid
}

// TestTLSRecordsSplit: the upgrade request and a frame, each written one
// byte per record, then several frames in one record and a frame split
// over records mid-header: the loop reassembles across records. A client
// that offers h2 and http/1.1 is given http/1.1.
func TestTLSRecordsSplit(t *testing.T) {
	srv, _, ca := startTLSServer(t, Config{}, EchoHandler{})
	c, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: ca.Pool, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Fatalf("ALPN %q", p)
	}
	rc := &rawConn{t: t, Conn: c}
	for i := 0; i < len(upgradeRequest); i++ {
		rc.send([]byte{upgradeRequest[i]}) // one record each
	}
	if head := rc.readHTTP(); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("answer %q", head)
	}
	f := clientFrame(0x82, []byte("one byte at a time"), true)
	for i := range f {
		rc.send(f[i : i+1])
	}
	if _, p := rc.readFrame(); string(p) != "one byte at a time" {
		t.Fatalf("echo %q", p)
	}
	var three []byte
	for _, m := range []string{"a", "bb", "ccc"} {
		three = append(three, clientFrame(0x82, []byte(m), true)...)
	}
	rc.send(three)
	for _, m := range []string{"a", "bb", "ccc"} {
		if _, p := rc.readFrame(); string(p) != m {
			t.Fatalf("echo %q, want %q", p, m)
		}
	}
	big := clientFrame(0x82, bytes.Repeat([]byte("z"), 50000), true)
	rc.send(big[:1])
	rc.send(big[1:30000])
	rc.send(big[30000:])
	if _, p := rc.readFrame(); len(p) != 50000 {
		t.Fatalf("echo of %d bytes", len(p))
	}
}

// waitHandshakes waits until n TLS handshakes are in progress with their
// timers armed.
func waitHandshakes(t *testing.T, srv *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.hsMu.Lock()
		got := len(srv.hsConns)
		srv.hsMu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d handshakes in progress, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// expectEOF checks that c is closed by the server within 5 s.
func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf [256]byte
	for {
		_, err := c.Read(buf[:])
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server did not close the connection")
		}
		return
	}
}

// expectOpen checks that the server has not closed c (nothing arrives for
// a moment).
func expectOpen(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var buf [1]byte
	if _, err := c.Read(buf[:]); err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection ended early: %v", err)
	}
}

// TestTLSHandshakeTimeout: a client that connects and stalls, with
// nothing sent or with half a ClientHello, is closed once
// Limits.HandshakeTimeout has passed on the server's clock, and counted.
func TestTLSHandshakeTimeout(t *testing.T) {
	clk := newFakeClock()
	srv, _, _ := startTLSServer(t, Config{Clock: clk, Limits: Limits{HandshakeTimeout: 2 * time.Second}}, EchoHandler{})
	silent := dialRaw(t, srv, false).Conn
	half := dialRaw(t, srv, false).Conn
	_, _ = half.Write([]byte{22, 3, 1, 0, 200, 1, 0}) // a ClientHello's first bytes
	waitHandshakes(t, srv, 2)
	clk.Advance(2*time.Second - time.Millisecond)
	expectOpen(t, silent)
	expectOpen(t, half)
	clk.Advance(time.Millisecond)
	expectEOF(t, silent)
	expectEOF(t, half)
	waitHandshakes(t, srv, 0)
	if st := srv.Stats(); st.TLSHandshakeFailures != 2 || st.TLSHandshakes != 0 || st.Conns != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestTLSMaxHandshakes: past TLS.MaxHandshakes in progress, a connection
// is closed at once and counted as refused; handshakes that complete do
// not count against the bound.
func TestTLSMaxHandshakes(t *testing.T) {
	clk := newFakeClock()
	srv, url, _ := startTLSServer(t, Config{Clock: clk, TLS: TLS{MaxHandshakes: 1}}, EchoHandler{})
	c := dial(t, url) // completed: not counted
	stalled := dialRaw(t, srv, false).Conn
	waitHandshakes(t, srv, 1)
	over := dialRaw(t, srv, false).Conn
	expectEOF(t, over)
	if st := srv.Stats(); st.Refused != 1 || st.TLSHandshaking != 1 {
		t.Fatalf("stats: %+v", st)
	}
	_ = stalled.Close()
	waitHandshakes(t, srv, 0)
	dial(t, url).Close() // room again
	if err := c.WriteMessage(websocket.BinaryMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "still here" {
		t.Fatalf("echo %q %v", p, err)
	}
}

// TestTLSPlainHTTP: a plain HTTP request on the TLS port (a ws:// URL for
// a wss:// server) is answered with 400 and a word about it.
func TestTLSPlainHTTP(t *testing.T) {
	srv, _, _ := startTLSServer(t, Config{}, EchoHandler{})
	rc := dialRaw(t, srv, false)
	rc.send([]byte(upgradeRequest))
	if head := rc.readHTTP(); !strings.HasPrefix(head, "HTTP/1.0 400 ") || !strings.Contains(head, "TLS (wss://) server") {
		t.Fatalf("answer %q", head)
	}
	expectEOF(t, rc.Conn)
	if st := srv.Stats(); st.TLSHandshakeFailures != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

// tamperConn flips a bit of every write once armed: a record that does
// not authenticate.
type tamperConn struct {
	net.Conn
	armed atomic.Bool
}

func (c *tamperConn) Write(p []byte) (int, error) {
	if c.armed.Load() && len(p) > 0 {
		p = bytes.Clone(p)
		p[len(p)-1] ^= 1
	}
	return c.Conn.Write(p)
}

// TestTLSBadRecord: a record that does not authenticate ends its
// connection with a bad_record_mac alert; garbage where a record should
// be, with decode_error; other connections carry on.
func TestTLSBadRecord(t *testing.T) {
	srv, url, ca := startTLSServer(t, Config{}, EchoHandler{})
	other := dial(t, url)
	for _, tc := range []struct {
		name, alert string
		tamper      func(tc *tamperConn)
	}{
		{"tampered", "bad record MAC", func(tc *tamperConn) { tc.armed.Store(true) }},
		{"garbage", "error decoding message", func(tc *tamperConn) { _, _ = tc.Conn.Write([]byte("not a TLS record at all")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := dialRaw(t, srv, false).Conn
			tpc := &tamperConn{Conn: raw}
			c := tls.Client(tpc, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
			defer c.Close()
			rc := &rawConn{t: t, Conn: c}
			rc.send([]byte(upgradeRequest))
			rc.readHTTP()
			tc.tamper(tpc)
			_, _ = c.Write(clientFrame(0x82, []byte("hello"), true))
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := io.ReadAll(c)
			if err == nil || !strings.Contains(err.Error(), tc.alert) {
				t.Fatalf("the client read %v, want the alert %q", err, tc.alert)
			}
		})
	}
	if err := other.WriteMessage(websocket.BinaryMessage, []byte("unharmed")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := other.ReadMessage(); err != nil || string(p) != "unharmed" {
		t.Fatalf("echo %q %v", p, err)
	}
}

// TestTLSReloadCertificate: ReloadCertificate serves the files' new
// certificate to new connections while those open carry on; a reload
// from a broken file fails and keeps the certificate in use.
func TestTLSReloadCertificate(t *testing.T) {
	dir := t.TempDir()
	first, second := wstest.NewCA(t, dir, "first"), wstest.NewCA(t, dir, "second")
	certFile, keyFile := dir+"/cert.pem", dir+"/key.pem"
	install := func(ca *wstest.CA) {
		for src, dst := range map[string]string{ca.CertFile: certFile, ca.KeyFile: keyFile} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(first)
	srv, _ := startServer(t, Config{TLS: TLS{CertFile: certFile, KeyFile: keyFile}}, EchoHandler{})
	subject := func(ca *wstest.CA) string {
		c, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: ca.Pool})
		if err != nil {
			t.Fatalf("dial trusting %s: %v", ca.Subject, err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := subject(first); got != first.Subject {
		t.Fatalf("serving %q", got)
	}
	open := dialRawTLS(t, srv, first, tls.VersionTLS13, true)
	install(second)
	if err := srv.ReloadCertificate(); err != nil {
		t.Fatal(err)
	}
	if got := subject(second); got != second.Subject {
		t.Fatalf("after the reload: serving %q", got)
	}
	open.send(clientFrame(0x82, []byte("same connection"), true))
	if _, p := open.readFrame(); string(p) != "same connection" {
		t.Fatalf("echo %q", p)
	}
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.ReloadCertificate(); err == nil {
		t.Fatal("a reload from a broken key file succeeded")
	}
	if got := subject(second); got != second.Subject {
		t.Fatalf("after a failed reload: serving %q", got)
	}
}

// TestTLSShutdown: Shutdown ends the handshakes in progress (the server's
// clock never reaches their timeout here) and returns.
func TestTLSShutdown(t *testing.T) {
	clk := newFakeClock()
	srv, _, _ := startTLSServer(t, Config{Clock: clk}, EchoHandler{})
	stalled := dialRaw(t, srv, false).Conn
	waitHandshakes(t, srv, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	expectEOF(t, stalled)
	waitHandshakes(t, srv, 0)
	if st := srv.Stats(); st.TLSHandshakeFailures != 0 {
		t.Fatalf("a handshake Shutdown cut counted as failed: %+v", st)
	}
}

// addrHandler records the client address of every connection it opens.
type addrHandler struct {
	BuiltinHandler
	addrs chan string
}

func (h addrHandler) OnOpen(s *Session, _ *codec.Request) error {
	h.addrs <- s.RemoteAddr().String()
	return nil
}

// TestTLSProxyProtocol: a PROXY header in front of the TLS handshake
// gives the session the client's address; one from an address that is not
// a trusted proxy closes the connection before any TLS.
func TestTLSProxyProtocol(t *testing.T) {
	h := addrHandler{addrs: make(chan string, 4)}
	for _, tc := range []struct {
		name    string
		trusted string
		header  string
	}{
		{"v1", "127.0.0.0/8", "PROXY TCP4 203.0.113.7 127.0.0.1 5555 443\r\n"},
		{"v2", "127.0.0.0/8", string(proxyV2(netip.MustParseAddrPort("198.51.100.9:6000")))},
		{"untrusted", "10.0.0.0/8", "PROXY TCP4 203.0.113.7 127.0.0.1 5555 443\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _, ca := startTLSServer(t, Config{Proxies: Proxies{Protocol: true, Trusted: []netip.Prefix{netip.MustParsePrefix(tc.trusted)}}}, h)
			raw := dialRaw(t, srv, false).Conn
			if _, err := raw.Write([]byte(tc.header)); err != nil {
				t.Fatal(err)
			}
			if tc.name == "untrusted" {
				expectEOF(t, raw)
				if st := srv.Stats(); st.ProxyRefused != 1 || st.TLSHandshakeFailures != 0 {
					t.Fatalf("stats %+v", st)
				}
				return
			}
			c := tls.Client(raw, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
			rc := &rawConn{t: t, Conn: c}
			rc.send([]byte(upgradeRequest))
			if head := rc.readHTTP(); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
				t.Fatalf("answer %q", head)
			}
			want := map[string]string{"v1": "203.0.113.7:5555", "v2": "198.51.100.9:6000"}[tc.name]
			if got := <-h.addrs; got != want {
				t.Fatalf("RemoteAddr %s, want %s", got, want)
			}
		})
	}
}

// TestTLSNodeClient: Node's ws over wss://, trusting the test CA, runs
// the JSON protocol checks (a fragmented 1 MiB echo among them) and the
// rooms checks, and with permessage-deflate the compression
// checks: compressed frames inside TLS records.
func TestTLSNodeClient(t *testing.T) {
	for _, mode := range []string{"json", "rooms", "deflate"} {
		t.Run(mode, func(t *testing.T) {
			_, url, ca := startTLSServer(t, Config{Compression: Compression{Enabled: mode == "deflate"}, Rooms: Rooms{PublishRate: -1},
				Limits: Limits{MaxMessageSize: 2 << 20}}, NewRouter())
			nodeClient(t, mode, url, "NODE_EXTRA_CA_CERTS="+ca.CAFile)
		})
	}
}

// tlsCloser echoes binary messages, closes the connection on "close
// me", and reports each connection's CloseReason.
type tlsCloser struct {
	BuiltinHandler
	reasons chan CloseReason
}

func (h tlsCloser) OnMessage(s *Session, op codec.OpCode, p []byte) {
	if string(p) == "close me" {
		_ = s.Close(4002, "as asked")
		return
	}
	_ = s.WriteMessage(op, p)
}

func (h tlsCloser) OnClose(s *Session, r CloseReason) { h.reasons <- r }

// TestTLSCloseNotify: a TLS connection ends with close_notify after the
// last frame whoever closes it (the client then reads io.EOF, not a
// truncation); a rejected upgrade request too; a client's close_notify
// without a close frame closes the session as a disconnect (1006).
func TestTLSCloseNotify(t *testing.T) {
	h := tlsCloser{reasons: make(chan CloseReason, 8)}
	srv, _, ca := startTLSServer(t, Config{}, h)
	readEOF := func(rc *rawConn) {
		t.Helper()
		_ = rc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if rest, err := io.ReadAll(rc.Conn); err != nil || len(rest) != 0 {
			t.Fatalf("after the close: %q, %v (want close_notify: a clean EOF)", rest, err)
		}
	}
	t.Run("server closes", func(t *testing.T) {
		rc := dialRawTLS(t, srv, ca, tls.VersionTLS13, true)
		rc.send(clientFrame(0x82, []byte("close me"), true))
		rc.expectCloseCode(4002)
		rc.send(clientFrame(0x88, []byte{0x0f, 0xa2}, true)) // the answer
		readEOF(rc)
		if r := <-h.reasons; r.Code != 4002 || r.Cause != CauseServer {
			t.Fatalf("reason %+v", r)
		}
	})
	t.Run("client closes", func(t *testing.T) {
		rc := dialRawTLS(t, srv, ca, tls.VersionTLS12, true)
		rc.send(clientFrame(0x88, []byte{0x03, 0xe8}, true))
		rc.expectCloseCode(1000)
		readEOF(rc)
		if r := <-h.reasons; r.Code != 1000 || r.Cause != CauseClient {
			t.Fatalf("reason %+v", r)
		}
	})
	t.Run("close_notify alone", func(t *testing.T) {
		rc := dialRawTLS(t, srv, ca, tls.VersionTLS13, true)
		if err := rc.Conn.(*tls.Conn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		readEOF(rc)
		if r := <-h.reasons; r.Code != 1006 || r.Cause != CauseDisconnect || !strings.Contains(r.Text, "close_notify") {
			t.Fatalf("reason %+v", r)
		}
	})
	t.Run("rejected upgrade", func(t *testing.T) {
		rc := dialRawTLS(t, srv, ca, tls.VersionTLS13, false)
		rc.send([]byte(strings.Replace(upgradeRequest, "/ws", "/elsewhere", 1)))
		if head := rc.readHTTP(); !strings.HasPrefix(head, "HTTP/1.1 404 ") {
			t.Fatalf("answer %q", head)
		}
		readEOF(rc)
	})
}

// TestTLSKeyUpdate: OpenSSL's s_client opens a WebSocket over TLS 1.3,
// asks for a KeyUpdate ("K"), and goes on: the server reads the frames
// sealed under the client's new keys, answers with a KeyUpdate of its own
// (s_client -msg shows it arrive) and seals its replies under its new keys.
func TestTLSKeyUpdate(t *testing.T) {
	openssl := lookOpenSSL(t)
	srv, _, ca := startTLSServer(t, Config{}, EchoHandler{})
	cmd := exec.Command(openssl, "s_client", "-connect", srv.Addr().String(), "-tls1_3", "-CAfile", ca.CAFile, "-msg")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen strings.Builder
	await := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("s_client ended before %q:\n%s", want, seen.String())
				}
				seen.WriteString(l + "\n")
				if strings.Contains(l, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q from s_client:\n%s", want, seen.String())
			}
		}
	}
	// s_client sends each read of its input as it is; its commands are
	// lines that start with a letter, which a frame (0x82) never does.
	frame := func(text string) []byte {
		text += "\n"                                          // the echo ends a line of s_client's output
		f := []byte{0x82, 0x80 | byte(len(text)), 0, 0, 0, 0} // mask key 0: the payload as it is
		return append(f, text...)
	}
	await("Verify return code: 0")
	_, _ = io.WriteString(in, upgradeRequest)
	await("101 Switching Protocols")
	_, _ = in.Write(frame("before-the-update"))
	await("before-the-update")
	_, _ = io.WriteString(in, "K\n")
	await("KEYUPDATE")
	_, _ = in.Write(frame("after-the-update"))
	await("KeyUpdate") // -msg: the server's own KeyUpdate arrives
	await("after-the-update")
	_, _ = in.Write(frame("and-once-more"))
	await("and-once-more")
}

// lookOpenSSL finds the openssl command; a machine without it skips, CI
// (which has it) fails.
func lookOpenSSL(t *testing.T) string {
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is not installed")
		}
		t.Skip("openssl is not installed")
	}
	return p
}

// TestTLSConfigRefused: TLS settings New cannot serve with are refused
// with a word about them.
func TestTLSConfigRefused(t *testing.T) {
	ca := wstest.NewCA(t, t.TempDir(), "cfg")
	for _, tc := range []struct {
		name string
		tls  TLS
		want string
	}{
		{"cert without key", TLS{CertFile: ca.CertFile}, "go together"},
		{"no certificate", TLS{Config: &tls.Config{}}, "has no certificate"},
		{"GetConfigForClient", TLS{Config: &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return nil, nil }}}, "GetConfigForClient is not supported"},
		{"missing file", TLS{CertFile: ca.CertFile + ".gone", KeyFile: ca.KeyFile}, "no such file"},
		{"key of another certificate", TLS{CertFile: ca.CertFile, KeyFile: wstest.NewCA(t, t.TempDir(), "other").KeyFile}, "private key does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{Logger: testLogger(t), TLS: tc.tls}, EchoHandler{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestTLSHandshakesPerIP: with Limits.MaxConnsPerIP, one address cannot
// hold more TLS handshakes in progress than that (it would fill
// TLS.MaxHandshakes for everyone); another address still can, and the
// slots come back when the handshakes end.
func TestTLSHandshakesPerIP(t *testing.T) {
	clk := newFakeClock()
	srv, url, _ := startTLSServer(t, Config{Clock: clk, Limits: Limits{MaxConnsPerIP: 2}}, EchoHandler{})
	var stalled []net.Conn
	for i := 0; i < 2; i++ {
		c := dialRaw(t, srv, false).Conn
		stalled = append(stalled, c)
	}
	waitHandshakes(t, srv, 2)
	over := dialRaw(t, srv, false).Conn
	expectEOF(t, over)
	if st := srv.Stats(); st.IPConnsRefused != 1 || st.TLSHandshaking != 2 {
		t.Fatalf("stats: %+v", st)
	}
	// Another address is not held back.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.9")}}
	other, err := d.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	waitHandshakes(t, srv, 3)
	_ = other.Close()
	for _, c := range stalled {
		_ = c.Close()
	}
	waitHandshakes(t, srv, 0)
	c := dial(t, url) // the slots are back
	c.Close()
}
