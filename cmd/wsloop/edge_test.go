package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// testCA is a certificate authority and a server certificate it signed
// for 127.0.0.1 and localhost, written as PEM files.
type testCA struct {
	pool              *x509.CertPool
	caFile            string
	certFile, keyFile string // the server's chain and key
	comboFile         string // chain and key in one file (HAProxy)
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wsloop test CA " + name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "wsloop " + name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	c := &testCA{pool: x509.NewCertPool(), caFile: filepath.Join(dir, name+"-ca.pem"), certFile: filepath.Join(dir, name+"-cert.pem"),
		keyFile: filepath.Join(dir, name+"-key.pem"), comboFile: filepath.Join(dir, name+"-combo.pem")}
	c.pool.AddCert(ca)
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	for file, data := range map[string][]byte{c.caFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		c.certFile: chain, c.keyFile: keyPEM, c.comboFile: append(append([]byte(nil), chain...), keyPEM...)} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

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
	ca := newTestCA(t, dir, "nginx")
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
		"/etc/ssl/wsloop/fullchain.pem": ca.certFile,
		"/etc/ssl/wsloop/privkey.pem":   ca.keyFile,
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

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: &tls.Config{RootCAs: ca.pool},
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
	ca := newTestCA(t, dir, "haproxy")
	conf, err := os.ReadFile("../../deploy/haproxy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(conf), "/etc/ssl/wsloop/wsloop.pem", ca.comboFile)
	file := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(haproxy, "-c", "-f", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "valid") {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}
