package timingwheel_test

import (
	"fmt"
	"time"

	"github.com/wsloop/wsloop/timingwheel"
)

// conn is an owner: a connection with a heartbeat timer.
type conn struct {
	id       int
	lastSeen int64 // time of the last inbound frame
	hb       timingwheel.Timer[conn]
}

// Example_lazyLiveness shows heartbeat expiry with lazy liveness. Refreshing
// liveness costs one store; reschedule when the slot fires: an inbound frame
// only stores its time in the connection, and when the timer fires the
// connection is either rescheduled for the time that remains or closed.
func Example_lazyLiveness() {
	const timeout = 20 * time.Second
	var w *timingwheel.Wheel[conn]
	expire := func(c *conn) {
		if idle := time.Duration(w.Now() - c.lastSeen); idle < timeout {
			_ = w.Add(c, timeout-idle) // active: sleep for the rest
			return
		}
		fmt.Printf("%v: conn %d idle, closed\n", time.Duration(w.Now()), c.id)
	}
	w, _ = timingwheel.New(timingwheel.Config{Tick: time.Second}, 0,
		func(c *conn) *timingwheel.Timer[conn] { return &c.hb }, expire)

	a, b := &conn{id: 1}, &conn{id: 2}
	_ = w.Add(a, timeout)
	_ = w.Add(b, timeout)
	for s := int64(1); s <= 60; s++ { // the loop's tick, once a second
		now := s * int64(time.Second)
		if s <= 30 {
			a.lastSeen = now // a sends frames for 30 s; b never does
		}
		w.Advance(now)
	}
	fmt.Println("scheduled:", w.Len())
	// Output:
	// 20s: conn 2 idle, closed
	// 50s: conn 1 idle, closed
	// scheduled: 0
}
