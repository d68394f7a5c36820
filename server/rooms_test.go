package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsloop/wsloop/codec"
)

// userRouter is a Router whose connections are bound to the user named by
// the "user" query parameter (the middleware-style binding applications
// do with a token).
func userRouter() *Router {
	r := NewRouter()
	r.HandleOpen(func(s *Session, req *codec.Request) error {
		if u := req.QueryValue("user"); u != nil {
			s.SetUserID(string(u))
		}
		return nil
	})
	return r
}

// TestRoomsFanout: 3 loops, 300 clients in 10 rooms; 3 members of each room
// publish 20 messages each. Every member gets every message of its room
// exactly once, in publish order per publisher, in the shape of README "Rooms",
// and nothing from other rooms.
func TestRoomsFanout(t *testing.T) { sendPaths(t, testRoomsFanout) }

func testRoomsFanout(t *testing.T, noIOUring bool) *Server {
	const (
		nclients = 300
		nrooms   = 10
		pubs     = 3
		perPub   = 20
	)
	srv, url := startServer(t, Config{Tuning: Tuning{Loops: 3, NoIOUring: noIOUring}, Rooms: Rooms{PublishRate: -1}}, userRouter())
	clients := make([]*client, nclients)
	var wg sync.WaitGroup
	for w := 0; w < 10; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < nclients; i += 10 {
				clients[i] = newClient(t, url+"?user=u"+strconv.Itoa(i))
			}
		}(w)
	}
	wg.Wait()
	loops := map[string]bool{}
	for i, cl := range clients {
		sid, _, _ := ParseSID(cl.SID)
		loops[strconv.FormatUint(sid>>56, 10)] = true
		cl.OK("join", map[string]any{"room": "room" + strconv.Itoa(i%nrooms)})
	}
	if len(loops) != 3 {
		t.Fatalf("clients spread over %d loops, want 3", len(loops))
	}
	// Publishers: the first pubs members of each room, publishing at once.
	for p := 0; p < pubs*nrooms; p++ {
		wg.Add(1)
		go func(cl *client, room string) {
			defer wg.Done()
			for n := 0; n < perPub; n++ {
				cl.Send("publish", map[string]any{"room": room, "notify_type": "bc", "payload": map[string]any{"n": n}})
			}
		}(clients[p], "room"+strconv.Itoa(p%nrooms))
	}
	wg.Wait()
	for i, cl := range clients {
		room := "room" + strconv.Itoa(i%nrooms)
		next := map[string]int{} // publisher → next n expected
		for got := 0; got < pubs*perPub; got++ {
			m := cl.Push("message")
			d := data(m)
			if d["room"] != room {
				t.Fatalf("client %d in %s got a message of %v", i, room, d["room"])
			}
			from, _ := d["from"].(string)
			n := int(d["payload"].(map[string]any)["n"].(float64))
			if n != next[from] {
				t.Fatalf("client %d: message %d from %s, want %d (order per publisher)", i, n, from, next[from])
			}
			next[from]++
		}
		if len(next) != pubs {
			t.Fatalf("client %d got messages from %d publishers, want %d", i, len(next), pubs)
		}
	}
	for i, cl := range clients {
		cl.Quiet(0, "enter_room")
		select {
		case m := <-cl.Pushes:
			if m["cmd"] == "message" {
				t.Fatalf("client %d got an extra message %v", i, m)
			}
		default:
		}
	}
	return srv
}

// TestRoomPtpAndSend: ptp reaches only its target (all of the target
// user's connections in the room); send reaches every connection of a user.
func TestRoomPtpAndSend(t *testing.T) {
	_, url := startServer(t, Config{Tuning: Tuning{Loops: 3}}, userRouter())
	a := newClient(t, url+"?user=alice")
	b1 := newClient(t, url+"?user=bob")
	b2 := newClient(t, url+"?user=bob")
	b3 := newClient(t, url+"?user=bob") // not in the room
	c := newClient(t, url+"?user=carol")
	for _, cl := range []*client{a, b1, b2, c} {
		cl.OK("join", map[string]any{"room": "r"})
	}
	a.OK("publish", map[string]any{"room": "r", "notify_type": "ptp", "to": "bob", "payload": "psst"})
	a.OK("publish", map[string]any{"room": "r", "payload": "all"})
	for _, cl := range []*client{b1, b2} {
		if d := data(cl.Push("message")); d["payload"] != "psst" || d["from"] != "alice" || d["room"] != "r" {
			t.Fatalf("ptp message %v", d)
		}
		if d := data(cl.Push("message")); d["payload"] != "all" {
			t.Fatalf("bc message %v", d)
		}
	}
	for _, cl := range []*client{a, c} {
		if d := data(cl.Push("message")); d["payload"] != "all" {
			t.Fatalf("a non-target got %v before the bc message", d)
		}
	}
	b3.Quiet(200*time.Millisecond, "enter_room")

	c.OK("send", map[string]any{"to": "bob", "payload": map[string]any{"k": 1}})
	for _, cl := range []*client{b1, b2, b3} {
		d := data(cl.Push("message"))
		if _, hasRoom := d["room"]; hasRoom || d["from"] != "carol" {
			t.Fatalf("send message %v", d)
		}
	}
	// Anonymous sessions are addressed by sid.
	anon := newClient(t, url)
	anon.OK("join", map[string]any{"room": "r"})
	a.OK("publish", map[string]any{"room": "r", "notify_type": "ptp", "to": anon.SID, "payload": 7})
	if d := data(anon.Push("message")); d["payload"] != 7.0 {
		t.Fatalf("ptp to a sid: %v", d)
	}
}

// TestRoomEvents: enter_room with meta to the others; exit_room with reason
// leave, disconnect, timeout and kick; a user with two connections enters
// once and exits with its last one.
func TestRoomEvents(t *testing.T) {
	srv, url := startServer(t, Config{Tuning: Tuning{Loops: 2}, Heartbeat: Heartbeat{Timeout: 600 * time.Millisecond, Tick: 50 * time.Millisecond}}, userRouter())
	watcher := newClient(t, url+"?user=watcher")
	watcher.OK("join", map[string]any{"room": "r"})
	keep := func(stop chan struct{}, cl *client) { // heartbeats for the watcher
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				// Not send: this goroutine must not fail the test when the
				// connection is closed at the end.
				_ = cl.Write([]byte(`{"cmd":"ping","seqno":"hb"}`))
			}
		}
	}
	stop := make(chan struct{})
	defer close(stop)
	go keep(stop, watcher)

	expectEnter := func(user string) map[string]any {
		t.Helper()
		d := data(watcher.Push("enter_room"))
		if d["room"] != "r" || d["user"] != user {
			t.Fatalf("enter_room %v, want user %s", d, user)
		}
		return d
	}
	expectExit := func(user, reason string) {
		t.Helper()
		d := data(watcher.Push("exit_room"))
		if d["room"] != "r" || d["user"] != user || d["reason"] != reason {
			t.Fatalf("exit_room %v, want user %s reason %s", d, user, reason)
		}
	}

	// leave, with meta on enter; two connections of one user
	a1 := newClient(t, url+"?user=a")
	go keep(stop, a1)
	a1.OK("join", map[string]any{"room": "r", "meta": map[string]any{"nick": "A"}})
	if d := expectEnter("a"); data(map[string]any{"data": d["meta"]})["nick"] != "A" {
		t.Fatalf("enter_room meta %v", d["meta"])
	}
	a2 := newClient(t, url+"?user=a")
	go keep(stop, a2)
	a2.OK("join", map[string]any{"room": "r"})
	a1.OK("leave", map[string]any{"room": "r"}) // a is still in through a2
	a2.OK("leave", map[string]any{"room": "r"})
	expectExit("a", "leave")

	// disconnect
	b := newClient(t, url+"?user=b")
	b.OK("join", map[string]any{"room": "r"})
	expectEnter("b")
	b.Conn.Close()
	expectExit("b", "disconnect")

	// heartbeat timeout: c stops sending
	c := newClient(t, url+"?user=c")
	c.OK("join", map[string]any{"room": "r"})
	expectEnter("c")
	expectExit("c", "timeout")

	// kick: d stays connected, gets exit_room itself, is no member any more
	d := newClient(t, url+"?user=d")
	go keep(stop, d)
	d.OK("join", map[string]any{"room": "r"})
	expectEnter("d")
	if err := srv.Kick("r", "d"); err != nil {
		t.Fatal(err)
	}
	expectExit("d", "kick")
	if x := data(d.Push("exit_room")); x["reason"] != "kick" {
		t.Fatalf("kicked client got %v", x)
	}
	d.OK("publish", map[string]any{"room": "r", "payload": 1})
	d.Quiet(100*time.Millisecond, "enter_room") // no message: not a member
	if info := srv.RoomMembers("r", 0); info.Users != 1 || info.Members[0].User != "watcher" {
		t.Fatalf("presence after kick %+v", info)
	}
}

// TestRoomEventsThreshold: above RoomEventsMaxMembers, joins and leaves are
// not announced; members still lists everyone.
func TestRoomEventsThreshold(t *testing.T) {
	_, url := startServer(t, Config{Tuning: Tuning{Loops: 2}, Rooms: Rooms{EventsMaxMembers: 3}}, userRouter())
	first := newClient(t, url+"?user=u0")
	first.OK("join", map[string]any{"room": "big", "meta": map[string]any{"i": 0}})
	var others []*client
	for i := 1; i <= 4; i++ {
		cl := newClient(t, url+"?user=u"+strconv.Itoa(i))
		cl.OK("join", map[string]any{"room": "big"})
		others = append(others, cl)
	}
	// Joins 1 and 2 made 2 and 3 members: announced; 3 and 4 were not.
	for _, u := range []string{"u1", "u2"} {
		if d := data(first.Push("enter_room")); d["user"] != u {
			t.Fatalf("enter_room %v, want %s", d, u)
		}
	}
	others[3].OK("publish", map[string]any{"room": "big", "payload": "marker"})
	if m := <-first.Pushes; m["cmd"] != "message" {
		t.Fatalf("got %v, want the marker message (no enter_room above the threshold)", m)
	}
	info := data(first.OK("members", map[string]any{"room": "big"}))
	if info["count"] != 5.0 || len(info["members"].([]any)) != 5 {
		t.Fatalf("members %v", info)
	}
	for _, m := range info["members"].([]any) {
		mm := m.(map[string]any)
		if mm["user"] == "u0" && fmt.Sprint(mm["meta"]) != "map[i:0]" {
			t.Fatalf("u0 meta %v", mm["meta"])
		}
	}
}

// TestRoomCommandErrors: bad requests get their status; the connection
// stays.
func TestRoomCommandErrors(t *testing.T) {
	_, url := startServer(t, Config{Rooms: Rooms{MaxPerConn: 2, MaxMetaSize: 16}}, userRouter())
	cl := newClient(t, url+"?user=x")
	cases := []struct {
		cmd    string
		data   any
		status int
		msg    string
	}{
		{"join", "r", 400, "data must be an object with a room"},
		{"join", nil, 400, "room required"},
		{"join", map[string]any{}, 400, "room required"},
		{"join", map[string]any{"room": strings.Repeat("r", 300)}, 400, "room too long"},
		{"join", map[string]any{"room": "a", "meta": strings.Repeat("m", 20)}, 413, "meta too large"},
		{"leave", map[string]any{"room": "nope"}, 400, "not a member of the room"},
		{"publish", map[string]any{"room": "a"}, 400, "payload required"},
		{"publish", map[string]any{"room": "a", "payload": 1, "notify_type": "all"}, 400, `notify_type must be "bc" or "ptp"`},
		{"publish", map[string]any{"room": "a", "payload": 1, "notify_type": "ptp"}, 400, "to required"},
		{"send", map[string]any{"payload": 1}, 400, "to required"},
		{"members", map[string]any{"room": 5}, 400, "data must be an object with a room"},
	}
	for _, c := range cases {
		if msg := cl.Status(c.cmd, c.data, c.status); msg != c.msg {
			t.Errorf("%s %v: msg %q, want %q", c.cmd, c.data, msg, c.msg)
		}
	}
	cl.OK("join", map[string]any{"room": "a"})
	cl.OK("join", map[string]any{"room": "a"}) // again: no change
	cl.OK("join", map[string]any{"room": "b"})
	cl.Status("join", map[string]any{"room": "c"}, 403)
	cl.OK("echo", "still here")
}

// TestPublishRateLimit: past the burst, publish and send get 429 until the
// rate refills.
func TestPublishRateLimit(t *testing.T) {
	clk := newFakeClock()
	_, url := startServer(t, Config{Clock: clk, Rooms: Rooms{PublishRate: 5, PublishBurst: 3}}, userRouter())
	cl := newClient(t, url+"?user=x")
	for i := 0; i < 3; i++ {
		cl.OK("publish", map[string]any{"room": "r", "payload": i})
	}
	if msg := cl.Status("publish", map[string]any{"room": "r", "payload": 3}, 429); msg != "publish rate limit" {
		t.Fatalf("msg %q", msg)
	}
	cl.Status("send", map[string]any{"to": "y", "payload": 3}, 429)
	clk.Advance(199 * time.Millisecond) // one token every 200 ms at 5/s
	cl.Status("publish", map[string]any{"room": "r", "payload": 3}, 429)
	clk.Advance(time.Millisecond)
	cl.OK("publish", map[string]any{"room": "r", "payload": 4})
	cl.Status("publish", map[string]any{"room": "r", "payload": 5}, 429)
	clk.Advance(time.Second) // the bucket fills up to the burst, no more
	for i := 0; i < 3; i++ {
		cl.OK("send", map[string]any{"to": "y", "payload": i})
	}
	cl.Status("send", map[string]any{"to": "y", "payload": 3}, 429)
}

// blockLoop runs a job on loop l that blocks it until the returned function
// is called.
func blockLoop(t *testing.T, l *loop) (release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	if err := l.enqueue(job{kind: jobFunc, fn: func(*loop) { close(entered); <-gate }}); err != nil {
		t.Fatal(err)
	}
	<-entered
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release
}

// TestQueueFull: a loop whose ring is full makes Server.PublishMessage fail
// with ErrQueueFull at once (never blocking), a client's publish get 503,
// and nothing else breaks; once the loop runs again, it delivers what was
// queued.
func TestQueueFull(t *testing.T) {
	srv, url := startServer(t, Config{Tuning: Tuning{Loops: 2, QueueSize: 4}, Rooms: Rooms{PublishRate: -1}}, userRouter())
	// One member on each loop.
	var byLoop [2]*client
	for i := 0; byLoop[0] == nil || byLoop[1] == nil; i++ {
		if i > 50 {
			t.Fatal("could not get a client on each loop")
		}
		cl := newClient(t, url+"?user=u"+strconv.Itoa(i))
		sid, _, _ := ParseSID(cl.SID)
		if byLoop[sid>>56] == nil {
			byLoop[sid>>56] = cl
			cl.OK("join", map[string]any{"room": "r"})
		}
	}
	l1 := (*srv.loops.Load())[1]
	release := blockLoop(t, l1)
	var full error
	for i := 0; i < 10 && full == nil; i++ {
		full = srv.PublishMessage("r", "test", i)
	}
	if full != ErrQueueFull {
		t.Fatalf("PublishMessage with a blocked loop: %v, want ErrQueueFull", full)
	}
	// The client on loop 0 publishes: its own loop delivers, loop 1's ring is full.
	if msg := byLoop[0].Status("publish", map[string]any{"room": "r", "payload": "x"}, 503); msg != "server busy, try again" {
		t.Fatalf("msg %q", msg)
	}
	byLoop[0].OK("echo", 1) // the loop and the connection are fine
	release()
	for i := 0; i < 4; i++ { // loop 1 delivers the 4 queued messages
		if d := data(byLoop[1].Push("message")); d["payload"] != float64(i) {
			t.Fatalf("queued message %d: %v", i, d)
		}
	}
}

// stalledMember joins room r over a raw socket and then never reads.
func stalledMember(t *testing.T, srv *Server) (*rawConn, uint64) {
	t.Helper()
	rc := dialRaw(t, srv, true)
	_, p := rc.readFrame()
	var w struct {
		Data struct{ SID string } `json:"data"`
	}
	if err := json.Unmarshal(p, &w); err != nil {
		t.Fatalf("welcome %q: %v", p, err)
	}
	sid, _, _ := ParseSID(w.Data.SID)
	rc.send(clientFrame(0x81, []byte(`{"cmd":"join","seqno":"1","data":{"room":"r"}}`), true))
	if _, p := rc.readFrame(); !strings.Contains(string(p), `"status":0`) {
		t.Fatalf("join reply %q", p)
	}
	return rc, sid
}

// backlogOf reads a session's unsent bytes on its loop.
func backlogOf(t *testing.T, srv *Server, sid uint64) (n int, open bool) {
	l, err := srv.loopFor(sid)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	if err := l.enqueue(job{kind: jobFunc, fn: func(l *loop) {
		if s := l.lookup(sid); s != nil {
			n, open = s.gc.OutboundBuffered(), s.state == stateOpen
		}
		close(done)
	}}); err != nil {
		t.Fatal(err)
	}
	<-done
	return n, open
}

// slowRoom publishes n messages of size bytes to room r from the test, in
// batches that the reading member keeps up with (a healthy client), and
// checks that the reader gets every one, in order.
func slowRoom(t *testing.T, srv *Server, reader *client, n, size int) {
	t.Helper()
	const batch = 30
	payload := strings.Repeat("z", size)
	for i := 0; i < n; i += batch {
		for j := i; j < i+batch && j < n; j++ {
			if err := srv.PublishMessage("r", "test", map[string]any{"i": j, "p": payload}); err != nil {
				t.Fatal(err)
			}
		}
		for j := i; j < i+batch && j < n; j++ {
			d := data(reader.Push("message"))
			if got := d["payload"].(map[string]any)["i"].(float64); got != float64(j) {
				t.Fatalf("reading member: message %v, want %d", got, j)
			}
		}
	}
}

// TestSlowConsumerDrop (one loop: the stalled member shares it with the
// reader): a member that stops reading has its unsent bytes
// held within MaxOutboundBytes (room frames beyond are dropped and
// counted), while another member gets every message; the stalled one
// stays open.
func TestSlowConsumerDrop(t *testing.T) { sendPaths(t, testSlowConsumerDrop) }

func testSlowConsumerDrop(t *testing.T, noIOUring bool) *Server {
	const bound = 256 << 10
	srv, url := startServer(t, Config{Tuning: Tuning{Loops: 1, MaxOutboundBytes: bound, SlowConsumer: SlowDrop, NoIOUring: noIOUring}}, userRouter())
	stalled, sid := stalledMember(t, srv)
	_ = stalled
	reader := newClient(t, url+"?user=reader")
	reader.OK("join", map[string]any{"room": "r"})
	slowRoom(t, srv, reader, 3000, 4096) // 12 MiB: more than the socket buffers hold
	n, open := backlogOf(t, srv, sid)
	if !open {
		t.Fatal("the stalled member was closed under the drop policy")
	}
	if n > bound {
		t.Fatalf("stalled member holds %d unsent bytes, bound %d", n, bound)
	}
	var dropped uint64
	for _, l := range *srv.loops.Load() {
		dropped += l.stats.dropped.Load()
	}
	if dropped == 0 {
		t.Fatal("no frame was dropped for the stalled member")
	}
	t.Logf("stalled member: %d bytes held, %d frames dropped", n, dropped)
	return srv
}

// TestSlowConsumerClose: under the close policy the stalled member is
// closed with 1013 and OnClose sees CauseSlow; the other member gets every
// message.
func TestSlowConsumerClose(t *testing.T) { sendPaths(t, testSlowConsumerClose) }

func testSlowConsumerClose(t *testing.T, noIOUring bool) *Server {
	rec := newCloseRecorder(userRouter())
	// The close frame waits behind what the stalled member's socket holds:
	// it is closed after CloseTimeout.
	srv, url := startServer(t, Config{Tuning: Tuning{Loops: 1, MaxOutboundBytes: 256 << 10, SlowConsumer: SlowClose, NoIOUring: noIOUring}, Limits: Limits{CloseTimeout: 200 * time.Millisecond}}, rec)
	_, sid := stalledMember(t, srv)
	reader := newClient(t, url+"?user=reader")
	reader.OK("join", map[string]any{"room": "r"})
	slowRoom(t, srv, reader, 3000, 4096)
	if r := rec.next(t); r.Cause != CauseSlow || r.Code != codec.StatusTryAgainLater {
		t.Fatalf("close reason %+v, want slow 1013", r)
	}
	if _, open := backlogOf(t, srv, sid); open {
		t.Fatal("stalled member still open")
	}
	return srv
}

// TestLibraryRoomAPI: Publish, SendUser, Broadcast, RoomMembers, Online,
// Rooms and DisconnectUser from another goroutine.
func TestLibraryRoomAPI(t *testing.T) {
	rec := newCloseRecorder(userRouter())
	srv, url := startServer(t, Config{Tuning: Tuning{Loops: 2}}, rec)
	a := newClient(t, url+"?user=a")
	b := newClient(t, url+"?user=b")
	a.OK("join", map[string]any{"room": "r", "meta": map[string]any{"role": "host"}})
	b.OK("join", map[string]any{"room": "r"})
	a.Push("enter_room")
	if err := srv.Publish("r", "notice", map[string]any{"text": "hi"}); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*client{a, b} {
		if d := data(cl.Push("notice")); d["text"] != "hi" {
			t.Fatalf("notice %v", d)
		}
	}
	if err := srv.SendUser("b", "dm", RawJSON([]byte(`{"x":1}`))); err != nil {
		t.Fatal(err)
	}
	if d := data(b.Push("dm")); d["x"] != 1.0 {
		t.Fatalf("dm %v", d)
	}
	if err := srv.SendMessage("a", "system", "hello"); err != nil {
		t.Fatal(err)
	}
	if d := data(a.Push("message")); d["from"] != "system" || d["payload"] != "hello" {
		t.Fatalf("message %v", d)
	}
	if err := srv.Broadcast("all", nil); err != nil {
		t.Fatal(err)
	}
	a.Push("all")
	b.Push("all")
	info := srv.RoomMembers("r", 0)
	if info.Users != 2 || info.Conns != 2 || srv.Online() != 2 || srv.Rooms() != 1 {
		t.Fatalf("RoomMembers %+v, Online %d, Rooms %d", info, srv.Online(), srv.Rooms())
	}
	if err := srv.DisconnectUser("b", codec.StatusPolicyViolation, "banned"); err != nil {
		t.Fatal(err)
	}
	if r := rec.next(t); r.Cause != CauseKick || r.Text != "banned" {
		t.Fatalf("close reason %+v", r)
	}
	if d := data(a.Push("exit_room")); d["user"] != "b" || d["reason"] != "kick" {
		t.Fatalf("exit_room %v", d)
	}
	syncLoops(t, srv) // the close has run on b's loop
	if srv.Online() != 1 {
		t.Fatalf("Online %d after b left", srv.Online())
	}
	a.Conn.Close()
	rec.next(t)       // OnClose runs before the session leaves its rooms and its user,
	syncLoops(t, srv) // in the same callback
	if srv.Rooms() != 0 || srv.Online() != 0 {
		t.Fatalf("empty room not freed: Rooms %d Online %d", srv.Rooms(), srv.Online())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	if err := srv.Publish("r", "x", nil); err != ErrServerClosed {
		t.Fatalf("Publish after Shutdown: %v", err)
	}
}

// TestManyFramesOneDrain: more room frames for each of two members than
// one writev (or one io_uring entry) takes (1024) queue up while their loop
// is busy; the next drain sends them all, in order.
func TestManyFramesOneDrain(t *testing.T) { sendPaths(t, testManyFramesOneDrain) }

func testManyFramesOneDrain(t *testing.T, noIOUring bool) *Server {
	const n = 2500
	srv, url := startServer(t, Config{Tuning: Tuning{Loops: 1, QueueSize: 4096, NoIOUring: noIOUring}}, userRouter())
	ms := []*client{newClient(t, url+"?user=m"), newClient(t, url+"?user=m2")}
	for _, m := range ms {
		m.OK("join", map[string]any{"room": "r"})
	}
	ms[0].Push("enter_room")
	release := blockLoop(t, (*srv.loops.Load())[0])
	for i := 0; i < n; i++ {
		if err := srv.PublishMessage("r", "test", i); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	// Then one message each: two chains of one frame, a batch.
	release()
	if err := srv.PublishMessage("r", "test", n); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		for i := 0; i <= n; i++ {
			if d := data(m.Push("message")); d["payload"] != float64(i) {
				t.Fatalf("message %d: %v", i, d)
			}
		}
	}
	return srv
}
