//go:build !race

package server

import (
	"bytes"
	"crypto/tls"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/internal/uring"
)

// TestEchoPathZeroAlloc: a warmed connection handles a JSON echo request,
// from the bytes gnet hands over to the reply written, without allocating;
// as a text message and as a binary one (checked for UTF-8 by the Router).
func TestEchoPathZeroAlloc(t *testing.T) {
	for _, op := range []byte{0x81, 0x82} {
		run, written := echoPath(t, op)
		run()
		if n := testing.AllocsPerRun(1000, run); n != 0 {
			t.Fatalf("echo path (opcode %#x) allocates %.1f times per message, want 0", op, n)
		}
		want := `{"cmd":"echo","seqno":"42","status":0,"msg":"ok","data":{"text":"hello, 64 bytes of json payload"}}`
		if _, p := (&rawConn{t: t, buf: *written}).readFrame(); string(p) != want {
			t.Fatalf("reply %s", p)
		}
	}
}

// echoPath returns a function that hands one JSON echo request, in a frame
// with first byte b0, to a warmed fake connection, and the bytes it wrote.
func echoPath(tb testing.TB, b0 byte) (func(), *[]byte) {
	e, fc := openFake(tb, NewRouter())
	frame := clientFrame(b0, []byte(`{"cmd":"echo","seqno":"42","data":{"text":"hello, 64 bytes of json payload"}}`), true)
	buf := make([]byte, len(frame))
	return func() {
		copy(buf, frame) // the decoder unmasks in place
		fc.written = fc.written[:0]
		fc.traffic(e, buf)
	}, &fc.written
}

// BenchmarkEchoPath is the JSON echo path on one core, from the bytes gnet
// hands over to the reply written (no socket): a text request, and the
// same request as a binary message, which the Router also checks for UTF-8.
func BenchmarkEchoPath(b *testing.B) {
	for _, tc := range []struct {
		name string
		b0   byte
	}{{"text", 0x81}, {"binary", 0x82}} {
		b.Run(tc.name, func(b *testing.B) {
			run, _ := echoPath(b, tc.b0)
			b.ReportAllocs()
			for b.Loop() {
				run()
			}
		})
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
	f, publish := roomPublisher(t, l)
	run := func() {
		for _, fc := range fcs {
			fc.written = fc.written[:0]
		}
		publish()
	}
	run()
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Fatalf("fan-out to %d members allocates %.1f times per publish, want 0", len(fcs), n)
	}
	if !bytes.HasSuffix(fcs[199].written, f.Bytes()) {
		t.Fatal("last member did not get the frame")
	}
}

// TestFanoutBatchedZeroAlloc: the same delivery with the members' output
// leaving through the loop's io_uring ring, to real sockets.
func TestFanoutBatchedZeroAlloc(t *testing.T) {
	l, fcs := fakeRoom(t, 200)
	if !uringWorks(l.srv.log) {
		t.Skip("io_uring unavailable here")
	}
	r, err := uring.New(ringEntries, iovMax)
	if err != nil {
		t.Fatal(err)
	}
	l.ring = r
	t.Cleanup(func() { r.Close() })
	peers := make([]int, len(fcs))
	for i, fc := range fcs {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fc.fd, peers[i] = fds[0], fds[1]
		t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	}
	l.srv.noDirect = false
	f, run := roomPublisher(t, l)
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("batched fan-out to %d members allocates %.1f times per publish, want 0", len(fcs), n)
	}
	const runs = 102 // run above, AllocsPerRun's warm-up and its 100
	if got := l.stats.uringSends.Load(); got != uint64(runs*len(fcs)) {
		t.Fatalf("%d sends went through io_uring, want %d", got, runs*len(fcs))
	}
	buf := make([]byte, 64<<10)
	for _, i := range []int{0, len(fcs) - 1} {
		n, err := unix.Read(peers[i], buf)
		if err != nil {
			t.Fatal(err)
		}
		if want := runs * len(f.Bytes()); n != want || !bytes.HasSuffix(buf[:n], f.Bytes()) {
			t.Fatalf("member %d's socket got %d bytes, want %d frames (%d bytes): %q", i, n, runs, want, buf[:min(n, 200)])
		}
	}
}

// roomPublisher returns a room message frame and a function that delivers
// it to room "r" on l as one ring job would, flush included.
func roomPublisher(t *testing.T, l *loop) (*codec.PreparedFrame, func()) {
	g := l.srv.reg.Room("r")
	f := codec.NewPreparedFrame(codec.OpText, []byte(`{"cmd":"message","data":{"room":"r","from":"u","payload":"hello"}}`))
	t.Cleanup(f.Release)
	return f, func() {
		f.Retain()
		l.run(job{kind: jobGroup, group: g, frame: f})
		l.endWakeup(nil)
	}
}

// TestTLSEchoPathZeroAlloc: the JSON echo path of a TLS connection, from
// the record gnet hands over (opened in place) to the reply sealed and
// written, allocates nothing; TLS 1.2 and 1.3.
func TestTLSEchoPathZeroAlloc(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		e, fc, peer := openFakeTLS(t, NewRouter(), v)
		req := clientFrame(0x81, []byte(`{"cmd":"echo","seqno":"42","data":{"text":"hello, 64 bytes of json payload"}}`), true)
		rec := make([]byte, 0, 256)
		run := func() {
			rec = peer.Seal(rec[:0], req) // the peer's sequence number moves on
			fc.written = fc.written[:0]
			fc.traffic(e, rec)
		}
		run()
		want := `{"cmd":"echo","seqno":"42","status":0,"msg":"ok","data":{"text":"hello, 64 bytes of json payload"}}`
		if _, p := (&rawConn{t: t, buf: openAll(t, peer, fc.written)}).readFrame(); string(p) != want {
			t.Fatalf("reply %s", p)
		}
		if n := testing.AllocsPerRun(1000, run); n != 0 {
			t.Fatalf("TLS %x echo path allocates %.1f times per message, want 0", v, n)
		}
	}
}

// BenchmarkTLSEchoPath is BenchmarkEchoPath over TLS: the record opened,
// the request answered, the reply sealed (AES-128-GCM; no socket).
func BenchmarkTLSEchoPath(b *testing.B) {
	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}} {
		b.Run(v.name, func(b *testing.B) {
			e, fc, peer := openFakeTLS(b, NewRouter(), v.version)
			req := clientFrame(0x81, []byte(`{"cmd":"echo","seqno":"42","data":{"text":"hello, 64 bytes of json payload"}}`), true)
			// Records are sealed ahead in batches, outside the timing, in
			// the order of their sequence numbers.
			const batch = 1024
			recs := make([][]byte, batch)
			next := batch
			b.ReportAllocs()
			for b.Loop() {
				if next == batch {
					b.StopTimer()
					for i := range recs {
						recs[i] = peer.Seal(recs[i][:0], req)
					}
					next = 0
					b.StartTimer()
				}
				fc.written = fc.written[:0]
				fc.traffic(e, recs[next])
				next++
			}
		})
	}
}
