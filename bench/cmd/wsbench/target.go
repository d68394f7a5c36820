package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// targetSpec says how to build and start one server binary.
type targetSpec struct {
	// pkg is the import path built from the bench module.
	pkg string
	// path is the WebSocket endpoint.
	path string
	// args returns the command line for listening on addr in mode m.
	args func(addr string, o *options, m serverMode) []string
	// noHeartbeat: the target never expires connections (not for expiry).
	noHeartbeat bool
}

// serverMode is what a scenario needs from the servers it starts.
type serverMode struct {
	// raw: echo mode, every data message sent back verbatim (wsloop --echo).
	raw bool
	// rooms: room fan-out is measured; wsloop's per-connection publish
	// rate limit and its presence events are switched off (the peers have
	// neither).
	rooms bool
	// heartbeat is the heartbeat timeout every target is started with.
	heartbeat time.Duration
}

// defaultHeartbeat is the heartbeat timeout of every target outside the
// expiry scenario: long enough that no connection of a bounded run expires
// while the generator is still dialing the others, and the same for all so
// that each pays for its heartbeat bookkeeping.
const defaultHeartbeat = 2 * time.Minute

// targetSpecs are the servers wsbench can start. The first peer listed in a
// run that is not wsloop is the baseline of the ratio column.
var targetSpecs = map[string]targetSpec{
	"wsloop": {
		pkg:  "github.com/wsloop/wsloop/cmd/wsloop",
		path: "/ws",
		args: wsloopArgs(false, false),
	},
	// wsloop without heartbeats: no timer armed per connection, so the
	// idle scenario shows what the timing wheel adds per connection.
	"wsloop-nohb": {
		pkg:         "github.com/wsloop/wsloop/cmd/wsloop",
		path:        "/ws",
		args:        wsloopArgs(true, false),
		noHeartbeat: true,
	},
	// wsloop sending one system call per connection (--io-uring=false):
	// the broadcast scenario shows what batching the sends buys.
	"wsloop-nouring": {
		pkg:  "github.com/wsloop/wsloop/cmd/wsloop",
		path: "/ws",
		args: wsloopArgs(false, true),
	},
	"naivegnet": {
		pkg:  "github.com/wsloop/wsloop/bench/peers/naivegnet",
		path: "/ws",
		args: peerArgs(true),
	},
	"gorilla": {
		pkg:  "github.com/wsloop/wsloop/bench/peers/gorilla",
		path: "/ws",
		args: peerArgs(false),
	},
	"gws": {
		pkg:  "github.com/wsloop/wsloop/bench/peers/gws",
		path: "/ws",
		args: peerArgs(false),
	},
	"nbio": {
		pkg:  "github.com/wsloop/wsloop/bench/peers/nbio",
		path: "/ws",
		args: peerArgs(true),
	},
}

// wsloopArgs returns the command line builder of a wsloop target: address,
// loops, quiet logs, no HTTP API, the heartbeat timeout (none with nohb),
// --io-uring=false with nouring, then what the mode needs.
func wsloopArgs(nohb, nouring bool) func(addr string, o *options, m serverMode) []string {
	return func(addr string, o *options, m serverMode) []string {
		args := []string{"--addr", addr, "--loops", strconv.Itoa(o.serverLoops), "--log-level", "warn", "--http-addr", ""}
		if nohb {
			args = append(args, "--heartbeat-timeout", "-1s", "--heartbeats", "none")
		} else {
			args = append(args, "--heartbeat-timeout", m.heartbeat.String())
		}
		if nouring {
			args = append(args, "--io-uring=false")
		}
		if m.raw {
			args = append(args, "--echo")
		}
		if m.rooms {
			args = append(args, "--publish-rate=-1", "--room-events-max-members=-1")
		}
		return args
	}
}

// peerArgs returns the command line builder of a peer: --addr, --loops
// when it has loops, --heartbeat-timeout, and --echo in raw mode.
func peerArgs(loops bool) func(addr string, o *options, m serverMode) []string {
	return func(addr string, o *options, m serverMode) []string {
		args := []string{"--addr", addr}
		if loops {
			args = append(args, "--loops", strconv.Itoa(o.serverLoops))
		}
		args = append(args, "--heartbeat-timeout", m.heartbeat.String())
		if m.raw {
			args = append(args, "--echo")
		}
		return args
	}
}

// matrixTargets are the targets of -matrix, in report order; a scenario
// may add more (matrixExtra).
var matrixTargets = []string{"wsloop", "naivegnet", "gorilla", "gws", "nbio"}

// externalTarget names a server given by -addr and -pid.
const externalTarget = "external"

func targetNames() []string {
	var names []string
	for n := range targetSpecs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// baselineTarget returns the target the ratio column divides by: the first
// one that is not wsloop (or a wsloop variant), or "" if there is none.
func baselineTarget(targets []string) string {
	for _, t := range targets {
		if !strings.HasPrefix(t, "wsloop") && t != externalTarget {
			return t
		}
	}
	return ""
}

// benchModuleDir returns the directory of the bench module.
func benchModuleDir(o *options) (string, error) {
	dir := o.src
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Path}} {{.Dir}}")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("finding the bench module (run wsbench inside it, or pass -src or -<target>-bin): go list -m: %w", err)
	}
	path, mdir, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if path != "github.com/wsloop/wsloop/bench" {
		return "", fmt.Errorf("the working directory is in module %q, not github.com/wsloop/wsloop/bench: run wsbench inside bench/, or pass -src or -<target>-bin", path)
	}
	return mdir, nil
}

// buildTargets builds every target that has no -<target>-bin into binDir.
func buildTargets(ctx context.Context, o *options, targets []string, binDir string, prog *progress) (map[string]string, error) {
	bins := map[string]string{}
	var src string
	for _, t := range targets {
		if t == externalTarget {
			continue
		}
		if b, ok := o.binaries[t]; ok {
			bins[t] = b
			continue
		}
		if src == "" {
			var err error
			if src, err = benchModuleDir(o); err != nil {
				return nil, err
			}
		}
		out := filepath.Join(binDir, t)
		prog.set("building %s", targetSpecs[t].pkg)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, targetSpecs[t].pkg)
		cmd.Dir = src
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", targetSpecs[t].pkg, err, msg)
		}
		bins[t] = out
	}
	prog.done()
	return bins, nil
}

// server is a running target.
type server struct {
	name   string
	addr   string
	path   string
	pid    int
	cmd    *exec.Cmd // nil for an external target
	log    string
	exited chan struct{}
}

// startServer starts target t's binary on a free loopback port and waits
// until it accepts connections.
func startServer(ctx context.Context, o *options, t, bin, logPath string, m serverMode) (*server, error) {
	if t == externalTarget {
		return &server{name: t, addr: o.addr, path: o.path, pid: o.pid}, nil
	}
	spec := targetSpecs[t]
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, spec.args(addr, o, m)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server must not outlive wsbench.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", t, err)
	}
	s := &server{name: t, addr: addr, path: spec.path, pid: cmd.Process.Pid, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%s exited before accepting connections:\n%s", t, tail(logPath))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s did not accept connections on %s within 15 s:\n%s", t, addr, tail(logPath))
		}
	}
}

// stop sends SIGTERM, then SIGKILL after 10 s. It does nothing for an
// external target.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// alive reports whether the server process is still running.
func (s *server) alive() bool {
	if s.cmd == nil {
		return syscall.Kill(s.pid, 0) == nil
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// checkLoopback refuses any address that is not on this machine's
// loopback.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return errors.New("-addr must be a loopback address (127.0.0.0/8 or ::1): wsbench sends load only to this machine")
	}
	return nil
}

// tail returns the last lines of a log file.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	b = bytes.TrimSpace(b)
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
