//go:build !race

package mpsc

import "testing"

func TestRingZeroAlloc(t *testing.T) {
	type job struct {
		kind uint8
		id   uint64
		p    *int
	}
	r := New[job](64)
	x := 1
	if n := testing.AllocsPerRun(1000, func() {
		r.Push(job{kind: 1, id: 2, p: &x})
		r.Pop()
	}); n != 0 {
		t.Fatalf("Push+Pop allocates %.1f times, want 0", n)
	}
}
