package cluster

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wsloop/wsloop/httpapi"
	"github.com/wsloop/wsloop/internal/natstest"
	"github.com/wsloop/wsloop/internal/srvtest"
	"github.com/wsloop/wsloop/internal/wstest"
	"github.com/wsloop/wsloop/lease"
	"github.com/wsloop/wsloop/server"
)

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
func startCluster(t *testing.T, n int, leaseTimeout time.Duration) (*natstest.Server, []*testNode) {
	t.Helper()
	ns := natstest.Start(t)
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = startNode(t, ns.URL(), fmt.Sprintf("node-%d", i+1), leaseTimeout)
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
