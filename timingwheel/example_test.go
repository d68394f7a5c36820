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

// lease is an owner timed for longer than its wheel's MaxDelay.
type lease struct {
	id       int
	deadline int64 // when the lease ends, kept by the owner
	tm       timingwheel.Timer[lease]
}

// Example_longTimeout times a lease for longer than one revolution of its
// wheel. The wheel refuses such a duration with ErrTooLong (it never
// clamps), so the owner keeps its own deadline, as for lazy liveness, arms
// the timer for at most MaxDelay, and re-arms it for what remains whenever
// it fires early. Here the wheel has 8 slots of 1 s: MaxDelay is 7 s.
func Example_longTimeout() {
	var w *timingwheel.Wheel[lease]
	arm := func(l *lease) error {
		return w.Add(l, min(time.Duration(l.deadline-w.Now()), w.MaxDelay()))
	}
	expire := func(l *lease) {
		if l.deadline > w.Now() {
			fmt.Printf("%v: lease %d re-armed\n", time.Duration(w.Now()), l.id)
			_ = arm(l) // not yet: sleep for the rest, at most MaxDelay
			return
		}
		fmt.Printf("%v: lease %d ended\n", time.Duration(w.Now()), l.id)
	}
	w, _ = timingwheel.New(timingwheel.Config{Tick: time.Second, Slots: 8}, 0,
		func(l *lease) *timingwheel.Timer[lease] { return &l.tm }, expire)
	fmt.Println("max delay:", w.MaxDelay())

	l := &lease{id: 1, deadline: int64(20 * time.Second)}
	fmt.Println("add 20s:", w.Add(l, 20*time.Second))
	_ = arm(l)
	for s := int64(1); s <= 30; s++ {
		w.Advance(s * int64(time.Second))
	}
	fmt.Println("scheduled:", w.Len())
	// Output:
	// max delay: 7s
	// add 20s: timingwheel: duration beyond one revolution of the wheel
	// 7s: lease 1 re-armed
	// 14s: lease 1 re-armed
	// 20s: lease 1 ended
	// scheduled: 0
}
