package cluster

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsloop/wsloop/internal/natstest"
	"github.com/wsloop/wsloop/internal/wstest"
)

func apiPost(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var env struct {
		Data map[string]any `json:"data"`
	}
	_ = json.Unmarshal(raw, &env)
	return res.StatusCode, env.Data
}

// TestClusterLeases: a lease started on node 1 is accepted on node 2,
// heartbeated on node 3, and its expiry closes its connection on node 2
// with 1008 "lease expired"; a lease ended on one node closes its
// connections on every node with 1000 "lease ended".
func TestClusterLeases(t *testing.T) {
	const timeout = 2 * time.Second
	_, nodes := startCluster(t, 3, timeout)
	code, data := apiPost(t, nodes[0].api+"/api/session/start", `{"user":"leased"}`)
	if code != 200 {
		t.Fatalf("session/start: %d %v", code, data)
	}
	id := data["conn_id"].(string)
	auth := data["websocket_info"].(map[string]any)["auth_body"].(string)
	waitFor(t, "node 2 to see the lease", func() bool { return nodes[1].leases.Stats().Active == 1 })
	cl := wstest.NewClient(t, nodes[1].url+"?auth_body="+auth)
	waitSubscribed(t, nodes[1:2]) // node 2's subscription to the user has reached NATS
	// Bound to the lease's user: a send from node 3 reaches it.
	if err := nodes[2].srv.SendUser("leased", "hello", 1); err != nil {
		t.Fatal(err)
	}
	cl.Push("hello")
	// Heartbeats on node 3 keep it alive past its timeout.
	for i := 0; i < 3; i++ {
		time.Sleep(timeout / 2) // JetStream ages the lease in real time
		if code, data := apiPost(t, nodes[2].api+"/api/session/heartbeat", `{"conn_id":"`+id+`"}`); code != 200 {
			t.Fatalf("heartbeat on node 3: %d %v", code, data)
		}
	}
	if code, data := apiPost(t, nodes[0].api+"/api/session/batch-heartbeat", `{"conn_ids":["`+id+`","nope"]}`); code != 200 ||
		len(data["failed_conn_ids"].([]any)) != 1 {
		t.Fatalf("batch-heartbeat: %d %v", code, data)
	}
	select {
	case <-cl.Done:
		t.Fatalf("closed while heartbeated: %v", cl.Err.Load())
	default:
	}
	// Then none: expired, and closed on node 2.
	start := time.Now()
	select {
	case <-cl.Done:
	case <-time.After(3 * timeout):
		t.Fatal("the connection of an expired lease is still open")
	}
	if ce, ok := cl.Err.Load().(*websocket.CloseError); !ok || ce.Code != 1008 || ce.Text != "lease expired" {
		t.Fatalf("closed with %v, want 1008 lease expired", cl.Err.Load())
	}
	if d := time.Since(start); d < timeout/2 {
		t.Fatalf("closed %v after the last heartbeat", d)
	}
	if code, _ := apiPost(t, nodes[1].api+"/api/session/heartbeat", `{"conn_id":"`+id+`"}`); code != 404 {
		t.Fatalf("heartbeat of an expired lease: %d", code)
	}

	// Ended on node 2: its connections on nodes 1 and 3 close.
	_, data = apiPost(t, nodes[0].api+"/api/session/start", `{}`)
	id, auth = data["conn_id"].(string), data["websocket_info"].(map[string]any)["auth_body"].(string)
	waitFor(t, "nodes 1 and 3 to see the lease", func() bool {
		return nodes[0].leases.Stats().Active == 1 && nodes[2].leases.Stats().Active == 1
	})
	c1 := wstest.NewClient(t, nodes[0].url+"?auth_body="+auth)
	c3 := wstest.NewClient(t, nodes[2].url+"?auth_body="+auth)
	if code, _ := apiPost(t, nodes[1].api+"/api/session/end", `{"conn_id":"`+id+`"}`); code != 200 {
		t.Fatalf("session/end on node 2: %d", code)
	}
	for _, c := range []*wstest.Client{c1, c3} {
		<-c.Done
		if ce, ok := c.Err.Load().(*websocket.CloseError); !ok || ce.Code != 1000 || ce.Text != "lease ended" {
			t.Fatalf("closed with %v, want 1000 lease ended", c.Err.Load())
		}
	}
	// A bad auth_body is refused on every node.
	bad := wstest.Dial(t, nodes[2].url+"?auth_body="+auth)
	if ce := wstest.ExpectClose(t, bad, 1008); ce.Text != "unknown or expired auth_body" {
		t.Fatalf("ended lease's auth_body: %q", ce.Text)
	}
}

// TestClusterNATSRestart: with NATS stopped, local delivery goes on and
// cross-node delivery stops (counted); once NATS is back, the nodes
// reconnect and resubscribe by themselves, and cross-node delivery resumes
// within 2 s.
func TestClusterNATSRestart(t *testing.T) {
	ns, nodes := startCluster(t, 2, 0)
	here := wstest.NewClient(t, nodes[0].url+"?user=here")
	far := wstest.NewClient(t, nodes[1].url+"?user=far")
	here.OK("join", map[string]any{"room": "r"})
	far.OK("join", map[string]any{"room": "r"})
	waitSubscribed(t, nodes)
	far.Quiet(100*time.Millisecond, "enter_room")
	pub := func(n int) {
		t.Helper()
		if err := nodes[0].srv.PublishMessage("r", "ops", n); err != nil {
			t.Fatal(err)
		}
	}
	pub(1)
	for _, c := range []*wstest.Client{here, far} {
		if d := wstest.Data(c.Push("message")); d["payload"] != 1.0 {
			t.Fatalf("before: %v", d)
		}
	}

	ns.Stop()
	waitFor(t, "the nodes to see NATS gone", func() bool { return !nodes[0].node.Stats().Connected })
	errs := nodes[0].srv.Stats().BrokerErrors
	pub(2) // during the outage: node 1's member only
	if d := wstest.Data(here.Push("message")); d["payload"] != 2.0 {
		t.Fatalf("local delivery during the outage: %v", d)
	}
	if nodes[0].srv.Stats().BrokerErrors <= errs {
		t.Error("a publish that could not leave the node was not counted")
	}

	ns.Start()
	back := time.Now()
	for n := 3; ; n++ {
		pub(n)
		if d := wstest.Data(here.Push("message")); d["payload"] != float64(n) {
			t.Fatalf("local delivery after the outage: %v", d)
		}
		select {
		case m := <-far.Pushes:
			if m["cmd"] == "message" {
				if d := time.Since(back); d > 2*time.Second {
					t.Fatalf("cross-node delivery back %v after NATS", d)
				}
				if wstest.Data(m)["payload"] == 2.0 {
					t.Fatal("the publish made during the outage arrived (at most once: it must be lost)")
				}
				return
			}
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(back) > 5*time.Second {
			t.Fatal("cross-node delivery did not come back")
		}
	}
}

// TestClusterNATSDownAtStart: a node whose NATS cannot be reached serves
// its own clients, says it is not connected, and joins once NATS is up.
func TestClusterNATSDownAtStart(t *testing.T) {
	ns := natstest.Start(t)
	ns.Stop()
	tn := startNode(t, ns.URL(), "lonely", 0)
	if tn.node.Stats().Connected {
		t.Fatal("connected to a NATS that is down")
	}
	c := wstest.NewClient(t, tn.url+"?user=u")
	c.OK("join", map[string]any{"room": "r"})
	c.OK("publish", map[string]any{"room": "r", "payload": "local"})
	if d := wstest.Data(c.Push("message")); d["payload"] != "local" {
		t.Fatalf("local delivery without NATS: %v", d)
	}
	ns.Start()
	waitFor(t, "the node to join NATS", func() bool { return tn.node.Stats().Connected })
	other := startNode(t, ns.URL(), "other", 0)
	waitFor(t, "the nodes to know each other", func() bool { return tn.node.Stats().Nodes == 2 })
	if err := other.srv.PublishMessage("r", "far", "hello"); err != nil {
		t.Fatal(err)
	}
	if d := wstest.Data(c.Push("message")); d["payload"] != "hello" {
		t.Fatalf("after joining: %v", d)
	}
}
