// Package hist is a log-linear latency histogram: fixed memory, O(1)
// Record, relative error under 1/64 (1.6 %) at every magnitude.
//
// Values are int64 (wsbench records nanoseconds). Values below 128 have a
// bucket each; above, every power of two is split into 64 equal buckets.
// Quantiles report the upper bound of the bucket holding the wanted rank,
// clipped to the largest value recorded, so they are never below the true
// value and at most 1.6 % above it.
//
// Record is safe for concurrent use (atomic counters). The load generator
// keeps one Histogram per event loop so that loops never share a counter's
// cache line, and merges them after the measured window.
package hist

import (
	"math"
	"math/bits"
	"sync/atomic"
)

const (
	subBits = 6
	sub     = 1 << subBits // buckets per power of two
	// buckets covers every non-negative int64: the largest index is that of
	// math.MaxInt64.
	buckets = (64 - subBits) * sub
)

// Histogram counts values in log-linear buckets. The zero value is empty
// and ready to use. Record, Merge and the queries are safe for concurrent
// use; a query concurrent with Record sees some consistent-enough prefix of
// the records (each counter is read atomically).
type Histogram struct {
	counts [buckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Int64
}

// index returns the bucket of v (v >= 0).
func index(v int64) int {
	if v < 2*sub {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1
	return (shift+1)*sub + int(uint64(v)>>shift) - sub
}

// upper returns the largest value that falls in bucket i.
func upper(i int) int64 {
	if i < 2*sub {
		return int64(i)
	}
	shift := i/sub - 1
	lo := uint64(sub+i%sub) << shift
	return int64(lo + (1 << shift) - 1)
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[index(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(uint64(v))
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Merge adds every count of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

// Reset empties h. It must not run concurrently with Record.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.n.Store(0)
	h.sum.Store(0)
	h.max.Store(0)
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max returns the largest value recorded (0 when empty).
func (h *Histogram) Max() int64 { return h.max.Load() }

// Mean returns the arithmetic mean (0 when empty).
func (h *Histogram) Mean() float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Quantile returns the value at quantile q in [0, 1]: the upper bound of
// the bucket that holds the ceil(q*n)-th smallest value, clipped to Max. It
// returns 0 when h is empty.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(upper(i), h.max.Load())
		}
	}
	return h.max.Load()
}
