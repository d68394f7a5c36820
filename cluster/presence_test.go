package cluster

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsloop/wsloop/clock"
	"github.com/wsloop/wsloop/internal/natstest"
	"github.com/wsloop/wsloop/internal/wstest"
	"github.com/wsloop/wsloop/rooms"
)

func apiGet(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var env struct {
		Code int             `json:"code"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil || env.Code != 0 {
		t.Fatalf("GET %s: %d %v", url, env.Code, err)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatal(err)
	}
}

type onlineAnswer struct {
	Users, Conns, Rooms int
	Partial             bool
	Missing             []string
}

type membersAnswer struct {
	Count   int `json:"count"`
	Conns   int `json:"conns"`
	Members []struct {
		User  string          `json:"user"`
		Conns int             `json:"conns"`
		Meta  json.RawMessage `json:"meta"`
	} `json:"members"`
	Partial bool     `json:"partial"`
	Missing []string `json:"missing"`
}

// TestClusterPresence: members and online answer for the whole cluster, a
// user on two nodes counted once; a node that does not answer leaves the
// answer partial, naming it; a node that dies disappears from presence.
func TestClusterPresence(t *testing.T) {
	ns, nodes := startCluster(t, 3, 0)
	a1 := wstest.NewClient(t, nodes[0].url+"?user=alice")
	a2 := wstest.NewClient(t, nodes[1].url+"?user=alice")
	bob := wstest.NewClient(t, nodes[2].url+"?user=bob")
	carol := wstest.NewClient(t, nodes[0].url+"?user=carol")
	a1.OK("join", map[string]any{"room": "r", "meta": map[string]any{"seat": 1}})
	a2.OK("join", map[string]any{"room": "r"})
	bob.OK("join", map[string]any{"room": "r"})
	carol.OK("join", map[string]any{"room": "other"})

	// The members command, on node 3, is answered with every node's part.
	m := bob.OK("members", map[string]any{"room": "r"})
	var got membersAnswer
	b, _ := json.Marshal(m["data"])
	_ = json.Unmarshal(b, &got)
	users := map[string]int{}
	for _, u := range got.Members {
		users[u.User] = u.Conns
	}
	if got.Count != 2 || got.Conns != 3 || users["alice"] != 2 || users["bob"] != 1 || got.Partial {
		t.Fatalf("members of r: %+v", got)
	}
	var on onlineAnswer
	apiGet(t, nodes[1].api+"/api/online", &on)
	if on.Users != 3 || on.Conns != 4 || on.Rooms != 2 || on.Partial {
		t.Fatalf("online: %+v, want 3 users, 4 conns, 2 rooms", on)
	}

	// A node that is alive (it announces itself) but does not answer.
	ghost, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer ghost.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			_ = ghost.Publish("wsloop.nodes", []byte("hi 7 ghost"))
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	waitFor(t, "the ghost to be known", func() bool { return nodes[2].node.Stats().Nodes == 4 })
	start := time.Now()
	var mem membersAnswer
	apiGet(t, nodes[2].api+"/api/rooms/r/members", &mem)
	if !mem.Partial || len(mem.Missing) != 1 || mem.Missing[0] != "ghost" || mem.Count != 2 {
		t.Fatalf("members with a silent node: %+v", mem)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the answer waited %v for a silent node", d)
	}

	// Node 1 dies without a word (its NATS link cut, then its server):
	// its users are gone from the very next answer, which names it.
	nodes[0].node.nc.Close()
	nodes[0].stop()
	apiGet(t, nodes[2].api+"/api/online", &on)
	if on.Users != 2 || on.Conns != 2 || on.Rooms != 1 {
		t.Fatalf("online after node 1 died: %+v, want alice (node 2) and bob", on)
	}
	sort.Strings(on.Missing)
	if !on.Partial || strings.Join(on.Missing, ",") != "ghost,node-1" {
		t.Fatalf("online after node 1 died: missing %v, want the ghost and node 1", on.Missing)
	}
}

// TestClusterRoomEvents: enter_room and exit_room are per node: a user's
// first connection in a room on a node announces the user to every member
// of the room, and its last connection there announces the exit. A user in
// the room from two nodes is announced by each.
func TestClusterRoomEvents(t *testing.T) {
	_, nodes := startCluster(t, 3, 0)
	watcher := wstest.NewClient(t, nodes[2].url+"?user=watcher")
	watcher.OK("join", map[string]any{"room": "r"})
	waitSubscribed(t, nodes)
	expect := func(cmd, user string) {
		t.Helper()
		if d := wstest.Data(watcher.Push(cmd)); d["user"] != user {
			t.Fatalf("%s %v, want %s", cmd, d, user)
		}
	}
	a1 := wstest.NewClient(t, nodes[0].url+"?user=alice")
	a1.OK("join", map[string]any{"room": "r"})
	expect("enter_room", "alice") // alice's first connection on node 1
	a1b := wstest.NewClient(t, nodes[0].url+"?user=alice")
	a1b.OK("join", map[string]any{"room": "r"})
	watcher.Quiet(100 * time.Millisecond) // her second on node 1: nothing
	a2 := wstest.NewClient(t, nodes[1].url+"?user=alice")
	a2.OK("join", map[string]any{"room": "r"})
	expect("enter_room", "alice") // her first on node 2: announced again
	a1.OK("leave", map[string]any{"room": "r"})
	watcher.Quiet(100 * time.Millisecond) // not her last on node 1
	a1b.OK("leave", map[string]any{"room": "r"})
	if d := wstest.Data(watcher.Push("exit_room")); d["user"] != "alice" || d["reason"] != "leave" {
		t.Fatalf("exit_room %v", d) // her last on node 1, though still in via node 2
	}
	a2.Conn.Close()
	if d := wstest.Data(watcher.Push("exit_room")); d["user"] != "alice" || d["reason"] != "disconnect" {
		t.Fatalf("exit_room %v", d)
	}
}

// TestClusterAnnouncements: a node that joins knows the others at once
// (they answer a newcomer's announcement without waiting for their next
// one), and a node that goes silent is counted until goneAfter has passed
// on the clock, not a moment longer.
func TestClusterAnnouncements(t *testing.T) {
	ns := natstest.Start(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	start := func(name string) *Node {
		n, err := New(Config{URL: ns.URL(), Name: name, Clock: clk, Logger: wstest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(func(rooms.Event) {}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
		return n
	}
	a := start("a")
	b := start("b")
	// The clock does not move: only the answer to b's first hello can
	// tell b of a.
	waitFor(t, "a and b to know each other", func() bool { return a.Stats().Nodes == 2 && b.Stats().Nodes == 2 })

	// b goes silent without its goodbye.
	b.nc.Close()
	clk.Advance(goneAfter) // a announces meanwhile; b is still counted
	if n := a.Stats().Nodes; n != 2 {
		t.Fatalf("a counts %d nodes %v after b's last word, want 2", n, goneAfter)
	}
	clk.Advance(time.Millisecond)
	if n := a.Stats().Nodes; n != 1 {
		t.Fatalf("a counts %d nodes just after goneAfter, want 1", n)
	}
}
