package server

import (
	"io"
	"strings"
	"testing"
	"time"
)

func closePayload(code int, reason string) []byte {
	return append([]byte{byte(code >> 8), byte(code)}, reason...)
}

// TestProtocolViolations is README's bad-input rows for frames against a running server:
// each violation gets its close code, and a bystander connection is unharmed.
func TestProtocolViolations(t *testing.T) {
	srv, url := startServer(t, Config{Limits: Limits{MaxMessageSize: 1024}}, EchoHandler{})
	bystander := dial(t, url)

	type tc struct {
		name  string
		wire  [][]byte
		code  int
		sendB bool
	}
	text := func(fin bool, p string) []byte {
		b0 := byte(0x01)
		if fin {
			b0 |= 0x80
		}
		return clientFrame(b0, []byte(p), true)
	}
	cont := func(fin bool, p []byte) []byte {
		b0 := byte(0x00)
		if fin {
			b0 |= 0x80
		}
		return clientFrame(b0, p, true)
	}
	cases := []tc{
		{name: "unmasked frame", wire: [][]byte{clientFrame(0x81, []byte("hi"), false)}, code: 1002},
		{name: "rsv1", wire: [][]byte{clientFrame(0x80|0x40|0x1, []byte("hi"), true)}, code: 1002},
		{name: "rsv3", wire: [][]byte{clientFrame(0x80|0x10|0x1, []byte("hi"), true)}, code: 1002},
		{name: "reserved data opcode 3", wire: [][]byte{clientFrame(0x83, nil, true)}, code: 1002},
		{name: "reserved control opcode B", wire: [][]byte{clientFrame(0x8B, nil, true)}, code: 1002},
		{name: "fragmented ping", wire: [][]byte{clientFrame(0x09, []byte("x"), true)}, code: 1002},
		{name: "ping over 125 bytes", wire: [][]byte{clientFrame(0x89, make([]byte, 126), true)}, code: 1002},
		{name: "continuation without start", wire: [][]byte{cont(true, []byte("x"))}, code: 1002},
		{name: "new text inside fragmented message", wire: [][]byte{text(false, "a"), text(true, "b")}, code: 1002},
		{name: "invalid UTF-8 text", wire: [][]byte{clientFrame(0x81, []byte{0xff, 0xfe}, true)}, code: 1007},
		{name: "invalid UTF-8 split across fragments", wire: [][]byte{clientFrame(0x01, []byte("ok\xe2\x82"), true), cont(true, []byte{0x28})}, code: 1007},
		{name: "invalid UTF-8 close reason", wire: [][]byte{clientFrame(0x88, closePayload(1000, "\xc3\x28"), true)}, code: 1007},
		{name: "one-byte close payload", wire: [][]byte{clientFrame(0x88, []byte{3}, true)}, code: 1002},
		{name: "frame over max_message_size", wire: [][]byte{clientFrame(0x82, make([]byte, 2000), true)}, code: 1009},
		{name: "fragments over max_message_size", wire: [][]byte{clientFrame(0x02, make([]byte, 600), true), cont(true, make([]byte, 600))}, code: 1009},
	}
	for _, code := range []int{0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000} {
		cases = append(cases, tc{name: "close code " + itoa(code), wire: [][]byte{clientFrame(0x88, closePayload(code, ""), true)}, code: 1002})
	}
	for _, code := range []int{1000, 1001, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4999} {
		cases = append(cases, tc{name: "valid close code " + itoa(code), wire: [][]byte{clientFrame(0x88, closePayload(code, "r"), true)}, code: code})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := dialRaw(t, srv, true)
			for _, w := range c.wire {
				rc.send(w)
			}
			reason := rc.expectCloseCode(c.code)
			if !strings.HasPrefix(c.name, "valid") && reason == "" {
				t.Errorf("close %d without a reason", c.code)
			}
			// The server half-closes after its close frame: we read EOF.
			_ = rc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadAll(rc); err != nil {
				t.Fatalf("after close: %v, want EOF", err)
			}
		})
	}
	if err := bystander.WriteMessage(1, []byte("still fine")); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, bystander); got != "still fine" {
		t.Fatalf("bystander got %q", got)
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

// TestHandshakeRejections is README's bad-input rows for the upgrade.
func TestHandshakeRejections(t *testing.T) {
	srv, _ := startServer(t, Config{Limits: Limits{MaxHeaderSize: 1024}}, NewRouter())
	cases := []struct {
		name, req, status, header string
	}{
		{"plain GET", "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", "400", ""},
		{"POST", "POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", "405", ""},
		{"version 8", strings.Replace(upgradeRequest, "Version: 13", "Version: 8", 1), "426", "Sec-WebSocket-Version: 13"},
		{"bad key", strings.Replace(upgradeRequest, "dGhlIHNhbXBsZSBub25jZQ==", "short", 1), "400", ""},
		{"wrong path", strings.Replace(upgradeRequest, "GET /ws ", "GET /other ", 1), "404", ""},
		{"head too large", "GET /ws HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2000) + "\r\n\r\n", "431", ""},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello\r\n\r\n", "400", ""},
		// A body's bytes would otherwise be read as WebSocket frames.
		{"body with Content-Length", strings.Replace(upgradeRequest, "\r\n\r\n", "\r\nContent-Length: 6\r\n\r\n", 1) + "foobar", "400", ""},
		{"chunked body", strings.Replace(upgradeRequest, "\r\n\r\n", "\r\nTransfer-Encoding: chunked\r\n\r\n", 1) + "6\r\nfoobar\r\n0\r\n\r\n", "400", ""},
		{"Upgrade websocket and h2c", strings.Replace(upgradeRequest, "\r\n\r\n", "\r\nUpgrade: h2c\r\n\r\n", 1), "400", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := dialRaw(t, srv, false)
			rc.send([]byte(c.req))
			head := rc.readHTTP()
			if !strings.HasPrefix(head, "HTTP/1.1 "+c.status+" ") {
				t.Fatalf("answer %q, want status %s", head, c.status)
			}
			if c.header != "" && !strings.Contains(head, c.header) {
				t.Fatalf("answer %q lacks %q", head, c.header)
			}
			_ = rc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadAll(rc); err != nil {
				t.Fatalf("connection not closed after the rejection: %v", err)
			}
		})
	}
}

// TestHandshakeTrickled sends the upgrade request and a first frame one byte
// at a time.
func TestHandshakeTrickled(t *testing.T) {
	srv, _ := startServer(t, Config{}, EchoHandler{})
	rc := dialRaw(t, srv, false)
	wire := append([]byte(upgradeRequest), clientFrame(0x81, []byte("trickle"), true)...)
	for _, b := range wire {
		rc.send([]byte{b})
		time.Sleep(100 * time.Microsecond)
	}
	if head := rc.readHTTP(); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("handshake answer %q", head)
	}
	if op, p := rc.readFrame(); op != 1 || string(p) != "trickle" {
		t.Fatalf("echo op %d %q", op, p)
	}
}

// TestHandshakeTimeout: a client that never completes its request is closed
// after HandshakeTimeout.
func TestHandshakeTimeout(t *testing.T) {
	srv, _ := startServer(t, Config{Limits: Limits{HandshakeTimeout: 300 * time.Millisecond}, Heartbeat: Heartbeat{Tick: 50 * time.Millisecond}}, EchoHandler{})
	rc := dialRaw(t, srv, false)
	rc.send([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n"))
	start := time.Now()
	_ = rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(rc); err != nil {
		t.Fatalf("read: %v, want EOF", err)
	}
	if el := time.Since(start); el < 250*time.Millisecond || el > 2*time.Second {
		t.Fatalf("closed after %v, want about 300ms", el)
	}
}
