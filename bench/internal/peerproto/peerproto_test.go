package peerproto

import (
	"flag"
	"slices"
	"sync"
	"testing"
	"time"
)

type fakeSession struct {
	joined    []string
	published []string // room + " " + push
}

func (s *fakeSession) ID() string       { return "c9" }
func (s *fakeSession) Join(room string) { s.joined = append(s.joined, room) }
func (s *fakeSession) Publish(room string, push []byte) {
	s.published = append(s.published, room+" "+string(push))
}

func TestHandle(t *testing.T) {
	for _, tc := range []struct {
		in, want  string
		joined    []string
		published []string
	}{
		{in: `{"cmd":"echo","seqno":"1","data":{"a":[1,2]}}`, want: `{"cmd":"echo","seqno":"1","status":0,"msg":"ok","data":{"a":[1,2]}}`},
		{in: `{"cmd":"echo","seqno":"2"}`, want: `{"cmd":"echo","seqno":"2","status":0,"msg":"ok"}`},
		{in: `{"cmd":"x","seqno":"3"}`, want: `{"cmd":"x","seqno":"3","status":404,"msg":"unknown cmd"}`},
		{in: `nope`, want: `{"cmd":"","status":400,"msg":"bad request"}`},
		{in: `{"cmd":"join","seqno":"4","data":{"room":"r1"}}`, want: `{"cmd":"join","seqno":"4","status":0,"msg":"ok"}`, joined: []string{"r1"}},
		{in: `{"cmd":"join","seqno":"5","data":"r1"}`, want: `{"cmd":"join","seqno":"5","status":400,"msg":"data must be an object with a room"}`},
		{in: `{"cmd":"join","seqno":"6"}`, want: `{"cmd":"join","seqno":"6","status":400,"msg":"data must be an object with a room"}`},
		{in: `{"cmd":"join","seqno":"7","data":{"room":""}}`, want: `{"cmd":"join","seqno":"7","status":400,"msg":"room required"}`},
		{
			in:        `{"cmd":"publish","seqno":"8","data":{"room":"r1","payload":{"t":1, "n":[2]},"notify_type":"bc"}}`,
			want:      `{"cmd":"publish","seqno":"8","status":0,"msg":"ok"}`,
			published: []string{`r1 {"cmd":"message","data":{"room":"r1","from":"c9","payload":{"t":1, "n":[2]}}}`},
		},
		{
			in:        `{"cmd":"publish","seqno":"9","data":{"room":"r2","payload":"hi"}}`,
			want:      `{"cmd":"publish","seqno":"9","status":0,"msg":"ok"}`,
			published: []string{`r2 {"cmd":"message","data":{"room":"r2","from":"c9","payload":"hi"}}`},
		},
		{in: `{"cmd":"publish","seqno":"10","data":{"room":"r1"}}`, want: `{"cmd":"publish","seqno":"10","status":400,"msg":"payload required"}`},
		{in: `{"cmd":"publish","seqno":"11","data":{"payload":1}}`, want: `{"cmd":"publish","seqno":"11","status":400,"msg":"room required"}`},
		{in: `{"cmd":"publish","seqno":"12","data":{"room":"r","payload":1,"notify_type":"ptp"}}`, want: `{"cmd":"publish","seqno":"12","status":400,"msg":"notify_type must be \"bc\""}`},
	} {
		s := &fakeSession{}
		if got := string(Handle([]byte(tc.in), s)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, tc.want)
		}
		if !slices.Equal(s.joined, tc.joined) || !slices.Equal(s.published, tc.published) {
			t.Errorf("%s: joined %q, published %q", tc.in, s.joined, s.published)
		}
	}
}

func TestRooms(t *testing.T) {
	var r Rooms[int]
	if !r.Join("a", 1) || !r.Join("a", 2) || r.Join("a", 1) || !r.Join("b", 1) {
		t.Fatal("join results")
	}
	before := r.Members("a")
	r.Join("a", 3)
	if !slices.Equal(before, []int{1, 2}) {
		t.Errorf("a member list changed under its reader: %v", before)
	}
	r.Leave("a", 2)
	r.Leave("a", 9)
	if got := r.Members("a"); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("members %v", got)
	}
	r.Leave("b", 1)
	if got := r.Members("b"); got != nil {
		t.Errorf("empty room %v", got)
	}
	if len(r.rooms) != 1 {
		t.Errorf("rooms %v", r.rooms)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				r.Join("c", i*1000+j)
				_ = r.Members("c")
				if j%2 == 0 {
					r.Leave("c", i*1000+j)
				}
			}
		})
	}
	wg.Wait()
	if n := len(r.Members("c")); n != 400 {
		t.Errorf("%d members after the concurrent joins", n)
	}
}

func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c := Flags(fs, true)
	if err := fs.Parse([]string{"--addr", "127.0.0.1:1", "--loops", "3", "--heartbeat-timeout", "2s", "--echo"}); err != nil {
		t.Fatal(err)
	}
	if *c != (Config{Addr: "127.0.0.1:1", Loops: 3, HeartbeatTimeout: 2 * time.Second, Echo: true}) {
		t.Errorf("%+v", *c)
	}
	fs = flag.NewFlagSet("y", flag.ContinueOnError)
	Flags(fs, false)
	if fs.Lookup("loops") != nil {
		t.Error("--loops without loops")
	}
	if a, b := NewID(), NewID(); a == b || a[0] != 'c' {
		t.Errorf("ids %s %s", a, b)
	}
}
