package wsframe

import (
	"bytes"
	"errors"
	"testing"

	"github.com/wsloop/wsloop/codec"
)

var frameCases = []struct {
	name string
	op   OpCode
	n    int // payload size
}{
	{"text empty", OpText, 0},
	{"text 1", OpText, 1},
	{"text 7", OpText, 7},
	{"text 64", OpText, 64},
	{"text 125", OpText, 125},
	{"text 126", OpText, 126},
	{"binary 1000", OpBinary, 1000},
	{"binary 65535", OpBinary, 65535},
	{"binary 65536", OpBinary, 65536},
	{"binary 200000", OpBinary, 200000},
	{"ping empty", OpPing, 0},
	{"ping 125", OpPing, 125},
	{"pong 5", OpPong, 5},
}

func payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}

// Client frames we encode are accepted by wsloop's server-side decoder.
func TestAppendClientDecodesWithCodec(t *testing.T) {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for _, tc := range frameCases {
		t.Run(tc.name, func(t *testing.T) {
			p := payload(tc.n)
			orig := append([]byte(nil), p...)
			frame := AppendClient(nil, tc.op, p, mask)
			if !bytes.Equal(p, orig) {
				t.Fatal("AppendClient modified the payload")
			}
			if got, want := len(frame), HeaderSize(tc.n)+tc.n; got != want {
				t.Fatalf("frame size %d, want %d", got, want)
			}
			if tc.n > 3 && bytes.Equal(frame[len(frame)-tc.n:], orig) {
				t.Fatal("payload on the wire is not masked")
			}
			var d codec.Decoder
			n, m, err := d.Decode(frame)
			if err != nil {
				t.Fatalf("codec rejects the frame: %v", err)
			}
			if n != len(frame) {
				t.Fatalf("codec consumed %d of %d bytes", n, len(frame))
			}
			if m.OpCode != codec.OpCode(tc.op) || !bytes.Equal(m.Payload, orig) {
				t.Fatalf("codec decoded op %v payload %d bytes; want %v, %d", m.OpCode, len(m.Payload), tc.op, tc.n)
			}
		})
	}
}

// Server frames built by codec.AppendFrame decode with Decode, also when
// they arrive one byte at a time.
func TestDecodeServerFrames(t *testing.T) {
	for _, tc := range frameCases {
		t.Run(tc.name, func(t *testing.T) {
			p := payload(tc.n)
			frame := codec.AppendFrame(nil, codec.OpCode(tc.op), true, p)
			frame = append(frame, 0x89, 0x00) // a second frame follows: empty ping
			h, got, n, err := Decode(frame)
			if err != nil || n != len(frame)-2 {
				t.Fatalf("Decode: n=%d err=%v, want n=%d", n, err, len(frame)-2)
			}
			if h.OpCode != tc.op || !h.Fin || h.Masked || h.Length != tc.n || !bytes.Equal(got, p) {
				t.Fatalf("Decode: %+v, %d payload bytes", h, len(got))
			}
			h, got, n2, err := Decode(frame[n:])
			if err != nil || n2 != 2 || h.OpCode != OpPing || len(got) != 0 {
				t.Fatalf("second frame: %+v n=%d err=%v", h, n2, err)
			}
			if tc.n > 1000 {
				return // the prefix walk below is quadratic
			}
			for i := 0; i < len(frame)-2; i++ {
				if _, _, n, err := Decode(frame[:i]); n != 0 || err != nil {
					t.Fatalf("prefix of %d bytes: n=%d err=%v, want 0, nil", i, n, err)
				}
			}
		})
	}
}

// Our own masked frames round-trip through Decode too.
func TestDecodeMaskedRoundTrip(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	for _, tc := range frameCases {
		p := payload(tc.n)
		h, got, n, err := Decode(AppendClient(nil, tc.op, p, mask))
		if err != nil || n != HeaderSize(tc.n)+tc.n || !h.Masked || h.Mask != mask || !bytes.Equal(got, p) {
			t.Fatalf("%s: %+v n=%d err=%v", tc.name, h, n, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		err  error
	}{
		{"rsv1", []byte{0xc1, 0x00}, ErrReservedBits},
		{"64-bit length msb", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, ErrLength},
	} {
		if _, _, _, err := Decode(tc.b); !errors.Is(err, tc.err) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.err)
		}
	}
}

func TestMaskOddLengths(t *testing.T) {
	mask := [4]byte{0xde, 0xad, 0xbe, 0xef}
	for n := 0; n < 40; n++ {
		p := payload(n)
		q := append([]byte(nil), p...)
		Mask(q, mask)
		codec.Cipher(p, mask, 0)
		if !bytes.Equal(p, q) {
			t.Fatalf("n=%d: Mask differs from codec.Cipher", n)
		}
	}
}

func TestHandshake(t *testing.T) {
	key := NewKey(42)
	req := Request("127.0.0.1:1", "/ws", key)
	var r codec.Request
	n, err := codec.ParseRequest(req, &r, 8<<10)
	if err != nil || n != len(req) {
		t.Fatalf("codec.ParseRequest: n=%d err=%v", n, err)
	}
	if err := r.Check(); err != nil {
		t.Fatalf("codec rejects our request: %v", err)
	}
	resp := codec.AppendAccept(nil, []byte(key))
	if got, err := ParseResponse(resp, AcceptKey(key)); err != nil || got != len(resp) {
		t.Fatalf("ParseResponse(codec accept): n=%d err=%v", got, err)
	}
	if got, err := ParseResponse(resp[:len(resp)-1], AcceptKey(key)); got != 0 || err != nil {
		t.Fatalf("partial response: n=%d err=%v", got, err)
	}
	if _, err := ParseResponse(resp, AcceptKey(NewKey(7))); !errors.Is(err, ErrHandshake) {
		t.Fatalf("wrong accept key: err=%v", err)
	}
	rej := []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
	if _, err := ParseResponse(rej, AcceptKey(key)); !errors.Is(err, ErrHandshake) {
		t.Fatalf("503: err=%v", err)
	}
}
