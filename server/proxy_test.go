package server

import (
	"encoding/binary"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsloop/wsloop/codec"
)

// addrRecorder is the echo handler that records each connection's
// RemoteAddr at open.
type addrRecorder struct {
	EchoHandler
	mu    sync.Mutex
	addrs []string
}

func (h *addrRecorder) OnOpen(s *Session, _ *codec.Request) error {
	h.mu.Lock()
	h.addrs = append(h.addrs, s.RemoteAddr().String())
	h.mu.Unlock()
	return nil
}

func (h *addrRecorder) last(t *testing.T) string {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.addrs) == 0 {
		t.Fatal("no connection opened")
	}
	return h.addrs[len(h.addrs)-1]
}

const upgrade = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

func proxyV2(src netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
	a := src.Addr().As4()
	b = append(b, a[:]...)
	b = append(b, 10, 0, 0, 1)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, 8080)
}

// TestProxyProtocol: behind a trusted proxy that speaks the PROXY
// protocol, a connection is its client's: RemoteAddr and the per-address
// limit use the address the header gives, in version 1 or 2, also when
// the header and the request arrive in pieces. A connection without a
// header, with a malformed one, or from an untrusted address is closed,
// and counted.
func TestProxyProtocol(t *testing.T) {
	h := &addrRecorder{}
	srv, _ := startServer(t, Config{Proxies: Proxies{Protocol: true, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		Limits: Limits{MaxConnsPerIP: 1}}, h)
	open := func(parts ...string) (*rawConn, string) {
		rc := dialRaw(t, srv, false)
		for _, p := range parts {
			rc.send([]byte(p))
			time.Sleep(5 * time.Millisecond) // a real socket: let each piece arrive alone
		}
		return rc, rc.readHTTP()
	}
	_, head := open("PROXY TCP4 203.0.113.7 10.0.0.1 54100 8080\r\n" + upgrade + "\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 101") || h.last(t) != "203.0.113.7:54100" {
		t.Fatalf("v1: %q, RemoteAddr %s", head, h.last(t))
	}
	_, head = open(string(proxyV2(netip.MustParseAddrPort("198.51.100.4:40000"))), upgrade, "\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 101") || h.last(t) != "198.51.100.4:40000" {
		t.Fatalf("v2: %q, RemoteAddr %s", head, h.last(t))
	}
	_, head = open("PROXY TCP4 203.0.113.7 10.0.0.1 ", "54101 8080\r\n", upgrade+"\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 429") {
		t.Fatalf("a second connection of 203.0.113.7: %q", head)
	}
	for _, bad := range []string{upgrade + "\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n" + upgrade + "\r\n"} {
		rc := dialRaw(t, srv, false)
		rc.send([]byte(bad))
		_ = rc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := rc.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("%.30q: read %d, %v; want the connection closed", bad, n, err)
		}
	}
	if st := srv.Stats(); st.ProxyRefused != 2 {
		t.Errorf("ProxyRefused = %d, want 2", st.ProxyRefused)
	}
	// From an address that is not a trusted proxy: closed.
	srv2, _ := startServer(t, Config{Proxies: Proxies{Protocol: true, Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}, h)
	rc := dialRaw(t, srv2, false)
	rc.send([]byte("PROXY TCP4 203.0.113.7 10.0.0.1 54100 8080\r\n" + upgrade + "\r\n"))
	_ = rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := rc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("untrusted sender: %v", err)
	}
	if _, err := New(Config{Proxies: Proxies{Protocol: true}}, NewRouter()); err == nil {
		t.Error("Protocol without Trusted accepted")
	}
}

// TestForwardedFor: from a trusted proxy, the rightmost address of
// X-Forwarded-For that is not a trusted proxy is the client (X-Real-IP
// without it); from anyone else, the headers are ignored.
func TestForwardedFor(t *testing.T) {
	h := &addrRecorder{}
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	srv, _ := startServer(t, Config{Proxies: Proxies{Trusted: trusted}}, h)
	for _, tc := range []struct{ headers, want string }{
		{"X-Forwarded-For: 198.51.100.9\r\n", "198.51.100.9"},
		{"X-Forwarded-For: 6.6.6.6, 198.51.100.9, 10.1.2.3\r\n", "198.51.100.9"}, // the client forged the leftmost
		{"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 198.51.100.10, 10.0.0.2\r\n", "198.51.100.10"},
		{"X-Forwarded-For: 10.0.0.7, 10.0.0.2\r\n", "10.0.0.7"},
		{"X-Forwarded-For: 198.51.100.9, junk\r\n", "127.0.0.1"},
		{"X-Real-IP: 192.0.2.55\r\n", "192.0.2.55"},
		{"X-Forwarded-For: ::ffff:198.51.100.11\r\n", "198.51.100.11"},
		{"", "127.0.0.1"},
	} {
		rc := dialRaw(t, srv, false)
		rc.send([]byte(upgrade + tc.headers + "\r\n"))
		rc.readHTTP()
		got := h.last(t)
		if host, _, _ := strings.Cut(got, ":"); tc.want == "127.0.0.1" && host != "127.0.0.1" || tc.want != "127.0.0.1" && !strings.HasPrefix(got, tc.want+":") {
			t.Errorf("%q: RemoteAddr %s, want %s", tc.headers, got, tc.want)
		}
	}
	// Not from a trusted proxy: ignored.
	srv2, _ := startServer(t, Config{Proxies: Proxies{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}, h)
	rc := dialRaw(t, srv2, false)
	rc.send([]byte(upgrade + "X-Forwarded-For: 198.51.100.9\r\n\r\n"))
	rc.readHTTP()
	if got := h.last(t); !strings.HasPrefix(got, "127.0.0.1:") {
		t.Errorf("an untrusted peer's X-Forwarded-For was believed: %s", got)
	}
}
