package server

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// dialFrom opens a WebSocket from source address src (127.0.0.x) with
// header h; it returns the connection, or the HTTP status and body of a
// refused handshake.
func dialFrom(t *testing.T, url, src string, h http.Header) (*websocket.Conn, int, http.Header) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		return nd.DialContext(ctx, network, addr)
	}}
	c, resp, err := d.Dial(url, h)
	if err == nil {
		t.Cleanup(func() { c.Close() })
		return c, 101, resp.Header
	}
	if resp == nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	return nil, resp.StatusCode, resp.Header
}

// TestAllowedOrigins: a browser upgrade from an origin not listed gets 403;
// listed origins (exact, or a subdomain of a wildcard) and requests without
// Origin are upgraded.
func TestAllowedOrigins(t *testing.T) {
	srv, url := startServer(t, Config{Limits: Limits{AllowedOrigins: []string{"https://app.example.com", "https://*.example.org", "http://localhost:3000"}}}, NewRouter())
	for origin, want := range map[string]int{
		"":                             101,
		"https://app.example.com":      101,
		"HTTPS://APP.EXAMPLE.COM":      101,
		"https://a.b.example.org":      101,
		"http://localhost:3000":        101,
		"https://example.org":          403, // the wildcard needs a subdomain
		"https://evil.com":             403,
		"https://app.example.com.ev":   403,
		"http://app.example.com":       403, // another scheme
		"https://app.example.com:8443": 403,
		"http://localhost:3001":        403,
		"null":                         403,
	} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		if _, got, _ := dialFrom(t, url, "127.0.0.1", h); got != want {
			t.Errorf("Origin %q: %d, want %d", origin, got, want)
		}
	}
	if st := srv.Stats(); st.OriginRefused != 7 {
		t.Errorf("OriginRefused = %d, want 7", st.OriginRefused)
	}
	for _, bad := range []string{"app.example.com", "https://", "https://a.*.com", "https://x.com/path"} {
		if _, err := New(Config{Limits: Limits{AllowedOrigins: []string{bad}}}, NewRouter()); err == nil {
			t.Errorf("allowed origin %q accepted", bad)
		}
	}
}

// TestPerIPLimits: past MaxConnsPerIP the handshake gets 429 until a
// connection of that address closes; past the handshake rate, 429 with
// Retry-After until the bucket refills on the clock; other addresses and
// the connections held are not affected.
func TestPerIPLimits(t *testing.T) {
	clk := newFakeClock()
	srv, url := startServer(t, Config{Clock: clk, Limits: Limits{MaxConnsPerIP: 2, HandshakeRatePerIP: 1, HandshakeBurstPerIP: 3}}, EchoHandler{})
	a1, code, _ := dialFrom(t, url, "127.0.0.2", nil)
	_, code2, _ := dialFrom(t, url, "127.0.0.2", nil)
	if code != 101 || code2 != 101 {
		t.Fatalf("first two: %d %d", code, code2)
	}
	if _, code, _ := dialFrom(t, url, "127.0.0.2", nil); code != 429 {
		t.Fatalf("third connection from one address: %d, want 429", code)
	}
	if _, code, _ := dialFrom(t, url, "127.0.0.3", nil); code != 101 {
		t.Fatalf("another address: %d", code)
	}
	// The held connection is untouched.
	if err := a1.WriteMessage(websocket.TextMessage, []byte("still")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := a1.ReadMessage(); err != nil || string(p) != "still" {
		t.Fatalf("held connection: %q %v", p, err)
	}
	_ = a1.Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Count() != 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // the socket closing
	}
	// The burst (3) is spent: the rate now refuses, with Retry-After.
	_, code, h := dialFrom(t, url, "127.0.0.2", nil)
	if code != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("fourth handshake in the burst: %d, Retry-After %q", code, h.Get("Retry-After"))
	}
	advance(t, srv, clk, time.Second)
	if _, code, _ := dialFrom(t, url, "127.0.0.2", nil); code != 101 {
		t.Fatalf("a second later: %d", code)
	}
	if st := srv.Stats(); st.IPConnsRefused != 1 || st.HandshakeRateLimited != 1 {
		t.Errorf("stats: %d conns refused, %d rate limited; want 1 and 1", st.IPConnsRefused, st.HandshakeRateLimited)
	}
}

// TestIPGuardForgets: an address with no connection is forgotten once its
// bucket has refilled, so the guard's memory follows the recent addresses.
func TestIPGuardForgets(t *testing.T) {
	g := newIPGuard(&Limits{MaxConnsPerIP: 5, HandshakeRatePerIP: 10, HandshakeBurstPerIP: 2})
	for i := range 100 {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i), 1})
		if he, _ := g.admit(ip, 0); he != nil {
			t.Fatal(he)
		}
		g.release(ip, 0) // bucket not refilled: kept
	}
	if n := g.tracked(); n != 100 {
		t.Fatalf("tracked %d", n)
	}
	for range len(g.shards) {
		g.sweep(int64(time.Second)) // refilled by now
	}
	if n := g.tracked(); n != 0 {
		t.Fatalf("tracked %d after the sweeps", n)
	}
}
