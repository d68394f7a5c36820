// Package natstest starts a real nats-server (with JetStream) for tests:
// the binary that .ci/run installs (go install
// github.com/nats-io/nats-server/v2@v2.15.3), found on PATH or in
// $(go env GOPATH)/bin. Without it a test is skipped, or fails when the
// CI environment variable is set.
package natstest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Server is a nats-server that a test starts, stops and starts again on
// the same port and store.
type Server struct {
	t     testing.TB
	bin   string
	port  int
	store string
	cmd   *exec.Cmd
}

// Binary returns the path of nats-server, or skips t (fails it in CI).
func Binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	dirs := []string{os.Getenv("GOBIN")}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, d := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, "nats-server")
		if st, err := os.Stat(p); dir != "" && err == nil && !st.IsDir() {
			return p
		}
	}
	const how = "nats-server is not installed: go install github.com/nats-io/nats-server/v2@v2.15.3"
	if os.Getenv("CI") != "" {
		t.Fatal(how)
	}
	t.Skip(how)
	return ""
}

// Start starts nats-server with JetStream on a free loopback port, its
// store in a temporary directory; it is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ns := &Server{t: t, bin: Binary(t), port: port, store: t.TempDir()}
	ns.Start()
	t.Cleanup(ns.Stop)
	return ns
}

// URL is the server's client URL.
func (ns *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", ns.port) }

// Start starts the server (again, after Stop) and waits until it is ready.
func (ns *Server) Start() {
	ns.t.Helper()
	cmd := exec.Command(ns.bin, "-a", "127.0.0.1", "-p", fmt.Sprint(ns.port), "-js", "-sd", ns.store)
	out, err := cmd.StderrPipe()
	if err != nil {
		ns.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		ns.t.Fatal(err)
	}
	ns.cmd = cmd
	ready := make(chan struct{})
	go func() {
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			if strings.Contains(lines.Text(), "Server is ready") {
				close(ready)
				break
			}
		}
		for lines.Scan() {
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		ns.t.Fatal("nats-server did not start")
	}
}

// Stop kills the server (no goodbye to its clients, like a crash).
func (ns *Server) Stop() {
	if ns.cmd == nil {
		return
	}
	_ = ns.cmd.Process.Kill()
	_ = ns.cmd.Wait()
	ns.cmd = nil
}
