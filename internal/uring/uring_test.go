package uring

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func newRing(t testing.TB, entries, iovs int) *Ring {
	t.Helper()
	r, err := New(entries, iovs)
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("io_uring not available here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// pair returns a connected stream socket pair: the first end non-blocking
// (the server's side), the second wrapped as a file for reading.
func pair(t testing.TB) (int, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fds[1], false); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[1]), "peer")
	t.Cleanup(func() { unix.Close(fds[0]); f.Close() })
	return fds[0], f
}

// drainedPairs returns the sending ends of n socket pairs whose other
// ends are read and discarded until the test ends.
func drainedPairs(t testing.TB, n int) []int {
	t.Helper()
	fds := make([]int, n)
	for i := range fds {
		var p *os.File
		fds[i], p = pair(t)
		go io.Copy(io.Discard, p)
	}
	return fds
}

func TestNewRejectsBadSizes(t *testing.T) {
	for _, n := range []int{0, 3, 8192} {
		if _, err := New(n, 8); err == nil {
			t.Errorf("New(%d) accepted", n)
		}
	}
}

// Many sockets, one submission: every socket gets its bytes, every result
// is the full length.
func TestSendMany(t *testing.T) {
	r := newRing(t, 64, 64)
	const n = 40
	fds := make([]int, n)
	peers := make([]*os.File, n)
	for i := range fds {
		fds[i], peers[i] = pair(t)
	}
	for round := 0; round < 3; round++ {
		idx := make([]int, n)
		for i, fd := range fds {
			msg := []byte{byte(round), byte(i), 'x', 'y'}
			j, ok := r.Send(fd, msg)
			if !ok {
				t.Fatalf("Send %d refused", i)
			}
			idx[i] = j
		}
		if r.Len() != n {
			t.Fatalf("Len = %d", r.Len())
		}
		if err := r.Submit(); err != nil {
			t.Fatal(err)
		}
		for i := range fds {
			if got, err := r.Result(idx[i]); got != 4 || err != nil {
				t.Fatalf("round %d socket %d: Result = %d, %v", round, i, got, err)
			}
		}
		r.Reset()
		for i, p := range peers {
			buf := make([]byte, 4)
			if _, err := io.ReadFull(p, buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, []byte{byte(round), byte(i), 'x', 'y'}) {
				t.Fatalf("socket %d got %q", i, buf)
			}
		}
	}
}

func TestSendmsg(t *testing.T) {
	r := newRing(t, 8, 8)
	fd, peer := pair(t)
	i, ok := r.Sendmsg(fd, [][]byte{[]byte("ab"), nil, []byte("cde"), []byte("f")})
	if !ok {
		t.Fatal("Sendmsg refused")
	}
	if r.IOVFree() != 5 {
		t.Fatalf("IOVFree = %d, want 5", r.IOVFree())
	}
	if _, ok := r.Sendmsg(fd, make([][]byte, 6)); ok {
		t.Fatal("Sendmsg took more buffers than the iovec space holds")
	}
	if _, ok := r.Sendmsg(fd, [][]byte{nil, {}}); ok {
		t.Fatal("Sendmsg of nothing queued an entry")
	}
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Result(i); n != 6 || err != nil {
		t.Fatalf("Result = %d, %v", n, err)
	}
	r.Reset()
	if r.IOVFree() != 8 || r.Len() != 0 {
		t.Fatalf("after Reset: IOVFree %d Len %d", r.IOVFree(), r.Len())
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "abcdef" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
}

// A full socket neither blocks the submission nor fails: the entry reports
// what the kernel took (0 when nothing), and the other entries go through.
func TestFullSocketDoesNotBlock(t *testing.T) {
	r := newRing(t, 8, 8)
	full, _ := pair(t)
	if err := unix.SetsockoptInt(full, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	ok, okPeer := pair(t)
	big := make([]byte, 1<<20)
	var sent int
	for round := 0; round < 4; round++ {
		var a int
		if round%2 == 0 {
			a, _ = r.Send(full, big)
		} else {
			a, _ = r.Sendmsg(full, [][]byte{big[:1<<19], big[1<<19:]})
		}
		b, _ := r.Send(ok, []byte("hi"))
		if err := r.Submit(); err != nil {
			t.Fatal(err)
		}
		n, err := r.Result(a)
		if err != nil || n < 0 || n >= len(big) {
			t.Fatalf("round %d: full socket Result = %d, %v", round, n, err)
		}
		sent += n
		if n, err := r.Result(b); n != 2 || err != nil {
			t.Fatalf("round %d: other socket Result = %d, %v", round, n, err)
		}
		r.Reset()
	}
	if sent == 0 {
		t.Fatal("the full socket took nothing at all, even the first time")
	}
	buf := make([]byte, 8)
	if _, err := io.ReadFull(okPeer, buf); err != nil || string(buf) != "hihihihi" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
}

// A send to a socket whose peer is gone reports the error (EPIPE, without
// SIGPIPE killing the test).
func TestSendError(t *testing.T) {
	r := newRing(t, 8, 8)
	fd, peer := pair(t)
	peer.Close()
	i, _ := r.Send(fd, []byte("lost"))
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Result(i); !errors.Is(err, unix.EPIPE) {
		t.Fatalf("Result error = %v, want EPIPE", err)
	}
	r.Reset()
}

func TestFullRing(t *testing.T) {
	r := newRing(t, 4, 4)
	fd, peer := pair(t)
	for i := 0; i < 4; i++ {
		if _, ok := r.Send(fd, []byte{'0' + byte(i)}); !ok {
			t.Fatalf("Send %d refused", i)
		}
	}
	if !r.Full() {
		t.Fatal("not Full after 4 entries")
	}
	if _, ok := r.Send(fd, []byte("x")); ok {
		t.Fatal("Send accepted past the ring's size")
	}
	if _, ok := r.Sendmsg(fd, [][]byte{[]byte("x")}); ok {
		t.Fatal("Sendmsg accepted past the ring's size")
	}
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	r.Reset()
	buf := make([]byte, 4)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "0123" {
		t.Fatalf("peer read %q, %v (entries for one socket must go in order)", buf, err)
	}
}

// A broken ring fails at once and reports its entries as not sent.
func TestBrokenRing(t *testing.T) {
	r := newRing(t, 4, 4)
	fd, _ := pair(t)
	r.broken = errors.New("test")
	i, _ := r.Send(fd, []byte("x"))
	if err := r.Submit(); err == nil {
		t.Fatal("Submit on a broken ring succeeded")
	}
	if n, err := r.Result(i); n != 0 || err != nil {
		t.Fatalf("Result = %d, %v; want 0, nil (never taken)", n, err)
	}
	r.Reset()
}

func BenchmarkSubmit64(b *testing.B) {
	r := newRing(b, 64, 64)
	fds := drainedPairs(b, 64)
	msg := []byte("0123456789abcdef0123456789abcdef")
	b.ReportAllocs()
	for b.Loop() {
		for _, fd := range fds {
			r.Send(fd, msg)
		}
		if err := r.Submit(); err != nil {
			b.Fatal(err)
		}
		r.Reset()
	}
}

func TestProbe(t *testing.T) {
	if err := Probe(); err != nil {
		if errors.Is(err, ErrUnsupported) {
			t.Skipf("io_uring not available here: %v", err)
		}
		t.Fatal(err)
	}
}
