package codec

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rfcKey is the sample key of RFC 6455 §1.3; rfcAccept is its answer.
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// crlfLines turns the '\n' line ends of a readable literal into CRLF.
func crlfLines(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// A minimal valid upgrade request, for cases that change one thing in it.
const minimalHead = "GET /ws HTTP/1.1\nHost: a.example\nUpgrade: websocket\nConnection: Upgrade\n" +
	"Sec-WebSocket-Version: 13\nSec-WebSocket-Key: " + rfcKey + "\n"

// minimalUpgrade returns minimalHead with the given lines replaced (by header name)
// or added, as a full CRLF request.
func minimalUpgrade(edit ...string) string {
	lines := strings.Split(strings.TrimSuffix(minimalHead, "\n"), "\n")
	for _, e := range edit {
		name, _, _ := strings.Cut(e, ":")
		replaced := false
		for i, l := range lines {
			if strings.HasPrefix(l, name+":") {
				lines[i], replaced = e, true
			}
		}
		if !replaced {
			lines = append(lines, e)
		}
	}
	var kept []string
	for _, l := range lines {
		if !strings.HasSuffix(l, ":") { // "Name:" alone deletes the header
			kept = append(kept, l)
		}
	}
	return crlfLines(strings.Join(kept, "\n") + "\n\n")
}

type upgradeCase struct {
	name string
	in   string
	// maxSize passed to ParseRequest; 0 for the default.
	maxSize int
	// n is the expected head length; 0 means len(in) for a parsed request.
	n int
	// parseErr is the expected ParseRequest error; incomplete means (0, nil).
	parseErr   error
	incomplete bool
	// status is the HandshakeError status Check returns; 0 for nil.
	status int
	// header is a line the rejection's Header must contain.
	header string
	// Expected fields, checked when non-empty.
	path, query, host, origin, key, protocol string
}

var upgradeCases = []upgradeCase{
	{
		name: "chrome",
		in: crlfLines(`GET /ws?auth_body=abc%3D&x=1 HTTP/1.1
Host: example.com:8080
Connection: Upgrade
Pragma: no-cache
Cache-Control: no-cache
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36
Upgrade: websocket
Origin: https://example.com
Sec-WebSocket-Version: 13
Accept-Encoding: gzip, deflate, br
Accept-Language: en-US,en;q=0.9
Sec-WebSocket-Key: ` + rfcKey + `
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits

`),
		path: "/ws", query: "auth_body=abc%3D&x=1", host: "example.com:8080",
		origin: "https://example.com", key: rfcKey,
	},
	{
		name: "firefox keep-alive, Upgrade",
		in: crlfLines(`GET /chat HTTP/1.1
Host: localhost:9000
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0
Accept: */*
Accept-Language: en-US,en;q=0.5
Accept-Encoding: gzip, deflate, br
Sec-WebSocket-Version: 13
Origin: http://localhost:9000
Sec-WebSocket-Protocol: chat, superchat
Sec-WebSocket-Extensions: permessage-deflate
Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==
Connection: keep-alive, Upgrade
Sec-Fetch-Dest: websocket
Pragma: no-cache
Upgrade: websocket

`),
		path: "/chat", host: "localhost:9000", key: "x3JJHMbDL1EzLkh9GBhXDw==",
		protocol: "chat, superchat",
	},
	{
		name: "mixed-case names, odd spacing",
		in: crlfLines("GET / HTTP/1.1\nhOsT:a.example\nUPGRADE: \tWebSocket \ncOnNeCtIoN: UPGRADE\n" +
			"SEC-WEBSOCKET-VERSION:13\nsec-websocket-key:   " + rfcKey + "\t\n\n"),
		path: "/", host: "a.example", key: rfcKey,
	},
	{
		name: "Connection over two lines",
		in:   minimalUpgrade("Connection: keep-alive", "X-Other: 1", "connection: upgrade"),
		path: "/ws",
	},
	{
		name: "Upgrade websocket twice",
		in:   minimalUpgrade("Upgrade: WebSocket, websocket", "upgrade: websocket"),
	},
	{
		name: "Content-Length 0",
		in:   minimalUpgrade("Content-Length: 0"),
	},
	{
		name: "absolute-form target",
		in:   strings.Replace(minimalUpgrade(), "GET /ws ", "GET http://a.example/ws/x?q=1 ", 1),
		path: "/ws/x", query: "q=1",
	},
	{
		name: "IPv6 host",
		in:   minimalUpgrade("Host: [::1]:8080"), host: "[::1]:8080",
	},
	{
		name: "empty query",
		in:   strings.Replace(minimalUpgrade(), "/ws ", "/ws? ", 1),
		path: "/ws",
	},
	{
		name: "pipelined frame not consumed",
		in:   minimalUpgrade() + "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
		n:    len(minimalUpgrade()),
	},
	{
		name: "HTTP/1.2 accepted",
		in:   strings.Replace(minimalUpgrade(), "HTTP/1.1", "HTTP/1.2", 1),
	},

	// Check rejections.
	{name: "plain GET", in: crlfLines("GET / HTTP/1.1\nHost: a.example\nAccept: */*\n\n"), status: 400},
	{name: "plain GET, no headers", in: crlfLines("GET /ws HTTP/1.1\n\n"), status: 400},
	{name: "POST", in: strings.Replace(minimalUpgrade(), "GET", "POST", 1), status: 405, header: "Allow: GET\r\n"},
	{name: "lower-case get", in: strings.Replace(minimalUpgrade(), "GET", "get", 1), status: 405},
	{name: "HTTP/1.0", in: strings.Replace(minimalUpgrade(), "HTTP/1.1", "HTTP/1.0", 1), status: 400},
	{name: "HTTP/3.1", in: strings.Replace(minimalUpgrade(), "HTTP/1.1", "HTTP/3.1", 1), status: 400},
	{name: "HTTP/2.0", in: strings.Replace(minimalUpgrade(), "HTTP/1.1", "HTTP/2.0", 1), status: 400},
	{name: "asterisk target", in: strings.Replace(minimalUpgrade(), "/ws", "*", 1), status: 400},
	{name: "absolute-form without path", in: strings.Replace(minimalUpgrade(), "/ws", "http://a.example", 1), status: 400},
	{name: "no Host", in: minimalUpgrade("Host:"), status: 400},
	{name: "empty Host", in: minimalUpgrade("Host: "), status: 400},
	{name: "bad Host", in: minimalUpgrade("Host: a.example/x"), status: 400},
	{name: "Host with userinfo", in: minimalUpgrade("Host: u@a.example"), status: 400},
	{name: "two Hosts", in: minimalUpgrade("host: b.example"), status: 400},
	{name: "no Upgrade", in: minimalUpgrade("Upgrade:"), status: 400},
	{name: "Upgrade not websocket", in: minimalUpgrade("Upgrade: h2c"), status: 400},
	{name: "Upgrade websocketx", in: minimalUpgrade("Upgrade: websocketx"), status: 400},
	{name: "Upgrade list with another protocol", in: minimalUpgrade("Upgrade: h2c/1, WebSocket"), status: 400},
	{name: "second Upgrade h2c", in: minimalUpgrade("upgrade: h2c"), status: 400},
	{name: "Content-Length body", in: minimalUpgrade("Content-Length: 6"), status: 400},
	{name: "empty Content-Length", in: minimalUpgrade("Content-Length: "), status: 400},
	{name: "chunked body", in: minimalUpgrade("Transfer-Encoding: chunked"), status: 400},
	{name: "no Connection", in: minimalUpgrade("Connection:"), status: 400},
	{name: "Connection keep-alive", in: minimalUpgrade("Connection: keep-alive"), status: 400},
	{name: "Connection upgraded", in: minimalUpgrade("Connection: upgraded"), status: 400},
	{name: "version 8", in: minimalUpgrade("Sec-WebSocket-Version: 8"), status: 426, header: "Sec-WebSocket-Version: 13\r\n"},
	{name: "no version", in: minimalUpgrade("Sec-WebSocket-Version:"), status: 426, header: "Sec-WebSocket-Version: 13\r\n"},
	{name: "two versions", in: minimalUpgrade("sec-websocket-version: 13"), status: 426},
	{name: "no key", in: minimalUpgrade("Sec-WebSocket-Key:"), status: 400},
	{name: "short key", in: minimalUpgrade("Sec-WebSocket-Key: dGhlIHNhbXBsZQ=="), status: 400},
	{name: "key of 18 bytes", in: minimalUpgrade("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA"), status: 400},
	{name: "key not base64", in: minimalUpgrade("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j!Q=="), status: 400},
	{name: "two keys", in: minimalUpgrade("sec-websocket-key: x3JJHMbDL1EzLkh9GBhXDw=="), status: 400},

	// ParseRequest errors and incomplete input.
	{name: "incomplete", in: minimalUpgrade()[:len(minimalUpgrade())-1], incomplete: true},
	{name: "incomplete request line", in: "GET /w", incomplete: true},
	{name: "empty", in: "", incomplete: true},
	{name: "too large", in: minimalUpgrade(), maxSize: 64, parseErr: ErrRequestTooLarge},
	{name: "limit reached without a head", in: minimalUpgrade()[:40], maxSize: 40, parseErr: ErrRequestTooLarge},
	{name: "head ends past the limit", in: minimalUpgrade(), maxSize: len(minimalUpgrade()) - 1, parseErr: ErrRequestTooLarge},
	{name: "head ends at the limit", in: minimalUpgrade() + "xyz", maxSize: len(minimalUpgrade()), n: len(minimalUpgrade())},
	{name: "bare LF", in: strings.ReplaceAll(minimalUpgrade(), "\r\n", "\n"), parseErr: ErrMalformedRequest},
	{name: "TLS ClientHello", in: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", parseErr: ErrMalformedRequest},
	{name: "no method", in: " / HTTP/1.1\r\n", parseErr: ErrMalformedRequest},
	{name: "double space", in: "GET  /ws HTTP/1.1\r\n", parseErr: ErrMalformedRequest},
	{name: "bad protocol", in: "GET /ws HTTPS/1.1\r\n", parseErr: ErrMalformedRequest},
	{name: "extra field", in: "GET /ws HTTP/1.1 x\r\n", parseErr: ErrMalformedRequest},
	{name: "control char in target", in: "GET /w\x00s HTTP/1.1\r\n", parseErr: ErrMalformedRequest},
	{name: "header without colon", in: minimalUpgrade("X-Bad"), parseErr: ErrMalformedRequest},
	{name: "space before colon", in: minimalUpgrade("Host : a.example"), parseErr: ErrMalformedRequest},
	{name: "nameless header", in: minimalUpgrade(": x"), parseErr: ErrMalformedRequest},
	{name: "bad header name", in: minimalUpgrade("X(y): 1"), parseErr: ErrMalformedRequest},
	{name: "folded header", in: strings.Replace(minimalUpgrade(), "Host: a.example\r\n", "Host: a.example\r\n  more\r\n", 1), parseErr: ErrMalformedRequest},
	{name: "folded header with colon", in: strings.Replace(minimalUpgrade(), "Host: a.example\r\n", "Host: a.example\r\n\tX-More: 1\r\n", 1), parseErr: ErrMalformedRequest},
	{name: "control char in value", in: minimalUpgrade("X-A: a\x01b"), parseErr: ErrMalformedRequest},
	{name: "bare CR in value", in: minimalUpgrade("X-A: a\rb"), parseErr: ErrMalformedRequest},
	{name: "bare LF in header", in: strings.Replace(minimalUpgrade(), "Host: a.example\r\n", "Host: a.example\n", 1), parseErr: ErrMalformedRequest},
}

// requestString renders every field of r, for comparing two parses.
func requestString(r *Request) string {
	return fmt.Sprintf("%q %q %q %q %d.%d host=%q origin=%q key=%q version=%q protocol=%q upgrade=%q connection=%q dup=%d header=%q",
		r.Method, r.URI, r.Path, r.Query, r.ProtoMajor, r.ProtoMinor, r.Host, r.Origin, r.Key,
		r.Version, r.Protocol, r.Upgrade, r.Connection, r.dup, r.Header)
}

// parseFed feeds b to ParseRequest in growing prefixes, the next prefix
// size given by step, the way a connection accumulates reads, and returns
// the first result that is not (0, nil), or the result for all of b.
func parseFed(b []byte, r *Request, maxSize int, step func() int) (int, error) {
	for k := 0; ; {
		k = min(k+step(), len(b))
		n, err := ParseRequest(b[:k], r, maxSize)
		if n > 0 || err != nil || k == len(b) {
			return n, err
		}
	}
}

func TestParseRequest(t *testing.T) {
	for _, tc := range upgradeCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			var r Request
			n, err := ParseRequest(in, &r, tc.maxSize)
			wantN := tc.n
			switch {
			case tc.parseErr != nil || tc.incomplete:
				wantN = 0
			case wantN == 0:
				wantN = len(in)
			}
			if n != wantN || err != tc.parseErr {
				t.Fatalf("ParseRequest = %d, %v; want %d, %v", n, err, wantN, tc.parseErr)
			}
			whole := requestString(&r)

			// The same bytes trickled in: the same verdict, once.
			feeds := map[string]func() int{
				"bytewise": func() int { return 1 },
			}
			for seed := range uint64(4) {
				rng := rand.New(rand.NewPCG(seed, 7))
				feeds[fmt.Sprintf("chunks%d", seed)] = func() int { return 1 + rng.IntN(40) }
			}
			for name, step := range feeds {
				var fed Request
				fn, ferr := parseFed(in, &fed, tc.maxSize, step)
				if fn != n || ferr != err {
					t.Fatalf("%s: ParseRequest = %d, %v; want %d, %v", name, fn, ferr, n, err)
				}
				if n > 0 && requestString(&fed) != whole {
					t.Fatalf("%s: parsed\n%s\nwant\n%s", name, requestString(&fed), whole)
				}
			}
			if n == 0 {
				return
			}

			for _, f := range []struct{ name, got, want string }{
				{"Path", string(r.Path), tc.path},
				{"Query", string(r.Query), tc.query},
				{"Host", string(r.Host), tc.host},
				{"Origin", string(r.Origin), tc.origin},
				{"Key", string(r.Key), tc.key},
				{"Protocol", string(r.Protocol), tc.protocol},
			} {
				if f.want != "" && f.got != f.want {
					t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
				}
			}

			err = r.Check()
			var he HandshakeError
			switch {
			case tc.status == 0 && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tc.status != 0 && !errors.As(err, &he):
				t.Errorf("Check = %v, want a HandshakeError with status %d", err, tc.status)
			case tc.status != 0 && he.Status != tc.status:
				t.Errorf("Check status = %d (%v), want %d", he.Status, err, tc.status)
			case !strings.Contains(he.Header, tc.header):
				t.Errorf("Check header = %q, want it to contain %q", he.Header, tc.header)
			}

			// Every field aliases the input: overwrite it and look again.
			for i := range in[:n] {
				in[i] = '#'
			}
			for _, f := range [][]byte{r.Method, r.URI, r.Path, r.Query, r.Host, r.Origin, r.Key,
				r.Version, r.Protocol, r.Upgrade, r.Connection, r.Header} {
				if len(bytes.Trim(f, "#")) != 0 {
					t.Errorf("field %q does not alias the input", f)
				}
			}
		})
	}
}

func TestRequest_HeaderValue(t *testing.T) {
	in := []byte(minimalUpgrade("X-Token:  abc ", "x-token: second", "X-Empty:"+" ", "Sec-WebSocket-Protocol: a", "sec-websocket-protocol: b"))
	var r Request
	if n, err := ParseRequest(in, &r, 0); n == 0 || err != nil {
		t.Fatalf("ParseRequest = %d, %v", n, err)
	}
	for _, tc := range []struct {
		name string
		want []byte
	}{
		{"X-Token", []byte("abc")},
		{"x-TOKEN", []byte("abc")},
		{"host", []byte("a.example")},
		{"X-Empty", []byte{}},
		{"X-Missing", nil},
		{"X-Toke", nil},
		{"sec-websocket-protocol", []byte("a")},
	} {
		got := r.HeaderValue(tc.name)
		if !bytes.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("HeaderValue(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}

	var protocols []string
	r.ForEachHeader(func(name, value []byte) bool {
		if asciiEqualFold(name, "sec-websocket-protocol") {
			protocols = append(protocols, string(value))
		}
		return true
	})
	if fmt.Sprint(protocols) != "[a b]" {
		t.Errorf("ForEachHeader saw protocols %q, want [a b]", protocols)
	}
	calls := 0
	r.ForEachHeader(func(name, value []byte) bool { calls++; return false })
	if calls != 1 {
		t.Errorf("ForEachHeader went on after false: %d calls", calls)
	}
}

func TestRequest_QueryValue(t *testing.T) {
	for _, tc := range []struct {
		uri, name string
		want      []byte
	}{
		{"/ws?auth_body=eyJ1Ijoi%2B1%22fQ%3D%3D&x=1", "auth_body", []byte("eyJ1Ijoi%2B1%22fQ%3D%3D")},
		{"/ws?x=1&auth_body=a+b", "auth_body", []byte("a+b")},
		{"/ws?auth_body=1&auth_body=2", "auth_body", []byte("1")},
		{"/ws?auth_body", "auth_body", []byte{}},
		{"/ws?auth_body=", "auth_body", []byte{}},
		{"/ws?auth_bodyx=1&xauth_body=2", "auth_body", nil},
		{"/ws?auth%5Fbody=1", "auth_body", nil}, // names are not decoded
		{"/ws?a=1&&b=2", "b", []byte("2")},
		{"/ws?", "a", nil},
		{"/ws", "a", nil},
		{"/ws?=1", "", []byte("1")},
	} {
		in := []byte(strings.Replace(minimalUpgrade(), "/ws", tc.uri, 1))
		var r Request
		if n, err := ParseRequest(in, &r, 0); n == 0 || err != nil {
			t.Fatalf("%s: ParseRequest = %d, %v", tc.uri, n, err)
		}
		got := r.QueryValue(tc.name)
		if !bytes.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("%s: QueryValue(%q) = %q, want %q", tc.uri, tc.name, got, tc.want)
		}
	}
}

func TestAppendAccept(t *testing.T) {
	if got := string(AppendAcceptKey(nil, []byte(rfcKey))); got != rfcAccept {
		t.Errorf("AppendAcceptKey(RFC 6455 key) = %q, want %q", got, rfcAccept)
	}
	want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + rfcAccept + "\r\n\r\n"
	got := AppendAccept([]byte("prefix"), []byte(rfcKey))
	if string(got) != "prefix"+want {
		t.Errorf("AppendAccept =\n%q\nwant\n%q", got, "prefix"+want)
	}
	if len(want) != AcceptSize {
		t.Errorf("AcceptSize = %d, response is %d bytes", AcceptSize, len(want))
	}
	// A key longer than the stack buffer takes the streaming path.
	long := bytes.Repeat([]byte("k"), 100)
	if a, b := AppendAcceptKey(nil, long), AppendAcceptKey(nil, long[:64]); len(a) != 28 || bytes.Equal(a, b) {
		t.Errorf("long key: accept %q (64-byte prefix: %q)", a, b)
	}
}

func TestAppendReject(t *testing.T) {
	for _, tc := range []struct {
		e          HandshakeError
		wantStatus string
		wantHeader map[string]string
	}{
		{HandshakeError{Status: 400, Reason: "not a WebSocket upgrade request"}, "400 Bad Request", nil},
		{HandshakeError{Status: 405, Reason: "method not allowed", Header: "Allow: GET\r\n"}, "405 Method Not Allowed",
			map[string]string{"Allow": "GET"}},
		{HandshakeError{Status: 426, Reason: "unsupported", Header: "Sec-WebSocket-Version: 13\r\n"}, "426 Upgrade Required",
			map[string]string{"Sec-Websocket-Version": "13"}},
		{HandshakeError{Status: 431, Reason: ""}, "431 Request Header Fields Too Large", nil},
		{HandshakeError{Status: 418, Reason: "teapot"}, "418 ", nil},
		{HandshakeError{Status: 42, Reason: "bad status"}, "500 Internal Server Error", nil},
	} {
		raw := AppendReject(nil, tc.e)
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			t.Errorf("%q: net/http cannot read it: %v", raw, err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != tc.e.Reason {
			t.Errorf("%q: body %q, %v; want %q", raw, body, err, tc.e.Reason)
		}
		if resp.Status != tc.wantStatus {
			t.Errorf("%q: status %q, want %q", raw, resp.Status, tc.wantStatus)
		}
		if !resp.Close || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" ||
			resp.ContentLength != int64(len(tc.e.Reason)) {
			t.Errorf("%q: close=%v type=%q length=%d", raw, resp.Close, resp.Header.Get("Content-Type"), resp.ContentLength)
		}
		for k, v := range tc.wantHeader {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%q: header %s = %q, want %q", raw, k, got, v)
			}
		}
	}
}

func TestAppendResponse(t *testing.T) {
	body := []byte(`{"end_point":"ws://h/ws"}`)
	raw := AppendResponse([]byte("kept"), 200, "application/json", body)
	if !bytes.HasPrefix(raw, []byte("kept")) {
		t.Fatalf("dst not appended to: %q", raw)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw[4:])), nil)
	if err != nil {
		t.Fatalf("%q: net/http cannot read it: %v", raw, err)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.Status != "200 OK" || !resp.Close || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(got, body) {
		t.Errorf("%q: status %q close=%v type %q body %q", raw, resp.Status, resp.Close, resp.Header.Get("Content-Type"), got)
	}
	var r Request
	req := "GET /api/websocket/end_point HTTP/1.1\r\nHost: h\r\n\r\n"
	if n, err := ParseRequest([]byte(req), &r, 0); err != nil || n != len(req) {
		t.Fatalf("ParseRequest: %d, %v", n, err)
	}
	if err := r.Check(); !errors.Is(err, ErrNotUpgrade) {
		t.Errorf("a plain GET: Check = %v, want ErrNotUpgrade", err)
	}
}

// serveUpgrades runs a tiny server on ln that upgrades with ParseRequest,
// Check and AppendAccept, answers /ws only, and then sends one unmasked
// text frame holding the auth_body query value. It handles connections one
// at a time until ln is closed.
func serveUpgrades(t *testing.T, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if err := serveUpgrade(c); err != nil {
			t.Errorf("server: %v", err)
		}
		c.Close()
	}
}

func serveUpgrade(c net.Conn) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 0, 4096)
	var r Request
	for {
		k, err := c.Read(buf[len(buf):cap(buf)])
		if err != nil {
			return err
		}
		buf = buf[:len(buf)+k]
		n, err := ParseRequest(buf, &r, cap(buf))
		if err != nil {
			_, err = c.Write(AppendReject(nil, HandshakeError{Status: 400, Reason: err.Error()}))
			return err
		}
		if n > 0 {
			break
		}
	}
	var he HandshakeError
	switch err := r.Check(); {
	case errors.As(err, &he):
	case err != nil:
		return err
	case string(r.Path) != "/ws":
		he = HandshakeError{Status: 404, Reason: "no such endpoint"}
	}
	if he.Status != 0 {
		_, err := c.Write(AppendReject(nil, he))
		return err
	}
	payload := append([]byte("hello "), r.QueryValue("auth_body")...)
	out := AppendAccept(nil, r.Key)
	out = append(out, 0x81, byte(len(payload))) // FIN, text; unmasked, short length
	_, err := c.Write(append(out, payload...))
	return err
}

func TestUpgrade_RealClients(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { serveUpgrades(t, ln); close(done) }()
	defer func() { ln.Close(); <-done }()
	base := "ws://" + ln.Addr().String()
	dialer := websocket.Dialer{HandshakeTimeout: 5 * time.Second}

	t.Run("gorilla accepts the upgrade", func(t *testing.T) {
		conn, resp, err := dialer.Dial(base+"/ws?auth_body=t0k3n", http.Header{"Origin": {"http://example.com"}})
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer conn.Close()
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Errorf("status %d", resp.StatusCode)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		mt, msg, err := conn.ReadMessage()
		if err != nil || mt != websocket.TextMessage || string(msg) != "hello t0k3n" {
			t.Errorf("ReadMessage = %d, %q, %v; want a text message %q", mt, msg, err, "hello t0k3n")
		}
	})

	t.Run("gorilla sees a rejection", func(t *testing.T) {
		conn, resp, err := dialer.Dial(base+"/nope", nil)
		if err == nil {
			conn.Close()
			t.Fatal("Dial succeeded, want a rejected handshake")
		}
		if resp == nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("Dial = %v, response %+v; want 404", err, resp)
		}
		// gorilla keeps the first 1 KiB of the body for its caller.
		if body, _ := io.ReadAll(resp.Body); string(body) != "no such endpoint" {
			t.Errorf("body %q", body)
		}
	})

	t.Run("plain HTTP GET gets 400", func(t *testing.T) {
		client := http.Client{Timeout: 5 * time.Second}
		resp, err := client.Get("http://" + ln.Addr().String() + "/ws")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || string(body) != "not a WebSocket upgrade request" {
			t.Errorf("got %d %q", resp.StatusCode, body)
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	for _, tc := range upgradeCases {
		f.Add([]byte(tc.in), uint8(1), uint16(tc.maxSize))
		f.Add([]byte(tc.in), uint8(7), uint16(tc.maxSize))
	}
	f.Fuzz(func(t *testing.T, in []byte, step uint8, maxSize uint16) {
		limit := int(maxSize)
		if limit == 0 {
			limit = DefaultMaxRequestSize
		}
		var r Request
		n, err := ParseRequest(in, &r, int(maxSize))
		if n < 0 || n > min(len(in), limit) || (err != nil && n != 0) {
			t.Fatalf("ParseRequest = %d, %v for %d bytes, limit %d", n, err, len(in), limit)
		}
		if err != nil && err != ErrRequestTooLarge && err != ErrMalformedRequest {
			t.Fatalf("undocumented error %v", err)
		}
		if err == ErrRequestTooLarge && len(in) < limit {
			t.Fatalf("ErrRequestTooLarge for %d bytes, limit %d", len(in), limit)
		}
		if n > 0 && string(in[n-4:n]) != "\r\n\r\n" {
			t.Fatalf("head %q does not end in CRLFCRLF", in[:n])
		}
		whole := requestString(&r)

		var fed Request
		fn, ferr := parseFed(in, &fed, int(maxSize), func() int { return int(step%64) + 1 })
		if fn != n || ferr != err || (n > 0 && requestString(&fed) != whole) {
			t.Fatalf("fed in chunks of %d: %d, %v, %s; whole: %d, %v, %s", step%64+1, fn, ferr, requestString(&fed), n, err, whole)
		}
		if n == 0 {
			return
		}

		checkErr := r.Check()
		var he HandshakeError
		if checkErr != nil && !errors.As(checkErr, &he) {
			t.Fatalf("Check = %v, not a HandshakeError", checkErr)
		}
		if checkErr == nil {
			if len(r.Key) != 24 || string(r.Method) != "GET" || r.Path[0] != '/' {
				t.Fatalf("Check accepted %s", whole)
			}
			if len(AppendAccept(nil, r.Key)) != AcceptSize {
				t.Fatal("accept response has the wrong size")
			}
		}
		if r.dup&dupHost == 0 && !bytes.Equal(r.HeaderValue("Host"), r.Host) {
			t.Fatalf("HeaderValue(Host) = %q, Host = %q", r.HeaderValue("Host"), r.Host)
		}
		r.QueryValue("auth_body")
		for i := range in[:n] {
			in[i] = '#'
		}
		for _, f := range [][]byte{r.Method, r.URI, r.Path, r.Query, r.Host, r.Origin, r.Key,
			r.Version, r.Protocol, r.Upgrade, r.Connection, r.Header} {
			if len(bytes.Trim(f, "#")) != 0 {
				t.Fatalf("field %q does not alias the input", f)
			}
		}
	})
}

func ExampleParseRequest() {
	in := []byte("GET /ws?auth_body=abc HTTP/1.1\r\n" +
		"Host: example.com\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"\r\n")

	var r Request
	n, err := ParseRequest(in, &r, 4096)
	if err != nil || n == 0 {
		fmt.Println("not yet:", err)
		return
	}
	var out []byte
	if err := r.Check(); err != nil {
		he, _ := errors.AsType[HandshakeError](err)
		out = AppendReject(out, he)
	} else {
		out = AppendAccept(out, r.Key)
	}
	fmt.Printf("consumed %d of %d bytes, path %s, auth_body %s\n", n, len(in), r.Path, r.QueryValue("auth_body"))
	fmt.Print(strings.ReplaceAll(string(out), "\r\n", "\n"))
	// Output:
	// consumed 166 of 166 bytes, path /ws, auth_body abc
	// HTTP/1.1 101 Switching Protocols
	// Upgrade: websocket
	// Connection: Upgrade
	// Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
}

func BenchmarkParseRequest(b *testing.B) {
	in := []byte(upgradeCases[0].in)
	var r Request
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := ParseRequest(in, &r, 0); n == 0 || err != nil {
			b.Fatal(n, err)
		}
		if err := r.Check(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendAccept(b *testing.B) {
	key := []byte(rfcKey)
	buf := make([]byte, 0, AcceptSize)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAccept(buf[:0], key)
	}
}
