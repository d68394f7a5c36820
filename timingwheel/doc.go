// Package timingwheel is a hashed timing wheel for one event loop: O(1) Add,
// Reset and Remove, and an Advance that costs one slot visit per tick passed
// plus one step per timer fired. wsloop uses it for heartbeat expiry
// (hundreds of thousands of connections per loop), handshake timeouts and
// session leases (timeouts up to hours: the default wheel reaches 4.5 h).
//
// A Wheel has no goroutine, no lock and no clock: it never reads the clock.
// The owner passes its loop's time, an int64 of monotonic nanoseconds, to New
// and to Advance(now) at every tick; due timers fire on that call.
//
// The wheel is intrusive and generic. An owner type T (a connection, a
// lease) embeds a Timer[T] field; a Wheel[T] links the owners themselves
// through those fields, and its fire function receives the owner, *T. No
// allocation happens per timer and no pointer leads from a timer back to its
// owner.
//
// # Data flow
//
//	loop tick ── Advance(now) ──► Wheel[T]: slots[tick & mask] ──► due owners
//	                                ▲                                  │
//	                                │                             fire(c *T)
//	                                │                                  ▼
//	owner ── Add / Reset / Remove ──┴──── Add(c, remaining) ◄── owner's callback
//	            (c *T)                    (still active)        (closes if idle)
//
// # Time
//
// Tick k of a wheel starts at origin + k*Tick, where origin is the now given
// to New. A timer added with duration d at the wheel's time Now fires at the
// first tick that starts at or after Now+d, and no earlier tick: on the first
// Advance whose now reaches that tick. A d that is zero or negative, or that
// ends at a tick already processed, fires at the next tick. Add and Reset
// measure d from Now, the greatest now passed to Advance; an owner that keeps
// its own finer clock should subtract the difference.
//
// Within one Advance, timers fire in deadline order, tick by tick. A fire
// function may Add, Reset and Remove any timer of the wheel, including the one
// firing and others due at the same tick; a timer it schedules fires in the
// same Advance if its deadline falls in a later tick up to now (as d counts
// from now, only a d of zero or less when now is at a tick's start can).
// Its full range, MaxDelay, is available inside fire, even while Advance
// catches up over many ticks.
//
// # Lazy liveness
//
// Refreshing liveness costs one store; reschedule when the slot fires. A
// server does not touch the wheel for every inbound frame: it stores the
// frame's time in its own struct (c.lastSeen = now) and, when the heartbeat
// timer fires, adds the timer again with the time that remains if the
// connection was active, or closes it:
//
//	func (l *loop) expire(c *Conn) {
//		if idle := time.Duration(l.wheel.Now() - c.lastSeen); idle < l.timeout {
//			l.wheel.Add(c, l.timeout-idle) // active: sleep for the rest
//			return
//		}
//		l.closeIdle(c)
//	}
//
// A connection that sends a frame every interval p then costs the wheel one
// fire and one Add every floor(timeout/p) frames instead of one Reset per
// frame: once per timeout for a chatty connection (p = 1 s against 20 s:
// about 5 times cheaper than Reset per frame in BenchmarkRefresh), but once
// per frame for a heartbeat-only one (p = 15 s against 20 s), where the fire
// touches the connection a second time and the lazy refresh costs up to
// about twice an eager Reset. Either way it is tens of nanoseconds per frame.
//
// # Range
//
// Every timer sits in the slot of its deadline tick, modulo Slots, and
// deadlines lie at most one revolution ahead: Add and Reset accept
// durations up to MaxDelay, (Slots-1)*Tick, and return ErrTooLong beyond
// (a hard limit: the timer is left unchanged, never silently clamped). So a
// slot never mixes deadlines, every timer in a slot the wheel reaches is
// due, and a Timer needs no deadline field. The default 16384 slots cover
// 4 h 33 min at a 1 s Tick; a 1 ms Tick covers 16 s, so raise Slots with
// a fine Tick. An owner validates its timeouts against MaxDelay once.
//
// An owner that times something longer (a lease of a day) keeps its own
// deadline, as it does for lazy liveness, and re-arms when the timer fires:
//
//	func (l *loop) expireLease(s *Lease) {
//		if left := time.Duration(s.deadline - l.wheel.Now()); left > 0 {
//			l.wheel.Add(s, min(left, l.wheel.MaxDelay())) // not yet
//			return
//		}
//		l.endLease(s)
//	}
//
// A day on the default wheel then fires six times. When one Advance jumps
// over many revolutions, the wheel visits each slot once and fires
// everything it finds: it is all due.
//
// # Memory
//
// Per timer the wheel owns 0 bytes: the 16-byte Timer (two pointers on
// 64-bit platforms, no deadline, no wheel id) lives in the owner. The wheel
// itself holds 8 bytes per slot (128 KiB with the default 16384 slots) and
// a fixed header. Add, Reset, Remove and Advance allocate nothing.
//
// # Concurrency
//
// Not safe for concurrent use: one wheel per event loop; every method must be
// called on the owning loop. The fire function runs on that loop, inside
// Advance. A Timer must be used with one wheel only: it does not record
// which wheel holds it, and a wheel passed an owner scheduled on another
// wheel corrupts both.
package timingwheel
