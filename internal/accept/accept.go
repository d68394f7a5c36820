// Package accept accepts TCP connections on the Go runtime's poller for a
// server that must never stop accepting because of what the OS did: an
// accept error (EMFILE included) slows accepting down instead of ending it,
// and at the descriptor limit one reserved descriptor is given up to
// answer a waiting client instead of leaving it in the backlog.
//
//	Loop: ln.Accept ──ok──► handle(conn)                      (the caller enrolls it)
//	          │error
//	          ├─ descriptors exhausted ─► shed: close the spare, accept one, Refuse it, reopen the spare
//	          └─ back off 5 ms .. 1 s, warn at most every 5 s
//
// # Concurrency
//
// Loop runs on one goroutine until the listener is closed on purpose;
// Refuse and TrimAddrs are safe for concurrent use on distinct connections.
package accept

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Loop accepts on ln until stopping reports true after an accept error
// (the listener was closed on purpose), handing every connection to
// handle. Other errors are counted with onErr and retried with backoff;
// at descriptor exhaustion one pending connection is shed with Refuse
// (onRefuse is told) using a descriptor held in reserve for it.
func Loop(ln net.Listener, handle func(net.Conn), stopping func() bool, onErr func(error), onRefuse func(), log *slog.Logger) {
	spare := openSpare()
	defer func() {
		if spare >= 0 {
			_ = unix.Close(spare)
		}
	}()
	var delay time.Duration
	var lastWarn time.Time
	for {
		c, err := ln.Accept()
		if err == nil {
			delay = 0
			handle(c)
			continue
		}
		if stopping() {
			return
		}
		onErr(err)
		if exhausted(err) && spare >= 0 {
			_ = unix.Close(spare)
			shed(ln, onRefuse, log)
			spare = openSpare()
		}
		if delay == 0 {
			delay = 5 * time.Millisecond
		} else if delay *= 2; delay > time.Second {
			delay = time.Second
		}
		if time.Since(lastWarn) > 5*time.Second {
			lastWarn = time.Now()
			log.Warn("accept failed; backing off", "err", err, "delay", delay)
		}
		time.Sleep(delay) // the OS's pace, not a test's: real time
	}
}

// openSpare reserves a descriptor; -1 if none is left.
func openSpare() int {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// shed accepts one pending connection with the descriptor just freed and
// refuses it, so that a client at the descriptor limit gets an answer
// instead of waiting in the backlog.
func shed(ln net.Listener, onRefuse func(), log *slog.Logger) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return
	}
	_ = tl.SetDeadline(time.Now().Add(time.Millisecond))
	if c, err := tl.Accept(); err == nil {
		onRefuse()
		Refuse(c, "out of file descriptors", log)
	}
	_ = tl.SetDeadline(time.Time{})
}

func exhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

var response503 = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 12\r\n\r\nserver full\n")

// Refuse answers 503 (without waiting more than 10 ms on the client) and
// closes c.
func Refuse(c net.Conn, why string, log *slog.Logger) {
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
	_, _ = c.Write(response503)
	_ = c.Close()
	log.Debug("connection refused", "remote", c.RemoteAddr().String(), "reason", why)
}

// TrimAddrs makes the two addresses that c reports (and that gnet keeps
// for an enrolled socket) smaller. As net builds them, the IP of each
// points into a 32-byte socket address that it keeps alive; the remote IP
// becomes a 4-byte copy (IPv4), and the local one, the same for every
// socket of a listener on one address, is shared through *last. 56 bytes
// less per connection; nothing else holds these values.
func TrimAddrs(c net.Conn, last *net.IP) {
	if la, ok := c.LocalAddr().(*net.TCPAddr); ok {
		if ip := la.IP.To4(); ip != nil {
			if !ip.Equal(*last) {
				*last = append(net.IP(nil), ip...)
			}
			la.IP = *last
		}
	}
	if ra, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if ip := ra.IP.To4(); ip != nil {
			ra.IP = append(net.IP(nil), ip...)
		}
	}
}
