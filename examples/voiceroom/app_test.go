package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsloop/wsloop/clock"
	"github.com/wsloop/wsloop/internal/wstest"
	"github.com/wsloop/wsloop/server"
)

// startApp runs the example on loopback ports with a fake clock, a 2 s
// heartbeat timeout and a 100 ms tick.
func startApp(t *testing.T) (*voiceroom, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	v, err := start(config{Addr: "127.0.0.1:0", WebAddr: "127.0.0.1:0", HeartbeatTimeout: 2 * time.Second, PingInterval: time.Second,
		Tick: 100 * time.Millisecond, Clock: clk, Logger: wstest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		_ = v.shutdown(ctx)
	})
	return v, clk
}

// user is one logged-in client.
type user struct {
	*wstest.Client
	id, token, secret, onlineToken string
}

// webURL is the example's web server.
func webURL(v *voiceroom) string { return "http://" + v.webLn.Addr().String() }

func postJSON(t *testing.T, url string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	m["http_status"] = float64(resp.StatusCode)
	return m
}

func getJSON(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// login logs in as id and connects to the ws_url the login gave.
func login(t *testing.T, v *voiceroom, id, nick string) *user {
	t.Helper()
	m := postJSON(t, webURL(v)+"/api/login", map[string]any{"user_id": id, "nickname": nick, "sex": 1, "avatar_url": "https://img.example/" + id + ".png", "avatar_small_url": "https://img.example/" + id + "-s.png"})
	d := wstest.Data(m)
	if m["code"] != 0.0 || d["token"] == "" {
		t.Fatalf("login: %v", m)
	}
	c := wstest.Dial(t, d["ws_url"].(string))
	_, p, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		Data struct {
			SID         string `json:"sid"`
			OnlineToken string `json:"online_token"`
			Ping        int    `json:"ping_interval"`
		} `json:"data"`
	}
	if err := json.Unmarshal(p, &w); err != nil || w.Data.OnlineToken == "" || w.Data.Ping != 1 {
		t.Fatalf("welcome %s", p)
	}
	return &user{Client: wstest.Attach(t, c, w.Data.SID), id: id, token: d["token"].(string), secret: d["heartbeat_secret"].(string), onlineToken: w.Data.OnlineToken}
}

// ping sends a signed ping with the server clock's time.
func (u *user) ping(clk *clock.Fake) {
	u.T.Helper()
	now := clk.Now().Unix()
	u.OK("ping", map[string]any{"online_token": u.onlineToken, "timestamp": now, "sign": server.SignPing([]byte(u.secret), u.onlineToken, u.SID, now)})
}

// TestVoiceRoomProtocol: the protocol table of README, request by request,
// with the pushes each causes (and those it must not).
func TestVoiceRoomProtocol(t *testing.T) {
	v, clk := startApp(t)
	alice := login(t, v, "alice", "Alice")
	bob := login(t, v, "bob", "Bob")
	carol := login(t, v, "carol", "Carol")

	// enter_room: the room's seats and members; the others are told.
	r := wstest.Data(alice.OK("enter_room", map[string]any{"channel_name": "r1"}))
	seats := r["seats"].([]any)
	if r["channel_name"] != "r1" || len(seats) != 8 || len(r["members"].([]any)) != 1 {
		t.Fatalf("enter_room reply %v", r)
	}
	if s := seats[0].(map[string]any); s["id"] != 1.0 || s["status"] != 0.0 || s["user_id"] != "" {
		t.Fatalf("seat 1 %v", s)
	}
	r = wstest.Data(bob.OK("enter_room", map[string]any{"channel_name": "r1"}))
	if len(r["members"].([]any)) != 2 {
		t.Fatalf("members after bob %v", r["members"])
	}
	e := wstest.Data(alice.Push("enter_room"))
	if e["user_id"] != "bob" || e["nickname"] != "Bob" || e["sex"] != 1.0 || e["avatar_url"] != "https://img.example/bob.png" || e["avatar_small_url"] != "https://img.example/bob-s.png" || e["channel_name"] != "r1" {
		t.Fatalf("enter_room push %v", e)
	}
	carol.OK("enter_room", map[string]any{"channel_name": "r1"})
	alice.Push("enter_room")
	bob.Push("enter_room")

	// send_topic_msg: every member, the sender too.
	alice.OK("send_topic_msg", map[string]any{"channel_name": "r1", "content": "hello"})
	for _, u := range []*user{alice, bob, carol} {
		if m := wstest.Data(u.Push("send_topic_msg")); m["user_id"] != "alice" || m["nickname"] != "Alice" || m["content"] != "hello" || m["channel_name"] != "r1" || m["avatar_url"] == nil {
			t.Fatalf("%s got %v", u.id, m)
		}
	}

	// up / 409 / mic / down.
	alice.OK("up", map[string]any{"channel_name": "r1", "room_seat_id": 1})
	for _, u := range []*user{alice, bob, carol} {
		if m := wstest.Data(u.Push("up")); m["user_id"] != "alice" || m["current_room_seat_id"] != 1.0 || m["nickname"] != "Alice" || m["sex"] != 1.0 || m["channel_name"] != "r1" {
			t.Fatalf("up push %v", m)
		}
	}
	if msg := bob.Status("up", map[string]any{"channel_name": "r1", "room_seat_id": 1}, 409); msg != "seat taken" {
		t.Fatalf("taken seat: %q", msg)
	}
	bob.OK("up", map[string]any{"channel_name": "r1", "room_seat_id": 2})
	for _, u := range []*user{alice, bob, carol} {
		u.Push("up")
	}
	alice.OK("mic", map[string]any{"channel_name": "r1", "microphone": 0})
	if m := wstest.Data(carol.Push("mic")); m["user_id"] != "alice" || m["room_seat"].(map[string]any)["microphone"] != 0.0 || m["room_seat"].(map[string]any)["id"] != 1.0 {
		t.Fatalf("mic push %v", m)
	}
	alice.Push("mic")
	bob.Push("mic")

	// send_gift: bc to everyone, ptp to the receiver's connections only.
	g := map[string]any{"id": 7, "name": "rose", "dynamic_image_url": "d", "image_url": "i", "image_big_url": "b", "image_small_url": "s", "num": 3}
	alice.OK("send_gift", map[string]any{"channel_name": "r1", "receiver_id": "bob", "notify_type": "bc", "gift": g})
	for _, u := range []*user{alice, bob, carol} {
		m := wstest.Data(u.Push("send_gift"))
		if m["sender_room_seat_id"] != 1.0 || m["receiver_room_seat_id"] != 2.0 || m["sender_id"] != "alice" || m["receiver_id"] != "bob" ||
			m["sender_nickname"] != "Alice" || m["receiver_nickname"] != "Bob" || m["notify_type"] != "bc" || m["channel_name"] != "r1" || m["gift"].(map[string]any)["num"] != 3.0 {
			t.Fatalf("bc gift %v", m)
		}
	}
	alice.OK("send_gift", map[string]any{"channel_name": "r1", "receiver_id": "bob", "notify_type": "ptp", "gift": g})
	if m := wstest.Data(bob.Push("send_gift")); m["notify_type"] != "ptp" {
		t.Fatalf("ptp gift %v", m)
	}
	alice.Quiet(150 * time.Millisecond) // the sender has its reply only
	carol.Quiet(50 * time.Millisecond)  // (a ptp gift is for bob alone)
	bob.OK("down", map[string]any{"channel_name": "r1"})
	for _, u := range []*user{alice, bob, carol} {
		if m := wstest.Data(u.Push("down")); m["user_id"] != "bob" || m["current_room_seat_id"] != 2.0 {
			t.Fatalf("down %v", m)
		}
	}

	// call / hang_up.
	alice.OK("call", map[string]any{"receiver_id": "bob", "channel_name": "r1"})
	if m := wstest.Data(bob.Push("call")); m["user_id"] != "alice" || m["receiver_id"] != "bob" || m["channel_name"] != "r1" {
		t.Fatalf("call %v", m)
	}
	alice.OK("hang_up", map[string]any{})
	if m := wstest.Data(bob.Push("hang_up")); m["user_id"] != "alice" || m["receiver_id"] != "bob" {
		t.Fatalf("hang_up %v", m)
	}

	// current_room, exit_room on purpose, exit_room_report.
	if d := wstest.Data(getJSON(t, webURL(v)+"/api/user/current_room?user_id=carol")); d["current_room_id"] != "r1" {
		t.Fatalf("carol's room %v", d)
	}
	carol.OK("exit_room", map[string]any{"channel_name": "r1"})
	for _, u := range []*user{alice, bob} {
		if m := wstest.Data(u.Push("exit_room")); m["user_id"] != "carol" || m["channel_name"] != "r1" || m["room_seat"] != nil {
			t.Fatalf("exit_room %v", m)
		}
	}
	if d := wstest.Data(getJSON(t, webURL(v)+"/api/user/current_room?user_id=carol")); d["current_room_id"] != "" {
		t.Fatalf("carol's room after exit %v", d)
	}
	carol.OK("exit_room_report", map[string]any{"user_id": "bob"})
	carol.Status("send_topic_msg", map[string]any{"channel_name": "r1", "content": "x"}, 403)

	// Heartbeats: a ping signed with the login's key is answered.
	alice.ping(clk)
}

// TestVoiceRoomDrops: a socket killed without a close frame, and a client
// that goes silent past the heartbeat timeout, both leave the room: the
// others get exit_room with the seat freed, and a call ends with hang_up.
func TestVoiceRoomDrops(t *testing.T) {
	v, clk := startApp(t)
	alice := login(t, v, "alice", "Alice")
	bob := login(t, v, "bob", "Bob")
	dave := login(t, v, "dave", "Dave")
	for _, u := range []*user{alice, bob, dave} {
		u.OK("enter_room", map[string]any{"channel_name": "r"})
	}
	bob.OK("up", map[string]any{"channel_name": "r", "room_seat_id": 3})
	dave.OK("up", map[string]any{"channel_name": "r", "room_seat_id": 4})
	alice.OK("call", map[string]any{"receiver_id": "bob", "channel_name": "r"})
	bob.Push("call")

	// Bob's socket dies: no close frame.
	_ = bob.Conn.UnderlyingConn().Close()
	m := wstest.Data(alice.Push("exit_room"))
	seat, _ := m["room_seat"].(map[string]any)
	if m["user_id"] != "bob" || seat["id"] != 3.0 || seat["status"] != 0.0 {
		t.Fatalf("exit_room for bob %v", m)
	}
	if m := wstest.Data(alice.Push("hang_up")); m["user_id"] != "bob" || m["receiver_id"] != "alice" {
		t.Fatalf("hang_up for bob's drop %v", m)
	}
	if d := wstest.Data(getJSON(t, webURL(v)+"/api/user/current_room?user_id=bob")); d["current_room_id"] != "" {
		t.Fatalf("bob's room after the drop %v", d)
	}

	// Dave goes silent; alice pings. After the heartbeat timeout (2 s)
	// and one tick, dave is gone with his seat.
	for range 3 {
		clk.Advance(900 * time.Millisecond)
		alice.ping(clk)
	}
	m = wstest.Data(alice.Push("exit_room"))
	seat, _ = m["room_seat"].(map[string]any)
	if m["user_id"] != "dave" || seat["id"] != 4.0 {
		t.Fatalf("exit_room for dave %v", m)
	}
	<-dave.Done
	if ce, ok := dave.Err.Load().(*websocket.CloseError); !ok || ce.Text != "heartbeat timeout" {
		t.Fatalf("dave closed with %v", dave.Err.Load())
	}
	r := wstest.Data(alice.OK("enter_room", map[string]any{"channel_name": "r"}))
	for _, s := range r["seats"].([]any) {
		if s.(map[string]any)["status"] != 0.0 {
			t.Fatalf("a seat still taken: %v", r["seats"])
		}
	}
}

// TestVoiceRoomRefusals: no token, bad requests, the web API's errors.
func TestVoiceRoomRefusals(t *testing.T) {
	v, _ := startApp(t)
	c, _, err := websocket.DefaultDialer.Dial("ws://"+v.srv.Addr().String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ce := wstest.ExpectClose(t, c, 1008); ce.Text != "token required" {
		t.Fatalf("no token: %q", ce.Text)
	}
	if m := postJSON(t, webURL(v)+"/api/login", map[string]any{"nickname": "x"}); m["http_status"] != 400.0 || m["code"] != 400.0 {
		t.Fatalf("login without user_id: %v", m)
	}
	if m := getJSON(t, webURL(v)+"/api/websocket/end_point"); m["end_point"] != "ws://"+v.srv.Addr().String()+"/ws" || m["ping_interval"] != 1.0 {
		t.Fatalf("end point %v", m)
	}
	u := login(t, v, "erin", "Erin")
	u.Status("up", map[string]any{"channel_name": "r", "room_seat_id": 1}, 403) // not in the room
	u.OK("enter_room", map[string]any{"channel_name": "r"})
	for _, tc := range []struct {
		cmd  string
		data map[string]any
		want int
	}{
		{"up", map[string]any{"channel_name": "r", "room_seat_id": 9}, 400},
		{"down", map[string]any{"channel_name": "r"}, 400},
		{"mic", map[string]any{"channel_name": "r", "microphone": 2}, 400},
		{"send_gift", map[string]any{"channel_name": "r", "receiver_id": "nobody", "notify_type": "bc", "gift": map[string]any{"num": 1}}, 404},
		{"send_gift", map[string]any{"channel_name": "r", "receiver_id": "erin", "notify_type": "all", "gift": map[string]any{"num": 1}}, 400},
		{"call", map[string]any{"receiver_id": "nobody", "channel_name": "r"}, 404},
		{"hang_up", map[string]any{}, 400},
		{"send_topic_msg", map[string]any{"channel_name": "r", "content": ""}, 400},
		{"enter_room", map[string]any{"channel_name": ""}, 400},
	} {
		u.Status(tc.cmd, tc.data, tc.want)
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
