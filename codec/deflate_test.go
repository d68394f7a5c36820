package codec

import (
	"bytes"
	stdflate "compress/flate"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
)

func TestNegotiateDeflate(t *testing.T) {
	for _, tc := range []struct {
		offers []string // Sec-WebSocket-Extensions lines
		want   bool
	}{
		{nil, false},
		{[]string{"permessage-deflate"}, true},
		{[]string{"permessage-deflate; client_max_window_bits"}, true},                                 // Chromium, Node's ws
		{[]string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, true}, // gorilla
		{[]string{"permessage-deflate; client_max_window_bits=10; server_max_window_bits=15"}, true},
		{[]string{"PerMessage-Deflate; Client_Max_Window_Bits"}, true},
		{[]string{"permessage-deflate; server_max_window_bits=10"}, false},                    // a smaller window than we compress with
		{[]string{"permessage-deflate; server_max_window_bits=10, permessage-deflate"}, true}, // the second offer
		{[]string{"x-webkit-deflate-frame", "permessage-deflate"}, true},
		{[]string{"permessage-deflate; mystery=1"}, false},
		{[]string{"permessage-deflate; client_no_context_takeover; client_no_context_takeover"}, false},
		{[]string{"permessage-deflate; client_max_window_bits=16"}, false},
		{[]string{"permessage-deflate; server_no_context_takeover=1"}, false},
		{[]string{"deflate-frame"}, false},
	} {
		req := "GET /ws HTTP/1.1\r\nHost: x\r\n"
		for _, o := range tc.offers {
			req += "Sec-WebSocket-Extensions: " + o + "\r\n"
		}
		req += "\r\n"
		var r Request
		if _, err := ParseRequest([]byte(req), &r, 0); err != nil {
			t.Fatal(err)
		}
		if got := NegotiateDeflate(&r); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.offers, got, tc.want)
		}
	}
	resp := string(AppendAcceptDeflate(nil, []byte("dGhlIHNhbXBsZSBub25jZQ==")))
	if !strings.Contains(resp, "\r\n"+DeflateResponse+"\r\n") || !strings.HasPrefix(resp, "HTTP/1.1 101 ") {
		t.Errorf("response %q", resp)
	}
}

// compressedFrame is a client frame carrying p compressed (RSV1), split
// into fragments of at most frag bytes (0: one frame).
func compressedFrames(t *testing.T, op OpCode, p []byte, frag int) []byte {
	t.Helper()
	d, err := NewDeflater(flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	c := bytes.Clone(d.Compress(p))
	if frag <= 0 {
		frag = len(c) + 1
	}
	var out []byte
	for i := 0; i == 0 || i < len(c); i += frag {
		part := c[i:min(i+frag, len(c))]
		h := Header{Fin: i+frag >= len(c), OpCode: OpContinuation, Masked: true, Mask: testMask, Length: int64(len(part))}
		if i == 0 {
			h.OpCode, h.Rsv = op, rsv1
		}
		out = append(out, rawFrame(h, part)...)
	}
	return out
}

// TestDecoderDeflate: compressed messages, whole or fragmented, in any
// pieces, come out inflated; RSV1 is refused where it does not belong; the
// inflated size is what MaxMessageSize bounds, checked before the memory is
// spent.
func TestDecoderDeflate(t *testing.T) {
	chat := []byte(strings.Repeat(`{"cmd":"publish","data":{"room":"lobby","payload":{"text":"hello everyone"}}}`, 20))
	for _, tc := range []struct {
		name   string
		stream []byte
		want   []Message
		err    error
		max    int64
		plain  bool // the connection did not negotiate the extension
	}{
		{name: "one frame", stream: compressedFrames(t, OpText, chat, 0), want: []Message{{OpText, chat}}},
		{name: "fragmented", stream: compressedFrames(t, OpText, chat, 7), want: []Message{{OpText, chat}}},
		{name: "binary", stream: compressedFrames(t, OpBinary, []byte{0, 1, 2, 0xff, 0xff, 0xff}, 0), want: []Message{{OpBinary, []byte{0, 1, 2, 0xff, 0xff, 0xff}}}},
		{name: "empty", stream: compressedFrames(t, OpText, nil, 0), want: []Message{{OpText, nil}}},
		{name: "compressed then plain", stream: joinFrames(compressedFrames(t, OpText, chat, 0), clientFrame(OpText, true, bs("plain"))),
			want: []Message{{OpText, chat}, {OpText, bs("plain")}}},
		{name: "ping between fragments", stream: func() []byte {
			f := compressedFrames(t, OpText, chat, 10)
			h, _ := decodeHeader(f)
			first := len(rawFrame(h, make([]byte, h.Length)))
			return joinFrames(f[:first], clientFrame(OpPing, true, bs("p")), f[first:])
		}(), want: []Message{{OpPing, bs("p")}, {OpText, chat}}},
		{name: "deflate bomb", stream: compressedFrames(t, OpBinary, make([]byte, 8<<20), 0), max: 64 << 10, err: ErrMessageTooBig},
		{name: "just over the limit", stream: compressedFrames(t, OpText, chat, 0), max: int64(len(chat) - 1), err: ErrMessageTooBig},
		{name: "just at the limit", stream: compressedFrames(t, OpText, chat, 0), max: int64(len(chat)), want: []Message{{OpText, chat}}},
		{name: "invalid UTF-8 once inflated", stream: compressedFrames(t, OpText, []byte("caf\xe9"), 0), err: ErrInvalidUTF8},
		{name: "not deflate data", stream: rawFrame(Header{Fin: true, Rsv: rsv1, OpCode: OpText, Masked: true, Mask: testMask, Length: 4}, []byte{0xff, 0xff, 0xff, 0xff}), err: ErrBadCompressedData},
		{name: "RSV1 on a continuation", stream: joinFrames(clientFrame(OpText, false, bs("a")), rawFrame(Header{Fin: true, Rsv: rsv1, OpCode: OpContinuation, Masked: true, Mask: testMask, Length: 1}, bs("b"))), err: ErrReservedBits},
		{name: "RSV1 on a control frame", stream: rawFrame(Header{Fin: true, Rsv: rsv1, OpCode: OpPing, Masked: true, Mask: testMask}, nil), err: ErrReservedBits},
		{name: "RSV2", stream: rawFrame(Header{Fin: true, Rsv: 0x2, OpCode: OpText, Masked: true, Mask: testMask, Length: 1}, bs("a")), err: ErrReservedBits},
		{name: "RSV1 without the extension", stream: compressedFrames(t, OpText, chat, 0), plain: true, err: ErrReservedBits},
	} {
		for _, chunk := range []struct {
			name string
			next func() int
		}{{"whole", feedWhole}, {"bytes", feedByteByByte}, {"random", randomChunks(7, 40)}} {
			d := Decoder{MaxMessageSize: tc.max}
			d.SetDeflate(!tc.plain)
			res := feed(t, &d, tc.stream, chunk.next)
			if res.err != tc.err || (tc.err == nil && !sameMessages(res.msgs, tc.want)) {
				t.Errorf("%s, %s: messages %s, err %v; want %s, %v", tc.name, chunk.name, describeMessages(res.msgs), res.err, describeMessages(tc.want), tc.err)
			}
		}
	}
}

func decodeHeader(b []byte) (Header, int) {
	var h Header
	n, _ := h.Decode(b)
	return h, n
}

// TestPreparedFrameDeflated: a prepared frame is compressed once, shared,
// and inflates back to its payload; its buffer goes back with the frame.
func TestPreparedFrameDeflated(t *testing.T) {
	payload := []byte(strings.Repeat(`{"cmd":"message","data":{"room":"r","from":"u","payload":"hi"}}`, 10))
	f := NewPreparedFrame(OpText, payload)
	a := f.Deflated(flate.BestSpeed)
	b := f.Deflated(flate.BestSpeed)
	if &a[0] != &b[0] {
		t.Fatal("compressed twice")
	}
	if len(a) >= len(f.Bytes()) {
		t.Errorf("compressed frame %d bytes, plain %d", len(a), len(f.Bytes()))
	}
	var h Header
	hn, err := h.Decode(a)
	if err != nil || h.Rsv != rsv1 || h.OpCode != OpText || !h.Fin || h.Masked || int(h.Length) != len(a)-hn {
		t.Fatalf("header %+v, %v", h, err)
	}
	out, err := inflate(a[hn:], 0)
	if err != nil || !bytes.Equal(*out, payload) {
		t.Fatalf("inflated %q, %v", *out, err)
	}
	if f.PayloadLen() != len(payload) {
		t.Errorf("PayloadLen %d", f.PayloadLen())
	}
	f.Release()
}

// BenchmarkDeflate compares the deflate implementations wsloop could use,
// on a chat message (what rooms carry): klauspost/compress/flate (used)
// and the standard library's compress/flate (what gobwas/ws's wsflate and
// gorilla use), each reset per message (no context takeover), at the
// fastest and the default level. It reports the compressed size.
func BenchmarkDeflate(b *testing.B) {
	msg := []byte(`{"cmd":"message","data":{"room":"lobby","from":"user-4821","payload":{"type":"chat","text":"hello everyone, who is up for a game tonight? I can host at 9","mentions":[],"ts":1733574400123}}}`)
	for _, level := range []int{flate.BestSpeed, 3, flate.DefaultCompression} {
		b.Run("klauspost/level"+levelName(level), func(b *testing.B) {
			d, _ := NewDeflater(level)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			var n int
			for b.Loop() {
				n = len(d.Compress(msg))
			}
			b.ReportMetric(float64(n), "bytes/msg")
		})
		b.Run("stdlib/level"+levelName(level), func(b *testing.B) {
			var buf bytes.Buffer
			w, _ := stdflate.NewWriter(&buf, level)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			var n int
			for b.Loop() {
				buf.Reset()
				w.Reset(&buf)
				_, _ = w.Write(msg)
				_ = w.Flush()
				n = buf.Len() - 4
			}
			b.ReportMetric(float64(n), "bytes/msg")
		})
	}
	b.Run("inflate/klauspost", func(b *testing.B) {
		d, _ := NewDeflater(flate.BestSpeed)
		c := bytes.Clone(d.Compress(msg))
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			out, err := inflate(c, 0)
			if err != nil {
				b.Fatal(err)
			}
			bufPut(out)
		}
	})
}

func levelName(l int) string {
	if l == flate.DefaultCompression {
		return "Default"
	}
	return strconv.Itoa(l)
}
