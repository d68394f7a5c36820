package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// binPath is the wsloop binary TestMain builds once for every test.
var binPath string

// Bounds on every wait in these tests.
const (
	startTimeout = 10 * time.Second // process start until "wsloop serving"
	ioTimeout    = 5 * time.Second  // one WebSocket dial, read or write
	exitTimeout  = 10 * time.Second // process exit after a signal or a kill
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "wsloop-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "TestMain:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "wsloop")
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race") // a data race in the binary makes it exit 66
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "TestMain: go build:", err)
		return 1
	}
	return m.Run()
}

// testEnv is the environment for the binary: this process's, without any
// WSLOOP_ variable or GOMAXPROCS (the binary picks its own), plus extra
// ("K=V").
func testEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WSLOOP_") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// logBuffer collects a process's stderr and closes ready when the server
// says it is serving.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	once  sync.Once
	ready chan struct{}
	grew  chan struct{} // closed by the next Write (await)
}

func newLogBuffer() *logBuffer { return &logBuffer{ready: make(chan struct{})} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if bytes.Contains(l.buf.Bytes(), []byte(`msg="wsloop serving"`)) {
		l.once.Do(func() { close(l.ready) })
	}
	if l.grew != nil {
		close(l.grew)
		l.grew = nil
	}
	return len(p), nil
}

// await waits until the log holds want n times, woken by each write; it
// fails the test after 5 s.
func (l *logBuffer) await(t *testing.T, want string, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		l.mu.Lock()
		if strings.Count(l.buf.String(), want) >= n {
			l.mu.Unlock()
			return
		}
		if l.grew == nil {
			l.grew = make(chan struct{})
		}
		grew := l.grew
		l.mu.Unlock()
		select {
		case <-grew:
		case <-deadline:
			t.Fatalf("no %q in the log:\n%s", want, l)
		}
	}
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// proc is a running wsloop process.
type proc struct {
	cmd     *exec.Cmd
	addr    string // host:port it serves on
	log     *logBuffer
	exited  chan struct{} // closed once the process is gone and its stderr copied
	waitErr error         // cmd.Wait's result; read only after exited
}

// exitCode waits (bounded) for the process to end and returns its exit code.
func (p *proc) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(within):
		t.Fatalf("wsloop did not exit within %v; stderr:\n%s", within, p.log)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// startWsloop runs the binary on a free loopback port with args (after which
// --addr is added) and env ("K=V", on top of a WSLOOP_-free environment),
// waits until it serves, and kills it when the test ends. A lost race for
// the port is retried.
func startWsloop(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	const attempts = 5
	for i := 1; ; i++ {
		addr := freeAddr(t)
		p, err := tryStart(t, addr, env, args)
		if err == nil {
			return p
		}
		if !errors.Is(err, errBindFailed) || i == attempts {
			t.Fatalf("start wsloop %v: %v", args, err)
		}
		t.Logf("attempt %d: %v; retrying on another port", i, err)
	}
}

var errBindFailed = errors.New("cannot bind")

func tryStart(t *testing.T, addr string, env, args []string) (*proc, error) {
	t.Helper()
	p := &proc{
		cmd:    exec.Command(binPath, append(append([]string{"--http-addr", "127.0.0.1:0"}, args...), "--addr", addr)...),
		addr:   addr,
		log:    newLogBuffer(),
		exited: make(chan struct{}),
	}
	p.cmd.Env = testEnv(env...)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
		}
		select {
		case <-p.exited:
		case <-time.After(exitTimeout):
			t.Errorf("wsloop (pid %d) still running %v after kill", p.cmd.Process.Pid, exitTimeout)
		}
		if t.Failed() {
			t.Logf("wsloop %v stderr:\n%s", args, p.log)
		}
	})
	select {
	case <-p.log.ready:
		return p, nil
	case <-p.exited:
		out := p.log.String()
		if strings.Contains(out, "address already in use") {
			return nil, fmt.Errorf("%w: %s", errBindFailed, addr)
		}
		return nil, fmt.Errorf("exited before serving (%v); stderr:\n%s", p.waitErr, out)
	case <-time.After(startTimeout):
		return nil, fmt.Errorf("not serving after %v; stderr:\n%s", startTimeout, p.log)
	}
}

// dial opens a WebSocket connection to p and closes it when the test ends.
func dial(t *testing.T, p *proc) *websocket.Conn {
	t.Helper()
	c, err := tryDial(p)
	if err != nil {
		t.Fatalf("dial %s: %v", p.addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// tryDial opens a WebSocket connection; on a refused handshake the error
// includes the HTTP status.
func tryDial(p *proc) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: ioTimeout}
	c, resp, err := d.Dial("ws://"+p.addr+"/ws", nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, &refusedError{status: resp.StatusCode, err: err}
		}
		return nil, err
	}
	return c, nil
}

type refusedError struct {
	status int
	err    error
}

func (e *refusedError) Error() string { return fmt.Sprintf("HTTP %d: %v", e.status, e.err) }
func (e *refusedError) Unwrap() error { return e.err }

// read reads one message, bounded by ioTimeout.
func read(t *testing.T, c *websocket.Conn) (int, []byte) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	op, p, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return op, p
}

func write(t *testing.T, c *websocket.Conn, op int, p []byte) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if err := c.WriteMessage(op, p); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// readClose reads until the connection fails and returns the close code the
// server sent; it fails the test if the connection ended without one.
func readClose(t *testing.T, c *websocket.Conn) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	for {
		op, p, err := c.ReadMessage()
		if err == nil {
			t.Errorf("read %s message %q while waiting for a close", opName(op), p)
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce.Code
	}
}

// echoRoundTrip sends p with op and expects it back verbatim.
func echoRoundTrip(t *testing.T, c *websocket.Conn, op int, p []byte) {
	t.Helper()
	write(t, c, op, p)
	gotOp, got := read(t, c)
	if gotOp != op || !bytes.Equal(got, p) {
		t.Fatalf("echo of %s %q = %s %q", opName(op), abbrev(p), opName(gotOp), abbrev(got))
	}
}

func opName(op int) string {
	switch op {
	case websocket.TextMessage:
		return "text"
	case websocket.BinaryMessage:
		return "binary"
	}
	return fmt.Sprintf("opcode %d", op)
}

func abbrev(p []byte) string {
	if len(p) > 64 {
		return fmt.Sprintf("%s…(%d bytes)", p[:64], len(p))
	}
	return string(p)
}

var welcomeRE = regexp.MustCompile(`^\{"cmd":"welcome","data":\{"sid":"[0-9a-f]{32}","ping_interval":15\}\}$`)

func TestJSONModeAndGracefulShutdown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		signal syscall.Signal
	}{
		{name: "SIGTERM", signal: syscall.SIGTERM},
		{name: "SIGINT", signal: syscall.SIGINT},
	}
	echoes := []struct {
		name string
		req  string
		want string
	}{
		{
			name: "object",
			req:  `{"cmd":"echo","seqno":"1","data":{"a":[1,2,"x"],"b":null}}`,
			want: `{"cmd":"echo","seqno":"1","status":0,"msg":"ok","data":{"a":[1,2,"x"],"b":null}}`,
		},
		{
			name: "string",
			req:  `{"cmd":"echo","seqno":"2","data":"héllo, 世界"}`,
			want: `{"cmd":"echo","seqno":"2","status":0,"msg":"ok","data":"héllo, 世界"}`,
		},
		{
			name: "number, seqno echoed verbatim",
			req:  `{"cmd":"echo","seqno":"abc-42","data":-1.5e3}`,
			want: `{"cmd":"echo","seqno":"abc-42","status":0,"msg":"ok","data":-1.5e3}`,
		},
	}
	const clients = 3
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startWsloop(t, nil, "--log-level", "debug", "--loops", "2", "--shutdown-timeout", "5s")

			conns := make([]*websocket.Conn, clients)
			for i := range conns {
				conns[i] = dial(t, p)
				op, msg := read(t, conns[i])
				if op != websocket.TextMessage || !welcomeRE.Match(msg) {
					t.Fatalf("client %d: first message %s %q, want a welcome matching %s", i, opName(op), msg, welcomeRE)
				}
			}
			for _, e := range echoes {
				write(t, conns[0], websocket.TextMessage, []byte(e.req))
				op, got := read(t, conns[0])
				if op != websocket.TextMessage || string(got) != e.want {
					t.Errorf("%s: reply %s\n%s\nwant text\n%s", e.name, opName(op), got, e.want)
				}
			}

			sent := time.Now()
			p.signal(t, tt.signal)
			for i, c := range conns {
				if code := readClose(t, c); code != websocket.CloseGoingAway {
					t.Errorf("client %d: close code %d, want %d", i, code, websocket.CloseGoingAway)
				}
			}
			if code := p.exitCode(t, exitTimeout); code != 0 {
				t.Errorf("exit code %d (%v), want 0", code, p.waitErr)
			}
			// The clients answered the close at once, so the 5 s grace period
			// must not have been used up.
			if d := time.Since(sent); d > 4*time.Second {
				t.Errorf("exit took %v after %v", d, tt.signal)
			}

			var closes int
			for _, line := range strings.Split(p.log.String(), "\n") {
				if strings.Contains(line, "level=DEBUG") && strings.Contains(line, "msg=close ") &&
					strings.Contains(line, "code=1001") && strings.Contains(line, "cause=shutdown") {
					closes++
				}
			}
			if closes != clients {
				t.Errorf("debug log has %d close lines with code=1001, want %d", closes, clients)
			}
			if strings.Contains(p.log.String(), "shutdown deadline passed") {
				t.Errorf("shutdown hit its deadline though every client answered the close")
			}
		})
	}
}

func TestShutdownTimeoutWithSilentClient(t *testing.T) {
	t.Parallel()
	p := startWsloop(t, nil, "--echo", "--loops", "1", "--shutdown-timeout", "300ms")
	answering := dial(t, p)
	silent := dial(t, p) // never reads, so never answers the server's close
	echoRoundTrip(t, answering, websocket.TextMessage, []byte("hi"))
	echoRoundTrip(t, silent, websocket.TextMessage, []byte("hi"))

	sent := time.Now()
	p.signal(t, syscall.SIGTERM)
	if code := readClose(t, answering); code != websocket.CloseGoingAway {
		t.Errorf("answering client: close code %d, want 1001", code)
	}
	if code := p.exitCode(t, exitTimeout); code != 0 {
		t.Errorf("exit code %d (%v), want 0", code, p.waitErr)
	}
	if d := time.Since(sent); d > 3*time.Second {
		t.Errorf("exit took %v with --shutdown-timeout 300ms", d)
	}
	if !strings.Contains(p.log.String(), "shutdown deadline passed") {
		t.Errorf("log does not say the shutdown deadline passed")
	}
	// The close frame was sent to the silent client too; it is in its
	// receive buffer.
	if code := readClose(t, silent); code != websocket.CloseGoingAway {
		t.Errorf("silent client: close code %d, want 1001", code)
	}
}

func TestEchoMode(t *testing.T) {
	t.Parallel()
	// File < env < flags: the file says JSON mode and 50-byte messages; the
	// environment raises the limit to 1000; the --echo flag turns echo on.
	cfg := filepath.Join(t.TempDir(), "wsloop.toml")
	if err := os.WriteFile(cfg, []byte("echo = false\nmax_message_size = 50\nloops = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startWsloop(t, []string{"WSLOOP_CONFIG=" + cfg, "WSLOOP_MAX_MESSAGE_SIZE=1000"}, "--echo")

	tests := []struct {
		name      string
		op        int
		payload   []byte
		wantClose int // 0: the payload comes back verbatim
	}{
		{name: "text", op: websocket.TextMessage, payload: []byte("hello, wsloop")},
		{name: "utf-8 text", op: websocket.TextMessage, payload: []byte("héllo, 世界 🌍")},
		{name: "binary", op: websocket.BinaryMessage, payload: []byte{0, 1, 2, 0xfe, 0xff}},
		{name: "json is not interpreted", op: websocket.TextMessage, payload: []byte(`{"cmd":"echo","seqno":"1","data":1}`)},
		{name: "empty text", op: websocket.TextMessage, payload: []byte{}},
		{name: "empty binary", op: websocket.BinaryMessage, payload: []byte{}},
		{name: "at the env limit", op: websocket.BinaryMessage, payload: bytes.Repeat([]byte{0xab}, 1000)},
		{name: "over the env limit", op: websocket.TextMessage, payload: bytes.Repeat([]byte("x"), 2000), wantClose: websocket.CloseMessageTooBig},
		{name: "just over the env limit", op: websocket.BinaryMessage, payload: bytes.Repeat([]byte{1}, 1001), wantClose: websocket.CloseMessageTooBig},
	}
	shared := dial(t, p)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantClose == 0 {
				echoRoundTrip(t, shared, tt.op, tt.payload)
				return
			}
			c := dial(t, p)
			echoRoundTrip(t, c, websocket.TextMessage, []byte("before"))
			write(t, c, tt.op, tt.payload)
			if code := readClose(t, c); code != tt.wantClose {
				t.Errorf("close code %d, want %d", code, tt.wantClose)
			}
		})
	}
	// The shared connection saw every message in order and is still fine.
	echoRoundTrip(t, shared, websocket.TextMessage, []byte("still here"))
}

func TestMaxConns(t *testing.T) {
	t.Parallel()
	p := startWsloop(t, nil, "--echo", "--loops", "2", "--max-conns", "2", "--log-level", "debug")
	held := []*websocket.Conn{dial(t, p), dial(t, p)}
	for i, c := range held {
		echoRoundTrip(t, c, websocket.TextMessage, []byte(fmt.Sprintf("conn %d", i)))
	}

	for attempt := range 3 {
		c, err := tryDial(p)
		if err == nil {
			_ = c.Close()
			t.Fatalf("attempt %d: third connection accepted with --max-conns 2", attempt)
		}
		t.Logf("attempt %d: third connection refused: %v", attempt, err)
		var re *refusedError
		if errors.As(err, &re) && re.status != http.StatusServiceUnavailable {
			t.Errorf("attempt %d: refused with HTTP %d, want 503", attempt, re.status)
		}
		for i, c := range held {
			echoRoundTrip(t, c, websocket.BinaryMessage, []byte{byte(attempt), byte(i)})
		}
	}

	// A slot freed is a slot usable again; the server counts the close on
	// its event loop, so give it a bounded moment.
	if err := held[0].WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(ioTimeout)); err != nil {
		t.Fatalf("close: %v", err)
	}
	if code := readClose(t, held[0]); code != websocket.CloseNormalClosure {
		t.Errorf("close handshake answered with %d, want 1000", code)
	}
	deadline := time.Now().Add(ioTimeout)
	for {
		c, err := tryDial(p)
		if err == nil {
			t.Cleanup(func() { _ = c.Close() })
			echoRoundTrip(t, c, websocket.TextMessage, []byte("new"))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection accepted %v after one of two closed: %v", ioTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	echoRoundTrip(t, held[1], websocket.TextMessage, []byte("still here"))
}

func TestBadSettingsExit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badNS := filepath.Join(dir, "badns.toml")
	if err := os.WriteFile(badNS, []byte("[namespaces.chat]\njoin = \"member\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	typoNS := filepath.Join(dir, "typons.toml")
	if err := os.WriteFile(typoNS, []byte("[namespaces.chat]\njoin = \"auth\"\npublsh = \"none\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(badFile, []byte("addr = \"127.0.0.1:0\"\nbogus_key = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = busy.Close() })

	tests := []struct {
		name       string
		args       []string
		env        []string
		wantCode   int
		wantStderr []string
	}{
		{name: "bad int flag", args: []string{"--max-conns", "abc"}, wantCode: 2, wantStderr: []string{`invalid value "abc"`, "-max-conns"}},
		{name: "bad duration flag", args: []string{"--shutdown-timeout=soon"}, wantCode: 2, wantStderr: []string{"invalid value", "shutdown-timeout"}},
		{name: "unknown flag", args: []string{"--no-such-flag"}, wantCode: 2, wantStderr: []string{"flag provided but not defined: -no-such-flag"}},
		{name: "stray argument", args: []string{"--echo", "serve"}, wantCode: 2, wantStderr: []string{"unexpected arguments", "serve"}},
		{name: "bad env duration", env: []string{"WSLOOP_TICK=soon"}, wantCode: 2, wantStderr: []string{"WSLOOP_TICK"}},
		{name: "unknown config key", args: []string{"--config", badFile}, wantCode: 2, wantStderr: []string{"bogus_key"}},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantCode: 2, wantStderr: []string{`log level "loud"`}},
		{name: "bad heartbeat form", args: []string{"--heartbeats", "empty,smoke"}, wantCode: 2, wantStderr: []string{`"smoke"`}},
		{name: "invalid server config", args: []string{"--path", "ws"}, wantCode: 2, wantStderr: []string{"must start with /"}},
		{name: "public API without a key", args: []string{"--http-addr", ":0"}, wantCode: 2, wantStderr: []string{`http-addr ":0"`, "--api-key", "--api-insecure"}},
		{name: "public API without a key, by env", env: []string{"WSLOOP_HTTP_ADDR=0.0.0.0:0"}, wantCode: 2, wantStderr: []string{"no --api-key"}},
		{name: "require-auth without a key", args: []string{"--require-auth"}, wantCode: 2, wantStderr: []string{"require-auth needs --jwt-secret or --jwt-public-key"}},
		{name: "missing public key file", args: []string{"--jwt-public-key", "/nonexistent/key.pem"}, wantCode: 2, wantStderr: []string{"jwt-public-key", "no such file"}},
		{name: "not a public key", args: []string{"--jwt-public-key", badFile}, wantCode: 2, wantStderr: []string{"no PEM block"}},
		{name: "namespace rule the command does not know", args: []string{"--config", badNS}, wantCode: 2, wantStderr: []string{`namespace "chat": join may be any, auth, token or none, not member`}},
		{name: "unknown namespace key", args: []string{"--config", typoNS}, wantCode: 2, wantStderr: []string{`unknown key "publsh"`}},
		{name: "bad client-send", args: []string{"--client-send", "member"}, wantCode: 2, wantStderr: []string{`client-send "member"`}},
		{name: "proxy protocol without trusted proxies", args: []string{"--proxy-protocol"}, wantCode: 2, wantStderr: []string{"needs Proxies.Trusted"}},
		{name: "bad trusted proxy", args: []string{"--trusted-proxies", "10.0.0.0/33"}, wantCode: 2, wantStderr: []string{`trusted-proxies "10.0.0.0/33"`}},
		{name: "bad compression", args: []string{"--compression", "maybe"}, wantCode: 2, wantStderr: []string{`compression "maybe"`}},
		{name: "address in use", args: []string{"--addr", busy.Addr().String()}, wantCode: 1, wantStderr: []string{"cannot listen", "address already in use"}},
		{name: "help", args: []string{"--help"}, wantCode: 0, wantStderr: []string{"Usage of wsloop", "-max-message-size"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, binPath, tt.args...)
			cmd.Env = testEnv(append([]string{"WSLOOP_ADDR=127.0.0.1:0", "WSLOOP_HTTP_ADDR=127.0.0.1:0"}, tt.env...)...)
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stderr, &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("wsloop %v still running after %v", tt.args, exitTimeout)
			}
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatalf("run: %v", err)
			}
			if code := cmd.ProcessState.ExitCode(); code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, &stderr)
			}
			for _, s := range tt.wantStderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, &stderr)
				}
			}
		})
	}
}

// TestAPIPrivateByDefault: a non-loopback HTTP API starts with a key, or
// with --api-insecure (and a warning); the end point is answered on the
// WebSocket port without any key.
func TestAPIPrivateByDefault(t *testing.T) {
	t.Parallel()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	keyed := startWsloop(t, []string{"WSLOOP_API_KEY=k"}, "--http-addr", ":"+port)
	if strings.Contains(keyed.log.String(), "HTTP API without --api-key") {
		t.Errorf("API warning with a key:\n%s", keyed.log)
	}
	_, port2, _ := net.SplitHostPort(freeAddr(t))
	open := startWsloop(t, nil, "--http-addr", ":"+port2, "--api-insecure")
	if !strings.Contains(open.log.String(), "--api-insecure") {
		t.Errorf("no warning for an open API:\n%s", open.log)
	}
	resp, err := http.Get("http://" + keyed.addr + "/api/websocket/end_point")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ep map[string]any
	if err := json.Unmarshal(body, &ep); err != nil || resp.StatusCode != 200 || ep["end_point"] != "ws://"+keyed.addr+"/ws" {
		t.Errorf("end point on the WebSocket port: %d %s", resp.StatusCode, body)
	}
}

// TestHTTPAPI: --http-addr serves /metrics, /healthz and /readyz.
func TestHTTPAPI(t *testing.T) {
	api := freeAddr(t)
	p := startWsloop(t, nil, "--http-addr", api)
	dial(t, p)
	for _, tc := range []struct{ path, want string }{
		{"/healthz", "ok"},
		{"/readyz", "ready"},
		{"/metrics", "wsloop_connections 1"},
	} {
		resp, err := http.Get("http://" + api + tc.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), tc.want) {
			t.Fatalf("GET %s: %d %q, want 200 containing %q", tc.path, resp.StatusCode, body, tc.want)
		}
	}
}

// TestHTTPAPILeases: the binary wires --api-key (here from WSLOOP_API_KEY),
// --lease-timeout and --require-lease into the HTTP API: the key is
// required, a lease's wss_link connects, a connection without one is
// refused with 1008, and a lease left without heartbeats closes its
// connection with 1008.
func TestHTTPAPILeases(t *testing.T) {
	t.Parallel()
	api := freeAddr(t)
	p := startWsloop(t, []string{"WSLOOP_API_KEY=k3y"}, "--http-addr", api, "--lease-timeout", "1s", "--tick", "20ms", "--require-lease")
	call := func(key, method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+api+path, strings.NewReader(body))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return resp.StatusCode, m
	}
	if code, m := call("", "GET", "/api/online", ""); code != 401 || m["code"] != 401.0 {
		t.Fatalf("online without the key: %d %v", code, m)
	}
	if code, m := call("wrong", "POST", "/api/session/start", ""); code != 401 {
		t.Fatalf("session/start with a wrong key: %d %v", code, m)
	}
	code, m := call("k3y", "GET", "/api/websocket/end_point", "")
	if want := "ws://" + p.addr + "/ws"; code != 200 || m["end_point"] != want || m["ping_interval"] != 15.0 {
		t.Fatalf("end_point: %d %v, want %s", code, m, want)
	}
	code, m = call("k3y", "POST", "/api/session/start", `{"user":"u1"}`)
	data, _ := m["data"].(map[string]any)
	info, _ := data["websocket_info"].(map[string]any)
	links, _ := info["wss_link"].([]any)
	if code != 200 || len(links) != 1 || data["timeout"] != 1.0 {
		t.Fatalf("session/start: %d %v", code, m)
	}

	c, _, err := (&websocket.Dialer{HandshakeTimeout: ioTimeout}).Dial(links[0].(string), nil)
	if err != nil {
		t.Fatalf("dial wss_link: %v", err)
	}
	defer c.Close()
	if _, msg := read(t, c); !welcomeRE.Match(msg) {
		t.Fatalf("first message %q, want the welcome", msg)
	}
	if code := readClose(t, dial(t, p)); code != 1008 {
		t.Errorf("connection without auth_body closed with %d, want 1008", code)
	}
	if code := readClose(t, c); code != 1008 { // no heartbeat: the lease expires
		t.Errorf("lease-bound connection closed with %d, want 1008", code)
	}
	code, m = call("k3y", "POST", "/api/session/batch-heartbeat", `{"conn_ids":["`+data["conn_id"].(string)+`"]}`)
	if failed, _ := m["data"].(map[string]any)["failed_conn_ids"].([]any); code != 200 || len(failed) != 1 {
		t.Errorf("batch-heartbeat after expiry: %d %v", code, m)
	}
}
