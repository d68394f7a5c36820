package codec

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// fromBits turns a string of '0' and '1' into bytes, most significant bit first.
// Spaces are ignored, so a test can lay the bits out like the RFC 6455
// header diagram.
func fromBits(s string) []byte {
	s = strings.ReplaceAll(s, " ", "")
	if len(s)%8 != 0 {
		panic(fmt.Sprintf("fromBits: %d bits is not feedWhole bytes", len(s)))
	}
	out := make([]byte, len(s)/8)
	for i, c := range s {
		switch c {
		case '1':
			out[i/8] |= 0x80 >> (i % 8)
		case '0':
		default:
			panic("fromBits: not a bit: " + string(c))
		}
	}
	return out
}

// headerCases drive both Header.Decode and AppendHeader.
var headerCases = []struct {
	name   string
	data   []byte
	header Header
	// decodeOnly marks encodings AppendHeader does not produce
	// (non-minimal lengths).
	decodeOnly bool
}{
	{
		name: "text fin 7-bit",
		data: fromBits("1 000 0001 0 1100100"),
		//          | ||| |    | '-- length 100
		//          | ||| |    '-- not masked
		//          | ||| '-- opcode text
		//          | '''-- RSV1-3
		//          '-- FIN
		header: Header{Fin: true, OpCode: OpText, Length: 100},
	},
	{
		name:   "binary not fin, rsv3, empty",
		data:   fromBits("0 001 0010 0 0000000"),
		header: Header{Rsv: 0x1, OpCode: OpBinary},
	},
	{
		name:   "rsv1",
		data:   fromBits("1 100 0001 0 0000101"),
		header: Header{Fin: true, Rsv: 0x4, OpCode: OpText, Length: 5},
	},
	{
		name: "masked text 7-bit",
		data: fromBits("1 000 0001 1 1100100 00000001 10001000 00000000 11111111"),
		//                     |         '-- masking key 01 88 00 ff
		//                     '-- masked
		header: Header{Fin: true, OpCode: OpText, Masked: true, Mask: [4]byte{0x01, 0x88, 0x00, 0xff}, Length: 100},
	},
	{
		name:   "largest 7-bit length",
		data:   fromBits("1 000 0010 0 1111101"),
		header: Header{Fin: true, OpCode: OpBinary, Length: 125},
	},
	{
		name: "smallest 16-bit length",
		data: fromBits("1 000 0010 0 1111110 00000000 01111110"),
		//                       '-- 126: a 16-bit length follows
		header: Header{Fin: true, OpCode: OpBinary, Length: 126},
	},
	{
		name:   "largest 16-bit length, masked",
		data:   fromBits("1 000 0001 1 1111110 11111111 11111111 10101010 01010101 11110000 00001111"),
		header: Header{Fin: true, OpCode: OpText, Masked: true, Mask: [4]byte{0xaa, 0x55, 0xf0, 0x0f}, Length: 0xffff},
	},
	{
		name: "smallest 64-bit length",
		data: fromBits("1 000 0010 0 1111111 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000"),
		//                       '-- 127: a 64-bit length follows
		header: Header{Fin: true, OpCode: OpBinary, Length: 0x10000},
	},
	{
		name: "largest 64-bit length, masked",
		data: fromBits("0 000 0000 1 1111111 01111111 11111111 11111111 11111111 11111111 11111111 11111111 11111111" +
			" 00000001 00000010 00000011 00000100"),
		header: Header{OpCode: OpContinuation, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 1<<63 - 1},
	},
	{
		name:   "close masked",
		data:   fromBits("1 000 1000 1 0000010 11111111 00000000 11111111 00000000"),
		header: Header{Fin: true, OpCode: OpClose, Masked: true, Mask: [4]byte{0xff, 0, 0xff, 0}, Length: 2},
	},
	{
		name:   "ping",
		data:   fromBits("1 000 1001 0 0000000"),
		header: Header{Fin: true, OpCode: OpPing},
	},
	{
		name:   "pong",
		data:   fromBits("1 000 1010 0 0000011"),
		header: Header{Fin: true, OpCode: OpPong, Length: 3},
	},
	{
		name:   "reserved opcode parses",
		data:   fromBits("1 000 1011 0 0000000"),
		header: Header{Fin: true, OpCode: 0xB},
	},
	{
		name:       "non-minimal 16-bit length",
		data:       fromBits("1 000 0001 0 1111110 00000000 00000101"),
		header:     Header{Fin: true, OpCode: OpText, Length: 5},
		decodeOnly: true,
	},
	{
		name:       "non-minimal 64-bit length",
		data:       fromBits("1 000 0001 0 1111111 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000101"),
		header:     Header{Fin: true, OpCode: OpText, Length: 5},
		decodeOnly: true,
	},
}

func TestHeaderDecode(t *testing.T) {
	for _, tc := range headerCases {
		t.Run(tc.name, func(t *testing.T) {
			// Trailing payload bytes must not be read as header.
			in := append(bytes.Clone(tc.data), 0xde, 0xad)
			var h Header
			n, err := h.Decode(in)
			if err != nil || n != len(tc.data) {
				t.Fatalf("Decode = %d, %v; want %d, nil", n, err, len(tc.data))
			}
			if h != tc.header {
				t.Fatalf("Decode header\n got %+v\nwant %+v", h, tc.header)
			}
			// Every strict prefix is a short header and leaves h alone.
			for i := range len(tc.data) {
				h2 := Header{Length: -7}
				n, err := h2.Decode(tc.data[:i])
				if n != 0 || err != ErrShortHeader || h2 != (Header{Length: -7}) {
					t.Fatalf("Decode(%d of %d bytes) = %d, %v, %+v; want 0, ErrShortHeader, unchanged", i, len(tc.data), n, err, h2)
				}
			}
		})
	}
}

func TestAppendHeader(t *testing.T) {
	for _, tc := range headerCases {
		if tc.decodeOnly {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("xy")
			got := AppendHeader(bytes.Clone(prefix), tc.header)
			if !bytes.Equal(got[:2], prefix) || !bytes.Equal(got[2:], tc.data) {
				t.Fatalf("AppendHeader = % x; want %x + % x", got, prefix, tc.data)
			}
			if s := tc.header.Size(); s != len(tc.data) {
				t.Fatalf("Size = %d; want %d", s, len(tc.data))
			}
		})
	}
}

func TestHeaderDecodeInvalidLength(t *testing.T) {
	for _, masked := range []bool{false, true} {
		h := fromBits("1 000 0010 0 1111111 10000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000")
		if masked {
			h[1] |= 0x80
			h = append(h, 1, 2, 3, 4)
		}
		var got Header
		n, err := got.Decode(h)
		if n != 0 || err != ErrInvalidLength {
			t.Errorf("masked=%v: Decode = %d, %v; want 0, ErrInvalidLength", masked, n, err)
		}
		if ce, ok := err.(CloseError); !ok || ce.Code != StatusProtocolError {
			t.Errorf("masked=%v: error %v is not a 1002 CloseError", masked, err)
		}
	}
}

func TestHeaderCheck(t *testing.T) {
	ok := Header{Fin: true, OpCode: OpText, Masked: true, Length: 10}
	with := func(f func(*Header)) Header {
		h := ok
		f(&h)
		return h
	}
	cases := []struct {
		name string
		h    Header
		want error
	}{
		{"valid text", ok, nil},
		{"valid continuation, not fin", with(func(h *Header) { h.Fin, h.OpCode = false, OpContinuation }), nil},
		{"valid huge binary", with(func(h *Header) { h.OpCode, h.Length = OpBinary, 1<<40 }), nil},
		{"valid close 125", with(func(h *Header) { h.OpCode, h.Length = OpClose, 125 }), nil},
		{"valid ping 0", with(func(h *Header) { h.OpCode, h.Length = OpPing, 0 }), nil},
		{"valid pong", with(func(h *Header) { h.OpCode = OpPong }), nil},
		{"rsv1", with(func(h *Header) { h.Rsv = 4 }), ErrReservedBits},
		{"rsv2", with(func(h *Header) { h.Rsv = 2 }), ErrReservedBits},
		{"rsv3", with(func(h *Header) { h.Rsv = 1 }), ErrReservedBits},
		{"opcode 3", with(func(h *Header) { h.OpCode = 3 }), ErrReservedOpcode},
		{"opcode 7", with(func(h *Header) { h.OpCode = 7 }), ErrReservedOpcode},
		{"opcode B", with(func(h *Header) { h.OpCode = 0xB }), ErrReservedOpcode},
		{"opcode F", with(func(h *Header) { h.OpCode = 0xF }), ErrReservedOpcode},
		{"unmasked", with(func(h *Header) { h.Masked = false }), ErrUnmasked},
		{"unmasked ping", with(func(h *Header) { h.Masked, h.OpCode = false, OpPing }), ErrUnmasked},
		{"ping not fin", with(func(h *Header) { h.Fin, h.OpCode = false, OpPing }), ErrControlFragmented},
		{"close not fin", with(func(h *Header) { h.Fin, h.OpCode = false, OpClose }), ErrControlFragmented},
		{"ping 126", with(func(h *Header) { h.OpCode, h.Length = OpPing, 126 }), ErrControlTooLong},
		{"pong 1<<20", with(func(h *Header) { h.OpCode, h.Length = OpPong, 1<<20 }), ErrControlTooLong},
		{"rsv before opcode", with(func(h *Header) { h.Rsv, h.OpCode = 4, 0xC }), ErrReservedBits},
	}
	for _, tc := range cases {
		if got := tc.h.Check(); got != tc.want {
			t.Errorf("%s: Check() = %v; want %v", tc.name, got, tc.want)
		}
	}
}

func TestOpCodeClasses(t *testing.T) {
	for o := OpCode(0); o <= 0xF; o++ {
		data := o == OpContinuation || o == OpText || o == OpBinary
		control := o == OpClose || o == OpPing || o == OpPong
		reserved := !data && !control
		if o.IsData() != data || o.IsControl() != control || o.IsReserved() != reserved {
			t.Errorf("opcode %#x: IsData %v IsControl %v IsReserved %v; want %v %v %v",
				byte(o), o.IsData(), o.IsControl(), o.IsReserved(), data, control, reserved)
		}
		if reserved != (o.String() == "reserved") {
			t.Errorf("opcode %#x: String() = %q", byte(o), o.String())
		}
	}
	if s := OpCode(0x10).String(); s != "invalid" {
		t.Errorf("OpCode(0x10).String() = %q; want invalid", s)
	}
}
