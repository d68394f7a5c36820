// Command gnetfloor measures the resident memory (RSS) that a bare gnet
// v2.10 server pays per idle TCP connection.
//
// The server is a gnet engine started with gnet.Run on its own listener,
// multicore, one event loop per CPU by default, whose event handler only
// embeds gnet.BuiltinEventEngine: it keeps no state at all per
// connection. What the RSS grows by as connections arrive is therefore
// gnet's own per-connection floor (its conn object, the poll attachment,
// the remote address and the connection table), with no application
// state on top. Any server built on gnet v2.10 pays at least this much
// per connection, so it is the baseline against which a gnet-based
// server's per-connection memory should be read.
//
// Usage:
//
//	cd bench && go run ./cmd/gnetfloor -conns 18000
//
// Without -serve, gnetfloor is the measurer: it re-executes itself with
// -serve -addr 127.0.0.1:PORT as a child process (killed if the measurer
// dies), waits until the child accepts TCP connections, reads the child's
// VmRSS from /proc/PID/status, opens -conns plain TCP connections to it
// (no data sent; source addresses spread over 127.0.0.x so that ephemeral
// ports do not run out), waits -settle, checks that the child holds them
// all, reads VmRSS again and prints one line such as
//
//	bare gnet v2.10 (2 loops): 18000 connections held, RSS 6.7 → 15.8 MiB, 0.518 KiB per connection
//
// With -serve it is that child: the bare gnet server on -addr.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// bareHandler is the bare gnet event handler: the built-in no-op
// callbacks and no per-connection state.
type bareHandler struct {
	gnet.BuiltinEventEngine
}

func main() {
	serveMode := flag.Bool("serve", false, "run as the bare gnet server (the child process)")
	addr := flag.String("addr", "127.0.0.1:0", "with -serve: the address to listen on")
	loops := flag.Int("loops", 0, "gnet event loops (0: one per CPU)")
	conns := flag.Int("conns", 18000, "idle TCP connections to open")
	settle := flag.Duration("settle", 5*time.Second, "wait after the last connection before reading RSS")
	flag.Parse()

	var err error
	if *serveMode {
		err = serve(*addr, *loops)
	} else {
		err = runMeasure(config{conns: *conns, loops: *loops, settle: *settle, command: selfCommand})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnetfloor:", err)
		os.Exit(1)
	}
}

// serve runs the bare gnet server on addr until it is killed. The engine
// stopping by itself (gnet v2.10 stops it when accept fails, e.g. on
// EMFILE) is an error too.
func serve(addr string, loops int) error {
	if err := raiseFileLimit(); err != nil {
		return err
	}
	err := gnet.Run(&bareHandler{}, "tcp://"+addr,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(loops))
	if err != nil {
		return fmt.Errorf("gnet.Run on %s: %w", addr, err)
	}
	return fmt.Errorf("gnet engine on %s stopped (see its log above)", addr)
}

// runMeasure measures, prints the result line and turns a shortfall of
// connections into an error (after printing what was measured).
func runMeasure(cfg config) error {
	if err := raiseFileLimit(); err != nil {
		return err
	}
	res, err := measure(cfg)
	if err != nil {
		return err
	}
	fmt.Println(res)
	if res.held < res.asked {
		return fmt.Errorf("only %d of %d connections could be opened (per-connection figure is over those held): %w",
			res.held, res.asked, res.dialErr)
	}
	return nil
}

// selfCommand is the child command of the real binary: this executable
// with -serve.
func selfCommand(addr string, loops int) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locate own executable: %w", err)
	}
	return exec.Command(exe, "-serve", "-addr", addr, "-loops", strconv.Itoa(loops)), nil
}

// raiseFileLimit raises RLIMIT_NOFILE's soft limit to its hard limit.
func raiseFileLimit() error {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	if rl.Cur >= rl.Max {
		return nil
	}
	rl.Cur = rl.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("setrlimit RLIMIT_NOFILE to %d: %w", rl.Max, err)
	}
	return nil
}
