package timingwheel

import (
	"fmt"
	"math"
	"time"
)

const (
	defaultTick  = time.Second
	defaultSlots = 16384
	maxSlots     = 1 << 24
)

// Config configures a Wheel. The zero value is valid: a 1 s tick and 16384
// slots, so timeouts up to 16383 s (4 h 33 min) and 128 KiB per wheel.
type Config struct {
	// Tick is the wheel's resolution. Deadlines are rounded up to the next
	// multiple of Tick (counted from the now passed to New), and a timer
	// fires on the first Advance whose now reaches that multiple.
	// Zero means 1 s. Negative is an error.
	Tick time.Duration

	// Slots is the number of slots in one revolution, rounded up to a power
	// of two. It bounds the longest timeout: a timer may be scheduled at
	// most (Slots-1)*Tick ahead (see MaxDelay); Add and Reset return
	// ErrTooLong beyond. The wheel holds 8 bytes per slot: 128 KiB for the
	// default 16384 slots, which cover 4 h 33 min at a 1 s Tick (16 s at
	// 1 ms).
	// Zero means 16384. Negative or above 1<<24 is an error.
	Slots int
}

// Timer is the handle an owner embeds, as a field, in each object it times:
// a connection, a handshake, a lease. The wheel links owners through their
// Timers and hands the owner itself to the fire function, so it keeps no
// memory of its own per timer and needs no pointer from the Timer back to
// its owner. The Timer holds no deadline either: the slot it is linked in is
// its deadline.
//
// The zero value is an unscheduled timer. A Timer must not be copied while it
// is scheduled, and must be used with one wheel only: it does not record
// which wheel holds it, so passing its owner to another wheel's Add, Reset
// or Remove while it is scheduled corrupts both wheels. (Once fired or
// removed it holds no state at all.) It is 16 bytes, two pointers, on 64-bit
// platforms.
type Timer[T any] struct {
	next  *T  // next owner in the same slot (or due) list
	pprev **T // the pointer that points to this owner; nil when not scheduled
}

// Scheduled reports whether t is scheduled on a wheel: added and neither
// fired nor removed. Must be called on the owning event loop.
func (t *Timer[T]) Scheduled() bool { return t.pprev != nil }

// Wheel is a hashed timing wheel of owners of type T, each timed by a
// Timer[T] field. It never reads the clock: the owner advances it with
// Advance(now), and due timers fire on that call.
//
// Not safe for concurrent use: one wheel per event loop; every method must
// be called on the owning loop.
type Wheel[T any] struct {
	// slots[k&mask] holds the timers due at tick k, for k in
	// (tick, tick+len(slots)]: every deadline lies within one revolution,
	// so a slot never mixes deadlines. Never reallocated (pprevs point in).
	slots    []*T
	mask     int64
	timer    func(*T) *Timer[T]
	fire     func(*T)
	tickNs   int64
	maxDelay time.Duration // (len(slots)-1) * tickNs, capped

	origin int64 // the now passed to New: tick 0 starts here
	now    int64 // the greatest now passed to New or Advance
	tick   int64 // (now-origin) / tickNs; its slot and all before are taken out
	rem    int64 // (now-origin) % tickNs
	n      int

	// due holds timers taken out of their slots and not fired yet, in
	// deadline order. Outside Advance it is empty unless a fire function
	// panicked; the next Advance fires what is left first.
	due *T
	// While Advance runs, current holds the timers due at tick itself,
	// which fire after due; then cur is set and they move to due.
	current *T
	firing  bool // Advance is running
	cur     bool // firing the timers of tick itself: a timer for this tick goes to the next
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
	// The longest delay is one revolution minus one tick: wherever Now lies
	// within its tick, the deadline tick is then at most size ticks ahead.
	// Capped so that Now's remainder plus a delay never overflows.
	maxDelay := time.Duration(math.MaxInt64 - int64(tick))
	if int64(size-1) <= int64(maxDelay)/int64(tick) {
		maxDelay = time.Duration(size-1) * tick
	}
	return &Wheel[T]{
		slots:    make([]*T, size),
		mask:     int64(size - 1),
		timer:    timer,
		fire:     fire,
		tickNs:   int64(tick),
		maxDelay: maxDelay,
		origin:   now,
		now:      now,
	}, nil
}

// Len returns the number of scheduled timers. Must be called on the owning
// event loop.
func (w *Wheel[T]) Len() int { return w.n }

// Now returns the wheel's time: the greatest now passed to New or Advance.
// Add and Reset measure durations from it. Inside a fire function it is the now
// of the running Advance. Must be called on the owning event loop.
func (w *Wheel[T]) Now() int64 { return w.now }

// MaxDelay returns the longest duration Add and Reset accept: (Slots-1)*Tick,
// one revolution minus one tick, with Slots rounded up to a power of two
// (16383 s with the zero Config). It is fixed when the wheel is made and
// holds at any time, inside fire functions too. An owner should check its
// configured timeouts against it once, at start-up, leaving a margin for
// any time it adds to them (such as its own clock's lead over Now).
// Safe for concurrent use.
func (w *Wheel[T]) MaxDelay() time.Duration { return w.maxDelay }

// Add schedules x to fire at the first tick that starts at or after Now()+d
// and has not been processed yet: d is rounded up to the tick, and a d of
// zero or less fires at the next tick. x must not be scheduled: Add returns
// ErrScheduled if it is, and ErrTooLong if d is more than MaxDelay; x is
// unchanged on error. Add is O(1).
// Must be called on the owning event loop.
func (w *Wheel[T]) Add(x *T, d time.Duration) error {
	tm := w.timer(x)
	if tm.pprev != nil {
		return ErrScheduled
	}
	q, err := w.ticks(d)
	if err != nil {
		return err
	}
	w.link(x, tm, q)
	w.n++
	return nil
}

// Reset schedules x to fire d after the wheel's time, like Add, whether or
// not x is scheduled; a scheduled x moves to its new deadline, in O(1). It
// returns ErrTooLong if d is more than MaxDelay; x is unchanged on error.
// Must be called on the owning event loop.
func (w *Wheel[T]) Reset(x *T, d time.Duration) error {
	q, err := w.ticks(d)
	if err != nil {
		return err
	}
	tm := w.timer(x)
	if tm.pprev == nil {
		w.n++
	} else {
		w.unlink(tm)
	}
	w.link(x, tm, q)
	return nil
}

// Remove unschedules x and reports whether it was scheduled. Removing an x
// that is not scheduled (already fired, removed, never added) does nothing
// and returns false. x must not be scheduled on another wheel.
// Must be called on the owning event loop.
func (w *Wheel[T]) Remove(x *T) bool {
	tm := w.timer(x)
	if tm.pprev == nil {
		return false
	}
	w.unlink(tm)
	w.n--
	return true
}

// Advance moves the wheel's time to now and fires, by calling fire, every
// timer whose tick has been reached, and returns how many fired. Timers fire
// in deadline order, tick by tick; timers due at the same tick fire in no
// promised order. A timer that fire adds or resets fires in the same call if
// its deadline falls in a later tick up to now: since durations count from
// now, only a d of zero or less, when now is exactly at a tick's start and
// the firing timer was due at an earlier tick. A now at or before the
// wheel's time does nothing.
//
// Advance costs one slot visit per tick passed, at most Slots visits, plus
// the timers fired: every timer is due within one revolution, so a jump of
// many revolutions (a loop that stalled, a machine that slept) visits each
// slot once and fires all it finds. When it passes more than one tick,
// Advance also walks each due slot's list once to queue its timers.
//
// If fire panics, the panic propagates; the wheel stays consistent and the
// due timers that have not fired yet fire, in deadline order, on the next
// Advance with a later now. Advance must not be called from fire: it panics.
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
	tick := e / w.tickNs
	w.rem = e - tick*w.tickNs
	if w.n == 0 {
		w.tick = tick
		return 0
	}
	if tick == w.tick && w.due == nil {
		return 0
	}
	return w.run(tick)
}

// run takes the timers due at ticks w.tick+1 .. target out of the slots and
// fires them, with any left over from a panic, in deadline order.
func (w *Wheel[T]) run(target int64) (fired int) {
	w.firing = true
	defer w.abort()
	w.collect(target)
	for pass := 0; pass < 2; pass++ {
		for w.due != nil {
			x := w.due
			w.unlink(w.timer(x))
			w.n--
			fired++
			w.fire(x)
		}
		if w.current == nil {
			break
		}
		// Now the timers of tick itself; what fire schedules for this
		// tick from here on goes to the next one.
		w.cur = true
		w.due = w.current
		w.timer(w.due).pprev = &w.due
		w.current = nil
	}
	w.firing, w.cur = false, false
	return fired
}

// collect moves the timers due at ticks w.tick+1 .. target-1 to the end of
// w.due, in tick order, and those due at target to w.current, then moves
// the wheel's tick to target. All slots then belong to ticks after target,
// free for what fire schedules (at target+1 .. target+Slots).
func (w *Wheel[T]) collect(target int64) {
	tail := &w.due
	last := min(target, w.tick+int64(len(w.slots)))
	for k := w.tick + 1; k <= last; k++ {
		head := &w.slots[k&w.mask]
		x := *head
		if x == nil {
			continue
		}
		*head = nil
		if k == target {
			w.current = x
			w.timer(x).pprev = &w.current
			break
		}
		// Find the end of what is queued so far (the list just queued,
		// or timers left over from a panic), then append.
		for *tail != nil {
			tail = &w.timer(*tail).next
		}
		*tail = x
		w.timer(x).pprev = tail
	}
	w.tick = target
}

// abort restores the wheel when fire panics: the timers of the current tick
// join the end of w.due, which the next Advance fires first.
func (w *Wheel[T]) abort() {
	if !w.firing {
		return
	}
	w.firing, w.cur = false, false
	if x := w.current; x != nil {
		w.current = nil
		tail := &w.due
		for *tail != nil {
			tail = &w.timer(*tail).next
		}
		*tail = x
		w.timer(x).pprev = tail
	}
}

// ticks returns how many ticks after w.tick a timer of duration d, measured
// from the wheel's time, is due: 0 for the current tick (only when Now is
// at a tick's start and d <= 0), at most len(slots).
func (w *Wheel[T]) ticks(d time.Duration) (int64, error) {
	if d > w.maxDelay {
		return 0, ErrTooLong
	}
	r := w.rem + max(int64(d), 0) // no overflow: maxDelay is capped
	q := r / w.tickNs
	if q*w.tickNs != r {
		q++
	}
	return q, nil
}

// link puts x, whose Timer is tm, in the list of the tick q ticks after
// w.tick. A timer for the current tick joins w.current if that tick has yet
// to fire in the running Advance, and goes to the next tick otherwise.
func (w *Wheel[T]) link(x *T, tm *Timer[T], q int64) {
	if q == 0 {
		if w.firing && !w.cur {
			w.push(&w.current, x, tm)
			return
		}
		q = 1
	}
	w.push(&w.slots[(w.tick+q)&w.mask], x, tm)
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
