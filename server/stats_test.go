package server

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsloop/wsloop/protocol"
)

// TestStatsMove: the counters move by exactly what the clients did.
func TestStatsMove(t *testing.T) {
	srv, url := startServer(t, Config{Limits: Limits{MaxMessageSize: 100}}, NewRouter())
	before := srv.Stats()

	a, _ := dialRouter(t, url)
	b, _ := dialRouter(t, url)
	for i := 0; i < 3; i++ {
		writeText(t, a, `{"cmd":"echo","seqno":"1","data":"abc"}`)
		readText(t, a)
	}
	rc := dialRaw(t, srv, false)
	rc.send([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")) // not an upgrade
	rc.readHTTP()
	_ = b.WriteMessage(1, bytes.Repeat([]byte("x"), 200)) // over MaxMessageSize → 1009
	expectClose(t, b, 1009)
	b.Close()
	a.Close()
	waitIdle(t, srv)
	after := srv.Stats()
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"Accepted", after.Accepted - before.Accepted, 3},
		{"MessagesIn", after.MessagesIn - before.MessagesIn, 3},
		{"MessageBytesIn", after.MessageBytesIn - before.MessageBytesIn, 3 * uint64(len(`{"cmd":"echo","seqno":"1","data":"abc"}`))},
		{"MessagesOut", after.MessagesOut - before.MessagesOut, 2 + 3}, // two welcomes, three replies
		{"HandshakeFailures", after.HandshakeFailures - before.HandshakeFailures, 1},
		{"Closed 1009", after.ClosedWith(1009) - before.ClosedWith(1009), 1},
		{"Closed 1006", after.ClosedWith(1006) - before.ClosedWith(1006), 1}, // a closed without a close frame
	} {
		if c.got != c.want {
			t.Errorf("%s moved by %d, want %d", c.name, c.got, c.want)
		}
	}
	if after.Conns != 0 || after.BytesOut <= before.BytesOut {
		t.Errorf("Conns %d, BytesOut %d → %d", after.Conns, before.BytesOut, after.BytesOut)
	}
}

// TestStatsRoomsDropsRingFull: room deliveries, slow-consumer drops and
// ring-full events move by exactly what the publisher did, and a full ring
// is reported to the publisher.
func TestStatsRoomsDropsRingFull(t *testing.T) {
	const maxOut = 1000
	srv, url := startServer(t, Config{Tuning: Tuning{Loops: 1, QueueSize: 16, MaxOutboundBytes: maxOut}}, NewRouter())
	m := newClient(t, url)
	m.OK("join", map[string]any{"room": "r"})

	// A room message of n bytes on the wire; floor(maxOut/n) of them fit
	// in one wakeup's output for a member, the rest are dropped.
	payload := RawJSON([]byte(`"` + strings.Repeat("x", 200) + `"`))
	frame := len(protocol.AppendMessage(nil, "r", "ops", payload.(rawJSON)))
	frame += 2 + 2 // header with a 16-bit length
	fit := maxOut / frame
	if fit < 1 || fit >= 16 {
		t.Fatalf("frame of %d bytes: %d fit; adjust the test", frame, fit)
	}

	before := srv.Stats()
	release := blockLoop(t, (*srv.loops.Load())[0])
	queued, full := 0, 0
	for full == 0 {
		switch err := srv.PublishMessage("r", "ops", payload); {
		case err == nil:
			queued++
		case errors.Is(err, ErrQueueFull):
			full++
		default:
			t.Fatal(err)
		}
		if queued > 16 {
			t.Fatal("the ring never filled")
		}
	}
	release()
	for i := 0; i < fit; i++ {
		m.Push("message")
	}
	m.Quiet(100 * time.Millisecond)
	after := srv.Stats()
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"RingFull", after.RingFull - before.RingFull, uint64(full)},
		{"RoomDeliveries", after.RoomDeliveries - before.RoomDeliveries, uint64(fit)},
		{"SlowDropped", after.SlowDropped - before.SlowDropped, uint64(queued - fit)},
		{"MessagesOut", after.MessagesOut - before.MessagesOut, uint64(fit)},
		{"MessagesIn", after.MessagesIn - before.MessagesIn, 0},
		{"SlowClosed", after.SlowClosed - before.SlowClosed, 0},
	} {
		if c.got != c.want {
			t.Errorf("%s moved by %d, want %d", c.name, c.got, c.want)
		}
	}
	if queued != 16 || full != 1 {
		t.Errorf("queued %d before the ring was full, want 16", queued)
	}
	if after.Conns != 1 || len(after.LoopConns) != 1 || after.LoopConns[0] != 1 || after.Rooms != 1 {
		t.Errorf("gauges: Conns %d, LoopConns %v, Rooms %d; want 1 each", after.Conns, after.LoopConns, after.Rooms)
	}
}

// TestStatsHeartbeatExpiry: a silent connection is expired once.
func TestStatsHeartbeatExpiry(t *testing.T) {
	clk := newFakeClock()
	srv, _ := startServer(t, Config{Clock: clk, Heartbeat: Heartbeat{Timeout: 200 * time.Millisecond, Tick: 20 * time.Millisecond}}, NewRouter())
	before := srv.Stats()
	rc := dialRaw(t, srv, true)
	advance(t, srv, clk, 250*time.Millisecond)
	if reason := rc.expectCloseCode(1000); reason != "heartbeat timeout" {
		t.Fatalf("close reason %q", reason)
	}
	after := srv.Stats()
	if d := after.HeartbeatExpired - before.HeartbeatExpired; d != 1 {
		t.Errorf("HeartbeatExpired moved by %d", d)
	}
	if d := after.ClosedWith(1000) - before.ClosedWith(1000); d != 1 {
		t.Errorf("Closed 1000 moved by %d", d)
	}
	if d := after.Accepted - before.Accepted; d != 1 {
		t.Errorf("Accepted moved by %d", d)
	}
}

// waitIdle waits until the server holds no connection.
func waitIdle(t *testing.T, srv *Server) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Count() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open", srv.Count())
		}
		time.Sleep(5 * time.Millisecond) // sockets closing
	}
}

// TestStatsIOUring: a room message to two members of one loop is one
// io_uring submission of two sends (none where io_uring is unavailable).
func TestStatsIOUring(t *testing.T) {
	srv, url := startServer(t, Config{Tuning: Tuning{Loops: 1}}, userRouter())
	a, b := newClient(t, url+"?user=a"), newClient(t, url+"?user=b")
	a.OK("join", map[string]any{"room": "r"})
	b.OK("join", map[string]any{"room": "r"})
	a.Push("enter_room")
	before := srv.Stats()
	if err := srv.PublishMessage("r", "test", "hello"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{a, b} {
		if d := data(c.Push("message")); d["payload"] != "hello" {
			t.Fatalf("message %v", d)
		}
	}
	after := srv.Stats()
	wantSubmits, wantSends := uint64(1), uint64(2)
	if !srv.batchSends {
		wantSubmits, wantSends = 0, 0
	}
	if got := after.IOUringSubmits - before.IOUringSubmits; got != wantSubmits {
		t.Errorf("IOUringSubmits moved by %d, want %d", got, wantSubmits)
	}
	if got := after.IOUringSends - before.IOUringSends; got != wantSends {
		t.Errorf("IOUringSends moved by %d, want %d", got, wantSends)
	}
}
