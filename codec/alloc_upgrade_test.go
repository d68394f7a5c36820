//go:build !race

package codec

import (
	"errors"
	"testing"
)

// The upgrade is on the hot path (docs/architecture.md, "Hot paths"): none
// of these may allocate. The race detector allocates, hence the build tag.
func TestUpgrade_ZeroAllocs(t *testing.T) {
	var (
		r      Request
		reqBuf = []byte(upgradeCases[0].in)
		trick  = reqBuf[:len(reqBuf)/2]
		plain  = []byte(crlfLines("GET / HTTP/1.1\nHost: a\nConnection: keep-alive, x\nUpgrade: h2c/1, y\n\n"))
		accept = make([]byte, 0, AcceptSize)
		reject = make([]byte, 0, 256)
	)
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
	} {
		if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tc.name, n)
		}
	}
}
