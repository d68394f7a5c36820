//go:build !race

package uring

import (
	"io"
	"os"
	"testing"
)

func TestSubmitZeroAlloc(t *testing.T) {
	r := newRing(t, 16, 16)
	fds := make([]int, 8)
	for i := range fds {
		var p *os.File
		fds[i], p = pair(t)
		go io.Copy(io.Discard, p)
	}
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
