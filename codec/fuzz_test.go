package codec

import (
	"testing"
	"unicode/utf8"
)

// FuzzDecode feeds a byte stream to a Decoder whole, one byte at a time and
// in chunks whose sizes come from cuts (part of the fuzz input), and checks
// that Decode never panics, never claims more bytes than it was given, that
// every way of feeding gives the same messages, error and consumed count,
// and that what it returns obeys the protocol.
func FuzzDecode(f *testing.F) {
	for _, tc := range decodeCases() {
		if len(tc.in) > 8<<10 {
			continue // keep the seed corpus quick
		}
		f.Add(tc.in, []byte{1}, uint16(tc.max))
		f.Add(tc.in, []byte{3, 7, 1, 250}, uint16(tc.max))
	}
	f.Fuzz(func(t *testing.T, stream, cuts []byte, maxSize uint16) {
		decode := func(next func() int) feedResult {
			d := Decoder{MaxMessageSize: int64(maxSize)}
			res := feed(t, &d, stream, next)
			if res.err == nil && d.remaining == 0 && d.op == 0 && d.buf != nil {
				t.Fatal("Decoder holds a buffer while idle")
			}
			return res
		}
		ref := decode(feedWhole)
		checkProtocol(t, ref, maxSize)

		i := 0
		chunked := decode(func() int {
			if len(cuts) == 0 {
				return 1
			}
			c := int(cuts[i%len(cuts)])
			i++
			return c
		})
		agreeResult(t, "chunks from cuts", chunked, ref)
		if len(stream) <= 4096 {
			agreeResult(t, "1 byte at a time", decode(feedByteByByte), ref)
		}
	})
}

// agreeResult fails unless got and ref are the same result.
func agreeResult(t *testing.T, how string, got, ref feedResult) {
	t.Helper()
	if !sameMessages(got.msgs, ref.msgs) {
		t.Fatalf("%s: messages\n got %s\nwant %s", how, describeMessages(got.msgs), describeMessages(ref.msgs))
	}
	if got.err != ref.err {
		t.Fatalf("%s: error %v; whole input gave %v", how, got.err, ref.err)
	}
	if got.err == nil && got.consumed != ref.consumed {
		t.Fatalf("%s: consumed %d; whole input consumed %d", how, got.consumed, ref.consumed)
	}
}

// checkProtocol fails unless every message and the error obey the protocol.
func checkProtocol(t *testing.T, res feedResult, maxSize uint16) {
	t.Helper()
	if res.err != nil {
		if _, ok := res.err.(CloseError); !ok {
			t.Fatalf("error %v is not a CloseError", res.err)
		}
	}
	for _, m := range res.msgs {
		switch m.OpCode {
		case OpText:
			if !utf8.Valid(m.Payload) {
				t.Fatalf("text message is not valid UTF-8: %q", m.Payload)
			}
			fallthrough
		case OpBinary:
			if maxSize > 0 && len(m.Payload) > int(maxSize) {
				t.Fatalf("message of %d bytes over the limit %d", len(m.Payload), maxSize)
			}
		case OpClose:
			if _, _, err := ParseClose(m.Payload); err != nil {
				t.Fatalf("close payload % x: %v", m.Payload, err)
			}
			fallthrough
		case OpPing, OpPong:
			if len(m.Payload) > MaxControlPayload {
				t.Fatalf("control payload of %d bytes", len(m.Payload))
			}
		default:
			t.Fatalf("message with opcode %v", m.OpCode)
		}
	}
}
