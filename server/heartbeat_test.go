package server

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsloop/wsloop/protocol"
)

// TestHeartbeatExpiryAtScale: 2 000 silent clients and 2 000 heartbeating
// ones (a third each: empty frames, Ping frames, the ping command), timeout
// 3 s (room for dialing 2 000 clients on a loaded machine), tick 100 ms. Every silent client is closed with "heartbeat timeout"
// within timeout + one tick + scheduling slack, none before the timeout; no
// heartbeating client is closed.
func TestHeartbeatExpiryAtScale(t *testing.T) {
	const (
		timeout = 3 * time.Second
		tick    = 100 * time.Millisecond
		slack   = 400 * time.Millisecond
		n       = 2000
	)
	rec := newCloseRecorder(NewRouter())
	srv, _ := startServer(t, Config{HeartbeatTimeout: timeout, Tick: tick}, rec)

	beats := [][]byte{
		clientFrame(0x81, nil, true),         // empty frame
		clientFrame(0x89, []byte("b"), true), // Ping frame
		clientFrame(0x81, []byte(`{"cmd":"ping","seqno":"1","data":{}}`), true),
	}
	alive := dialMany(t, srv, n)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // heartbeat every timeout/4; drain replies so nothing backs up
		defer wg.Done()
		buf := make([]byte, 4096)
		tk := time.NewTicker(timeout / 4)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			for i, c := range alive {
				if _, err := c.Write(beats[i%3]); err != nil {
					t.Errorf("heartbeating client %d: %v", i, err)
					return
				}
				_ = c.SetReadDeadline(time.Now().Add(time.Microsecond))
				for {
					if _, err := c.Read(buf); err != nil {
						break
					}
				}
			}
		}
	}()

	t0 := time.Now()
	silent := dialMany(t, srv, n)
	t1 := time.Now()
	for time.Since(t0) < timeout-2*tick {
		if got := srv.Count(); got != 2*n {
			t.Fatalf("%v after the first silent client: %d connections, want %d (expired early)", time.Since(t0), got, 2*n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for srv.Count() > n && time.Since(t1) < timeout+tick+slack {
		time.Sleep(10 * time.Millisecond)
	}
	if got := srv.Count(); got != n {
		t.Fatalf("%v after the last silent client: %d connections, want %d", time.Since(t1), got, n)
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
	time.Sleep(timeout + tick) // the heartbeating ones outlive another timeout
	close(stop)
	wg.Wait()
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
// (gorilla answers them while reading) stays; one that does not is closed
// after MaxMissedPongs unanswered Pings, before HeartbeatTimeout.
func TestServerPings(t *testing.T) {
	const interval = 300 * time.Millisecond
	srv, url := startServer(t, Config{HeartbeatTimeout: 10 * time.Second, ServerPingInterval: interval, MaxMissedPongs: 2, Tick: 50 * time.Millisecond}, NewRouter())
	answering := make([]*websocket.Conn, 50)
	var wg sync.WaitGroup
	for i := range answering {
		answering[i], _ = dialRouter(t, url)
		wg.Add(1)
		go func(c *websocket.Conn) {
			defer wg.Done()
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}(answering[i])
	}
	start := time.Now()
	mute := dialMany(t, srv, 50)
	pings := 0
	for i, c := range mute {
		for {
			op, p := c.readFrame()
			if op == 0x9 {
				pings++
				continue
			}
			if op == 0x8 {
				if code := int(p[0])<<8 | int(p[1]); code != 1000 || string(p[2:]) != "heartbeat timeout" {
					t.Fatalf("mute client %d closed with %d %q", i, code, p[2:])
				}
				break
			}
		}
	}
	el := time.Since(start)
	if el < 3*interval-100*time.Millisecond || el > 3*interval+time.Second {
		t.Fatalf("mute clients closed after %v, want about %v (2 missed pongs)", el, 3*interval)
	}
	if pings != 2*len(mute) {
		t.Fatalf("mute clients got %d pings, want %d", pings, 2*len(mute))
	}
	time.Sleep(5 * interval)
	if got := srv.Count(); got != len(answering) {
		t.Fatalf("%d connections left, want the %d answering ones", got, len(answering))
	}
	for _, c := range answering {
		c.Close()
	}
	wg.Wait()
}

// TestSignedPing: with HeartbeatSecret, a signed ping is answered with pong;
// a bad sign or stale timestamp gets 401 and does not refresh liveness;
// three rejections in a row close with 1008.
func TestSignedPing(t *testing.T) {
	secret := []byte("s3cret")
	_, url := startServer(t, Config{HeartbeatSecret: secret, HeartbeatSignWindow: time.Minute}, NewRouter())
	ping := func(token string, ts int64, sign string) string {
		return `{"cmd":"ping","seqno":"p","data":{"online_token":"` + token + `","timestamp":` + strconv.FormatInt(ts, 10) + `,"sign":"` + sign + `"}}`
	}
	now := time.Now().Unix()
	c, _ := dialRouter(t, url)

	writeText(t, c, ping("tok", now, protocol.Sign(secret, "tok", now)))
	if got := readText(t, c); !strings.HasPrefix(got, `{"cmd":"pong","seqno":"p","status":0,"msg":"ok","data":{"timestamp":`) {
		t.Fatalf("good signed ping: %s", got)
	}
	// A timestamp sent as a string signs the same digits.
	writeText(t, c, strings.Replace(ping("tok", now, protocol.Sign(secret, "tok", now)), `"timestamp":`+strconv.FormatInt(now, 10), `"timestamp":"`+strconv.FormatInt(now, 10)+`"`, 1))
	if got := readText(t, c); !strings.Contains(got, `"status":0`) {
		t.Fatalf("string timestamp: %s", got)
	}
	writeText(t, c, `{"cmd":"ping","seqno":"q","data":{}}`)
	if got := readText(t, c); got != `{"cmd":"ping","seqno":"q","status":400,"msg":"online_token and timestamp required"}` {
		t.Fatalf("unsigned ping: %s", got)
	}
	rejections := []struct{ req, msg string }{
		{ping("tok", now, protocol.Sign([]byte("wrong"), "tok", now)), "bad sign"},
		{ping("tok", now-3600, protocol.Sign(secret, "tok", now-3600)), "stale timestamp"},
		{ping("other", now, protocol.Sign(secret, "tok", now)), "bad sign"},
	}
	for i, r := range rejections {
		writeText(t, c, r.req)
		if got, want := readText(t, c), `{"cmd":"ping","seqno":"p","status":401,"msg":"`+r.msg+`"}`; got != want {
			t.Fatalf("rejection %d: %s, want %s", i, got, want)
		}
	}
	if ce := expectClose(t, c, 1008); ce.Text != "bad heartbeat signature" {
		t.Fatalf("close reason %q", ce.Text)
	}

	// A good ping in between resets the count.
	c2, _ := dialRouter(t, url)
	for i := 0; i < 5; i++ {
		writeText(t, c2, rejections[0].req)
		readText(t, c2)
		writeText(t, c2, ping("tok", now, protocol.Sign(secret, "tok", now)))
		readText(t, c2)
	}
}

// TestSignedPingDoesNotRefresh: rejected signed pings do not keep a
// connection alive, good ones do.
func TestSignedPingDoesNotRefresh(t *testing.T) {
	secret := []byte("k")
	const timeout = 600 * time.Millisecond
	srv, _ := startServer(t, Config{HeartbeatSecret: secret, HeartbeatTimeout: timeout, Tick: 50 * time.Millisecond}, NewRouter())
	good, bad := dialRaw(t, srv, true), dialRaw(t, srv, true)
	start := time.Now()
	for time.Since(start) < 2*timeout {
		now := time.Now().Unix()
		good.send(clientFrame(0x81, []byte(`{"cmd":"ping","data":{"online_token":"t","timestamp":`+strconv.FormatInt(now, 10)+`,"sign":"`+protocol.Sign(secret, "t", now)+`"}}`), true))
		if time.Since(start) < timeout/2 { // fewer than three: not closed for bad signs
			bad.send(clientFrame(0x81, []byte(`{"cmd":"ping","data":{"online_token":"t","timestamp":1,"sign":"00"}}`), true))
		}
		time.Sleep(timeout / 4)
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
	srv, url := startServer(t, Config{Heartbeats: HeartbeatEmptyFrame, HeartbeatTimeout: timeout, Tick: 50 * time.Millisecond}, NewRouter())
	c, _ := dialRouter(t, url)
	writeText(t, c, `{"cmd":"ping","seqno":"1"}`)
	if got := readText(t, c); got != `{"cmd":"ping","seqno":"1","status":404,"msg":"unknown cmd"}` {
		t.Fatalf("disabled ping command: %s", got)
	}
	pinger := dialRaw(t, srv, true)
	empty := dialRaw(t, srv, true)
	start := time.Now()
	for time.Since(start) < 2*timeout {
		_, _ = pinger.Write(clientFrame(0x89, []byte("x"), true)) // fails once it is closed
		empty.send(clientFrame(0x81, nil, true))
		time.Sleep(timeout / 5)
	}
	if reason := pinger.expectCloseCode(1000); reason != "heartbeat timeout" {
		t.Fatalf("ping-frame-only client closed with %q", reason)
	}
	if op, _ := empty.readFrame(); op != 1 { // the welcome; then nothing but liveness
		t.Fatalf("empty-frame client: op %d", op)
	}
	_ = c.Close()
	deadline := time.Now().Add(time.Second)
	for srv.Count() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if srv.Count() != 1 {
		t.Fatalf("Count = %d, want the empty-frame client only", srv.Count())
	}
}

// TestExpiryWithinOneTick: a client that was last heard some time after
// its handshake (so the first check finds it alive and re-arms) is closed
// no earlier than the timeout after its last frame and within one tick
// (plus scheduling slack) after that.
func TestExpiryWithinOneTick(t *testing.T) {
	const (
		timeout = time.Second
		tick    = 200 * time.Millisecond
		slack   = 250 * time.Millisecond
	)
	srv, _ := startServer(t, Config{HeartbeatTimeout: timeout, Tick: tick}, NewRouter())
	rc := dialRaw(t, srv, true)
	time.Sleep(330 * time.Millisecond)
	rc.send(clientFrame(0x81, nil, true)) // an empty frame: a heartbeat
	last := time.Now()
	if reason := rc.expectCloseCode(1000); reason != "heartbeat timeout" {
		t.Fatalf("closed with %q", reason)
	}
	if d := time.Since(last); d < timeout || d > timeout+tick+slack {
		t.Fatalf("closed %v after the last frame, want within [%v, %v]", d, timeout, timeout+tick+slack)
	}
}
