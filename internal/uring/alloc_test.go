//go:build !race

package uring

import "testing"

func TestSubmitZeroAlloc(t *testing.T) {
	r := newRing(t, 16, 16)
	fds := drainedPairs(t, 8)
	msg := []byte("hello")
	bufs := [][]byte{msg, msg}
	allocs := testing.AllocsPerRun(200, func() {
		for i, fd := range fds {
			if i%2 == 0 {
				r.Send(fd, msg)
			} else {
				r.Sendmsg(fd, bufs)
			}
		}
		if err := r.Submit(); err != nil {
			t.Fatal(err)
		}
		for i := range fds {
			if _, err := r.Result(i); err != nil {
				t.Fatal(err)
			}
		}
		r.Reset()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per submission, want 0", allocs)
	}
}
