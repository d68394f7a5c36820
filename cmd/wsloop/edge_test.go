package main

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/internal/wstest"
)

// lookTool finds a tool .ci/run installs; elsewhere a machine without it
// skips, CI fails.
func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed: apt-get install %s", name, pkg)
	}
	t.Skipf("%s is not installed (apt-get install %s)", name, pkg)
	return ""
}

// waitListening waits until addr accepts connections.
func waitListening(t *testing.T, addr string, why func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v\n%s", addr, err, why())
		}
		time.Sleep(20 * time.Millisecond) // a real process starting: nothing to wait on but its port
	}
}

// TestNginxProxyProtocol: Debian's nginx with deploy/nginx/wsloop-stream.conf
// (its addresses and certificate paths swapped for the test's) terminates
// TLS in front of wsloop and sends the PROXY protocol; a wss:// client
// connecting from 127.0.0.7 is seen by wsloop as 127.0.0.7, not as nginx.
func TestNginxProxyProtocol(t *testing.T) {
	nginx := lookTool(t, "nginx", "nginx libnginx-mod-stream")
	module := "/usr/lib/nginx/modules/ngx_stream_module.so"
	if _, err := os.Stat(module); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: %v (apt-get install libnginx-mod-stream)", module, err)
		}
		t.Skip("nginx's stream module is not installed (apt-get install libnginx-mod-stream)")
	}
	dir := t.TempDir()
	ca := wstest.NewCA(t, dir, "nginx")
	p := startWsloop(t, nil, "--proxy-protocol", "--trusted-proxies", "127.0.0.1", "--log-level", "debug")

	conf, err := os.ReadFile("../../deploy/nginx/wsloop-stream.conf")
	if err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	s := string(conf)
	for old, repl := range map[string]string{
		"listen 443 ssl": "listen " + listen + " ssl",
		"server 127.0.0.1:8080 max_fails=3 fail_timeout=10s;\n        server 127.0.0.1:8090 max_fails=3 fail_timeout=10s;\n        server 127.0.0.1:8100 max_fails=3 fail_timeout=10s;": "server " + p.addr + ";",
		"/etc/ssl/wsloop/fullchain.pem": ca.CertFile,
		"/etc/ssl/wsloop/privkey.pem":   ca.KeyFile,
	} {
		if !strings.Contains(s, old) {
			t.Fatalf("deploy/nginx/wsloop-stream.conf no longer has %q", old)
		}
		s = strings.ReplaceAll(s, old, repl)
	}
	if err := os.WriteFile(filepath.Join(dir, "stream.conf"), []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	// One process (no master and workers), so that stopping it leaves no
	// worker behind.
	main := "load_module " + module + ";\ndaemon off;\nmaster_process off;\npid " + dir + "/nginx.pid;\nerror_log " + dir + "/error.log info;\n" +
		"events { worker_connections 256; }\ninclude " + dir + "/stream.conf;\n"
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	outFile, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	cmd.Stdout, cmd.Stderr = outFile, outFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // nginx's fast shutdown
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	nginxLog := func() string {
		a, _ := os.ReadFile(filepath.Join(dir, "stdout.log"))
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return string(a) + string(b)
	}
	waitListening(t, listen, nginxLog)

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: &tls.Config{RootCAs: ca.Pool},
		NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.7")}}).DialContext}
	c, _, err := d.Dial("wss://"+listen+"/ws", nil)
	if err != nil {
		t.Fatalf("wss through nginx: %v\n%s", err, nginxLog())
	}
	defer c.Close()
	if _, msg := read(t, c); !welcomeRE.Match(msg) {
		t.Fatalf("first message %q", msg)
	}
	write(t, c, websocket.TextMessage, []byte(`{"cmd":"echo","seqno":"1","data":"through nginx"}`))
	if _, msg := read(t, c); !strings.Contains(string(msg), `"data":"through nginx"`) {
		t.Fatalf("echo %s", msg)
	}
	if log := p.log.String(); !strings.Contains(log, `msg="connection open"`) || !strings.Contains(log, "remote=127.0.0.7:") {
		t.Fatalf("wsloop did not see the client's address 127.0.0.7:\n%s", log)
	}
}

// TestHAProxyConfig: deploy/haproxy/haproxy.cfg is valid for Debian's
// HAProxy (its certificate path swapped for the test's).
func TestHAProxyConfig(t *testing.T) {
	haproxy := lookTool(t, "haproxy", "haproxy")
	dir := t.TempDir()
	ca := wstest.NewCA(t, dir, "haproxy")
	conf, err := os.ReadFile("../../deploy/haproxy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(conf), "/etc/ssl/wsloop/wsloop.pem", ca.ComboFile)
	file := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(haproxy, "-c", "-f", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "valid") {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}

// TestTLSBinary: --tls-cert and --tls-key serve wss:// on --addr (gorilla
// over crypto/tls, verified against the test CA; the HTTP API's end point
// says wss://); SIGHUP re-reads both files: a new connection gets the new
// certificate while the connection opened before goes on; a SIGHUP with a
// broken file keeps the certificate in use and says why.
func TestTLSBinary(t *testing.T) {
	dir := t.TempDir()
	old, next := wstest.NewCA(t, dir, "old"), wstest.NewCA(t, dir, "new")
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install := func(ca *wstest.CA) {
		t.Helper()
		for src, dst := range map[string]string{ca.CertFile: cert, ca.KeyFile: key} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst+".tmp", b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(dst+".tmp", dst); err != nil { // as certbot and friends replace them
				t.Fatal(err)
			}
		}
	}
	install(old)
	api := freeAddr(t)
	p := startWsloop(t, nil, "--tls-cert", cert, "--tls-key", key, "--http-addr", api)
	if log := p.log.String(); !strings.Contains(log, "tls=true") {
		t.Fatalf("serving line does not say tls=true:\n%s", log)
	}
	dial := func(ca *wstest.CA) (*websocket.Conn, error) {
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}
		c, _, err := d.Dial("wss://"+p.addr+"/ws", nil)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			if _, msg := read(t, c); !welcomeRE.Match(msg) {
				t.Fatalf("first message %q", msg)
			}
		}
		return c, err
	}
	echo := func(c *websocket.Conn, text string) {
		t.Helper()
		write(t, c, websocket.TextMessage, []byte(`{"cmd":"echo","seqno":"1","data":"`+text+`"}`))
		if _, msg := read(t, c); !strings.Contains(string(msg), `"data":"`+text+`"`) {
			t.Fatalf("echo %s", msg)
		}
	}
	first, err := dial(old)
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	echo(first, "over TLS")
	res, err := http.Get("http://" + api + "/api/websocket/end_point")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"end_point":"wss://`+p.addr+`/ws"`) {
		t.Fatalf("end point %s", body)
	}

	install(next)
	p.signal(t, syscall.SIGHUP)
	p.log.await(t, `msg="TLS certificate reloaded"`, 1)
	if !strings.Contains(p.log.String(), `subject="CN=wsloop new"`) {
		t.Fatalf("reload line does not name the new certificate:\n%s", p.log)
	}
	if _, err := dial(old); err == nil {
		t.Fatal("the old CA still verifies new connections after the reload")
	}
	second, err := dial(next)
	if err != nil {
		t.Fatalf("wss after the reload: %v", err)
	}
	echo(second, "new certificate")
	echo(first, "still open")

	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGHUP)
	p.log.await(t, `msg="SIGHUP: certificate not reloaded, the one in use stays"`, 1)
	third, err := dial(next)
	if err != nil {
		t.Fatalf("wss after a failed reload: %v", err)
	}
	echo(third, "kept")
	echo(first, "still open")
}

// TestSIGHUPWithoutTLS: a SIGHUP to a server without TLS is logged and
// changes nothing (it never ends the process).
func TestSIGHUPWithoutTLS(t *testing.T) {
	p := startWsloop(t, nil)
	p.signal(t, syscall.SIGHUP)
	p.log.await(t, "SIGHUP: nothing to reload", 1)
	c, _, err := websocket.DefaultDialer.Dial("ws://"+p.addr+"/ws", nil)
	if err != nil {
		t.Fatalf("after SIGHUP: %v", err)
	}
	c.Close()
}

// TestSpareProc: the binary runs one P more than it has event loops,
// unless GOMAXPROCS is set, which it keeps.
func TestSpareProc(t *testing.T) {
	p := startWsloop(t, nil, "--loops", "3")
	if log := p.log.String(); !strings.Contains(log, "gomaxprocs=4") {
		t.Fatalf("--loops 3 without GOMAXPROCS: want gomaxprocs=4 in\n%s", log)
	}
	p = startWsloop(t, []string{"GOMAXPROCS=7"}, "--loops", "3")
	if log := p.log.String(); !strings.Contains(log, "gomaxprocs=7") {
		t.Fatalf("GOMAXPROCS=7: want it kept in\n%s", log)
	}
}
