package codec

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

func BenchmarkHeaderDecode(b *testing.B) {
	in := AppendHeader(nil, Header{Fin: true, OpCode: OpText, Masked: true, Mask: testMask, Length: 1000})
	b.ReportAllocs()
	var h Header
	for b.Loop() {
		if _, err := h.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCipher(b *testing.B, size int) {
	p := make([]byte, size)
	b.Run("wsloop", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		for b.Loop() {
			Cipher(p, testMask, 1)
		}
	})
	b.Run("gobwas", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		for b.Loop() {
			ws.Cipher(p, testMask, 1)
		}
	})
}

func BenchmarkCipher_64(b *testing.B)    { benchCipher(b, 64) }
func BenchmarkCipher_1024(b *testing.B)  { benchCipher(b, 1024) }
func BenchmarkCipher_65536(b *testing.B) { benchCipher(b, 65536) }

func BenchmarkAppendFrame_64(b *testing.B) {
	payload := bytes.Repeat([]byte{'x'}, 64)
	dst := make([]byte, 0, FrameSize(64))
	b.ReportAllocs()
	b.SetBytes(64)
	for b.Loop() {
		dst = AppendFrame(dst[:0], OpText, true, payload)
	}
}

func BenchmarkDecoder_64(b *testing.B) {
	frame := clientFrame(OpText, true, bytes.Repeat([]byte("0123456789abcdef"), 4))
	buf := make([]byte, len(frame))
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(64)
	for b.Loop() {
		copy(buf, frame)
		if _, m, err := d.Decode(buf); err != nil || m.OpCode != OpText {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecoder_64_TwoChunks(b *testing.B) {
	frame := clientFrame(OpText, true, bytes.Repeat([]byte("0123456789abcdef"), 4))
	buf := make([]byte, len(frame))
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(64)
	for b.Loop() {
		copy(buf, frame)
		n, _, _ := d.Decode(buf[:30])
		if _, m, err := d.Decode(buf[n:]); err != nil || m.OpCode != OpText {
			b.Fatal(err)
		}
	}
}

func BenchmarkUTF8_1024(b *testing.B) {
	for _, in := range []struct {
		name string
		p    []byte
	}{
		{"ascii", bytes.Repeat([]byte("json {\"k\":1} "), 80)[:1024]},
		{"mixed", []byte(string(bigText[:1024]))},
	} {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in.p)))
			var u UTF8
			for b.Loop() {
				u.Reset()
				u.Write(in.p)
			}
		})
	}
}
