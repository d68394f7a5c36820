package server

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/wsloop/wsloop/codec"
)

// fakeRoom opens n fake connections on one server and joins each to room
// "r"; it returns the loop and the connections.
func fakeRoom(t testing.TB, n int) (*loop, []*fakeConn) {
	t.Helper()
	srv, err := New(Config{Logger: testLogger(t), Tuning: Tuning{Loops: 1}}, NewRouter())
	if err != nil {
		t.Fatal(err)
	}
	srv.noDirect = true
	e := &events{srv: srv}
	fcs := make([]*fakeConn, n)
	join := clientFrame(0x81, []byte(`{"cmd":"join","seqno":"1","data":{"room":"r"}}`), true)
	for i := range fcs {
		fc := &fakeConn{fd: 10 + i}
		e.OnOpen(fc)
		fc.traffic(e, []byte(upgradeRequest))
		fc.traffic(e, append([]byte(nil), join...))
		if !bytes.Contains(fc.written, []byte(`{"cmd":"join","seqno":"1","status":0`)) {
			t.Fatalf("conn %d: join answer %q", i, fc.written)
		}
		fc.reset()
		fcs[i] = fc
	}
	for _, fc := range fcs {
		fc.reset() // enter_room events of the later joins
	}
	l := (*srv.loops.Load())[0]
	return l, fcs
}

// TestFanoutCorked: the room frames of one drain leave in one write per
// member (a writev of the shared frames, nothing copied), in order.
func TestFanoutCorked(t *testing.T) {
	l, fcs := fakeRoom(t, 50)
	g := l.srv.reg.Room("r")
	if g == nil || g.Len() != 50 {
		t.Fatalf("room: %v", g)
	}
	for i := 0; i < 3; i++ {
		f := codec.NewPreparedFrame(codec.OpText, []byte(`{"cmd":"message","data":{"n":`+strconv.Itoa(i)+`}}`))
		l.run(job{kind: jobGroup, group: g, frame: f})
	}
	l.endWakeup(nil)
	for i, fc := range fcs {
		if fc.writes != 1 {
			t.Fatalf("member %d: %d writes for 3 room frames, want 1", i, fc.writes)
		}
		rc := &rawConn{t: t, buf: fc.written}
		for n := 0; n < 3; n++ {
			if _, p := rc.readFrame(); string(p) != `{"cmd":"message","data":{"n":`+strconv.Itoa(n)+`}}` {
				t.Fatalf("member %d frame %d: %s", i, n, p)
			}
		}
	}
}

// BenchmarkFanout: one prepared frame to 1000 members of a loop, flush
// included (fake sockets: the cost of the fan-out loop and the cork, not
// of the kernel). Per op = one publish; divide by 1000 for per delivery.
func BenchmarkFanout(b *testing.B) {
	l, fcs := fakeRoom(b, 1000)
	g := l.srv.reg.Room("r")
	f := codec.NewPreparedFrame(codec.OpText, []byte(`{"cmd":"message","data":{"room":"r","from":"u","payload":"hello"}}`))
	defer f.Release()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, fc := range fcs {
			fc.written = fc.written[:0]
		}
		f.Retain()
		l.run(job{kind: jobGroup, group: g, frame: f})
		l.endWakeup(nil)
	}
}
