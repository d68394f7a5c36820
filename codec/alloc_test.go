//go:build !race

package codec

import (
	"bytes"
	"testing"
)

// The race detector makes sync.Pool drop items at random, so these run
// without it.

func assertNoAllocs(t *testing.T, what string, f func()) {
	t.Helper()
	if n := testing.AllocsPerRun(1000, f); n != 0 {
		t.Errorf("%s: %v allocations per run; want 0", what, n)
	}
}

func TestAllocs(t *testing.T) {
	payload64 := bytes.Repeat([]byte("0123456789abcdef"), 4)
	frame64 := clientFrame(OpText, true, payload64)
	buf := make([]byte, len(frame64))

	t.Run("Header.Decode", func(t *testing.T) {
		var h Header
		assertNoAllocs(t, "Header.Decode", func() {
			if _, err := h.Decode(frame64); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("Cipher", func(t *testing.T) {
		p := make([]byte, 1000)
		assertNoAllocs(t, "Cipher", func() { Cipher(p, testMask, 1) })
	})
	t.Run("AppendFrame", func(t *testing.T) {
		dst := make([]byte, 0, FrameSize(len(payload64)))
		assertNoAllocs(t, "AppendFrame", func() { dst = AppendFrame(dst[:0], OpText, true, payload64) })
	})
	t.Run("AppendClose", func(t *testing.T) {
		dst := make([]byte, 0, FrameSize(MaxControlPayload))
		assertNoAllocs(t, "AppendClose", func() { dst = AppendClose(dst[:0], StatusGoingAway, "bye") })
	})
	t.Run("UTF8.Write", func(t *testing.T) {
		var u UTF8
		p := bigText[:1000]
		assertNoAllocs(t, "UTF8.Write", func() {
			u.Reset()
			if !u.Write(p) {
				t.Fatal("invalid")
			}
		})
	})
	t.Run("Decoder.Decode feedWhole frame", func(t *testing.T) {
		var d Decoder
		assertNoAllocs(t, "Decoder.Decode", func() {
			copy(buf, frame64)
			n, m, err := d.Decode(buf)
			if err != nil || n != len(buf) || len(m.Payload) != 64 {
				t.Fatal(n, m.OpCode, err)
			}
		})
	})
	t.Run("Decoder.Decode two chunks", func(t *testing.T) {
		var d Decoder
		split := len(frame64) / 2
		run := func() {
			copy(buf, frame64)
			n, m, err := d.Decode(buf[:split])
			if err != nil || n != split || m.OpCode != 0 {
				t.Fatal(n, m.OpCode, err)
			}
			n, m, err = d.Decode(buf[split:])
			if err != nil || n != len(buf)-split || !bytes.Equal(m.Payload, payload64) {
				t.Fatal(n, m.OpCode, err)
			}
		}
		run() // warm up the pool
		assertNoAllocs(t, "Decoder.Decode in two chunks", run)
	})
	t.Run("Decoder.Decode ping between fragments", func(t *testing.T) {
		var d Decoder
		in := joinFrames(clientFrame(OpText, false, payload64[:10]), clientFrame(OpPing, true, nil), clientFrame(OpContinuation, true, payload64[10:]))
		b := make([]byte, len(in))
		run := func() {
			copy(b, in)
			p := b
			for {
				n, m, err := d.Decode(p)
				p = p[n:]
				if err != nil {
					t.Fatal(err)
				}
				if m.OpCode == 0 {
					break
				}
			}
		}
		run()
		assertNoAllocs(t, "Decoder.Decode of fragments", run)
	})
}
