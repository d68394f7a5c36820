// Package clock is where wsloop reads the time: a Clock tells the time and
// runs a function after a while. Servers and lease tables take one
// (server.Config.Clock, lease.Config.Clock); System is the real one, Fake
// one that a test moves by hand, so that heartbeats, rate limits and
// leases are tested without sleeping.
//
//	server ticker ── AfterFunc(next tick) ──► wake every loop ──► loop reads Now,
//	                                                               advances its timing wheel
//
// # Concurrency
//
// System and Fake are safe for concurrent use. A Fake runs the functions
// that fall due inside Advance, on the caller's goroutine.
package clock

import (
	"container/heap"
	"sync"
	"time"
)

// Clock tells the time and runs functions later.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once d has passed on this clock (f runs on a
	// goroutine of the clock's choosing); Stop on the result cancels it.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop cancels the call; it reports whether it did (false: the call
	// has run or is running, or was stopped before).
	Stop() bool
}

// System returns the real clock: time.Now and time.AfterFunc.
func System() Clock { return system{} }

type system struct{}

func (system) Now() time.Time                            { return time.Now() }
func (system) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Fake is a clock that moves only when Advance is called. The zero value
// is not usable; call NewFake.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers timerHeap
	seq    uint64
}

// NewFake returns a fake clock that reads t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now implements Clock.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc implements Clock: f runs inside the Advance call that moves
// the clock to now+d or past it (d <= 0: the next Advance, Advance(0)
// included).
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	heap.Push(&c.timers, t)
	return t
}

// Advance moves the clock forward by d. Every function that falls due runs
// in the order of its time (then of its AfterFunc call), on the caller's
// goroutine, with the clock reading that time; one scheduled meanwhile for
// no later than now+d runs too. The clock then reads now+d.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for len(c.timers) > 0 && !c.timers[0].at.After(end) {
		t := heap.Pop(&c.timers).(*fakeTimer)
		if t.at.After(c.now) {
			c.now = t.at
		}
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

type fakeTimer struct {
	c   *Fake
	at  time.Time
	seq uint64
	f   func()
	idx int // in the heap; -1 once popped or stopped
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.idx < 0 {
		return false
	}
	heap.Remove(&t.c.timers, t.idx)
	return true
}

type timerHeap []*fakeTimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*fakeTimer)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.idx = -1
	*h = old[:len(old)-1]
	return t
}
