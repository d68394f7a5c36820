package proxyproto

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

func v2(cmd, fam byte, body []byte) []byte {
	b := append([]byte(nil), sigV2...)
	b = append(b, 0x20|cmd, fam, 0, 0)
	binary.BigEndian.PutUint16(b[14:], uint16(len(body)))
	return append(b, body...)
}

func TestParse(t *testing.T) {
	ipv4 := append(append(append([]byte{203, 0, 113, 7}, 10, 0, 0, 1), 0xd3, 0x54), 0x1f, 0x90) // 54100 → 8080
	ipv6 := make([]byte, 36)
	copy(ipv6, netip.MustParseAddr("2001:db8::42").AsSlice())
	binary.BigEndian.PutUint16(ipv6[32:], 443)
	for _, tc := range []struct {
		name string
		in   string
		n    int
		src  string // "" none
		err  error
	}{
		{"v1 tcp4", "PROXY TCP4 203.0.113.7 10.0.0.1 54100 8080\r\nGET /", 44, "203.0.113.7:54100", nil},
		{"v1 tcp6", "PROXY TCP6 2001:db8::42 2001:db8::1 443 8080\r\n", 46, "[2001:db8::42]:443", nil},
		{"v1 unknown", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nGET", 35, "", nil},
		{"v1 partial", "PROXY TCP4 203.0.11", 0, "", nil},
		{"v1 no CRLF in 107 bytes", "PROXY TCP4 " + string(make([]byte, 120)), 0, "", ErrTooLong},
		{"v1 family mismatch", "PROXY TCP4 2001:db8::42 2001:db8::1 443 8080\r\n", 0, "", ErrMalformed},
		{"v1 bad port", "PROXY TCP4 203.0.113.7 10.0.0.1 99999 8080\r\n", 0, "", ErrMalformed},
		{"v1 leading zero port", "PROXY TCP4 203.0.113.7 10.0.0.1 080 8080\r\n", 0, "", ErrMalformed},
		{"v1 extra field", "PROXY TCP4 203.0.113.7 10.0.0.1 1 2 3\r\n", 0, "", ErrMalformed},
		{"v1 missing field", "PROXY TCP4 203.0.113.7 10.0.0.1 1\r\n", 0, "", ErrMalformed},
		{"v1 udp", "PROXY UDP4 203.0.113.7 10.0.0.1 1 2\r\n", 0, "", ErrMalformed},
		{"not proxy", "GET / HTTP/1.1\r\n", 0, "", ErrNotProxy},
		{"almost v1", "PROXZ", 0, "", ErrNotProxy},
		{"v2 tcp4", string(v2(1, 0x11, ipv4)) + "GET", 28, "203.0.113.7:54100", nil},
		{"v2 tcp6", string(v2(1, 0x21, ipv6)), 52, "[2001:db8::42]:443", nil},
		{"v2 tcp4 with TLVs", string(v2(1, 0x11, append(ipv4, 0x20, 0, 2, 'x', 'y'))), 33, "203.0.113.7:54100", nil},
		{"v2 local", string(v2(0, 0x00, nil)), 16, "", nil},
		{"v2 unix", string(v2(1, 0x31, make([]byte, 216))), 232, "", nil},
		{"v2 partial header", string(v2(1, 0x11, ipv4)[:14]), 0, "", nil},
		{"v2 partial body", string(v2(1, 0x11, ipv4)[:20]), 0, "", nil},
		{"v2 short body", string(v2(1, 0x11, ipv4[:6])), 0, "", ErrMalformed},
		{"v2 bad version", string(append(append([]byte(nil), sigV2...), 0x11, 0x11, 0, 0)), 0, "", ErrMalformed},
		{"v2 bad command", string(v2(5, 0x11, ipv4)), 0, "", ErrMalformed},
		{"v2 too long", string(append(append([]byte(nil), sigV2...), 0x21, 0x11, 0xff, 0xff)), 0, "", ErrTooLong},
		{"almost v2", "\r\n\r\nX", 0, "", ErrNotProxy},
	} {
		n, src, err := Parse([]byte(tc.in))
		got := ""
		if src.IsValid() {
			got = src.String()
		}
		if n != tc.n || got != tc.src || !errors.Is(err, tc.err) {
			t.Errorf("%s: %d %q %v; want %d %q %v", tc.name, n, got, err, tc.n, tc.src, tc.err)
		}
	}
}

// FuzzParse: never panics, never claims more bytes than it was given.
func FuzzParse(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 10.0.0.1 54100 8080\r\n"))
	f.Add(v2(1, 0x11, make([]byte, 12)))
	f.Add(v2(1, 0x21, make([]byte, 36)))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, _, err := Parse(b)
		if n < 0 || n > len(b) || (err != nil && n != 0) {
			t.Fatalf("n=%d of %d, err %v", n, len(b), err)
		}
	})
}
