package server

import (
	"strings"
	"sync"
	"testing"

	"github.com/wsloop/wsloop/rooms"
)

// fakeBroker records what a server publishes and lets a test deliver
// events as another node would.
type fakeBroker struct {
	rooms.Local
	mu      sync.Mutex
	events  []rooms.Event
	deliver func(rooms.Event)
	subs    map[string]bool
}

func (b *fakeBroker) Start(deliver func(rooms.Event)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deliver = deliver
	b.subs = map[string]bool{}
	return nil
}

func (b *fakeBroker) Publish(ev rooms.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev.Data = append([]byte(nil), ev.Data...) // valid only during Publish
	b.events = append(b.events, ev)
	return nil
}

func (b *fakeBroker) Subscribe(k rooms.Kind, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[k.String()+":"+name] = true
	return nil
}

func (b *fakeBroker) Unsubscribe(k rooms.Kind, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, k.String()+":"+name)
	return nil
}

// published returns the n-th event (1-based) the server handed over: every
// step of the test returns after its publish (a library call returns after
// it, a client's reply is sent after it).
func (b *fakeBroker) published(t *testing.T, n int) rooms.Event {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.events) < n {
		t.Fatalf("the broker got %d events, want %d", len(b.events), n)
	}
	return b.events[n-1]
}

// TestBrokerGetsEveryPublish: every publish path hands its encoded event
// to the broker, also when this node has no member of the room or no
// connection of the user; events from other nodes reach local members.
func TestBrokerGetsEveryPublish(t *testing.T) {
	b := &fakeBroker{}
	srv, url := startServer(t, Config{Broker: b}, NewRouter())
	c, sid := dialRouter(t, url)

	type want struct {
		kind       rooms.Kind
		name, room string
		data       string
	}
	steps := []struct {
		do   func()
		want want
	}{
		{func() { _ = srv.Publish("nobody-here", "note", map[string]int{"n": 1}) },
			want{rooms.ToRoom, "nobody-here", "", `{"cmd":"note","data":{"n":1}}`}},
		{func() { _ = srv.PublishMessage("empty", "ops", "hi") },
			want{rooms.ToRoom, "empty", "", `{"cmd":"message","data":{"room":"empty","from":"ops","payload":"hi"}}`}},
		{func() { _ = srv.SendUser("u-elsewhere", "dm", 1) },
			want{rooms.ToUser, "u-elsewhere", "", `{"cmd":"dm","data":1}`}},
		{func() { _ = srv.SendMessage("u-elsewhere", "ops", 2) },
			want{rooms.ToUser, "u-elsewhere", "", `{"cmd":"message","data":{"from":"ops","payload":2}}`}},
		{func() {
			_ = srv.Broadcast("news", "x")
			if got := readText(t, c); got != `{"cmd":"news","data":"x"}` { // local members get it too
				t.Errorf("broadcast: %s", got)
			}
		},
			want{rooms.ToAll, "", "", `{"cmd":"news","data":"x"}`}},
		{func() {
			writeText(t, c, `{"cmd":"publish","seqno":"1","data":{"room":"far","payload":3}}`)
			readText(t, c)
		}, want{rooms.ToRoom, "far", "", `{"cmd":"message","data":{"room":"far","from":"` + sid + `","payload":3}}`}},
		{func() {
			writeText(t, c, `{"cmd":"publish","seqno":"2","data":{"room":"far","notify_type":"ptp","to":"u9","payload":4}}`)
			readText(t, c)
		}, want{rooms.ToUser, "u9", "far", `{"cmd":"message","data":{"room":"far","from":"` + sid + `","payload":4}}`}},
		{func() {
			writeText(t, c, `{"cmd":"send","seqno":"3","data":{"to":"u9","payload":5}}`)
			readText(t, c)
		}, want{rooms.ToUser, "u9", "", `{"cmd":"message","data":{"from":"` + sid + `","payload":5}}`}},
		{func() {
			writeText(t, c, `{"cmd":"join","seqno":"4","data":{"room":"r"}}`)
			readText(t, c)
		}, want{rooms.ToRoom, "r", "", `{"cmd":"enter_room","data":{"room":"r","user":""}}`}},
		{func() {
			writeText(t, c, `{"cmd":"leave","seqno":"5","data":{"room":"r"}}`)
			readText(t, c)
		}, want{rooms.ToRoom, "r", "", `{"cmd":"exit_room","data":{"room":"r","user":"","reason":"leave"}}`}},
	}
	for i, st := range steps {
		st.do()
		ev := b.published(t, i+1)
		if ev.Kind != st.want.kind || ev.Name != st.want.name || ev.Room != st.want.room || string(ev.Data) != st.want.data {
			t.Errorf("step %d: broker got %v %q room %q %s; want %v %q room %q %s", i, ev.Kind, ev.Name, ev.Room, ev.Data,
				st.want.kind, st.want.name, st.want.room, st.want.data)
		}
	}
	// The joiner is not told of its own entry, on any node.
	if ev := b.published(t, 9); ev.Session == 0 {
		t.Error("enter_room event without the joiner's session to skip")
	}

	// Events from other nodes reach the members here.
	writeText(t, c, `{"cmd":"join","seqno":"6","data":{"room":"r2"}}`)
	readText(t, c)
	b.mu.Lock()
	subscribed, deliver := b.subs["room:r2"], b.deliver
	b.mu.Unlock()
	if !subscribed {
		t.Fatal("the server did not subscribe to r2 on its first member")
	}
	deliver(rooms.Event{Kind: rooms.ToRoom, Name: "r2", Data: []byte(`{"cmd":"message","data":{"room":"r2","from":"far","payload":1}}`)})
	deliver(rooms.Event{Kind: rooms.ToUser, Name: sid, Data: []byte(`{"cmd":"message","data":{"from":"far","payload":2}}`)})
	deliver(rooms.Event{Kind: rooms.ToAll, Data: []byte(`{"cmd":"news","data":3}`)})
	for _, want := range []string{`"payload":1`, `"payload":2`, `{"cmd":"news","data":3}`} {
		if got := readText(t, c); !strings.Contains(got, want) {
			t.Fatalf("from another node: got %s, want %s", got, want)
		}
	}
}
