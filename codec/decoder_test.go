package codec

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

// testMask is the masking key of the client frames the tests build.
var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// clientFrame returns a masked client frame, as a browser would send it.
func clientFrame(op OpCode, fin bool, payload []byte) []byte {
	return rawFrame(Header{Fin: fin, OpCode: op, Masked: true, Mask: testMask, Length: int64(len(payload))}, payload)
}

// rawFrame encodes h followed by payload, masked when h.Masked is set.
// h.Length is written as given, even if it does not match the payload.
func rawFrame(h Header, payload []byte) []byte {
	b := AppendHeader(nil, h)
	start := len(b)
	b = append(b, payload...)
	if h.Masked {
		Cipher(b[start:], h.Mask, 0)
	}
	return b
}

func bs(s string) []byte { return []byte(s) }

func closePayload(code StatusCode, reason string) []byte {
	return append([]byte{byte(code >> 8), byte(code)}, reason...)
}

func joinFrames(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// decodeCase is one client byte stream and what the Decoder must make of it:
// the messages, in order, then the error that stops it (nil when the stream
// just ends).
type decodeCase struct {
	name string
	max  int64 // Decoder.MaxMessageSize
	in   []byte
	want []Message
	err  error
}

// bigText is 1 MiB of valid UTF-8 text, mostly multi-byte, so that fragment
// and chunk boundaries fall inside sequences.
var bigText = func() []byte {
	var sb strings.Builder
	for sb.Len() < 1<<20 {
		sb.WriteString("héllo wörld, 世界 🙂 ")
	}
	return []byte(sb.String()[:1<<20-3] + "abc")
}()

func decodeCases() []decodeCase {
	m := func(op OpCode, p string) Message { return Message{OpCode: op, Payload: []byte(p)} }
	msgs := func(ms ...Message) []Message { return ms }
	h := func(op OpCode, fin, masked bool, rsv byte, length int64) Header {
		return Header{Fin: fin, Rsv: rsv, OpCode: op, Masked: masked, Mask: testMask, Length: length}
	}
	big := bigText
	cases := []decodeCase{
		// Good streams.
		{name: "single text", in: clientFrame(OpText, true, bs("hello")), want: msgs(m(OpText, "hello"))},
		{name: "single binary", in: clientFrame(OpBinary, true, []byte{0, 0xff, 0xfe}), want: msgs(m(OpBinary, "\x00\xff\xfe"))},
		{name: "empty text", in: clientFrame(OpText, true, nil), want: msgs(m(OpText, ""))},
		{name: "empty binary", in: clientFrame(OpBinary, true, nil), want: msgs(m(OpBinary, ""))},
		{name: "empty fragments", in: joinFrames(
			clientFrame(OpText, false, nil),
			clientFrame(OpContinuation, false, nil),
			clientFrame(OpContinuation, true, nil),
		), want: msgs(m(OpText, ""))},
		{name: "fragmented text", in: joinFrames(
			clientFrame(OpText, false, bs("hel")),
			clientFrame(OpContinuation, false, nil),
			clientFrame(OpContinuation, true, bs("lo")),
		), want: msgs(m(OpText, "hello"))},
		{name: "fragmented binary with control frames between", in: joinFrames(
			clientFrame(OpBinary, false, bs("ab")),
			clientFrame(OpPing, true, bs("p1")),
			clientFrame(OpContinuation, false, bs("cd")),
			clientFrame(OpPong, true, nil),
			clientFrame(OpContinuation, true, bs("ef")),
		), want: msgs(m(OpPing, "p1"), m(OpPong, ""), m(OpBinary, "abcdef"))},
		{name: "fragmented 1 MiB text with a ping", in: joinFrames(
			clientFrame(OpText, false, big[:100]),             // 7-bit length
			clientFrame(OpContinuation, false, big[100:1001]), // 16-bit
			clientFrame(OpPing, true, bs("are you there")),
			clientFrame(OpContinuation, false, big[1001:700001]), // 64-bit
			clientFrame(OpContinuation, true, big[700001:]),
		), want: msgs(m(OpPing, "are you there"), Message{OpText, big})},
		{name: "many messages", in: joinFrames(
			clientFrame(OpText, true, bs("one")),
			clientFrame(OpPing, true, nil),
			clientFrame(OpBinary, true, bs("two")),
			clientFrame(OpPong, true, bs("x")),
			clientFrame(OpText, false, bs("thr")),
			clientFrame(OpContinuation, true, bs("ee")),
			clientFrame(OpClose, true, closePayload(1000, "bye")),
		), want: msgs(m(OpText, "one"), m(OpPing, ""), m(OpBinary, "two"), m(OpPong, "x"), m(OpText, "three"), m(OpClose, "\x03\xe8bye"))},
		{name: "16-bit length", in: clientFrame(OpBinary, true, big[:300]), want: msgs(Message{OpBinary, big[:300]})},
		{name: "64-bit length", in: clientFrame(OpBinary, true, big[:70000]), want: msgs(Message{OpBinary, big[:70000]})},
		{name: "ping 125 bytes", in: clientFrame(OpPing, true, bytes.Repeat([]byte("x"), 125)), want: msgs(m(OpPing, strings.Repeat("x", 125)))},
		{name: "close empty", in: clientFrame(OpClose, true, nil), want: msgs(m(OpClose, ""))},
		{name: "close 125 bytes", in: clientFrame(OpClose, true, closePayload(1000, strings.Repeat("é", 61)+"x")), want: msgs(Message{OpClose, closePayload(1000, strings.Repeat("é", 61)+"x")})},
		{name: "valid UTF-8 split inside a sequence", in: joinFrames(
			clientFrame(OpText, false, bs("\xe2\x82")),
			clientFrame(OpContinuation, false, bs("\xac \xf0\x9f")),
			clientFrame(OpContinuation, true, bs("\x99\x82")),
		), want: msgs(m(OpText, "€ 🙂"))},
		{name: "invalid UTF-8 in binary is fine", in: clientFrame(OpBinary, true, bs("\xff\xc0")), want: msgs(m(OpBinary, "\xff\xc0"))},
		{name: "partial data frame", in: clientFrame(OpText, true, bs("hello"))[:8]},
		{name: "partial control frame", in: clientFrame(OpPing, true, bs("hello"))[:8]},
		{name: "partial header", in: clientFrame(OpText, true, big[:300])[:3]},
		{name: "message then partial", in: joinFrames(clientFrame(OpText, true, bs("a")), clientFrame(OpBinary, false, bs("bc"))[:7]), want: msgs(m(OpText, "a"))},
		{name: "max size exactly", max: 10, in: joinFrames(
			clientFrame(OpText, true, bs("0123456789")),
			clientFrame(OpBinary, false, bs("01234")),
			clientFrame(OpPing, true, bs("ping longer than the limit")),
			clientFrame(OpContinuation, true, bs("56789")),
		), want: msgs(m(OpText, "0123456789"), m(OpPing, "ping longer than the limit"), m(OpBinary, "0123456789"))},

		// Protocol errors.
		{name: "unmasked text", in: rawFrame(h(OpText, true, false, 0, 2), bs("hi")), err: ErrUnmasked},
		{name: "unmasked ping", in: rawFrame(h(OpPing, true, false, 0, 0), nil), err: ErrUnmasked},
		{name: "unmasked continuation", in: joinFrames(clientFrame(OpText, false, bs("a")), rawFrame(h(OpContinuation, true, false, 0, 1), bs("b"))), err: ErrUnmasked},
		{name: "rsv1", in: rawFrame(h(OpText, true, true, 4, 2), bs("hi")), err: ErrReservedBits},
		{name: "rsv2", in: rawFrame(h(OpBinary, true, true, 2, 2), bs("hi")), err: ErrReservedBits},
		{name: "rsv3 on ping", in: rawFrame(h(OpPing, true, true, 1, 0), nil), err: ErrReservedBits},
		{name: "message before error", in: joinFrames(clientFrame(OpText, true, bs("ok")), rawFrame(h(OpText, true, false, 0, 2), bs("hi"))), want: msgs(m(OpText, "ok")), err: ErrUnmasked},
		{name: "ping not fin", in: rawFrame(h(OpPing, false, true, 0, 1), bs("p")), err: ErrControlFragmented},
		{name: "close not fin", in: rawFrame(h(OpClose, false, true, 0, 2), closePayload(1000, "")), err: ErrControlFragmented},
		{name: "ping 126 bytes", in: clientFrame(OpPing, true, bytes.Repeat([]byte("x"), 126)), err: ErrControlTooLong},
		{name: "close 126 bytes, header only", in: AppendHeader(nil, h(OpClose, true, true, 0, 126)), err: ErrControlTooLong},
		{name: "continuation without start", in: clientFrame(OpContinuation, true, bs("x")), err: ErrUnexpectedContinuation},
		{name: "continuation after a whole message", in: joinFrames(clientFrame(OpText, false, bs("a")), clientFrame(OpContinuation, true, bs("b")), clientFrame(OpContinuation, true, bs("c"))), want: msgs(m(OpText, "ab")), err: ErrUnexpectedContinuation},
		{name: "text inside a fragmented message", in: joinFrames(clientFrame(OpText, false, bs("a")), clientFrame(OpText, true, bs("b"))), err: ErrExpectedContinuation},
		{name: "binary inside a fragmented message after a ping", in: joinFrames(clientFrame(OpText, false, bs("a")), clientFrame(OpPing, true, nil), clientFrame(OpBinary, false, nil)), want: msgs(m(OpPing, "")), err: ErrExpectedContinuation},
		{name: "64-bit length with top bit set", in: joinFrames(
			fromBits("1 000 0010 1 1111111 10000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001"),
			testMask[:], bs("x"),
		), err: ErrInvalidLength},
		{name: "invalid UTF-8 byte", in: clientFrame(OpText, true, bs("ab\xffcd")), err: ErrInvalidUTF8},
		{name: "overlong UTF-8", in: clientFrame(OpText, true, bs("\xc0\xaf")), err: ErrInvalidUTF8},
		{name: "UTF-8 surrogate", in: clientFrame(OpText, true, bs("\xed\xa0\x80")), err: ErrInvalidUTF8},
		{name: "UTF-8 above U+10FFFF", in: clientFrame(OpText, true, bs("\xf4\x90\x80\x80")), err: ErrInvalidUTF8},
		{name: "text ends inside a sequence", in: clientFrame(OpText, true, bs("ok\xe2\x82")), err: ErrInvalidUTF8},
		{name: "fragmented text ends inside a sequence", in: joinFrames(clientFrame(OpText, false, bs("ok")), clientFrame(OpContinuation, true, bs("\xe2\x82"))), err: ErrInvalidUTF8},
		{name: "invalid UTF-8 split across fragments", in: joinFrames(
			clientFrame(OpText, false, bs("ok\xe2\x82")),
			clientFrame(OpContinuation, true, bs("(")),
		), err: ErrInvalidUTF8},
		{name: "invalid UTF-8 fails before the message ends", in: joinFrames(
			clientFrame(OpText, false, bs("ok")),
			clientFrame(OpContinuation, false, bs("\xf0\x28")),
			// no final fragment ever comes
		), err: ErrInvalidUTF8},
		{name: "invalid UTF-8 fails before the frame ends", in: clientFrame(OpText, true, joinFrames(bs("\xc3\x28"), big[:500]))[:20], err: ErrInvalidUTF8},
		{name: "close reason invalid UTF-8", in: clientFrame(OpClose, true, closePayload(1000, "bad \xff")), err: ErrInvalidCloseReason},
		{name: "close 1-byte payload", in: clientFrame(OpClose, true, []byte{0x03}), err: ErrInvalidClosePayload},
		{name: "frame over max", max: 10, in: clientFrame(OpText, true, bs("0123456789a")), err: ErrMessageTooBig},
		{name: "frame over max, header only", max: 1 << 20, in: AppendHeader(nil, h(OpBinary, false, true, 0, 1<<40)), err: ErrMessageTooBig},
		{name: "fragmented message over max", max: 10, in: joinFrames(
			clientFrame(OpBinary, false, bs("012345")),
			clientFrame(OpPing, true, nil),
			clientFrame(OpContinuation, true, bs("6789a")),
		), want: msgs(m(OpPing, "")), err: ErrMessageTooBig},
	}
	for _, c := range []StatusCode{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, decodeCase{
			name: fmt.Sprintf("close code %d", c),
			in:   clientFrame(OpClose, true, closePayload(c, "")),
			err:  ErrInvalidCloseCode,
		})
	}
	for _, c := range []StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		p := closePayload(c, "réason")
		cases = append(cases, decodeCase{
			name: fmt.Sprintf("close code %d", c),
			in:   clientFrame(OpClose, true, p),
			want: msgs(Message{OpClose, p}),
		})
	}
	for _, op := range []OpCode{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		cases = append(cases, decodeCase{
			name: fmt.Sprintf("reserved opcode %#x", byte(op)),
			in:   clientFrame(op, true, bs("x")),
			err:  ErrReservedOpcode,
		})
	}
	return cases
}

// feedResult is what a Decoder made of a byte stream.
type feedResult struct {
	msgs     []Message // payloads copied at once
	err      error
	consumed int // bytes discarded in total
}

// feed delivers stream to d in chunks whose sizes come from next, the way
// gnet does: each time bytes arrive, the caller loop runs over everything
// not yet discarded, then the unread tail is copied out of the read buffer,
// whose old bytes are clobbered. So a Decoder that kept a reference into an
// earlier b, or miscounted what it consumed, gives wrong results.
func feed(t testing.TB, d *Decoder, stream []byte, next func() int) feedResult {
	t.Helper()
	var res feedResult
	var inbound []byte
	for off := 0; off < len(stream); {
		k := min(max(next(), 1), len(stream)-off)
		inbound = append(inbound, stream[off:off+k]...)
		off += k
		b := inbound
		for {
			n, m, err := d.Decode(b)
			if n < 0 || n > len(b) {
				t.Fatalf("Decode consumed %d of %d bytes", n, len(b))
			}
			b = b[n:]
			res.consumed += n
			if err != nil {
				if m.OpCode != 0 {
					t.Fatalf("Decode returned message %v and error %v", m.OpCode, err)
				}
				res.err = err
				return res
			}
			if m.OpCode == 0 {
				break
			}
			res.msgs = append(res.msgs, Message{m.OpCode, bytes.Clone(m.Payload)})
		}
		rest := bytes.Clone(b)
		for i := range inbound {
			inbound[i] = 0xEE
		}
		inbound = rest
	}
	return res
}

func feedWhole() int      { return 1 << 62 }
func feedByteByByte() int { return 1 }

// randomChunks returns chunk sizes from 1 to at most limit.
func randomChunks(seed uint64, limit int) func() int {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	return func() int { return 1 + r.IntN(limit) }
}

func sameMessages(a, b []Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].OpCode != b[i].OpCode || !bytes.Equal(a[i].Payload, b[i].Payload) {
			return false
		}
	}
	return true
}

func describeMessages(ms []Message) string {
	var sb strings.Builder
	for _, m := range ms {
		p := m.Payload
		if len(p) > 40 {
			p = p[:40]
		}
		fmt.Fprintf(&sb, "[%v %d %q] ", m.OpCode, len(m.Payload), p)
	}
	return sb.String()
}

func TestDecoder(t *testing.T) {
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			run := func(how string, next func() int) feedResult {
				t.Helper()
				d := Decoder{MaxMessageSize: tc.max}
				res := feed(t, &d, tc.in, next)
				if !sameMessages(res.msgs, tc.want) {
					t.Fatalf("%s: messages\n got %s\nwant %s", how, describeMessages(res.msgs), describeMessages(tc.want))
				}
				if res.err != tc.err {
					t.Fatalf("%s: error %v; want %v", how, res.err, tc.err)
				}
				if res.err == nil && d.remaining == 0 && d.op == 0 && d.buf != nil {
					t.Fatalf("%s: Decoder holds a buffer while idle", how)
				}
				return res
			}
			ref := run("whole", feedWhole)
			check := func(how string, next func() int) {
				t.Helper()
				// On error the count consumed before it may differ.
				if got := run(how, next); got.err == nil && got.consumed != ref.consumed {
					t.Fatalf("%s: consumed %d bytes; whole input consumed %d", how, got.consumed, ref.consumed)
				}
			}
			check("1 byte at a time", feedByteByByte)
			for seed := range uint64(4) {
				for _, limit := range []int{3, 16, 200, 5000} {
					if len(tc.in) > 1<<16 && limit < 200 {
						continue // the 1-byte run covers small chunks
					}
					check(fmt.Sprintf("random chunks (seed %d, up to %d)", seed, limit), randomChunks(seed, limit))
				}
			}
			if len(tc.in) <= 600 {
				for cut := 1; cut < len(tc.in); cut++ {
					first := true
					check(fmt.Sprintf("split at %d", cut), func() int {
						if first {
							first = false
							return cut
						}
						return len(tc.in)
					})
				}
			}
		})
	}
}

func TestDecoderErrorsAreCloseErrors(t *testing.T) {
	want := map[error]StatusCode{
		ErrUnmasked: 1002, ErrReservedBits: 1002, ErrReservedOpcode: 1002,
		ErrControlFragmented: 1002, ErrControlTooLong: 1002, ErrInvalidLength: 1002,
		ErrUnexpectedContinuation: 1002, ErrExpectedContinuation: 1002,
		ErrInvalidUTF8: 1007, ErrInvalidCloseCode: 1002, ErrInvalidClosePayload: 1002,
		ErrInvalidCloseReason: 1007, ErrMessageTooBig: 1009,
	}
	for _, tc := range decodeCases() {
		if tc.err == nil {
			continue
		}
		ce, ok := tc.err.(CloseError)
		if !ok {
			t.Errorf("%s: %v is not a CloseError", tc.name, tc.err)
			continue
		}
		if ce.Code != want[tc.err] {
			t.Errorf("%s: %v has code %d; want %d", tc.name, ce, ce.Code, want[tc.err])
		}
	}
	for err := range want {
		ce := err.(CloseError)
		if len(ce.Reason) == 0 || len(ce.Reason) > 123 {
			t.Errorf("%v: reason length %d", ce, len(ce.Reason))
		}
		if !strings.HasPrefix(ce.Error(), "codec: ") {
			t.Errorf("Error() = %q", ce.Error())
		}
	}
}

func TestDecoderZeroCopy(t *testing.T) {
	var d Decoder
	b := joinFrames(clientFrame(OpText, true, bs("hello")), clientFrame(OpPing, true, bs("p")))
	n, m, err := d.Decode(b)
	if err != nil || m.OpCode != OpText || string(m.Payload) != "hello" {
		t.Fatalf("Decode = %d, %v %q, %v", n, m.OpCode, m.Payload, err)
	}
	if &m.Payload[0] != &b[6] { // 2-byte header, 4-byte key
		t.Fatalf("payload of a whole frame does not alias b")
	}
	n2, m, err := d.Decode(b[n:])
	if err != nil || m.OpCode != OpPing || &m.Payload[0] != &b[n+n2-1] {
		t.Fatalf("ping payload does not alias b")
	}
	if d.buf != nil {
		t.Fatalf("zero-copy path took a buffer")
	}
}

func TestDecoderFragmentsGoToPooledBuffer(t *testing.T) {
	var d Decoder
	b := joinFrames(clientFrame(OpText, false, bs("hel")), clientFrame(OpContinuation, true, bs("lo")))
	n, m, err := d.Decode(b)
	if err != nil || n != len(b) || string(m.Payload) != "hello" {
		t.Fatalf("Decode = %d, %q, %v", n, m.Payload, err)
	}
	if d.buf == nil || &m.Payload[0] != &(*d.buf)[0] {
		t.Fatalf("reassembled payload does not alias the Decoder's buffer")
	}
	// The next call gives the buffer back, even with no input.
	if n, m, err := d.Decode(nil); n != 0 || m.OpCode != 0 || err != nil {
		t.Fatalf("Decode(nil) = %d, %v, %v", n, m.OpCode, err)
	}
	if d.buf != nil {
		t.Fatalf("buffer kept after the next Decode")
	}
}

func TestDecoderBufferFollowsArrivedBytes(t *testing.T) {
	// A header may announce far more than arrives; the buffer must grow
	// with what arrives, not with what is announced.
	d := Decoder{}
	in := rawFrame(Header{Fin: true, OpCode: OpBinary, Masked: true, Mask: testMask, Length: 1 << 40}, bs("0123456789"))
	n, m, err := d.Decode(in)
	if n != len(in) || m.OpCode != 0 || err != nil {
		t.Fatalf("Decode = %d, %v, %v", n, m.OpCode, err)
	}
	if c := cap(*d.buf); c > 1<<bufMinShift {
		t.Fatalf("buffer capacity %d after 10 payload bytes", c)
	}
	d.Reset()
	if d.buf != nil || d.remaining != 0 || d.op != 0 {
		t.Fatalf("Reset left state: %+v", d)
	}
}

func TestDecoderBufferGrowth(t *testing.T) {
	// Above the largest pool class buffers are exact: growth must still
	// double (few copies) and stop at the end of the frame (no waste).
	const size = 12 << 20
	const chunk = 64 << 10
	in := rawFrame(Header{Fin: true, OpCode: OpBinary, Masked: true, Mask: testMask, Length: size}, make([]byte, size))
	var d Decoder
	var last *[]byte
	regrowths := 0
	for len(in) > 0 {
		k := min(chunk, len(in))
		n, m, err := d.Decode(in[:k])
		if err != nil || n != k {
			t.Fatalf("Decode = %d, %v", n, err)
		}
		in = in[k:]
		if m.OpCode != 0 {
			if len(in) != 0 || len(m.Payload) != size {
				t.Fatalf("message of %d bytes with %d bytes left", len(m.Payload), len(in))
			}
			if c := cap(*d.buf); c != size {
				t.Errorf("final buffer capacity %d; want exactly %d", c, size)
			}
			break
		}
		if d.buf != last {
			regrowths++
			last = d.buf
		}
	}
	if regrowths > 20 {
		t.Errorf("buffer replaced %d times for a %d-byte frame in %d-byte chunks; want it to double", regrowths, size, chunk)
	}
	d.Reset()
}

func TestDecoderResetKeepsLimit(t *testing.T) {
	d := Decoder{MaxMessageSize: 5}
	if _, _, err := d.Decode(clientFrame(OpText, false, bs("abc"))); err != nil {
		t.Fatal(err)
	}
	d.Reset()
	if d.MaxMessageSize != 5 {
		t.Fatalf("MaxMessageSize = %d after Reset", d.MaxMessageSize)
	}
	// The fragmented message is gone: a new text frame is fine.
	if _, m, err := d.Decode(clientFrame(OpText, true, bs("12345"))); err != nil || string(m.Payload) != "12345" {
		t.Fatalf("after Reset: %q, %v", m.Payload, err)
	}
}

func TestDecoderSize(t *testing.T) {
	if s := unsafe.Sizeof(Decoder{}); s > 64 {
		t.Fatalf("Decoder is %d bytes; keep it within 64", s)
	}
	t.Logf("unsafe.Sizeof(Decoder{}) = %d", unsafe.Sizeof(Decoder{}))
}
