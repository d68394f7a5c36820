package cluster

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsloop/wsloop/internal/wstest"
	"github.com/wsloop/wsloop/server"
)

// members joins n clients per node to room, as users "<prefix><node>-<i>".
func members(t *testing.T, nodes []*testNode, room, prefix string, n int) []*wstest.Client {
	t.Helper()
	var cls []*wstest.Client
	for ni, tn := range nodes {
		for i := 0; i < n; i++ {
			cl := wstest.NewClient(t, fmt.Sprintf("%s?user=%s%d-%d", tn.url, prefix, ni+1, i))
			cl.OK("join", map[string]any{"room": room})
			cls = append(cls, cl)
		}
	}
	return cls
}

// waitSubscribed waits until the room's subject is subscribed on every
// node that has members (a join returns before NATS has the SUB).
func waitSubscribed(t *testing.T, nodes []*testNode) {
	t.Helper()
	for _, tn := range nodes {
		if err := tn.node.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClusterRoomFanout: three nodes, members of one room on each, three
// publishers (one per node, one of them not a member); every member gets
// every message exactly once, in publish order per publisher.
func TestClusterRoomFanout(t *testing.T) {
	_, nodes := startCluster(t, 3, 0)
	cls := members(t, nodes, "live", "m", 5)
	waitSubscribed(t, nodes)
	const per = 50
	pubs := []*wstest.Client{cls[0], cls[5], wstest.NewClient(t, nodes[2].url+"?user=outsider")}
	for i := 0; i < per; i++ {
		for p, pub := range pubs {
			pub.Send("publish", map[string]any{"room": "live", "payload": map[string]any{"p": p, "n": i}})
		}
	}
	for _, cl := range cls {
		next := map[float64]float64{}
		for got := 0; got < per*len(pubs); got++ {
			m := wstest.Data(cl.Push("message"))
			pl := m["payload"].(map[string]any)
			p, n := pl["p"].(float64), pl["n"].(float64)
			if n != next[p] {
				t.Fatalf("%s: publisher %v message %v, want %v (lost, repeated or out of order)", cl.SID, p, n, next[p])
			}
			next[p]++
			if m["room"] != "live" {
				t.Fatalf("message %v", m)
			}
		}
		cl.Quiet(50*time.Millisecond, "enter_room")
	}
	// One NATS message per publish: the three publishers' 150 publishes
	// left their nodes as 150 messages, however many nodes have members.
	var published uint64
	for _, tn := range nodes {
		published += tn.node.Stats().Published
	}
	if want := uint64(per * len(pubs)); published < want || published > want+20 { // + enter_room events
		t.Errorf("%d messages published for %d publishes", published, want)
	}
}

// TestClusterRoomOnlyElsewhere: a publish (client, HTTP API, library) to a
// room whose members are all on other nodes reaches them; a node
// subscribes to a room only while it has members.
func TestClusterRoomOnlyElsewhere(t *testing.T) {
	_, nodes := startCluster(t, 3, 0)
	m := wstest.NewClient(t, nodes[1].url+"?user=far")
	m.OK("join", map[string]any{"room": "r"})
	waitSubscribed(t, nodes)
	if nodes[0].node.Subscriptions() != 0 || nodes[1].node.Subscriptions() != 2 { // room r and user far
		t.Fatalf("subscriptions: node 1 %d, node 2 %d", nodes[0].node.Subscriptions(), nodes[1].node.Subscriptions())
	}
	pub := wstest.NewClient(t, nodes[0].url+"?user=here")
	pub.OK("publish", map[string]any{"room": "r", "payload": "by client"})
	if err := nodes[2].srv.PublishMessage("r", "lib", "by library"); err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(nodes[0].api+"/api/publish", "application/json", strings.NewReader(`{"room":"r","payload":"by api"}`))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("API publish: %v %v", res, err)
	}
	res.Body.Close()
	got := map[any]bool{} // three publishers, three nodes: no order between them
	for i := 0; i < 3; i++ {
		got[wstest.Data(m.Push("message"))["payload"]] = true
	}
	if !got["by client"] || !got["by library"] || !got["by api"] {
		t.Fatalf("got %v", got)
	}
	m.OK("leave", map[string]any{"room": "r"})
	waitFor(t, "node 2 to unsubscribe from r", func() bool { return nodes[1].node.Subscriptions() == 1 })
}

// TestClusterUsersAndEveryone: send, ptp, broadcast, kick and disconnect
// reach a user's connections on every node; a send to a session id
// reaches that session wherever it is.
func TestClusterUsersAndEveryone(t *testing.T) {
	_, nodes := startCluster(t, 3, 0)
	a1 := wstest.NewClient(t, nodes[0].url+"?user=alice")
	a2 := wstest.NewClient(t, nodes[1].url+"?user=alice")
	anon := wstest.NewClient(t, nodes[2].url)
	bob := wstest.NewClient(t, nodes[2].url+"?user=bob")
	for _, cl := range []*wstest.Client{a1, a2, anon, bob} {
		cl.OK("join", map[string]any{"room": "r"})
	}
	waitSubscribed(t, nodes)
	for _, cl := range []*wstest.Client{a1, a2, anon, bob} {
		cl.Quiet(100*time.Millisecond, "enter_room")
	}

	bob.OK("send", map[string]any{"to": "alice", "payload": "dm"})
	bob.OK("publish", map[string]any{"room": "r", "notify_type": "ptp", "to": "alice", "payload": "ptp"})
	for _, cl := range []*wstest.Client{a1, a2} {
		for _, want := range []string{"dm", "ptp"} {
			if d := wstest.Data(cl.Push("message")); d["payload"] != want || d["from"] != "bob" {
				t.Fatalf("alice got %v, want %s from bob", d, want)
			}
		}
	}
	// A session id as `to`: the anonymous session on node 3, from node 1;
	// with a guessed random half, it reaches no one on any node.
	id, tag, _ := server.ParseSID(anon.SID)
	a1.OK("send", map[string]any{"to": string(server.AppendSID(nil, id, tag^1)), "payload": "guessed"})
	a1.OK("send", map[string]any{"to": anon.SID, "payload": "to your sid"})
	if d := wstest.Data(anon.Push("message")); d["payload"] != "to your sid" {
		t.Fatalf("anonymous got %v", d)
	}
	if err := nodes[0].srv.SendUser("alice", "ding", 1); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*wstest.Client{a1, a2} {
		cl.Push("ding")
	}
	if err := nodes[1].srv.Broadcast("news", "all"); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*wstest.Client{a1, a2, anon, bob} {
		if m := cl.Push("news"); m["data"] != "all" {
			t.Fatalf("broadcast %v", m)
		}
	}
	bob.Quiet(100 * time.Millisecond)

	// Kick alice out of r from node 3: both her connections leave it.
	if err := nodes[2].srv.Kick("r", "alice"); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*wstest.Client{a1, a2} {
		if d := wstest.Data(cl.Push("exit_room")); d["user"] != "alice" || d["reason"] != "kick" {
			t.Fatalf("kick %v", d)
		}
	}
	// Disconnect alice from node 3, then the anonymous session by sid
	// from node 1.
	if err := nodes[2].srv.DisconnectUser("alice", 4001, "banned"); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*wstest.Client{a1, a2} {
		<-cl.Done
		if ce, ok := cl.Err.Load().(*websocket.CloseError); !ok || ce.Code != 4001 || ce.Text != "banned" {
			t.Fatalf("alice closed with %v", cl.Err.Load())
		}
	}
	sid := mustSID(t, anon.SID)
	if err := nodes[0].srv.Disconnect(sid, 4002, "bye"); err != nil {
		t.Fatal(err)
	}
	<-anon.Done
	if ce, ok := anon.Err.Load().(*websocket.CloseError); !ok || ce.Code != 4002 {
		t.Fatalf("anonymous closed with %v", anon.Err.Load())
	}
	// Session ids are unique across the cluster: each carries its node.
	if n1, n3 := sidNode(mustSID(t, a1.SID)), sidNode(sid); n1 == n3 || n1 != nodes[0].node.ID() || n3 != nodes[2].node.ID() {
		t.Fatalf("session ids carry nodes %d and %d, want %d and %d", n1, n3, nodes[0].node.ID(), nodes[2].node.ID())
	}
}

func mustSID(t *testing.T, s string) uint64 {
	t.Helper()
	sid, _, err := server.ParseSID(s)
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

func sidNode(sid uint64) uint16 { return server.SIDNode(sid) }
