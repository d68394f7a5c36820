package server

import (
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/wsloop/wsloop/codec"
)

// TestSetDeadline: a session's deadline closes it with its code and reason
// within one tick after it is due, on the loop's clock, also past the
// wheel's longest delay (here, with heartbeats off); a later call replaces
// it, a zero time removes it.
func TestSetDeadline(t *testing.T) {
	clk := newFakeClock()
	open := &deadlineHandler{open: func(s *Session, r *codec.Request) {
		switch string(r.QueryValue("d")) {
		case "5s":
			s.SetDeadline(clk.Now().Add(5*time.Second), 4001, "five")
		case "moved":
			s.SetDeadline(clk.Now().Add(5*time.Second), 4001, "five")
			s.SetDeadline(clk.Now().Add(3*time.Hour), 4002, "three hours")
		case "cleared":
			s.SetDeadline(clk.Now().Add(5*time.Second), 4001, "five")
			s.SetDeadline(time.Time{}, 0, "")
		}
	}}
	srv, _ := startServer(t, Config{Clock: clk, Heartbeat: Heartbeat{Timeout: -1, Tick: 100 * time.Millisecond}}, open)
	dial := func(d string) *rawConn {
		rc := dialRaw(t, srv, false)
		rc.send([]byte("GET /ws?d=" + d + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
		rc.readHTTP()
		return rc
	}
	five, moved, cleared := dial("5s"), dial("moved"), dial("cleared")
	advance(t, srv, clk, 4900*time.Millisecond)
	if srv.Count() != 3 {
		t.Fatalf("%d open before the deadline, want 3", srv.Count())
	}
	advance(t, srv, clk, 200*time.Millisecond)
	if why := five.expectCloseCode(4001); why != "five" {
		t.Errorf("closed with %q", why)
	}
	advance(t, srv, clk, 3*time.Hour-6100*time.Millisecond) // 1 s before it
	moved.send(clientFrame(0x81, []byte("still"), true))
	if op, p := moved.readFrame(); op != 0x1 || string(p) != "still" {
		t.Fatalf("moved: %d %q before its deadline", op, p)
	}
	advance(t, srv, clk, 2*time.Second)
	if why := moved.expectCloseCode(4002); why != "three hours" {
		t.Errorf("closed with %q", why)
	}
	advance(t, srv, clk, 24*time.Hour)
	cleared.send(clientFrame(0x81, []byte("alive"), true))
	if op, p := cleared.readFrame(); op != 0x1 || string(p) != "alive" {
		t.Fatalf("cleared: %d %q", op, p)
	}
}

// deadlineHandler is the echo handler with an OnOpen of the test's.
type deadlineHandler struct {
	EchoHandler
	open func(s *Session, r *codec.Request)
}

func (h *deadlineHandler) OnOpen(s *Session, r *codec.Request) error {
	h.open(s, r)
	return nil
}

func TestIdentityGrants(t *testing.T) {
	id := &Identity{Rooms: []string{"lobby", "chat:team-*", "*x"}}
	for room, want := range map[string]bool{
		"lobby": true, "lobby2": false, "chat:team-": true, "chat:team-a": true, "chat:tea": false, "chat:other": false, "*x": true, "*xy": false, "x": false,
	} {
		if got := id.Grants(room); got != want {
			t.Errorf("Grants(%q) = %v, want %v", room, got, want)
		}
	}
	if (&Identity{Rooms: []string{"*"}}).Grants("anything") != true || (&Identity{}).Grants("r") {
		t.Error("'*' must grant every room, no rooms none")
	}
}

// TestGuessedSIDReachesNoOne: a session id carries 64 random bits: a client
// that knows another's routing id (the first half) but not its tag reaches
// no one with send or ptp; the right sid reaches it. Session ids differ in
// their tags even when a descriptor is reused.
func TestGuessedSIDReachesNoOne(t *testing.T) {
	_, url := startServer(t, Config{Tuning: Tuning{Loops: 1}, Rooms: Rooms{PublishRate: -1}}, NewRouter())
	victim := newClient(t, url)
	mallory := newClient(t, url)
	victim.OK("join", map[string]any{"room": "r"})
	mallory.OK("join", map[string]any{"room": "r"})
	id, tag, err := ParseSID(victim.SID)
	if err != nil || len(victim.SID) != 32 {
		t.Fatalf("sid %q: %v", victim.SID, err)
	}
	for _, guess := range []uint64{tag + 1, tag ^ 1<<63, 1} {
		g := string(AppendSID(nil, id, guess))
		mallory.OK("send", map[string]any{"to": g, "payload": "guess"})
		mallory.OK("publish", map[string]any{"room": "r", "notify_type": "ptp", "to": g, "payload": "guess"})
	}
	for _, bad := range []string{victim.SID[:16], victim.SID[:16] + "0000000000000000", "+" + victim.SID[1:], strings.ToUpper(victim.SID) + "0"} {
		mallory.OK("send", map[string]any{"to": bad, "payload": "guess"})
	}
	victim.Quiet(200*time.Millisecond, "enter_room")
	mallory.OK("send", map[string]any{"to": victim.SID, "payload": "hello"})
	if d := data(victim.Push("message")); d["payload"] != "hello" || d["from"] != mallory.SID {
		t.Fatalf("message %v", d)
	}
	// A descriptor reused by a later connection: another tag.
	seen := map[string]bool{}
	for range 20 {
		c := newClient(t, url)
		if seen[c.SID] {
			t.Fatalf("session id %s twice", c.SID)
		}
		seen[c.SID] = true
		_ = c.Conn.Close()
	}
}

// TestSessionSize: an idle connection's session stays at 128 bytes (the
// figure docs/capacity.md budgets).
func TestSessionSize(t *testing.T) {
	if s := unsafe.Sizeof(Session{}); s > 128 {
		t.Fatalf("Session is %d bytes; keep it within 128 (pack one-byte fields after outLen)", s)
	}
}
