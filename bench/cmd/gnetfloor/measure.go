package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// connsPerSourceIP is how many connections share one client source
	// address (127.0.0.1, 127.0.0.2, …), well below the ephemeral port
	// range.
	connsPerSourceIP = 10000
	// readyTimeout bounds the wait for the child to accept connections.
	readyTimeout = 15 * time.Second
	// idlePause lets the child close the readiness probe and go idle
	// before the baseline is read.
	idlePause   = 200 * time.Millisecond
	dialTimeout = 5 * time.Second
)

// config is one measurement.
type config struct {
	conns  int
	loops  int // 0: one per CPU
	settle time.Duration
	// command builds the child server command for addr and loops.
	command func(addr string, loops int) (*exec.Cmd, error)
}

// result is what a measurement found.
type result struct {
	loops         int
	asked, held   int
	before, after uint64 // child VmRSS in bytes
	dialErr       error  // why fewer than asked were opened, if so
}

// String is the report line.
func (r result) String() string {
	perConn := 0.0
	if r.held > 0 {
		perConn = (float64(r.after) - float64(r.before)) / float64(r.held) / 1024
	}
	return fmt.Sprintf("bare gnet %s (%d loops): %d connections held, RSS %.1f → %.1f MiB, %.3f KiB per connection",
		gnetVersion(), r.loops, r.held, mib(r.before), mib(r.after), perConn)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// measure starts the child server, opens the connections and reads the
// child's RSS before and after. A dial failure stops dialing and is kept
// in result.dialErr; the measurement goes on with the connections held,
// unless there are none.
func measure(cfg config) (result, error) {
	if cfg.conns <= 0 {
		return result{}, fmt.Errorf("-conns must be positive, got %d", cfg.conns)
	}
	res := result{loops: effectiveLoops(cfg.loops), asked: cfg.conns}
	srv, err := startChild(cfg)
	if err != nil {
		return res, err
	}
	defer srv.stop()

	time.Sleep(idlePause)
	if res.before, err = vmRSS(srv.pid()); err != nil {
		return res, err
	}
	fdsBefore, err := countFDs(srv.pid())
	if err != nil {
		return res, err
	}

	conns, dialErr := dialAll(srv.addr, cfg.conns)
	defer closeAll(conns)
	res.held, res.dialErr = len(conns), dialErr
	if res.held == 0 {
		return res, fmt.Errorf("no connection could be opened: %w", dialErr)
	}

	time.Sleep(cfg.settle)
	if err := srv.alive(); err != nil {
		return res, err
	}
	if res.after, err = vmRSS(srv.pid()); err != nil {
		return res, err
	}
	if err := checkAccepted(srv.pid(), fdsBefore, res.held); err != nil {
		return res, err
	}
	return res, nil
}

// effectiveLoops is the number of event loops gnet starts for -loops n
// with multicore on.
func effectiveLoops(n int) int {
	if n > 0 {
		return n
	}
	return runtime.NumCPU()
}

// gnetVersion is the major.minor version of the gnet linked into this
// binary, e.g. "v2.10".
func gnetVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/panjf2000/gnet/v2" {
				if parts := strings.SplitN(dep.Version, ".", 3); len(parts) >= 2 {
					return parts[0] + "." + parts[1]
				}
			}
		}
	}
	return "v2"
}

// dialAll opens n idle TCP connections to addr, a new loopback source
// address every connsPerSourceIP. It stops at the first failure and
// returns the connections opened so far with that error.
func dialAll(addr string, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		src := sourceIP(i)
		d := net.Dialer{Timeout: dialTimeout, LocalAddr: &net.TCPAddr{IP: src}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return conns, fmt.Errorf("dial %s from %s (connection %d): %w", addr, src, i+1, err)
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// sourceIP is the client address of the i-th connection: 127.0.0.1 for
// the first connsPerSourceIP, then 127.0.0.2, and so on.
func sourceIP(i int) net.IP {
	return net.IPv4(127, 0, 0, byte(1+i/connsPerSourceIP))
}

// closeAll closes the connections with a reset (SO_LINGER 0), so that no
// TIME_WAIT is left holding their client ports and a rerun right away
// finds the ports free.
func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
}

// checkAccepted checks that the child holds (at least) held more file
// descriptors than at the baseline, i.e. that it accepted every
// connection the RSS is divided by.
func checkAccepted(pid, fdsBefore, held int) error {
	fds, err := countFDs(pid)
	if err != nil {
		return err
	}
	if accepted := fds - fdsBefore; accepted < held {
		return fmt.Errorf("server holds only %d of %d connections after the settle time (try a longer -settle)", accepted, held)
	}
	return nil
}

// vmRSS reads VmRSS of process pid, in bytes.
func vmRSS(pid int) (uint64, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read RSS: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmRSS line %q in %s: %w", sc.Text(), path, err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return 0, fmt.Errorf("no VmRSS line in %s", path)
}

// countFDs counts the open file descriptors of process pid.
func countFDs(pid int) (int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, fmt.Errorf("count server file descriptors: %w", err)
	}
	return len(entries), nil
}

// child is the running bare gnet server.
type child struct {
	addr   string
	cmd    *exec.Cmd
	out    *lockedBuffer // its stdout and stderr
	exited chan struct{} // closed once cmd.Wait has returned
}

// startChild starts the child server on a free loopback port and waits
// until it accepts TCP connections.
func startChild(cfg config) (*child, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	cmd, err := cfg.command(addr, cfg.loops)
	if err != nil {
		return nil, err
	}
	c := &child{addr: addr, cmd: cmd, out: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.out, c.out
	// The server must never outlive the measurer.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server %s: %w", cmd.Path, err)
	}
	go func() {
		_ = cmd.Wait() // its status is in cmd.ProcessState
		close(c.exited)
	}()
	if err := c.waitAccepting(); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// waitAccepting polls until a TCP connection to the child succeeds.
func (c *child) waitAccepting() error {
	deadline := time.Now().Add(readyTimeout)
	for {
		conn, err := net.DialTimeout("tcp", c.addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if err := c.alive(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server did not accept connections on %s within %s: %w%s", c.addr, readyTimeout, err, c.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports an error if the child has exited.
func (c *child) alive() error {
	select {
	case <-c.exited:
		return fmt.Errorf("server exited early (%s)%s", c.cmd.ProcessState, c.output())
	default:
		return nil
	}
}

// output is the child's output so far, formatted to follow an error.
func (c *child) output() string {
	out := strings.TrimSpace(c.out.String())
	if out == "" {
		return ""
	}
	return "; its output:\n" + out
}

// stop kills the child and waits for it to exit.
func (c *child) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		fmt.Fprintf(os.Stderr, "gnetfloor: kill server %d: %v\n", c.pid(), err)
	}
	<-c.exited
}

// freeLoopbackAddr returns a loopback address with a currently free port.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// lockedBuffer is a bytes.Buffer safe for the exec copier goroutine and
// the measurer at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
