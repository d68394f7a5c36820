package cluster

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsloop/wsloop/httpapi"
	"github.com/wsloop/wsloop/internal/srvtest"
	"github.com/wsloop/wsloop/internal/wstest"
	"github.com/wsloop/wsloop/lease"
	"github.com/wsloop/wsloop/server"
)

// natsServer is a real nats-server (with JetStream) that a test starts,
// stops and starts again on the same port and store.
type natsServer struct {
	t     *testing.T
	bin   string
	port  int
	store string
	cmd   *exec.Cmd
}

// natsBinary finds nats-server: on PATH, or where `go install` puts it.
// .ci/run installs it; elsewhere a machine without it skips (CI fails).
func natsBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	for _, dir := range []string{os.Getenv("GOBIN"), filepath.Join(os.Getenv("GOPATH"), "bin"), filepath.Join(os.Getenv("HOME"), "go", "bin")} {
		if p := filepath.Join(dir, "nats-server"); dir != "" && fileExists(p) {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("nats-server is not installed: go install github.com/nats-io/nats-server/v2@v2.15.3")
	}
	t.Skip("nats-server is not installed (go install github.com/nats-io/nats-server/v2@v2.15.3)")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// startNATS starts nats-server with JetStream on a free port; it is
// stopped when the test ends.
func startNATS(t *testing.T) *natsServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ns := &natsServer{t: t, bin: natsBinary(t), port: port, store: t.TempDir()}
	ns.start()
	t.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", ns.port) }

func (ns *natsServer) start() {
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

func (ns *natsServer) stop() {
	if ns.cmd == nil {
		return
	}
	_ = ns.cmd.Process.Kill()
	_ = ns.cmd.Wait()
	ns.cmd = nil
}

// testNode is one wsloop node of a test cluster: a server with its
// cluster Node, a lease table on the cluster's store, and the HTTP API.
type testNode struct {
	name   string
	node   *Node
	srv    *server.Server
	leases *lease.Table
	url    string // ws://
	api    string // http://
	stop   func()
}

// startNode starts a node joined to the NATS at natsURL. Its Router binds
// connections to the user named by the "user" query parameter.
func startNode(t *testing.T, natsURL, name string, leaseTimeout time.Duration) *testNode {
	t.Helper()
	node, err := New(Config{URL: natsURL, Name: name, Logger: wstest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	leases, err := lease.New(lease.Config{Timeout: leaseTimeout, Shared: NewLeaseStore(node, leaseTimeout), Logger: wstest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv, url := srvtest.Start(t, server.Config{Broker: node, NodeID: node.ID()}, leases.Wrap(srvtest.UserRouter()))
	node.Attach(srv)
	if err := leases.Attach(srv); err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{Server: srv, Leases: leases, Logger: wstest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(api)
	tn := &testNode{name: name, node: node, srv: srv, leases: leases, url: url, api: hs.URL}
	stopped := false
	tn.stop = func() {
		if stopped {
			return
		}
		stopped = true
		hs.Close()
		leases.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	t.Cleanup(tn.stop)
	return tn
}

// startCluster starts NATS and n nodes, and waits until every node knows
// every other.
func startCluster(t *testing.T, n int, leaseTimeout time.Duration) (*natsServer, []*testNode) {
	t.Helper()
	ns := startNATS(t)
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = startNode(t, ns.url(), fmt.Sprintf("node-%d", i+1), leaseTimeout)
	}
	waitFor(t, "every node to know the others", func() bool {
		for _, tn := range nodes {
			if tn.node.Stats().Nodes != n {
				return false
			}
		}
		return true
	})
	return ns, nodes
}

// waitFor polls cond (real sockets and a real NATS: no clock to move)
// until it holds, for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
