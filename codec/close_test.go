package codec

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStatusCodeValidOnWire(t *testing.T) {
	for _, c := range []StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		if !c.ValidOnWire() {
			t.Errorf("%d: ValidOnWire = false", c)
		}
	}
	for _, c := range []StatusCode{0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		if c.ValidOnWire() {
			t.Errorf("%d: ValidOnWire = true", c)
		}
	}
}

func TestParseClose(t *testing.T) {
	cases := []struct {
		name   string
		p      []byte
		code   StatusCode
		reason string
		err    error
	}{
		{"empty", nil, StatusNoStatusRcvd, "", nil},
		{"code only", []byte{0x03, 0xe8}, StatusNormalClosure, "", nil},
		{"code and reason", closePayload(StatusGoingAway, "shutting down"), StatusGoingAway, "shutting down", nil},
		{"private code, UTF-8 reason", closePayload(4321, "ça va"), 4321, "ça va", nil},
		{"one byte", []byte{0x03}, 0, "", ErrInvalidClosePayload},
		{"code 0", closePayload(0, ""), 0, "", ErrInvalidCloseCode},
		{"code 1005", closePayload(1005, ""), 0, "", ErrInvalidCloseCode},
		{"code 1006", closePayload(1006, "x"), 0, "", ErrInvalidCloseCode},
		{"code 5000", closePayload(5000, ""), 0, "", ErrInvalidCloseCode},
		{"bad reason", closePayload(1000, "\xc3"), 0, "", ErrInvalidCloseReason},
	}
	for _, tc := range cases {
		code, reason, err := ParseClose(tc.p)
		if code != tc.code || string(reason) != tc.reason || err != tc.err {
			t.Errorf("%s: ParseClose = %d, %q, %v; want %d, %q, %v", tc.name, code, reason, err, tc.code, tc.reason, tc.err)
		}
	}
}

func TestAppendClose(t *testing.T) {
	cases := []struct {
		name   string
		code   StatusCode
		reason string
		want   []byte
	}{
		{"normal", StatusNormalClosure, "", []byte{0x88, 0x02, 0x03, 0xe8}},
		{"with reason", StatusProtocolError, "bad", []byte{0x88, 0x05, 0x03, 0xea, 'b', 'a', 'd'}},
		{"no status", StatusNoStatusRcvd, "ignored", []byte{0x88, 0x00}},
		{"zero", 0, "ignored", []byte{0x88, 0x00}},
	}
	for _, tc := range cases {
		if got := AppendClose([]byte("pre"), tc.code, tc.reason); !bytes.Equal(got, append([]byte("pre"), tc.want...)) {
			t.Errorf("%s: AppendClose = % x; want pre + % x", tc.name, got, tc.want)
		}
	}
}

// TestAppendCloseInvalidUTF8: a reason that is not UTF-8 never reaches the
// wire as it is (a client would have to fail the connection).
func TestAppendCloseInvalidUTF8(t *testing.T) {
	for _, reason := range []string{"bad \xff byte", "\xc3", strings.Repeat("\xff", 200), strings.Repeat("é", 60) + "\xe2\x82"} {
		f := AppendClose(nil, StatusPolicyViolation, reason)
		code, got, err := ParseClose(f[2:])
		if err != nil || code != StatusPolicyViolation {
			t.Fatalf("AppendClose(%q): ParseClose = %d %q %v", reason, code, got, err)
		}
		if len(f) > FrameSize(MaxControlPayload) || !strings.Contains(string(got), "\uFFFD") {
			t.Fatalf("AppendClose(%q) = %q, want the invalid bytes replaced, within 125 bytes", reason, got)
		}
	}
}

func TestAppendCloseTruncatesOnRuneBoundary(t *testing.T) {
	for _, unit := range []string{"a", "é", "世", "🙂"} {
		for pad := range 4 {
			reason := strings.Repeat("x", pad) + strings.Repeat(unit, 200)
			f := AppendClose(nil, StatusGoingAway, reason)
			var h Header
			n, err := h.Decode(f)
			if err != nil || h.Length > MaxControlPayload || int(h.Length) != len(f)-n {
				t.Fatalf("%q: header %+v, %v, frame %d bytes", unit, h, err, len(f))
			}
			code, got, err := ParseClose(f[n:])
			if err != nil || code != StatusGoingAway {
				t.Fatalf("%q pad %d: ParseClose = %d, %v", unit, pad, code, err)
			}
			if !utf8.Valid(got) || !strings.HasPrefix(reason, string(got)) {
				t.Fatalf("%q pad %d: reason %q is not a valid prefix", unit, pad, got)
			}
			// As long as possible: one more rune would not fit.
			next, _ := utf8.DecodeRuneInString(reason[len(got):])
			if len(got)+utf8.RuneLen(next) <= 123 {
				t.Fatalf("%q pad %d: reason cut to %d bytes, too short", unit, pad, len(got))
			}
		}
	}
}
