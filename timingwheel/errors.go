package timingwheel

import "errors"

var (
	// ErrConfig is returned by New when the Config is invalid (a negative
	// Tick, Slots out of range) or a function argument is nil; the wrapped
	// message says which.
	ErrConfig = errors.New("timingwheel: invalid config")

	// ErrScheduled is returned by Add when the timer is already scheduled on
	// this wheel. Reset moves a scheduled timer.
	ErrScheduled = errors.New("timingwheel: timer already scheduled")

	// ErrOtherWheel is returned by Add and Reset when the timer is scheduled
	// on another wheel. A timer belongs to one wheel at a time; in wsloop a
	// connection's timer belongs to its own loop's wheel.
	ErrOtherWheel = errors.New("timingwheel: timer scheduled on another wheel")

	// ErrTooLong is returned by Add and Reset when the deadline lies more
	// than 2^31-1 ticks ahead of the wheel's tick: about 68 years at the
	// default 1 s Tick, 24 days at 1 ms.
	ErrTooLong = errors.New("timingwheel: duration beyond the wheel's range")
)
