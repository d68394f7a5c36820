package timingwheel

import "errors"

var (
	// ErrConfig is returned by New when the Config is invalid (a negative
	// Tick, Slots out of range) or a function argument is nil; the wrapped
	// message says which.
	ErrConfig = errors.New("timingwheel: invalid config")

	// ErrScheduled is returned by Add when the timer is already scheduled.
	// Reset moves a scheduled timer.
	ErrScheduled = errors.New("timingwheel: timer already scheduled")

	// ErrTooLong is returned by Add and Reset when the duration is more
	// than the wheel's MaxDelay, (Slots-1)*Tick: a wheel holds timers at
	// most one revolution ahead. It is a hard limit, not a clamp; the timer
	// is left unchanged. An owner that times something longer keeps its
	// own deadline and, when the timer fires early, adds it again for
	// min(deadline-Now, MaxDelay).
	ErrTooLong = errors.New("timingwheel: duration beyond one revolution of the wheel")
)
