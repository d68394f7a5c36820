//go:build !race

package server

import (
	"bytes"
	"testing"

	"github.com/wsloop/wsloop/codec"
)

// TestEchoPathZeroAlloc: a warmed connection handles a JSON echo request,
// from the bytes gnet hands over to the reply written, without allocating.
func TestEchoPathZeroAlloc(t *testing.T) {
	e, fc := openFake(t, NewRouter())
	frame := clientFrame(0x81, []byte(`{"cmd":"echo","seqno":"42","data":{"text":"hello, 64 bytes of json payload"}}`), true)
	buf := make([]byte, len(frame))
	run := func() {
		copy(buf, frame) // the decoder unmasks in place
		fc.written = fc.written[:0]
		fc.traffic(e, buf)
	}
	run()
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Fatalf("echo path allocates %.1f times per message, want 0", n)
	}
	want := `{"cmd":"echo","seqno":"42","status":0,"msg":"ok","data":{"text":"hello, 64 bytes of json payload"}}`
	if rc := (&rawConn{t: t, buf: fc.written}); true {
		if _, p := rc.readFrame(); string(p) != want {
			t.Fatalf("reply %s", p)
		}
	}
}

// TestEchoModeZeroAlloc: the same for the frame-only echo mode.
func TestEchoModeZeroAlloc(t *testing.T) {
	e, fc := openFake(t, EchoHandler{})
	frame := clientFrame(0x82, make([]byte, 64), true)
	buf := make([]byte, len(frame))
	run := func() {
		copy(buf, frame)
		fc.written = fc.written[:0]
		fc.traffic(e, buf)
	}
	run()
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Fatalf("echo mode allocates %.1f times per message, want 0", n)
	}
}

// TestFanoutZeroAlloc: delivering a prepared room frame to every member of
// a loop, flush included, allocates nothing per delivery (the frame itself
// is built once per publish, outside).
func TestFanoutZeroAlloc(t *testing.T) {
	l, fcs := fakeRoom(t, 200)
	g := l.srv.reg.Room("r")
	f := codec.NewPreparedFrame(codec.OpText, []byte(`{"cmd":"message","data":{"room":"r","from":"u","payload":"hello"}}`))
	defer f.Release()
	run := func() {
		for _, fc := range fcs {
			fc.written = fc.written[:0]
		}
		f.Retain()
		l.run(job{kind: jobGroup, group: g, frame: f})
		l.endWakeup(nil)
	}
	run()
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Fatalf("fan-out to %d members allocates %.1f times per publish, want 0", len(fcs), n)
	}
	if !bytes.HasSuffix(fcs[199].written, f.Bytes()) {
		t.Fatal("last member did not get the frame")
	}
}
