package codec

import (
	"math/bits"
	"sync"
)

// Buffer pool for message reassembly (Decoder) and prepared frames.
//
// Buffers are *[]byte so that Put does not allocate. Capacities are powers of
// two from 512 bytes to 8 MiB, one sync.Pool per size class; larger requests
// are allocated exactly and left to the garbage collector.
//
// Ownership: bufGet hands the buffer to the caller, who owns it alone until
// it passes it to bufPut, and must not touch it afterwards. The Decoder owns
// its buffer from the first fragment it copies until the Decode call after
// the one that delivered the message (or Reset); a PreparedFrame owns its
// buffer until its last Release.
const (
	bufMinShift = 9  // 512 B
	bufMaxShift = 23 // 8 MiB
)

var bufPools [bufMaxShift - bufMinShift + 1]sync.Pool

// bufClass returns the index in bufPools of the smallest class holding n
// bytes, or -1 if n is above the largest class.
func bufClass(n int) int {
	if n <= 1<<bufMinShift {
		return 0
	}
	c := bits.Len(uint(n-1)) - bufMinShift
	if c >= len(bufPools) {
		return -1
	}
	return c
}

// bufGet returns an empty buffer with capacity at least n. 0 allocations when
// the pool holds one of the class. Safe for concurrent use.
func bufGet(n int) *[]byte {
	c := bufClass(n)
	if c < 0 {
		b := make([]byte, 0, n)
		return &b
	}
	if v, ok := bufPools[c].Get().(*[]byte); ok {
		return v
	}
	b := make([]byte, 0, 1<<(c+bufMinShift))
	return &b
}

// bufPut gives b back to the pool; the caller must not use it afterwards.
// Buffers whose capacity is not exactly a class size are dropped. Safe for
// concurrent use.
func bufPut(b *[]byte) {
	n := cap(*b)
	c := bufClass(n)
	if c < 0 || n != 1<<(c+bufMinShift) {
		return
	}
	*b = (*b)[:0]
	bufPools[c].Put(b)
}
