// Package sock writes to non-blocking sockets without the Go runtime's
// syscall bookkeeping.
//
// A write to a non-blocking socket never blocks, so it does not need
// syscall.Syscall's entersyscall/exitsyscall, which let the runtime's
// monitor hand the event loop's P to another thread whenever one write is
// slow (a loopback write wakes the reader and can take tens of µs): with
// thousands of room deliveries per wakeup that showed up as context
// switches. RawSyscall keeps the loop's thread and P together. Measured in
// the broadcast benchmark (bench/README.md); see server/cork.go for the
// caller.
package sock

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Write sends b on the non-blocking socket fd once (send(2): the socket
// path directly, without write(2)'s file-position bookkeeping) and returns how many
// bytes the kernel took. EAGAIN is not an error: it returns 0, nil.
// Safe for concurrent use (it is one system call).
func Write(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), flags, 0, 0)
	return result(n, e)
}

// Writev sends bs (at most IOVMax buffers) on the non-blocking socket fd
// once (sendmsg(2)), using iov as scratch, and returns how many bytes the kernel took.
// EAGAIN is not an error: it returns 0, nil.
func Writev(fd int, bs [][]byte, iov []unix.Iovec) (int, []unix.Iovec, error) {
	iov = iov[:0]
	for _, b := range bs {
		if len(b) == 0 {
			continue
		}
		v := unix.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		iov = append(iov, v)
	}
	if len(iov) == 0 {
		return 0, iov, nil
	}
	msg := unix.Msghdr{Iov: &iov[0]}
	msg.SetIovlen(len(iov))
	n, _, e := syscall.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), flags)
	for i := range iov {
		iov[i].Base = nil // do not keep the buffers reachable
	}
	w, err := result(n, e)
	return w, iov, err
}

// flags: never raise SIGPIPE, never block.
const flags = unix.MSG_NOSIGNAL | unix.MSG_DONTWAIT

// IOVMax is the most buffers one writev takes on Linux (UIO_MAXIOV).
const IOVMax = 1024

func result(n uintptr, e syscall.Errno) (int, error) {
	switch e {
	case 0:
		return int(n), nil
	case unix.EAGAIN, unix.EINTR:
		return 0, nil
	}
	return 0, e
}
