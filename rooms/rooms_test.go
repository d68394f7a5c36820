package rooms

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

type conn struct {
	id int
	m  Member[conn]
}

func memberOf(c *conn) *Member[conn] { return &c.m }

func newReg(loops int) *Registry[conn] { return NewRegistry(loops, memberOf, nil, nil) }

func TestJoinLeavePresence(t *testing.T) {
	r := newReg(2)
	sh := r.Shard(0)
	a1, a2, b := &conn{id: 1}, &conn{id: 2}, &conn{id: 3}
	g, joined, first := sh.Join(a1, "r", "alice", false, []byte(`{"nick":"A"}`))
	if !joined || !first || g.Name() != "r" || r.Rooms() != 1 {
		t.Fatalf("first join: joined %v first %v rooms %d", joined, first, r.Rooms())
	}
	if _, joined, _ := sh.Join(a1, "r", "alice", false, nil); joined {
		t.Fatal("second join of the same connection joined again")
	}
	if _, joined, first := sh.Join(a2, "r", "alice", false, nil); !joined || first {
		t.Fatalf("second connection of alice: joined %v first %v", joined, first)
	}
	r.Shard(1).Join(b, "r", "bob", false, nil)
	if g.Len() != 3 || g.OnLoop(0) != 2 || g.OnLoop(1) != 1 || g.UserCount() != 2 {
		t.Fatalf("Len %d OnLoop %d/%d users %d", g.Len(), g.OnLoop(0), g.OnLoop(1), g.UserCount())
	}
	users, total := g.Presence(0)
	if total != 2 || len(users) != 2 {
		t.Fatalf("presence %v", users)
	}
	for _, p := range users {
		if p.User == "alice" && (p.Conns != 2 || string(p.Meta) != `{"nick":"A"}`) {
			t.Fatalf("alice %+v", p)
		}
	}
	if left, last := sh.Leave(a1, g, "alice"); !left || last {
		t.Fatalf("a1 leaves: left %v last %v", left, last)
	}
	if left, _ := sh.Leave(a1, g, "alice"); left {
		t.Fatal("left twice")
	}
	if left, last := sh.Leave(a2, g, "alice"); !left || !last {
		t.Fatalf("a2 leaves: left %v last %v", left, last)
	}
	if r.Room("r") != g || g.OnLoop(0) != 0 {
		t.Fatal("room freed while bob is in it")
	}
	r.Shard(1).Leave(b, g, "bob")
	if r.Room("r") != nil || r.Rooms() != 0 {
		t.Fatal("empty room not freed")
	}
	// A new join makes a new group.
	g2, _, first := sh.Join(a1, "r", "alice", false, nil)
	if g2 == g || !first {
		t.Fatal("rejoin reused the freed group")
	}
}

func TestUsers(t *testing.T) {
	r := newReg(2)
	c1, c2, c3 := &conn{id: 1}, &conn{id: 2}, &conn{id: 3}
	r.Shard(0).Bind(c1, "u")
	r.Shard(1).Bind(c2, "u")
	r.Shard(1).Bind(c3, "v")
	if r.Users() != 2 || r.User("u").Len() != 2 {
		t.Fatalf("users %d, u has %d", r.Users(), r.User("u").Len())
	}
	r.Shard(1).Bind(c3, "u") // rebind v → u
	if r.User("v") != nil || r.User("u").OnLoop(1) != 2 {
		t.Fatal("rebind did not move the connection")
	}
	if m := r.Shard(1).Members(r.User("u")); len(m) != 2 {
		t.Fatalf("u members on loop 1: %d", len(m))
	}
	r.Shard(0).Bind(c1, "")
	r.Shard(1).Bind(c2, "")
	r.Shard(1).Bind(c3, "")
	if r.Users() != 0 || r.User("u") != nil {
		t.Fatal("users not freed")
	}
}

func TestLeaveAll(t *testing.T) {
	r := newReg(1)
	sh := r.Shard(0)
	c, other := &conn{id: 1}, &conn{id: 2}
	for i := 0; i < 5; i++ {
		sh.Join(c, fmt.Sprint("room", i), "c", false, nil)
	}
	sh.Join(other, "room2", "o", false, nil)
	seen := map[string]bool{}
	sh.LeaveAll(c, "c", func(g *Group[conn], last bool) {
		if !last {
			t.Errorf("%s: not last", g.Name())
		}
		seen[g.Name()] = true
	})
	if len(seen) != 5 || c.m.Rooms() != 0 || r.Rooms() != 1 {
		t.Fatalf("left %v, still in %d, rooms %d", seen, c.m.Rooms(), r.Rooms())
	}
}

// TestModel: random joins and leaves of many connections in a few rooms,
// checked against a map after each step: the member slices, the back
// indices and the counts stay consistent (swap-remove bookkeeping).
func TestModel(t *testing.T) {
	r := newReg(1)
	sh := r.Shard(0)
	rng := rand.New(rand.NewPCG(1, 2))
	conns := make([]*conn, 200)
	for i := range conns {
		conns[i] = &conn{id: i}
	}
	model := map[string]map[int]bool{}
	for step := 0; step < 20000; step++ {
		c := conns[rng.IntN(len(conns))]
		room := fmt.Sprint("r", rng.IntN(8))
		user := fmt.Sprint("u", c.id)
		if rng.IntN(2) == 0 {
			sh.Join(c, room, user, false, nil)
			if model[room] == nil {
				model[room] = map[int]bool{}
			}
			model[room][c.id] = true
		} else if g := r.Room(room); g != nil {
			left, _ := sh.Leave(c, g, user)
			if left != model[room][c.id] {
				t.Fatalf("step %d: Leave %v, model %v", step, left, model[room][c.id])
			}
			delete(model[room], c.id)
		}
		if step%97 == 0 {
			check(t, r, model)
		}
	}
	check(t, r, model)
}

func check(t *testing.T, r *Registry[conn], model map[string]map[int]bool) {
	t.Helper()
	rooms := 0
	for name, ids := range model {
		g := r.Room(name)
		if len(ids) == 0 {
			if g != nil {
				t.Fatalf("%s: empty but not freed", name)
			}
			continue
		}
		rooms++
		members := r.Shard(0).Members(g)
		if len(members) != len(ids) || g.Len() != len(ids) || g.UserCount() != len(ids) {
			t.Fatalf("%s: %d members, Len %d, model %d", name, len(members), g.Len(), len(ids))
		}
		for i, c := range members {
			if !ids[c.id] {
				t.Fatalf("%s: %d is not a member", name, c.id)
			}
			found := false
			for _, s := range c.m.rooms {
				if s.l.g == g {
					found = s.idx == int32(i)
				}
			}
			if !found {
				t.Fatalf("%s: member %d at %d has a wrong back index", name, c.id, i)
			}
		}
	}
	if r.Rooms() != rooms {
		t.Fatalf("Rooms %d, model %d", r.Rooms(), rooms)
	}
}

// TestConcurrentLoops: each goroutine plays one loop, joining and leaving
// the same rooms (shards appear and empty concurrently), while publishers
// look rooms up. Run with -race.
func TestConcurrentLoops(t *testing.T) {
	const loops = 4
	r := newReg(loops)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() { // a publisher
		for {
			select {
			case <-stop:
				return
			default:
			}
			if g := r.Room("hot"); g != nil {
				_ = g.Len()
				for i := 0; i < loops; i++ {
					_ = g.OnLoop(i)
				}
			}
		}
	}()
	for l := 0; l < loops; l++ {
		wg.Add(1)
		go func(l int) {
			defer wg.Done()
			sh := r.Shard(l)
			cs := make([]*conn, 8)
			for i := range cs {
				cs[i] = &conn{id: l*100 + i}
			}
			for round := 0; round < 2000; round++ {
				for _, c := range cs {
					sh.Join(c, "hot", fmt.Sprint(c.id), false, nil)
				}
				for _, c := range cs {
					sh.LeaveAll(c, fmt.Sprint(c.id), nil)
				}
			}
		}(l)
	}
	wg.Wait()
	close(stop)
	if r.Rooms() != 0 || r.Room("hot") != nil {
		t.Fatalf("rooms left: %d", r.Rooms())
	}
}

func TestShrink(t *testing.T) {
	r := newReg(1)
	sh := r.Shard(0)
	cs := make([]*conn, 1000)
	for i := range cs {
		cs[i] = &conn{id: i}
		sh.Join(cs[i], "big", fmt.Sprint(i), false, nil)
	}
	g := r.Room("big")
	for _, c := range cs[:990] {
		sh.Leave(c, g, fmt.Sprint(c.id))
	}
	if c := cap(sh.Members(g)); c > 128 {
		t.Fatalf("a room of 10 keeps capacity %d", c)
	}
}

func BenchmarkJoinLeave(b *testing.B) {
	r := newReg(1)
	sh := r.Shard(0)
	cs := make([]*conn, 10000)
	for i := range cs {
		cs[i] = &conn{id: i}
		sh.Join(cs[i], "big", fmt.Sprint(i), false, nil)
	}
	c := &conn{id: -1}
	g := r.Room("big")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sh.Join(c, "big", "x", false, nil)
		sh.Leave(c, g, "x")
	}
}

// recordingBroker records what a Registry tells its broker.
type recordingBroker struct {
	Local
	mu  sync.Mutex
	log []string
}

func (b *recordingBroker) Subscribe(k Kind, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.log = append(b.log, "+"+k.String()+":"+name)
	return nil
}

func (b *recordingBroker) Unsubscribe(k Kind, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.log = append(b.log, "-"+k.String()+":"+name)
	if name == "fails" {
		return errors.New("link down")
	}
	return nil
}

// TestBrokerSubscriptions: the registry subscribes when the node gets its
// first member of a room or connection of a user, on any loop, and
// unsubscribes when the last one leaves; a failing call is reported.
func TestBrokerSubscriptions(t *testing.T) {
	b := &recordingBroker{}
	var errs []error
	reg := NewRegistry(2, memberOf, b, func(err error) { errs = append(errs, err) })
	a, c := &conn{}, &conn{}
	reg.Shard(0).Join(a, "r", "a", false, nil)
	reg.Shard(1).Join(c, "r", "c", false, nil) // a second loop: no second subscription
	reg.Shard(0).Bind(a, "alice")
	reg.Shard(0).Join(a, "fails", "a", false, nil)
	reg.Shard(0).Leave(a, reg.Room("r"), "a") // c is still in r
	reg.Shard(1).LeaveAll(c, "c", nil)
	reg.Shard(0).LeaveAll(a, "alice", nil)
	reg.Shard(0).Bind(a, "")
	want := "+room:r +user:alice +room:fails -room:r -room:fails -user:alice"
	if got := strings.Join(b.log, " "); got != want {
		t.Fatalf("broker calls %q, want %q", got, want)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `unsubscribe from room "fails": link down`) {
		t.Fatalf("errors %v", errs)
	}
}
