//go:build !race

package codec

import (
	"errors"
	"testing"
)

// The upgrade and the envelope are on the hot path (DESIGN §6): none of
// these may allocate. The race detector allocates, hence the build tag.
func TestUpgradeAndEnvelope_ZeroAllocs(t *testing.T) {
	var (
		r      Request
		e      Envelope
		reqBuf = []byte(upgradeCases[0].in)
		trick  = reqBuf[:len(reqBuf)/2]
		plain  = []byte(crlfLines("GET / HTTP/1.1\nHost: a\nConnection: keep-alive, x\nUpgrade: h2c/1, y\n\n"))
		accept = make([]byte, 0, AcceptSize)
		reject = make([]byte, 0, 256)
		reply  = make([]byte, 0, 512)
		push   = make([]byte, 0, 512)
		escKey = []byte(`{"\u0063md":"x","\u0064ata":1}`)
		deep   = []byte(`{"cmd":"x","data":` + nestedArrays(63) + `}`)
	)
	data := []byte(`{"room":"r1","members":["a","b"]}`)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"ParseRequest+Check", func() {
			if n, err := ParseRequest(reqBuf, &r, 0); n == 0 || err != nil || r.Check() != nil {
				t.Fatal(n, err)
			}
		}},
		{"ParseRequest incomplete", func() {
			if n, err := ParseRequest(trick, &r, 0); n != 0 || err != nil {
				t.Fatal(n, err)
			}
		}},
		{"Check rejecting", func() {
			if n, err := ParseRequest(plain, &r, 0); n == 0 || err != nil || r.Check() == nil {
				t.Fatal(n, err)
			}
		}},
		{"HandshakeError errors.AsType", func() {
			if he, ok := errors.AsType[HandshakeError](r.Check()); !ok || he.Status != 400 {
				t.Fatal("not a HandshakeError")
			}
		}},
		{"HeaderValue", func() {
			if r.HeaderValue("upgrade") == nil {
				t.Fatal("no Upgrade")
			}
		}},
		{"ForEachHeader", func() {
			count := 0
			r.ForEachHeader(func(name, value []byte) bool { count++; return true })
			if count == 0 {
				t.Fatal("no headers")
			}
		}},
		{"QueryValue", func() {
			var q Request
			if n, _ := ParseRequest(reqBuf, &q, 0); n == 0 || q.QueryValue("x") == nil {
				t.Fatal("no x")
			}
		}},
		{"AppendAccept", func() { accept = AppendAccept(accept[:0], r.Key) }},
		{"AppendReject", func() {
			reject = AppendReject(reject[:0], HandshakeError{Status: 426, Reason: "unsupported", Header: "Sec-WebSocket-Version: 13\r\n"})
		}},
		{"Envelope.Decode", func() {
			if err := e.Decode(benchEnvelopeMsg); err != nil {
				t.Fatal(err)
			}
		}},
		{"Envelope.Decode escaped keys", func() {
			if err := e.Decode(escKey); err != nil {
				t.Fatal(err)
			}
		}},
		{"Envelope.Decode depth 64", func() {
			if err := e.Decode(deep); err != nil {
				t.Fatal(err)
			}
		}},
		{"AppendReply", func() { reply = AppendReply(reply[:0], e.Cmd, e.Seqno, 0, "ok", data) }},
		{"AppendReply escaping", func() { reply = AppendReply(reply[:0], []byte("a\"\xff"), nil, 500, "bad \"x\"\n\x01", nil) }},
		{"AppendPush", func() { push = AppendPush(push[:0], "enter_room", data) }},
	} {
		if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tc.name, n)
		}
	}
}
