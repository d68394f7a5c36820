package server

import (
	"strings"
	"testing"
	"time"

	"github.com/wsloop/wsloop/codec"
)

// identityRouter binds a connection to the identity its URL names:
// ?user=alice&grant=vip:a* (a stand-in for a verified token).
func identityRouter() *Router {
	r := NewRouter()
	r.HandleOpen(func(s *Session, req *codec.Request) error {
		if u := req.QueryValue("user"); u != nil {
			id := Identity{User: string(u)}
			if g := req.QueryValue("grant"); g != nil {
				id.Rooms = strings.Split(string(g), ",")
			}
			s.SetIdentity(id)
		}
		return nil
	})
	return r
}

// TestPolicy: join, publish, members and send are refused and allowed per
// namespace and per rule, with 403 saying which rule; room events follow
// the namespace; the server API is never limited.
func TestPolicy(t *testing.T) {
	pol := Policy{
		Namespaces: map[string]Namespace{
			"chat": {Join: AccessAuth, Publish: AccessMember, Members: AccessMember, NoEvents: true},
			"vip":  {Join: AccessToken},
			"ro":   {Publish: AccessNone, Members: AccessNone},
			"shut": {Join: AccessNone, Publish: AccessAuth, Members: AccessAuth},
			"open": {ShowSIDs: true},
		},
		Send:         AccessAuth,
		NoSIDAddress: true,
	}
	srv, url := startServer(t, Config{Policy: pol, Rooms: Rooms{PublishRate: -1}}, identityRouter())
	anon := newClient(t, url)
	alice := newClient(t, url+"?user=alice&grant=vip:a*")
	bob := newClient(t, url+"?user=bob")

	for _, tc := range []struct {
		who  *client
		cmd  string
		data map[string]any
		want string // "" status 0; else the 403 message contains it
	}{
		{anon, "join", map[string]any{"room": "chat:x"}, "rooms of namespace chat need an authenticated connection"},
		{alice, "join", map[string]any{"room": "chat:x"}, ""},
		{bob, "publish", map[string]any{"room": "chat:x", "payload": 1}, "only members of the room may publish"},
		{alice, "publish", map[string]any{"room": "chat:x", "payload": 1}, ""},
		{anon, "members", map[string]any{"room": "chat:x"}, "only members may list"},
		{alice, "members", map[string]any{"room": "chat:x"}, ""},
		{bob, "join", map[string]any{"room": "chat:x"}, ""}, // chat has no room events: alice hears nothing
		{alice, "join", map[string]any{"room": "vip:abc"}, ""},
		{alice, "join", map[string]any{"room": "vip:b"}, "need a token that grants the room"},
		{bob, "join", map[string]any{"room": "vip:abc"}, "need a token that grants the room"},
		{anon, "join", map[string]any{"room": "vip:abc"}, "need a token that grants the room"},
		{anon, "join", map[string]any{"room": "ro:x"}, ""},
		{anon, "publish", map[string]any{"room": "ro:x", "payload": 1}, "clients may not publish to rooms of namespace ro"},
		{anon, "members", map[string]any{"room": "ro:x"}, "clients may not list the members of rooms of namespace ro"},
		{alice, "join", map[string]any{"room": "shut:x"}, "clients may not join rooms of namespace shut"},
		{anon, "publish", map[string]any{"room": "shut:x", "payload": 1}, "need an authenticated connection"},
		{anon, "join", map[string]any{"room": "unknown:x"}, ""}, // no such namespace: the default's rules
		{anon, "join", map[string]any{"room": "lobby"}, ""},
		{anon, "send", map[string]any{"to": "alice", "payload": 1}, "sending needs an authenticated connection"},
		{bob, "send", map[string]any{"to": "alice", "payload": 1}, ""},
		{bob, "send", map[string]any{"to": anon.SID, "payload": 1}, "sessions may not be addressed by session id"},
		{bob, "publish", map[string]any{"room": "lobby", "notify_type": "ptp", "to": anon.SID, "payload": 1}, "sessions may not be addressed by session id"},
	} {
		m := tc.who.Call(tc.cmd, tc.data)
		msg, _ := m["msg"].(string)
		switch {
		case tc.want == "" && m["status"] != 0.0:
			t.Errorf("%s %v: %v, want status 0", tc.cmd, tc.data, m)
		case tc.want != "" && (m["status"] != 403.0 || !strings.Contains(msg, tc.want)):
			t.Errorf("%s %v: %v, want 403 %q", tc.cmd, tc.data, m, tc.want)
		}
	}
	// Room events: none in chat; anonymous members appear without their
	// sid in the default namespace, with it where the namespace shows it.
	alice.OK("join", map[string]any{"room": "lobby"})
	bob.OK("join", map[string]any{"room": "open:x"})
	anon.OK("join", map[string]any{"room": "open:x"})
	if d := data(bob.Push("enter_room")); d["room"] != "open:x" || d["user"] != anon.SID {
		t.Errorf("enter_room in open:x: %v, want the anonymous member's sid", d)
	}
	members := data(alice.OK("members", map[string]any{"room": "lobby"}))["members"].([]any)
	for _, x := range members {
		if m := x.(map[string]any); m["anonymous"] == true && m["user"] != "" {
			t.Errorf("lobby member %v: an anonymous member's sid shown", m)
		}
	}
	if len(members) != 2 {
		t.Errorf("lobby members %v, want alice and one anonymous", members)
	}
	// The server API is not limited by the policy.
	if err := srv.PublishMessage("ro:x", "system", "from the server"); err != nil {
		t.Fatal(err)
	}
	if d := data(anon.Push("message")); d["room"] != "ro:x" || d["payload"] != "from the server" {
		t.Errorf("server publish to ro:x: %v", d)
	}
	if info := srv.RoomMembers("lobby", 10); info.Users != 2 {
		t.Errorf("RoomMembers(lobby) = %+v", info)
	} else {
		for _, m := range info.Members {
			if m.Anonymous && m.User != anon.SID {
				t.Errorf("the server API hides an anonymous member's sid: %+v", m)
			}
		}
	}
	alice.Quiet(100*time.Millisecond, "message") // no enter_room from chat:x
}

func TestPolicyValidation(t *testing.T) {
	for _, p := range []Policy{
		{Default: Namespace{Join: AccessMember}},
		{Namespaces: map[string]Namespace{"a": {Publish: AccessToken}}},
		{Namespaces: map[string]Namespace{"a": {Members: AccessToken}}},
		{Namespaces: map[string]Namespace{"a:b": {}}},
		{Namespaces: map[string]Namespace{"": {}}},
		{Send: AccessMember},
	} {
		if _, err := New(Config{Policy: p}, NewRouter()); err == nil {
			t.Errorf("policy %+v accepted", p)
		}
	}
	for _, s := range []string{"any", "auth", "token", "member", "none"} {
		if a, err := ParseAccess(s); err != nil || a.String() != s {
			t.Errorf("ParseAccess(%q) = %v, %v", s, a, err)
		}
	}
	if _, err := ParseAccess("everyone"); err == nil {
		t.Error("ParseAccess accepted everyone")
	}
}

// TestPublishExcept: every member but the one session gets the event.
func TestPublishExcept(t *testing.T) {
	srv, url := startServer(t, Config{Tuning: Tuning{Loops: 2}, Policy: Policy{Default: Namespace{NoEvents: true}}}, NewRouter())
	a, b := newClient(t, url), newClient(t, url)
	a.OK("join", map[string]any{"room": "r"})
	b.OK("join", map[string]any{"room": "r"})
	id, _, _ := ParseSID(a.SID)
	if err := srv.PublishExcept("r", id, "hello", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if m := b.Push("hello"); data(m)["n"] != 1.0 {
		t.Fatalf("b got %v", m)
	}
	a.Quiet(100 * time.Millisecond)
}
