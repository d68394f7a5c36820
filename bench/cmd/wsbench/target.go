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
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	// nodes > 0: the target is a cluster of that many wsloop nodes joined
	// by a nats-server started for the round (see startCluster).
	nodes int
	// noCompression: the target cannot negotiate permessage-deflate
	// (skipped with -compression).
	noCompression bool
	// noTLS: the target cannot serve wss:// (skipped with -tls).
	noTLS bool
	// prebuilt: not built from this module; its binary must be given
	// (-uws for uws).
	prebuilt string
	// install: not built from this module but installed with go install
	// (this module@version) into .peers/bin on first use.
	install string
	// api names the target's HTTP publish API ("wsloop", "centrifugo"):
	// with -api-publish (always, with alwaysAPI) its room messages are
	// published through it rather than by a publisher connection.
	api       string
	alwaysAPI bool
	// noEcho: the target has no echo command (skipped by echo and raw).
	noEcho bool
	// protocol is the clients' protocol: "" (wsloop's JSON protocol, which
	// the peers speak) or "centrifugo".
	protocol string
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
	// compression: permessage-deflate accepted (-compression).
	compression bool
	// tlsCert and tlsKey: serve wss:// with this certificate (-tls).
	tlsCert, tlsKey string
	// apiAddr: serve the HTTP API here (room messages are published
	// through it).
	apiAddr string
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
		api:  "wsloop",
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
	// Three wsloop nodes and a nats-server, on this machine: the
	// cluster-broadcast scenario compares it with one wsloop node.
	"wsloop-cluster": {
		pkg:   "github.com/wsloop/wsloop/cmd/wsloop",
		path:  "/ws",
		args:  wsloopArgs(false, false),
		nodes: 3,
	},
	"naivegnet": {
		pkg:           "github.com/wsloop/wsloop/bench/peers/naivegnet",
		path:          "/ws",
		args:          peerArgs(true),
		noCompression: true,
		noTLS:         true,
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
	// The uWebSockets anchor (C++, epoll; ../shared/anchors/uws or
	// bench/README.md): optional, given with -uws PATH. It has no idle
	// timeout, compression or TLS, and sends no welcome.
	"uws": {
		path: "/ws",
		args: func(addr string, _ *options, _ serverMode) []string {
			_, port, _ := net.SplitHostPort(addr)
			return []string{port}
		},
		noHeartbeat:   true,
		noCompression: true,
		noTLS:         true,
		prebuilt:      "-uws",
	},
	// Centrifugo v6 (installed on first use into .peers/bin, never by CI):
	// its JSON protocol, anonymous connections, channels any client may
	// subscribe to, publications through its HTTP API; a generated config
	// (centrifugoArgs).
	"centrifugo": {
		install:       "github.com/centrifugal/centrifugo/v6@v6.9.1",
		path:          "/connection/websocket",
		args:          centrifugoArgs,
		noHeartbeat:   true,
		noCompression: true,
		noTLS:         true,
		noEcho:        true,
		api:           "centrifugo",
		alwaysAPI:     true,
		protocol:      "centrifugo",
	},
	"nbio": {
		pkg:   "github.com/wsloop/wsloop/bench/peers/nbio",
		path:  "/ws",
		args:  peerArgs(true),
		noTLS: true,
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
		if m.compression {
			args = append(args, "--compression", "on")
		}
		if m.tlsCert != "" {
			args = append(args, "--tls-cert", m.tlsCert, "--tls-key", m.tlsKey)
		}
		if m.apiAddr != "" {
			args = append(args, "--http-addr", m.apiAddr) // the last one counts
		}
		return args
	}
}

// centrifugoKey is the HTTP API key of the Centrifugo target.
const centrifugoKey = "wsbench"

// centrifugoArgs writes the Centrifugo target's config beside the logs
// and returns its command line: the WebSocket endpoint and the HTTP API
// on addr, anonymous connections, channels without a namespace open to
// any client's subscription, errors-only logs.
func centrifugoArgs(addr string, o *options, _ serverMode) []string {
	host, port, _ := net.SplitHostPort(addr)
	cfg := fmt.Sprintf(`{
  "http_server": {"address": %q, "port": %s},
  "client": {"allow_anonymous_connect_without_token": true, "allowed_origins": ["*"]},
  "channel": {"without_namespace": {"allow_subscribe_for_anonymous": true, "allow_subscribe_for_client": true}},
  "http_api": {"key": %q},
  "log": {"level": "error"}
}
`, host, port, centrifugoKey)
	path := filepath.Join(o.runDir, "centrifugo-"+port+".json")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return []string{"--config", "/nonexistent: " + err.Error()}
	}
	return []string{"--config", path}
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
		if m.compression {
			args = append(args, "--compression")
		}
		if m.tlsCert != "" {
			args = append(args, "--tls-cert", m.tlsCert, "--tls-key", m.tlsKey)
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
		if flag := targetSpecs[t].prebuilt; flag != "" {
			return nil, fmt.Errorf("target %s is not built here: give its binary with %s PATH", t, flag)
		}
		if mod := targetSpecs[t].install; mod != "" {
			if src == "" {
				var err error
				if src, err = benchModuleDir(o); err != nil {
					return nil, err
				}
			}
			b, err := installPeer(ctx, src, t, mod, prog)
			if err != nil {
				return nil, err
			}
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

// installPeer returns the binary of a target installed with go install
// (module@version) into the bench module's .peers/bin (git-ignored),
// installing it first if it is not there.
func installPeer(ctx context.Context, src, name, mod string, prog *progress) (string, error) {
	dir := filepath.Join(src, ".peers", "bin")
	bin := filepath.Join(dir, name)
	if st, err := os.Stat(bin); err == nil && !st.IsDir() {
		return bin, nil
	}
	prog.set("installing %s into %s (once)", mod, dir)
	cmd := exec.CommandContext(ctx, "go", "install", mod)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %v\n%s", mod, err, msg)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("go install %s did not make %s: %w", mod, bin, err)
	}
	return bin, nil
}

// server is a running target: one process, or a cluster (nodes and nats
// set; addr, pid and log are those of its first node).
type server struct {
	name    string
	addr    string
	path    string
	apiAddr string // its HTTP API, when room messages are published through it
	api     string // which API (targetSpec.api)
	pid     int
	cmd     *exec.Cmd // nil for an external target and a cluster
	log     string
	exited  chan struct{} // closed when the process (a cluster: any of its processes) exits

	nodes []*server // a cluster's wsloop nodes
	nats  *server   // a cluster's nats-server
}

// startServer starts target t's binary on a free loopback port (a
// cluster: its nodes and their nats-server) and waits until it accepts
// connections.
func startServer(ctx context.Context, o *options, t, bin, logPath string, m serverMode) (*server, error) {
	if t == externalTarget {
		return &server{name: t, addr: o.addr, path: o.path, pid: o.pid}, nil
	}
	spec := targetSpecs[t]
	if spec.nodes > 0 {
		return startCluster(ctx, o, t, bin, logPath, m)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	if spec.api != "" && m.rooms && (o.apiPublish || spec.alwaysAPI) {
		m.apiAddr = addr // Centrifugo's API shares the WebSocket port
		if spec.api == "wsloop" {
			if m.apiAddr, err = freeLoopbackAddr(); err != nil {
				return nil, err
			}
		}
	}
	s, err := startProcess(ctx, t, bin, spec.args(addr, o, m), addr, spec.path, logPath)
	if err == nil && m.apiAddr != "" {
		s.apiAddr, s.api = m.apiAddr, spec.api
	}
	return s, err
}

// startProcess starts bin with args, its output in logPath, and waits
// until it accepts connections on addr.
func startProcess(ctx context.Context, name, bin string, args []string, addr, path, logPath string) (*server, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server must not outlive wsbench.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{name: name, addr: addr, path: path, pid: cmd.Process.Pid, cmd: cmd, log: logPath, exited: make(chan struct{})}
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
			return nil, fmt.Errorf("%s exited before accepting connections:\n%s", name, tail(logPath))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s did not accept connections on %s within 15 s:\n%s", name, addr, tail(logPath))
		}
	}
}

// startCluster starts a nats-server (JetStream on, its store beside the
// logs) on a free loopback port, then t's nodes, each on its own port
// with --nats-url and --node-name node1, node2, …; the logs are
// logPath.nats and logPath.node1, ….
func startCluster(ctx context.Context, o *options, t, bin, logPath string, m serverMode) (*server, error) {
	spec := targetSpecs[t]
	natsBin, err := natsServerBinary(o)
	if err != nil {
		return nil, err
	}
	natsAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(natsAddr)
	store := logPath + ".jetstream"
	_ = os.RemoveAll(store)
	c := &server{name: t, path: spec.path, exited: make(chan struct{})}
	c.nats, err = startProcess(ctx, t+" nats-server", natsBin, []string{"-a", host, "-p", port, "-js", "-sd", store}, natsAddr, "", logPath+".nats")
	if err != nil {
		return nil, err
	}
	for i := 1; i <= spec.nodes; i++ {
		addr, err := freeLoopbackAddr()
		if err != nil {
			c.stop()
			return nil, err
		}
		no := *o
		if no.serverLoops == 0 {
			// The nodes share this machine: together they get one loop per
			// CPU, as one node does, and at least one each.
			no.serverLoops = max(1, runtime.NumCPU()/spec.nodes)
		}
		args := append(spec.args(addr, &no, m), "--nats-url", "nats://"+natsAddr, "--node-name", fmt.Sprintf("node%d", i))
		node, err := startProcess(ctx, fmt.Sprintf("%s node%d", t, i), bin, args, addr, spec.path, fmt.Sprintf("%s.node%d", logPath, i))
		if err != nil {
			c.stop()
			return nil, err
		}
		c.nodes = append(c.nodes, node)
	}
	c.addr, c.pid, c.log = c.nodes[0].addr, c.nodes[0].pid, c.nodes[0].log
	var once sync.Once
	for _, p := range append([]*server{c.nats}, c.nodes...) {
		go func() {
			<-p.exited
			once.Do(func() {
				c.log = p.log
				close(c.exited)
			})
		}()
	}
	return c, nil
}

// natsServerBinary returns -nats-server-bin, or nats-server on PATH or in
// $(go env GOPATH)/bin.
func natsServerBinary(o *options) (string, error) {
	if o.natsBin != "" {
		return o.natsBin, nil
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "nats-server")
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
	}
	return "", errors.New("a cluster target needs nats-server: go install github.com/nats-io/nats-server/v2@v2.15.3, or pass -nats-server-bin")
}

// endpoints returns the addresses clients may connect to: a cluster's
// nodes, in order, or the one server's.
func (s *server) endpoints() []string {
	if s.nodes == nil {
		return []string{s.addr}
	}
	var out []string
	for _, n := range s.nodes {
		out = append(out, n.addr)
	}
	return out
}

// pids returns the processes whose CPU and memory are the server's: a
// cluster's nodes and its nats-server.
func (s *server) pids() []int {
	if s.nodes == nil {
		return []int{s.pid}
	}
	out := []int{s.nats.pid}
	for _, n := range s.nodes {
		out = append(out, n.pid)
	}
	return out
}

// stop sends SIGTERM, then SIGKILL after 10 s (a cluster: to its nodes,
// then to nats-server). It does nothing for an external target.
func (s *server) stop() {
	if s.nats != nil {
		var wg sync.WaitGroup
		for _, n := range s.nodes {
			wg.Go(n.stop)
		}
		wg.Wait()
		s.nats.stop()
		return
	}
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

// alive reports whether the server process (a cluster: every one of its
// processes) is still running.
func (s *server) alive() bool {
	if s.cmd == nil && s.nats == nil {
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
