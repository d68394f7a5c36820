// Command wsbench is wsloop's load generator: it measures wsloop and its
// peer servers side by side, in the same run, and reports per-unit figures
// that survive a noisy machine (docs/architecture.md, "Hot paths").
//
//	cd bench
//	go run ./cmd/wsbench -scenario echo -targets wsloop,naivegnet
//	go run ./cmd/wsbench -scenario idle -conns 18000
//	go run ./cmd/wsbench -scenario echo -addr 127.0.0.1:8080 -pid 1234   # a server you started
//	go run ./cmd/wsbench -matrix                                         # every target × every scenario → RESULTS.md, charts/
//
// For each round and each target it builds (once) and starts the server as a
// subprocess on a free loopback port, runs the scenario against it, and
// stops it; rounds interleave the targets (wsloop, naivegnet, wsloop, …).
// The markdown report gives the median over rounds of each figure, then
// every round. Scenarios: see the scenarios table in scenario.go and the
// README. Every run targets loopback only, is bounded in time and count, and
// stops by itself; a progress line goes to stderr during long phases.
//
// The exit status is 0 when no anomaly was seen (errors, missing replies,
// connections that did not open or did not stay alive), 1 otherwise, 2 on a
// usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// options are wsbench's flags.
type options struct {
	scenarios   []string
	targets     []string
	conns       int // 0: the scenario's default
	window      int
	payload     int
	duration    time.Duration
	warmup      time.Duration
	hold        time.Duration
	rate        float64       // broadcast: publishes per second
	compression bool          // permessage-deflate offered by the clients, accepted by the servers
	tls         bool          // wss://: the servers serve TLS, the clients dial it
	tlsFiles    *tlsFiles     // -tls: the run's certificate (bench)
	apiPublish  bool          // broadcast: room messages published through the servers' HTTP API where they have one
	runDir      string        // where this run's binaries, logs and generated configs are (bench)
	hbTimeout   time.Duration // expiry: the servers' heartbeat timeout
	rounds      int
	serverLoops int
	clientLoops int
	timeout     time.Duration

	addr string // an external target: its address …
	pid  int    // … and its PID
	path string // its WebSocket path

	src      string // the bench module's directory (for go build)
	binDir   string // where binaries and server logs go; "" = a temp dir
	binaries map[string]string
	natsBin  string // nats-server for cluster targets; "" = found on PATH or in GOPATH/bin

	matrix     bool   // every scenario × every target, RESULTS.md and charts
	out        string // where -matrix writes; "" = the bench module's directory
	targetsSet bool   // -targets was given
	command    string // the command line, for RESULTS.md
}

func defaultOptions() options {
	return options{
		scenarios: []string{"echo"},
		targets:   []string{"wsloop", "naivegnet"},
		window:    4,
		payload:   64,
		duration:  10 * time.Second,
		warmup:    2 * time.Second,
		hold:      5 * time.Second,
		rate:      20,
		hbTimeout: 5 * time.Second,
		rounds:    3,
		timeout:   30 * time.Minute,
		path:      "/ws",
		binaries:  map[string]string{},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "wsbench:", err)
		return 2
	}
	if err := raiseFileLimit(); err != nil {
		fmt.Fprintln(stderr, "wsbench: warning:", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	o.command = commandLine(args)
	started := time.Now()
	reports, err := bench(ctx, o, newProgress(stderr))
	for _, r := range reports {
		r.write(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "wsbench:", err)
		return 1
	}
	if o.matrix {
		path, err := writeResults(&o, reports, started)
		if err != nil {
			fmt.Fprintln(stderr, "wsbench:", err)
			return 1
		}
		fmt.Fprintln(stderr, "wsbench: wrote", path)
	}
	for _, r := range reports {
		if len(r.anomalies()) > 0 {
			return 1
		}
	}
	return 0
}

func parseFlags(args []string, out io.Writer) (options, error) {
	o := defaultOptions()
	fs := flag.NewFlagSet("wsbench", flag.ContinueOnError)
	fs.SetOutput(out)
	scen := fs.String("scenario", strings.Join(o.scenarios, ","), "scenarios to run, comma-separated: "+strings.Join(scenarioNames(), ", "))
	targ := fs.String("targets", strings.Join(o.targets, ","), "servers to start and measure, comma-separated: "+strings.Join(targetNames(), ", "))
	fs.IntVar(&o.conns, "conns", 0, "connections (0 = the scenario's default: "+scenarioDefaults()+")")
	fs.IntVar(&o.window, "window", o.window, "echo, raw: requests in flight per connection")
	fs.IntVar(&o.payload, "payload", o.payload, "echo: size of each JSON request; raw: of each binary message; broadcast: of each publish payload (bytes)")
	fs.DurationVar(&o.duration, "duration", o.duration, "echo, raw, broadcast: measured window per round")
	fs.DurationVar(&o.warmup, "warmup", o.warmup, "echo, raw, broadcast: traffic before the measured window")
	fs.DurationVar(&o.hold, "hold", o.hold, "idle: how long connections are held after their ping")
	fs.Float64Var(&o.rate, "rate", o.rate, "broadcast: publishes per second")
	fs.BoolVar(&o.compression, "compression", false, "clients offer permessage-deflate (no context takeover) and servers accept it (targets that cannot are skipped)")
	fs.BoolVar(&o.apiPublish, "api-publish", false, "broadcast: wsloop publishes through its HTTP API (POST /api/publish) as Centrifugo always does; the peers without one through a publisher connection")
	fs.BoolVar(&o.tls, "tls", false, "wss://: servers serve TLS (an ECDSA P-256 certificate from a CA made for the run), clients dial it; targets without TLS are skipped")
	fs.DurationVar(&o.hbTimeout, "hb-timeout", o.hbTimeout, "expiry: heartbeat timeout the servers are started with")
	fs.BoolVar(&o.matrix, "matrix", false, "run every scenario against every target ("+strings.Join(matrixTargets, ", ")+"; -scenario and -targets narrow it) and write RESULTS.md and charts/<scenario>.svg")
	fs.StringVar(&o.out, "out", "", "-matrix: directory for RESULTS.md and charts/ (default: the bench module's directory)")
	fs.IntVar(&o.rounds, "rounds", o.rounds, "rounds; each runs every target once, interleaved")
	fs.IntVar(&o.serverLoops, "server-loops", 0, "event loops of each server (--loops; 0 = one per CPU)")
	fs.IntVar(&o.clientLoops, "client-loops", 0, "load generator event loops (0 = one per CPU)")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "bound on the whole run")
	fs.StringVar(&o.addr, "addr", "", "measure a server already running at this loopback host:port instead of starting targets (needs -pid)")
	fs.IntVar(&o.pid, "pid", 0, "PID of the -addr server, for its CPU and RSS")
	fs.StringVar(&o.path, "path", o.path, "WebSocket path of the -addr server")
	fs.StringVar(&o.src, "src", "", "directory of the bench module, to build the targets from (default: found from the working directory)")
	fs.StringVar(&o.binDir, "bin-dir", "", "directory for built binaries and server logs (default: a temporary directory, removed at exit)")
	fs.Func("uws", "the uWebSockets anchor binary (uws-server), which makes the uws target available (same as -uws-bin)", func(s string) error {
		o.binaries["uws"] = s
		return nil
	})
	fs.StringVar(&o.natsBin, "nats-server-bin", "", "nats-server binary for cluster targets (default: nats-server on PATH or in $(go env GOPATH)/bin)")
	for _, name := range targetNames() {
		fs.Func(name+"-bin", "use this "+name+" binary instead of building it", func(s string) error {
			o.binaries[name] = s
			return nil
		})
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	o.targetsSet = given["targets"]
	o.scenarios = splitList(*scen)
	if o.matrix && !given["scenario"] {
		o.scenarios = scenarioNames()
	}
	o.targets = splitList(*targ)
	for _, s := range o.scenarios {
		if scenarioByName(s) == nil {
			return o, fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(scenarioNames(), ", "))
		}
	}
	if o.addr != "" {
		if o.matrix {
			return o, errors.New("-matrix starts its own targets: no -addr")
		}
		if o.pid <= 0 {
			return o, errors.New("-addr needs -pid (the server's CPU and RSS are read from /proc/PID)")
		}
		if err := checkLoopback(o.addr); err != nil {
			return o, err
		}
		o.targets = []string{externalTarget}
	} else {
		for _, t := range o.targets {
			if _, ok := targetSpecs[t]; !ok {
				return o, fmt.Errorf("unknown target %q (have %s)", t, strings.Join(targetNames(), ", "))
			}
		}
	}
	switch {
	case len(o.targets) == 0 || len(o.scenarios) == 0:
		return o, errors.New("no target or no scenario")
	case o.rounds < 1 || o.rounds > 100:
		return o, fmt.Errorf("-rounds %d out of range 1..100", o.rounds)
	case o.conns < 0 || o.conns > 1<<20:
		return o, fmt.Errorf("-conns %d out of range", o.conns)
	case o.window < 1 || o.window > 1024:
		return o, fmt.Errorf("-window %d out of range 1..1024", o.window)
	case o.payload < 1 || o.payload > 1<<20:
		return o, fmt.Errorf("-payload %d out of range 1..1048576", o.payload)
	case o.duration <= 0 || o.duration > time.Hour, o.warmup < 0 || o.warmup > time.Hour, o.hold < 0 || o.hold > time.Hour:
		return o, errors.New("-duration, -warmup and -hold must be within 0..1h (duration > 0)")
	case !(o.rate > 0 && o.rate <= 100000):
		return o, fmt.Errorf("-rate %g out of range (0, 100000]", o.rate)
	case o.hbTimeout < 100*time.Millisecond || o.hbTimeout > 10*time.Minute:
		return o, fmt.Errorf("-hb-timeout %v out of range 100ms..10m", o.hbTimeout)
	}
	return o, nil
}

// commandLine returns the wsbench command line of args, shell-quoted where
// needed.
func commandLine(args []string) string {
	parts := []string{"go run ./cmd/wsbench"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// scenarioDefaults lists each scenario's default connection count.
func scenarioDefaults() string {
	var parts []string
	for _, s := range scenarios {
		parts = append(parts, fmt.Sprintf("%s %d", s.name, s.defaultConns))
	}
	return strings.Join(parts, ", ")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// raiseFileLimit raises RLIMIT_NOFILE's soft limit to its hard limit.
func raiseFileLimit() error {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
	}
	return nil
}

// fileLimit returns the soft RLIMIT_NOFILE.
func fileLimit() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

func clientLoops(o *options) int {
	if o.clientLoops > 0 {
		return o.clientLoops
	}
	return runtime.NumCPU()
}
