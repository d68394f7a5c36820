// Package mpsc is a bounded multi-producer, single-consumer ring of values.
//
// Producers (any goroutine) Push; the one consumer (an event loop) Pop. A
// full ring makes Push return false at once: a producer is never blocked and
// the ring never grows. Cells hold values, so a Push of a small struct
// allocates nothing.
//
// The algorithm is the classic bounded queue with a sequence number per
// cell: a producer claims a slot by compare-and-swap on the tail, writes the
// value, then publishes it by storing the cell's sequence; the consumer reads
// a cell only once its sequence says it is published.
package mpsc

import (
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

type cell[T any] struct {
	seq atomic.Uint64
	val T
}

// Ring is a bounded MPSC queue. The zero value is not usable; call New.
//
// Push is safe for concurrent use. Pop must be called by one goroutine at a
// time (the owning event loop).
type Ring[T any] struct {
	_     cpu.CacheLinePad
	tail  atomic.Uint64 // next slot a producer claims
	_     cpu.CacheLinePad
	head  atomic.Uint64 // next slot the consumer reads; stored only by the consumer
	_     cpu.CacheLinePad
	mask  uint64
	cells []cell[T]
}

// New returns a ring holding up to size values; size is rounded up to a
// power of two (minimum 2).
func New[T any](size int) *Ring[T] {
	n := 2
	for n < size {
		n <<= 1
	}
	r := &Ring[T]{mask: uint64(n - 1), cells: make([]cell[T], n)}
	for i := range r.cells {
		r.cells[i].seq.Store(uint64(i))
	}
	return r
}

// Cap returns the ring's capacity.
func (r *Ring[T]) Cap() int { return len(r.cells) }

// Push appends v and reports whether there was room. It never blocks.
// Safe for concurrent use. 0 allocations.
func (r *Ring[T]) Push(v T) bool {
	for {
		pos := r.tail.Load()
		c := &r.cells[pos&r.mask]
		seq := c.seq.Load()
		switch {
		case seq == pos:
			if r.tail.CompareAndSwap(pos, pos+1) {
				c.val = v
				c.seq.Store(pos + 1)
				return true
			}
		case seq < pos:
			return false // the consumer has not freed this cell yet: full
		}
		// seq > pos: another producer claimed pos; reload the tail.
	}
}

// Pop removes the oldest value. ok is false when the ring is empty or the
// oldest claimed slot is not yet published (its producer is mid-Push; the
// producer's wakeup follows, so the consumer will come back).
// Must be called by the single consumer. 0 allocations.
func (r *Ring[T]) Pop() (v T, ok bool) {
	h := r.head.Load()
	c := &r.cells[h&r.mask]
	if c.seq.Load() != h+1 {
		return v, false
	}
	v = c.val
	var zero T
	c.val = zero // drop references held by the cell
	c.seq.Store(h + r.mask + 1)
	r.head.Store(h + 1)
	return v, true
}

// Len returns an estimate of the number of queued values. Safe for
// concurrent use; exact only when no Push or Pop is running.
func (r *Ring[T]) Len() int {
	t := r.tail.Load()
	h := r.head.Load()
	if t < h {
		return 0
	}
	return int(t - h)
}
