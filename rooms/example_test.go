package rooms_test

import (
	"fmt"

	"github.com/wsloop/wsloop/rooms"
)

type conn struct {
	name string
	m    rooms.Member[conn]
}

func Example() {
	reg := rooms.NewRegistry(2, func(c *conn) *rooms.Member[conn] { return &c.m }, nil, nil)
	alice, bob := &conn{name: "alice"}, &conn{name: "bob"}
	reg.Shard(0).Join(alice, "lobby", "alice", false, nil) // on loop 0
	reg.Shard(1).Join(bob, "lobby", "bob", false, nil)     // on loop 1

	// A publisher finds the loops with members, without a lock.
	g := reg.Room("lobby")
	for i := 0; i < reg.Loops(); i++ {
		if g.OnLoop(i) > 0 {
			// (the server queues one job for loop i; loop i then runs:)
			for _, c := range reg.Shard(i).Members(g) {
				fmt.Printf("loop %d delivers to %s\n", i, c.name)
			}
		}
	}
	// Output:
	// loop 0 delivers to alice
	// loop 1 delivers to bob
}
