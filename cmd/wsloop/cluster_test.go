package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsloop/wsloop/internal/natstest"
)

// TestClusterFlags: two binaries given --nats-url (one by flag, one by
// WSLOOP_NATS_URL) serve one room: a message published on one reaches a
// member on the other; each names itself (--node-name, or host name and
// port by default) and its metrics say it is in a cluster of two.
func TestClusterFlags(t *testing.T) {
	ns := natstest.Start(t)
	apiA, apiB := freeAddr(t), freeAddr(t)
	a := startWsloop(t, nil, "--http-addr", apiA, "--nats-url", ns.URL(), "--node-name", "node-a")
	b := startWsloop(t, []string{"WSLOOP_NATS_URL=" + ns.URL()}, "--http-addr", apiB)
	metric := func(api, line string) bool {
		resp, err := http.Get("http://" + api + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), "\n"+line+"\n")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !(metric(apiA, "wsloop_cluster_nodes 2") && metric(apiB, "wsloop_cluster_nodes 2")) {
		if time.Now().After(deadline) {
			t.Fatalf("the nodes do not know each other; logs:\n%s\n%s", a.log, b.log)
		}
		time.Sleep(20 * time.Millisecond) // real processes: nothing to wait on but their answers
	}
	if !metric(apiA, "wsloop_cluster_connected 1") {
		t.Error("wsloop_cluster_connected is not 1")
	}
	_, port, _ := strings.Cut(b.addr, ":")
	if !strings.Contains(a.log.String(), `msg="node joined" node=node-a other=`) || !strings.Contains(a.log.String(), ":"+port) {
		t.Errorf("node-a's log does not name node b (default name: host name and port %s):\n%s", port, a.log)
	}

	member := dial(t, a)
	read(t, member) // welcome
	write(t, member, websocket.TextMessage, []byte(`{"cmd":"join","seqno":"1","data":{"room":"r"}}`))
	if _, p := read(t, member); !strings.Contains(string(p), `"status":0`) {
		t.Fatalf("join: %s", p)
	}
	pub := dial(t, b)
	read(t, pub)
	// The subscription of node a may still be on its way to NATS: publish
	// until the member gets one (at most once across nodes).
	for i := 0; ; i++ {
		write(t, pub, websocket.TextMessage, []byte(`{"cmd":"publish","seqno":"2","data":{"room":"r","payload":"hi"}}`))
		if _, p := read(t, pub); !strings.Contains(string(p), `"status":0`) {
			t.Fatalf("publish: %s", p)
		}
		_ = member.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, p, err := member.ReadMessage()
		if err == nil {
			if !strings.Contains(string(p), `"payload":"hi"`) {
				t.Fatalf("member got %s", p)
			}
			break
		}
		if i == 25 {
			t.Fatalf("the member on node a got nothing published on node b: %v", err)
		}
		member = redial(t, a, member)
	}
}

// redial replaces c, whose read timed out (gorilla's connection is then
// unusable), with a new member of room r on p.
func redial(t *testing.T, p *proc, c *websocket.Conn) *websocket.Conn {
	t.Helper()
	_ = c.Close()
	c = dial(t, p)
	read(t, c)
	write(t, c, websocket.TextMessage, []byte(`{"cmd":"join","seqno":"1","data":{"room":"r"}}`))
	read(t, c)
	return c
}
