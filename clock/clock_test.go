package clock

import (
	"strings"
	"testing"
	"time"
)

func TestFake(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	c := NewFake(t0)
	var log []string
	at := func(name string) func() {
		return func() { log = append(log, name+"@"+c.Now().Sub(t0).String()) }
	}
	c.AfterFunc(3*time.Second, at("c"))
	c.AfterFunc(time.Second, at("a"))
	stopped := c.AfterFunc(2*time.Second, at("stopped"))
	c.AfterFunc(time.Second, func() {
		at("b")()
		c.AfterFunc(500*time.Millisecond, at("chained")) // due within this Advance
	})
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop: want true once, then false")
	}
	c.Advance(2 * time.Second)
	if got := strings.Join(log, " "); got != "a@1s b@1s chained@1.5s" {
		t.Fatalf("ran %q", got)
	}
	if got := c.Now().Sub(t0); got != 2*time.Second {
		t.Fatalf("Now = t0+%v, want t0+2s", got)
	}
	c.Advance(time.Second)
	if got := strings.Join(log, " "); got != "a@1s b@1s chained@1.5s c@3s" {
		t.Fatalf("ran %q", got)
	}
	done := c.AfterFunc(0, at("now"))
	c.Advance(0)
	if done.Stop() || !strings.HasSuffix(strings.Join(log, " "), "now@3s") {
		t.Fatalf("AfterFunc(0): %q", log)
	}
}

func TestSystem(t *testing.T) {
	c := System()
	if d := time.Since(c.Now()); d < 0 || d > time.Second {
		t.Fatalf("Now is %v off", d)
	}
	ran := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(ran) })
	<-ran
}
