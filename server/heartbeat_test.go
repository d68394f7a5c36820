package server

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsloop/wsloop/protocol"
)

// TestHeartbeatExpiryAtScale: 2 000 silent clients and 2 000 heartbeating
// ones (a third each: empty frames, Ping frames, the ping command), timeout
// 3 s, tick 100 ms, on a fake clock. No silent client is closed before the
// timeout; every one is closed with "heartbeat timeout" within one tick
// after it; no heartbeating client is closed, however long they go on.
func TestHeartbeatExpiryAtScale(t *testing.T) {
	const (
		timeout = 3 * time.Second
		tick    = 100 * time.Millisecond
		n       = 2000
	)
	clk := newFakeClock()
	rec := newCloseRecorder(NewRouter())
	srv, _ := startServer(t, Config{Clock: clk, Heartbeat: Heartbeat{Timeout: timeout, Tick: tick}}, rec)

	beats := [][]byte{
		clientFrame(0x81, nil, true),         // empty frame
		clientFrame(0x89, []byte("b"), true), // Ping frame
		clientFrame(0x81, []byte(`{"cmd":"ping","seqno":"1","data":{}}`), true),
	}
	alive := dialMany(t, srv, n)
	silent := dialMany(t, srv, n)
	buf := make([]byte, 4096)
	beat := func() { // heartbeat; drain replies so nothing backs up
		for i, c := range alive {
			c.send(beats[i%3])
			_ = c.SetReadDeadline(time.Now().Add(time.Microsecond))
			for {
				if _, err := c.Read(buf); err != nil {
					break
				}
			}
		}
		syncLoops(t, srv)
	}
	// Up to one tick before the timeout, in steps of a quarter of it.
	for elapsed := time.Duration(0); elapsed < timeout-tick; elapsed += timeout / 4 {
		step := min(timeout/4, timeout-tick-elapsed)
		advance(t, srv, clk, step)
		if got := srv.Count(); got != 2*n {
			t.Fatalf("%v after the handshakes: %d connections, want %d (expired early)", elapsed+step, got, 2*n)
		}
		beat()
	}
	advance(t, srv, clk, 2*tick+tickLag) // now past timeout + one tick
	if got := srv.Count(); got != n {
		t.Fatalf("one tick after the timeout: %d connections, want %d", got, n)
	}
	for i, c := range silent {
		if reason := c.expectCloseCode(1000); reason != "heartbeat timeout" {
			t.Fatalf("silent client %d closed with %q", i, reason)
		}
	}
	for i := 0; i < n; i++ {
		if r := rec.next(t); r.Cause != CauseTimeout {
			t.Fatalf("OnClose reason %+v, want timeout", r)
		}
	}
	for i := 0; i < 8; i++ { // the heartbeating ones outlive two more timeouts
		beat()
		advance(t, srv, clk, timeout/4)
	}
	if got := srv.Count(); got != n {
		t.Fatalf("%d of %d heartbeating clients left", got, n)
	}
}

// dialMany opens n raw WebSocket clients (handshake done, welcome unread).
func dialMany(t *testing.T, srv *Server, n int) []*rawConn {
	t.Helper()
	conns := make([]*rawConn, n)
	var wg sync.WaitGroup
	const workers = 8
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				conns[i] = dialRaw(t, srv, true)
			}
		}(w)
	}
	wg.Wait()
	return conns
}

// TestServerPings: with ServerPingInterval, a client that answers Pings
// stays; one that does not is closed after MaxMissedPongs unanswered Pings
// (one interval after the last), before HeartbeatTimeout.
func TestServerPings(t *testing.T) {
	const interval = 300 * time.Millisecond
	clk := newFakeClock()
	srv, _ := startServer(t, Config{Clock: clk, Heartbeat: Heartbeat{Timeout: 10 * time.Second, ServerPingInterval: interval, MaxMissedPongs: 2, Tick: 50 * time.Millisecond}}, NewRouter())
	answering := dialMany(t, srv, 50)
	mute := dialMany(t, srv, 50)
	for _, c := range append(answering, mute...) {
		if op, _ := c.readFrame(); op != 1 { // the welcome
			t.Fatalf("first frame op %d", op)
		}
	}
	expectPing := func(c *rawConn) []byte {
		t.Helper()
		op, p := c.readFrame()
		if op != 0x9 {
			t.Fatalf("op %d, want a Ping", op)
		}
		return p
	}
	step := interval + 2*50*time.Millisecond // one tick after each ping is due
	for round := 1; round <= 2; round++ {
		advance(t, srv, clk, step)
		for _, c := range answering {
			c.send(clientFrame(0x8A, expectPing(c), true))
		}
		for _, c := range mute {
			expectPing(c)
		}
		syncLoops(t, srv)
		if got := srv.Count(); got != 100 {
			t.Fatalf("after %d pings: %d connections, want 100", round, got)
		}
	}
	advance(t, srv, clk, step) // a third interval without a pong: closed
	for i, c := range mute {
		if reason := c.expectCloseCode(1000); reason != "heartbeat timeout" {
			t.Fatalf("mute client %d closed with %q", i, reason)
		}
	}
	for i := 0; i < 5; i++ {
		for _, c := range answering {
			if op, p := c.readFrame(); op == 0x9 {
				c.send(clientFrame(0x8A, p, true))
			}
		}
		syncLoops(t, srv)
		advance(t, srv, clk, step)
	}
	if got := srv.Count(); got != len(answering) {
		t.Fatalf("%d connections left, want the %d answering ones", got, len(answering))
	}
}

// welcomeOf reads a connection's welcome event: its sid and online_token.
func welcomeOf(t *testing.T, msg string) (sid, token string) {
	t.Helper()
	var w struct {
		Cmd  string `json:"cmd"`
		Data struct {
			SID         string `json:"sid"`
			OnlineToken string `json:"online_token"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(msg), &w); err != nil || w.Cmd != "welcome" {
		t.Fatalf("welcome %q: %v", msg, err)
	}
	return w.Data.SID, w.Data.OnlineToken
}

// TestSignedPing: with Heartbeat.Secret, the welcome carries the
// connection's online_token; a ping signed over it, the sid and a
// timestamp newer than the last accepted one is answered with pong; a
// bad sign, another connection's token or sign, a stale or a replayed
// timestamp gets 401 and does not refresh liveness; three rejections in a
// row close with 1008.
func TestSignedPing(t *testing.T) {
	secret := []byte("s3cret")
	clk := newFakeClock()
	_, url := startServer(t, Config{Clock: clk, Heartbeat: Heartbeat{Secret: secret, SignWindow: time.Minute, Timeout: -1}}, NewRouter())
	ping := func(token string, ts int64, sign string) string {
		return `{"cmd":"ping","seqno":"p","data":{"online_token":"` + token + `","timestamp":` + strconv.FormatInt(ts, 10) + `,"sign":"` + sign + `"}}`
	}
	now := clk.Now().Unix()
	c := dial(t, url)
	sid, tok := welcomeOf(t, readText(t, c))
	if len(tok) != 32 || tok != protocol.OnlineToken(secret, sid) {
		t.Fatalf("online_token %q for sid %s", tok, sid)
	}
	other := dial(t, url)
	otherSID, otherTok := welcomeOf(t, readText(t, other))
	if otherTok == tok {
		t.Fatal("two connections with one online_token")
	}
	ok := func(req, what string) {
		t.Helper()
		writeText(t, c, req)
		if got := readText(t, c); !strings.HasPrefix(got, `{"cmd":"pong","seqno":"p","status":0,"msg":"ok","data":{"timestamp":`) {
			t.Fatalf("%s: %s", what, got)
		}
	}
	// On the window's edges, in increasing order: accepted; SignPing is
	// what clients compute.
	ok(ping(tok, now-60, SignPing(secret, tok, sid, now-60)), "60 s behind")
	ok(ping(tok, now, SignPing(secret, tok, sid, now)), "now")
	// A timestamp sent as a string signs the same digits.
	ok(strings.Replace(ping(tok, now+1, SignPing(secret, tok, sid, now+1)), `"timestamp":`+strconv.FormatInt(now+1, 10), `"timestamp":"`+strconv.FormatInt(now+1, 10)+`"`, 1), "string timestamp")
	ok(ping(tok, now+60, SignPing(secret, tok, sid, now+60)), "60 s ahead")

	writeText(t, c, `{"cmd":"ping","seqno":"q","data":{}}`)
	if got := readText(t, c); got != `{"cmd":"ping","seqno":"q","status":400,"msg":"online_token and timestamp required"}` {
		t.Fatalf("unsigned ping: %s", got)
	}
	for i, r := range []struct{ req, msg string }{
		{ping(tok, now+60, SignPing(secret, tok, sid, now+60)), "replayed timestamp"},              // the same ping again
		{ping(otherTok, now+59, SignPing(secret, otherTok, otherSID, now+59)), "bad online_token"}, // another connection's ping
		{ping(tok, now+59, SignPing([]byte("wrong"), tok, sid, now+59)), "bad sign"},               // not the secret
	} {
		writeText(t, c, r.req)
		if got, want := readText(t, c), `{"cmd":"ping","seqno":"p","status":401,"msg":"`+r.msg+`"}`; got != want {
			t.Fatalf("rejection %d: %s, want %s", i, got, want)
		}
	}
	if ce := expectClose(t, c, 1008); ce.Text != "bad heartbeat signature" {
		t.Fatalf("close reason %q", ce.Text)
	}

	// The other connection: a sign for its own sid with this token is bad;
	// a good ping in between resets the count; the server's clock decides
	// what is stale.
	ping2 := func(ts int64) string { return ping(otherTok, ts, SignPing(secret, otherTok, otherSID, ts)) }
	writeText(t, other, ping(otherTok, now, SignPing(secret, otherTok, sid, now)))
	if got := readText(t, other); !strings.Contains(got, `"msg":"bad sign"`) {
		t.Fatalf("a sign over another sid: %s", got)
	}
	writeText(t, other, ping2(now))
	readText(t, other)
	clk.Advance(62 * time.Second)
	writeText(t, other, ping2(now+1)) // 61 s old now
	if got := readText(t, other); !strings.Contains(got, `"msg":"stale timestamp"`) {
		t.Fatalf("62 s later: %s", got)
	}
	now = clk.Now().Unix()
	for i := int64(0); i < 5; i++ {
		writeText(t, other, ping(otherTok, now, SignPing([]byte("wrong"), otherTok, otherSID, now)))
		readText(t, other)
		writeText(t, other, ping2(now+i))
		if got := readText(t, other); !strings.Contains(got, `"status":0`) {
			t.Fatalf("good ping %d: %s", i, got)
		}
	}
}

// TestSignedPingDoesNotRefresh: rejected signed pings do not keep a
// connection alive, good ones do.
func TestSignedPingDoesNotRefresh(t *testing.T) {
	secret := []byte("k")
	const timeout, tick = 6 * time.Second, 500 * time.Millisecond
	clk := newFakeClock()
	srv, _ := startServer(t, Config{Clock: clk, Heartbeat: Heartbeat{Secret: secret, Timeout: timeout, Tick: tick}}, NewRouter())
	good, bad := dialRaw(t, srv, true), dialRaw(t, srv, true)
	_, w := good.readFrame()
	sid, tok := welcomeOf(t, string(w))
	for i := 0; i < 8; i++ { // two timeouts, a ping every quarter
		now := clk.Now().Unix()
		good.send(clientFrame(0x81, []byte(`{"cmd":"ping","data":{"online_token":"`+tok+`","timestamp":`+strconv.FormatInt(now, 10)+`,"sign":"`+SignPing(secret, tok, sid, now)+`"}}`), true))
		if i < 2 { // fewer than three: not closed for bad signs
			bad.send(clientFrame(0x81, []byte(`{"cmd":"ping","data":{"online_token":"t","timestamp":1,"sign":"00"}}`), true))
		}
		syncLoops(t, srv)
		advance(t, srv, clk, timeout/4)
	}
	if reason := bad.expectCloseCode(1000); reason != "heartbeat timeout" {
		t.Fatalf("client with rejected pings closed with %q", reason)
	}
	if srv.Count() != 1 {
		t.Fatalf("Count = %d, want the good client only", srv.Count())
	}
}

// TestHeartbeatFormsSwitch: a disabled form does not refresh liveness (a
// disabled Ping frame is still answered; a disabled empty frame reaches the
// handler; a disabled ping command is unknown).
func TestHeartbeatFormsSwitch(t *testing.T) {
	const timeout = 500 * time.Millisecond
	clk := newFakeClock()
	srv, url := startServer(t, Config{Clock: clk, Heartbeat: Heartbeat{Forms: HeartbeatEmptyFrame, Timeout: timeout, Tick: 50 * time.Millisecond}}, NewRouter())
	c, _ := dialRouter(t, url)
	writeText(t, c, `{"cmd":"ping","seqno":"1"}`)
	if got := readText(t, c); got != `{"cmd":"ping","seqno":"1","status":404,"msg":"unknown cmd"}` {
		t.Fatalf("disabled ping command: %s", got)
	}
	_ = c.Close()
	pinger := dialRaw(t, srv, true)
	empty := dialRaw(t, srv, true)
	for i := 0; i < 10; i++ { // two timeouts, a beat every fifth
		_, _ = pinger.Write(clientFrame(0x89, []byte("x"), true)) // fails once it is closed
		empty.send(clientFrame(0x81, nil, true))
		syncLoops(t, srv)
		advance(t, srv, clk, timeout/5)
	}
	if reason := pinger.expectCloseCode(1000); reason != "heartbeat timeout" {
		t.Fatalf("ping-frame-only client closed with %q", reason)
	}
	if op, _ := empty.readFrame(); op != 1 { // the welcome; then nothing but liveness
		t.Fatalf("empty-frame client: op %d", op)
	}
	if srv.Count() != 1 {
		t.Fatalf("Count = %d, want the empty-frame client only", srv.Count())
	}
}

// TestExpiryWithinOneTick: a client that was last heard some time after
// its handshake (so the first check finds it alive and re-arms) is closed
// no earlier than the timeout after its last frame and within one tick
// after that.
func TestExpiryWithinOneTick(t *testing.T) {
	const (
		timeout = time.Second
		tick    = 200 * time.Millisecond
	)
	clk := newFakeClock()
	srv, _ := startServer(t, Config{Clock: clk, Heartbeat: Heartbeat{Timeout: timeout, Tick: tick}}, NewRouter())
	rc := dialRaw(t, srv, true)
	advance(t, srv, clk, 330*time.Millisecond)
	rc.send(clientFrame(0x81, nil, true)) // an empty frame: a heartbeat
	syncLoops(t, srv)
	advance(t, srv, clk, timeout-time.Millisecond)
	if srv.Count() != 1 {
		t.Fatal("closed before the timeout after its last frame")
	}
	advance(t, srv, clk, tick+tickLag)
	if srv.Count() != 0 {
		t.Fatal("still open one tick after the timeout")
	}
	if reason := rc.expectCloseCode(1000); reason != "heartbeat timeout" {
		t.Fatalf("closed with %q", reason)
	}
}
