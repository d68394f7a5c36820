package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// TestJWTFlags: the binary checks connection tokens with the secret of
// WSLOOP_JWT_SECRET or the key of --jwt-public-key, refuses connections
// without one under --require-auth, and answers refresh.
func TestJWTFlags(t *testing.T) {
	t.Parallel()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	keyFile := filepath.Join(t.TempDir(), "jwt.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startWsloop(t, []string{"WSLOOP_JWT_SECRET=s3cret"}, "--jwt-public-key", keyFile, "--require-auth", "--jwt-issuer", "https://app.example")
	token := func(m jwt.SigningMethod, key any, sub, iss string) string {
		s, err := jwt.NewWithClaims(m, jwt.MapClaims{"sub": sub, "iss": iss, "exp": time.Now().Add(time.Hour).Unix()}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	dialTok := func(tok string) *websocket.Conn {
		c, _, err := (&websocket.Dialer{HandshakeTimeout: ioTimeout}).Dial("ws://"+p.addr+"/ws?token="+tok, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	if code := readClose(t, dial(t, p)); code != 1008 {
		t.Errorf("no token: closed %d, want 1008", code)
	}
	if code := readClose(t, dialTok(token(jwt.SigningMethodHS256, []byte("s3cret"), "alice", "https://evil.example"))); code != 1008 {
		t.Errorf("wrong issuer: closed %d, want 1008", code)
	}
	for _, tok := range []string{
		token(jwt.SigningMethodHS256, []byte("s3cret"), "alice", "https://app.example"),
		token(jwt.SigningMethodES256, ec, "bob", "https://app.example"),
	} {
		c := dialTok(tok)
		if _, msg := read(t, c); !strings.HasPrefix(string(msg), `{"cmd":"welcome"`) {
			t.Fatalf("first message %q", msg)
		}
		write(t, c, websocket.TextMessage, []byte(`{"cmd":"refresh","seqno":"1","data":{"token":"`+tok+`"}}`))
		if _, msg := read(t, c); !strings.Contains(string(msg), `"status":0`) {
			t.Errorf("refresh: %s", msg)
		}
	}
}

// TestNamespacesFromFile: [default_namespace] and [namespaces.<name>] of
// the config file, and client_send, reach the server's policy; the
// posture log names the namespaces open to anyone.
func TestNamespacesFromFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "wsloop.toml")
	cfg := `client_send = "none"
sid_addressing = false

[default_namespace]
publish = "member"

[namespaces.chat]
join = "auth"
members = "member"
room_events = false

[namespaces.lobby]
`
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startWsloop(t, nil, "--config", file)
	if log := p.log.String(); !strings.Contains(log, `open_namespaces=lobby`) || !strings.Contains(log, "client_send=none") {
		t.Errorf("posture:\n%s", log)
	}
	c := dial(t, p)
	read(t, c)
	for _, tc := range []struct{ req, want string }{
		{`{"cmd":"join","seqno":"1","data":{"room":"chat:x"}}`, `"status":403,"msg":"join refused: rooms of namespace chat need an authenticated connection"`},
		{`{"cmd":"publish","seqno":"2","data":{"room":"r","payload":1}}`, `"status":403,"msg":"publish refused: only members of the room may publish to rooms without a namespace"`},
		{`{"cmd":"send","seqno":"3","data":{"to":"u","payload":1}}`, `"status":403,"msg":"send refused: clients may not send"`},
		{`{"cmd":"join","seqno":"4","data":{"room":"lobby:x"}}`, `"status":0`},
	} {
		write(t, c, websocket.TextMessage, []byte(tc.req))
		if _, msg := read(t, c); !strings.Contains(string(msg), tc.want) {
			t.Errorf("%s: %s, want %s", tc.req, msg, tc.want)
		}
	}
}

// TestOriginAndPerIPFlags: --allowed-origins and --max-conns-per-ip reach
// the server: a foreign Origin gets 403, a second connection from one
// address 429.
func TestOriginAndPerIPFlags(t *testing.T) {
	t.Parallel()
	p := startWsloop(t, []string{"WSLOOP_ALLOWED_ORIGINS=https://app.example.com, https://*.example.org"}, "--max-conns-per-ip", "1")
	d := websocket.Dialer{HandshakeTimeout: ioTimeout}
	status := func(origin string) int {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, resp, err := d.Dial("ws://"+p.addr+"/ws", h)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return 101
		}
		if resp == nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	if got := status("https://evil.example.com"); got != 403 {
		t.Errorf("foreign origin: %d, want 403", got)
	}
	if got := status("https://chat.example.org"); got != 101 {
		t.Errorf("allowed origin: %d, want 101", got)
	}
	if got := status(""); got != 429 {
		t.Errorf("second connection from one address: %d, want 429", got)
	}
}
