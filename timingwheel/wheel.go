package timingwheel

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

const (
	defaultTick  = time.Second
	defaultSlots = 4096
	maxSlots     = 1 << 24

	// maxTicks is how far ahead of the wheel's tick a deadline may lie.
	// Deadlines are stored modulo 2^32 and compared as signed 32-bit
	// differences, which is exact while they are less than 2^31 ticks away.
	maxTicks = math.MaxInt32
)

// wheelIDs numbers wheels so that a Timer knows which wheel holds it.
var wheelIDs atomic.Uint32

// Config configures a Wheel. The zero value is valid: a 1 s tick and 4096
// slots (one revolution is 68 minutes).
type Config struct {
	// Tick is the wheel's resolution. Deadlines are rounded up to the next
	// multiple of Tick (counted from the now passed to New), and a timer
	// fires on the first Advance whose now reaches that multiple.
	// Zero means 1 s. Negative is an error.
	Tick time.Duration

	// Slots is the number of slots in one revolution, rounded up to a power
	// of two. A timer due within Slots ticks is examined only when it
	// fires; a timer due further ahead is passed over once per revolution
	// until then. The wheel holds 8 bytes per slot.
	// Zero means 4096. Negative or above 1<<24 is an error.
	Slots int
}

// Timer is the handle an owner embeds, as a field, in each object it times:
// a connection, a handshake, a lease. The wheel links owners through their
// Timers and hands the owner itself to the fire function, so it keeps no
// memory of its own per timer and needs no pointer from the Timer back to
// its owner.
//
// The zero value is an unscheduled timer. A Timer must not be copied while it
// is scheduled. It is 24 bytes on 64-bit platforms.
type Timer[T any] struct {
	next  *T     // next owner in the same slot (or pending) list
	pprev **T    // the pointer that points to this owner
	when  uint32 // deadline tick, modulo 2^32
	wheel uint32 // id of the wheel holding it; 0 when not scheduled
}

// Scheduled reports whether t is scheduled on a wheel: added and neither
// fired nor removed. Must be called on the owning event loop.
func (t *Timer[T]) Scheduled() bool { return t.wheel != 0 }

// Wheel is a hashed timing wheel of owners of type T, each timed by a
// Timer[T] field. It never reads the clock: the owner advances it with
// Advance(now), and due timers fire on that call.
//
// Not safe for concurrent use: one wheel per event loop; every method must
// be called on the owning loop.
type Wheel[T any] struct {
	slots []*T // heads of the slot lists; never reallocated (pprevs point in)
	mask  int64
	timer func(*T) *Timer[T]
	fire  func(*T)

	tickNs  int64
	origin  int64 // the now passed to New: tick 0 starts here
	now     int64 // the greatest now passed to New or Advance
	nowTick int64 // (now-origin) / tickNs
	nowRem  int64 // (now-origin) % tickNs
	tick    int64 // the last tick whose slot has been processed
	n       int
	id      uint32

	// Used while Advance runs.
	firing   bool
	pending  *T    // due timers of the tick being processed, not yet fired
	winStart int64 // the tick at which the current window started
	winMin   int64 // lowest deadline linked or passed over since winStart
}

// New returns a wheel whose time starts at now. now is a monotonic clock in
// nanoseconds, from whatever origin the owner likes, for example
// int64(time.Since(start)) taken at the loop's tick; every later now passed
// to Advance must come from the same clock.
//
// timer returns the Timer field of an owner, for example
// func(c *Conn) *timingwheel.Timer[Conn] { return &c.heartbeat }; it must
// return the same field every time and do nothing else. fire is called, from
// Advance, with each owner whose timer is due; the timer is no longer
// scheduled when fire runs. fire may call Add, Reset and Remove on this
// wheel, for any owner, but not Advance.
func New[T any](cfg Config, now int64, timer func(*T) *Timer[T], fire func(*T)) (*Wheel[T], error) {
	if timer == nil || fire == nil {
		return nil, fmt.Errorf("%w: timer and fire functions are required", ErrConfig)
	}
	tick := cfg.Tick
	switch {
	case tick == 0:
		tick = defaultTick
	case tick < 0:
		return nil, fmt.Errorf("%w: negative Tick %v", ErrConfig, tick)
	}
	slots := cfg.Slots
	switch {
	case slots == 0:
		slots = defaultSlots
	case slots < 0 || slots > maxSlots:
		return nil, fmt.Errorf("%w: Slots %d not in [1, %d]", ErrConfig, slots, maxSlots)
	}
	size := 1
	for size < slots {
		size <<= 1
	}
	id := wheelIDs.Add(1)
	for id == 0 { // wrapped after 2^32 wheels
		id = wheelIDs.Add(1)
	}
	return &Wheel[T]{
		slots:  make([]*T, size),
		mask:   int64(size - 1),
		timer:  timer,
		fire:   fire,
		tickNs: int64(tick),
		origin: now,
		now:    now,
		id:     id,
	}, nil
}

// Len returns the number of scheduled timers. Must be called on the owning
// event loop.
func (w *Wheel[T]) Len() int { return w.n }

// Now returns the wheel's time: the greatest now passed to New or Advance.
// Add and Reset measure durations from it. Inside a fire function it is the now
// of the running Advance. Must be called on the owning event loop.
func (w *Wheel[T]) Now() int64 { return w.now }

// Add schedules x to fire at the first tick that starts at or after Now()+d
// and has not been processed yet: d is rounded up to the tick, and a d of
// zero or less fires at the next tick. x must not be scheduled: Add returns ErrScheduled
// if it is, ErrOtherWheel if another wheel holds it, and ErrTooLong if the
// deadline is out of range; x is unchanged on error.
// Must be called on the owning event loop.
func (w *Wheel[T]) Add(x *T, d time.Duration) error {
	tm := w.timer(x)
	if tm.wheel != 0 {
		if tm.wheel == w.id {
			return ErrScheduled
		}
		return ErrOtherWheel
	}
	when, err := w.deadline(d)
	if err != nil {
		return err
	}
	w.link(x, tm, when)
	w.n++
	return nil
}

// Reset schedules x to fire d after the wheel's time, like Add, whether or
// not x is scheduled on this wheel; a scheduled x moves to its new deadline
// (at no cost when the deadline stays in the same tick). It returns
// ErrOtherWheel if another wheel holds x and ErrTooLong if the deadline is
// out of range; x is unchanged on error.
// Must be called on the owning event loop.
func (w *Wheel[T]) Reset(x *T, d time.Duration) error {
	tm := w.timer(x)
	if tm.wheel != w.id && tm.wheel != 0 {
		return ErrOtherWheel
	}
	when, err := w.deadline(d)
	if err != nil {
		return err
	}
	if tm.wheel == 0 {
		w.n++
	} else {
		if tm.when == uint32(when) {
			return nil // same tick, same slot
		}
		w.unlink(tm)
	}
	w.link(x, tm, when)
	return nil
}

// Remove unschedules x and reports whether it was scheduled on this wheel.
// Removing an x that is not scheduled here (already fired, removed, never
// added, or held by another wheel) does nothing and returns false.
// Must be called on the owning event loop.
func (w *Wheel[T]) Remove(x *T) bool {
	tm := w.timer(x)
	if tm.wheel != w.id {
		return false
	}
	w.unlink(tm)
	tm.wheel = 0
	w.n--
	return true
}

// Advance moves the wheel's time to now and fires, by calling fire, every
// timer whose tick has been reached, and returns how many fired. Timers fire
// in deadline order, tick by tick; timers due at the same tick fire in no
// promised order. A timer that fire adds or resets fires in the same call if
// its deadline falls in a later tick up to now. A now at or before the
// wheel's time does nothing.
//
// Advance costs one slot visit per tick passed plus the timers fired, and
// passes over a timer due more than one revolution ahead once per
// revolution. A jump of many revolutions (a loop that stalled, a machine that
// slept) visits each slot at most once per revolution that contains a due
// timer, then skips ahead to the next deadline.
//
// If fire panics, the panic propagates; the wheel stays consistent and the
// due timers that have not fired yet fire on the next Advance. Advance must
// not be called from fire: it panics.
// Must be called on the owning event loop.
func (w *Wheel[T]) Advance(now int64) int {
	if w.firing {
		panic("timingwheel: Advance called from a fire function")
	}
	if now <= w.now {
		return 0
	}
	w.now = now
	e := now - w.origin
	w.nowTick = e / w.tickNs
	w.nowRem = e - w.nowTick*w.tickNs
	if w.nowTick <= w.tick {
		return 0
	}
	if w.n == 0 {
		w.tick = w.nowTick
		return 0
	}
	return w.run(w.nowTick)
}

// run processes ticks w.tick+1 .. target.
func (w *Wheel[T]) run(target int64) (fired int) {
	w.firing = true
	defer w.abort()
	w.winStart, w.winMin = w.tick, math.MaxInt64
	for w.tick < target && w.n > 0 {
		if w.tick-w.winStart >= int64(len(w.slots)) {
			// Every slot has been visited since winStart, and every timer
			// linked since then was counted in winMin: no timer is due
			// before winMin.
			if skip := min(w.winMin-1, target); skip > w.tick {
				w.tick = skip
			}
			w.winStart, w.winMin = w.tick, math.MaxInt64
			continue
		}
		t := w.tick + 1
		w.tick = t
		head := &w.slots[t&w.mask]
		if *head == nil {
			continue
		}
		// Move the whole slot to w.pending, then take the timers one by
		// one: fire may add, reset and remove any timer meanwhile,
		// including the pending ones, which then simply leave the list.
		first := *head
		*head = nil
		w.pending = first
		w.timer(first).pprev = &w.pending
		for w.pending != nil {
			x := w.pending
			tm := w.timer(x)
			w.unlink(tm)
			if dt := int64(int32(tm.when - uint32(t))); dt > 0 {
				w.push(head, x, tm) // a later revolution: back to the slot
				w.winMin = min(w.winMin, t+dt)
				continue
			}
			tm.wheel = 0
			w.n--
			fired++
			w.fire(x)
		}
	}
	if w.tick < target { // no timers left
		w.tick = target
	}
	w.firing = false
	return fired
}

// abort restores the wheel when fire panics: the timers still pending belong
// to the slot of w.tick and have not been looked at, so they go back to it
// and the tick is processed again by the next Advance.
func (w *Wheel[T]) abort() {
	if !w.firing {
		return
	}
	w.firing = false
	for w.pending != nil {
		x := w.pending
		tm := w.timer(x)
		w.unlink(tm)
		w.push(&w.slots[w.tick&w.mask], x, tm)
	}
	w.tick--
}

// deadline returns the tick at which a timer of duration d, measured from
// the wheel's time, fires.
func (w *Wheel[T]) deadline(d time.Duration) (int64, error) {
	if d < 0 {
		d = 0
	}
	if int64(d) > math.MaxInt64-w.tickNs {
		return 0, ErrTooLong
	}
	r := w.nowRem + int64(d)
	q := r / w.tickNs
	if q*w.tickNs != r {
		q++
	}
	if q > maxTicks {
		return 0, ErrTooLong
	}
	when := w.nowTick + q
	if when <= w.tick {
		when = w.tick + 1
	}
	if when-w.tick > maxTicks { // only inside a long Advance
		return 0, ErrTooLong
	}
	return when, nil
}

// link puts x, whose Timer is tm, in the slot of tick when.
func (w *Wheel[T]) link(x *T, tm *Timer[T], when int64) {
	tm.when = uint32(when)
	tm.wheel = w.id
	w.push(&w.slots[when&w.mask], x, tm)
	if w.firing {
		w.winMin = min(w.winMin, when)
	}
}

// push puts x, whose Timer is tm, at the front of the list at head.
func (w *Wheel[T]) push(head **T, x *T, tm *Timer[T]) {
	next := *head
	tm.next = next
	if next != nil {
		w.timer(next).pprev = &tm.next
	}
	tm.pprev = head
	*head = x
}

// unlink takes tm out of its list.
func (w *Wheel[T]) unlink(tm *Timer[T]) {
	next := tm.next
	*tm.pprev = next
	if next != nil {
		w.timer(next).pprev = tm.pprev
	}
	tm.next, tm.pprev = nil, nil
}
