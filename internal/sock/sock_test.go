package sock

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

func pair(t *testing.T) (int, int) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

func TestWriteAndWritev(t *testing.T) {
	a, b := pair(t)
	if n, err := Write(a, []byte("hello ")); n != 6 || err != nil {
		t.Fatalf("Write: %d %v", n, err)
	}
	n, _, err := Writev(a, [][]byte{[]byte("wor"), nil, []byte("ld")}, nil)
	if n != 5 || err != nil {
		t.Fatalf("Writev: %d %v", n, err)
	}
	buf := make([]byte, 64)
	m, _ := unix.Read(b, buf)
	if string(buf[:m]) != "hello world" {
		t.Fatalf("read %q", buf[:m])
	}
}

// TestFullSocket: a socket whose buffer is full takes a part, then
// nothing, without an error; a closed peer is an error.
func TestFullSocket(t *testing.T) {
	a, b := pair(t)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	total := 0
	for i := 0; i < 1000; i++ {
		n, err := Write(a, chunk)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if n, err := Write(a, chunk); n != 0 || err != nil {
		t.Fatalf("full socket: %d %v", n, err)
	}
	if n, _, err := Writev(a, [][]byte{chunk}, nil); n != 0 || err != nil {
		t.Fatalf("full socket writev: %d %v", n, err)
	}
	t.Logf("buffered %d bytes", total)
	unix.Close(b)
	if _, err := Write(a, chunk); err == nil {
		t.Fatal("write to a closed peer: no error")
	}
}

func TestZeroAlloc(t *testing.T) {
	a, b := pair(t)
	buf := make([]byte, 256)
	iov := make([]unix.Iovec, 0, 4)
	bs := [][]byte{[]byte("ab"), []byte("cd")}
	if n := testing.AllocsPerRun(100, func() {
		Write(a, []byte("x"))
		_, iov, _ = Writev(a, bs, iov)
		unix.Read(b, buf)
	}); n != 0 {
		t.Fatalf("%.0f allocs", n)
	}
}
