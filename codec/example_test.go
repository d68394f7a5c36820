package codec_test

import (
	"fmt"

	"github.com/wsloop/wsloop/codec"
)

// maskedFrame builds a masked frame, as a client sends it.
func maskedFrame(op codec.OpCode, fin bool, payload string) []byte {
	h := codec.Header{Fin: fin, OpCode: op, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: int64(len(payload))}
	b := codec.AppendHeader(nil, h)
	p := append([]byte(nil), payload...)
	codec.Cipher(p, h.Mask, 0)
	return append(b, p...)
}

// The caller loop of an event-loop server: bytes arrive in arbitrary
// pieces, and whatever Decode does not consume stays in the inbound buffer
// for the next read.
func ExampleDecoder() {
	var stream []byte
	stream = append(stream, maskedFrame(codec.OpText, false, "Hello, ")...)
	stream = append(stream, maskedFrame(codec.OpPing, true, "are you there?")...)
	stream = append(stream, maskedFrame(codec.OpContinuation, true, "world")...)
	stream = append(stream, maskedFrame(codec.OpClose, true, "\x03\xe8bye")...)

	d := codec.Decoder{MaxMessageSize: 1 << 20}
	var inbound []byte // what the network library keeps between reads
	for _, read := range [][]byte{stream[:5], stream[5:30], stream[30:]} {
		inbound = append(inbound, read...)
		for {
			n, m, err := d.Decode(inbound)
			inbound = inbound[n:]
			if err != nil {
				fmt.Println("close:", err)
				return
			}
			if m.OpCode == 0 {
				break // wait for more bytes
			}
			switch m.OpCode {
			case codec.OpClose:
				code, reason, _ := codec.ParseClose(m.Payload)
				fmt.Printf("close %d %q\n", code, reason)
			default:
				fmt.Printf("%v %q\n", m.OpCode, m.Payload)
			}
		}
	}
	// Output:
	// ping "are you there?"
	// text "Hello, world"
	// close 1000 "bye"
}

func ExampleDecoder_protocolError() {
	var d codec.Decoder
	unmasked := codec.AppendFrame(nil, codec.OpText, true, []byte("hi"))
	_, _, err := d.Decode(unmasked)
	if ce, ok := err.(codec.CloseError); ok {
		fmt.Println(ce.Code, ce.Reason)
		fmt.Printf("% x\n", codec.AppendClose(nil, ce.Code, ce.Reason))
	}
	// Output:
	// 1002 frame not masked
	// 88 12 03 ea 66 72 61 6d 65 20 6e 6f 74 20 6d 61 73 6b 65 64
}

func ExampleAppendFrame() {
	out := make([]byte, 0, 64) // one write buffer for a whole wakeup
	out = codec.AppendFrame(out, codec.OpText, true, []byte(`{"cmd":"pong"}`))
	out = codec.AppendPong(out, []byte("p"))
	fmt.Printf("% x\n", out)
	// Output:
	// 81 0e 7b 22 63 6d 64 22 3a 22 70 6f 6e 67 22 7d 8a 01 70
}

func ExampleHeader_Decode() {
	b := []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}
	var h codec.Header
	if _, err := h.Decode(b[:3]); err == codec.ErrShortHeader {
		fmt.Println("need more bytes")
	}
	n, _ := h.Decode(b)
	fmt.Println(n, h.Fin, h.OpCode, h.Masked, h.Length, h.Check())
	codec.Cipher(b[n:], h.Mask, 0)
	fmt.Printf("%s\n", b[n:])
	// Output:
	// need more bytes
	// 6 true text true 5 <nil>
	// Hello
}

func ExampleCipher() {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	payload := []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}
	// Unmask in two chunks, as they arrive; the offset carries over.
	off := codec.Cipher(payload[:2], mask, 0)
	codec.Cipher(payload[2:], mask, off)
	fmt.Printf("%s %d\n", payload, off)
	// Output: Hello 2
}

func ExampleParseClose() {
	code, reason, err := codec.ParseClose([]byte("\x03\xe9server restart"))
	fmt.Println(code, string(reason), err)
	_, _, err = codec.ParseClose([]byte("\x03\xed")) // 1005 may not be sent
	fmt.Println(err)
	// Output:
	// 1001 server restart <nil>
	// codec: invalid close code (1002)
}

func ExampleUTF8() {
	var u codec.UTF8
	fmt.Println(u.Write([]byte("caf\xc3")), u.Complete()) // "é" cut in two
	fmt.Println(u.Write([]byte("\xa9")), u.Complete())
	fmt.Println(u.Write([]byte("\xc3(")), u.Complete()) // broken sequence
	// Output:
	// true false
	// true true
	// false false
}

func ExamplePreparedFrame() {
	f := codec.NewPreparedFrame(codec.OpText, []byte(`{"cmd":"message"}`))
	// One reference per event loop that has members in the room; each loop
	// writes f.Bytes() to its members, then releases its reference.
	var outA, outB []byte
	for _, out := range []*[]byte{&outA, &outB} {
		f.Retain()
		*out = append(*out, f.Bytes()...)
		f.Release()
	}
	f.Release() // the publisher's own reference; the buffer goes back to the pool
	fmt.Printf("% x\n", outA[:2])
	fmt.Println(len(outA) == len(outB))
	// Output:
	// 81 11
	// true
}

func ExampleFrameSize() {
	// Size an outbound buffer for a 125-byte pong and a 64 KiB message.
	fmt.Println(codec.FrameSize(125), codec.FrameSize(65536))
	// Output: 127 65546
}
