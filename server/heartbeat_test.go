package server

import (
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestHeartbeatExpiry: silent clients are closed with "heartbeat timeout"
// soon after HeartbeatTimeout; clients that keep sending (empty frames,
// Ping frames or the ping command) are not.
func TestHeartbeatExpiry(t *testing.T) {
	const timeout, tick = 600 * time.Millisecond, 50 * time.Millisecond
	rec := newCloseRecorder(NewRouter())
	_, url := startServer(t, Config{HeartbeatTimeout: timeout, Tick: tick, EmptyFrameHeartbeat: true}, rec)

	silent := make([]*websocket.Conn, 20)
	for i := range silent {
		silent[i], _ = dialRouter(t, url)
	}
	beats := map[string]func(c *websocket.Conn) error{
		"empty frame": func(c *websocket.Conn) error { return c.WriteMessage(websocket.TextMessage, nil) },
		"ping frame": func(c *websocket.Conn) error {
			return c.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second))
		},
		"ping command": func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"ping","seqno":"1","data":{}}`))
		},
	}
	stop := make(chan struct{})
	var wg, beaters sync.WaitGroup
	alive := map[string]*websocket.Conn{}
	for name, beat := range beats {
		c, _ := dialRouter(t, url)
		alive[name] = c
		wg.Add(1)
		beaters.Add(1)
		go func() { // keep reading so pongs and replies are consumed
			defer wg.Done()
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		go func() {
			defer beaters.Done()
			tk := time.NewTicker(timeout / 4)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
					if err := beat(c); err != nil {
						t.Errorf("%s heartbeat: %v", name, err)
						return
					}
				}
			}
		}()
	}

	start := time.Now()
	for i, c := range silent {
		ce := expectClose(t, c, 1000)
		if ce.Text != "heartbeat timeout" {
			t.Fatalf("silent %d closed with %q", i, ce.Text)
		}
	}
	// Each silent client was dialled before start; all must be gone within
	// timeout + one tick + scheduling slack.
	if el := time.Since(start); el > timeout+tick+400*time.Millisecond {
		t.Fatalf("silent clients closed after %v, want ≤ %v + tick + slack", el, timeout)
	}
	for range silent {
		if r := rec.next(t); r.Cause != CauseTimeout || r.Cause.ExitReason() != "timeout" {
			t.Fatalf("OnClose reason %+v, want timeout", r)
		}
	}
	time.Sleep(3 * timeout) // heartbeating clients must outlive several timeouts
	close(stop)
	beaters.Wait()
	for name, c := range alive {
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"echo","seqno":"9"}`)); err != nil {
			t.Fatalf("%s client was closed: %v", name, err)
		}
	}
	select {
	case r := <-rec.closed:
		t.Fatalf("a heartbeating client was closed: %+v", r)
	default:
	}
	for _, c := range alive {
		c.Close()
	}
	wg.Wait()
}
