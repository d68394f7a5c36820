package server

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/protocol"
)

// wrapped is a Handler decorator, as an application would write one.
type wrapped struct {
	Handler
	opened atomic.Int32
}

func (w *wrapped) OnOpen(s *Session, r *codec.Request) error {
	w.opened.Add(1)
	return w.Handler.OnOpen(s, r)
}

// TestRouterPublicCalls: Session.Set/Get, Session.Join/Leave,
// Context.Reply, HandleClose and DisableWelcome, through a Router wrapped
// in a decorator (which must not change how it routes).
func TestRouterPublicCalls(t *testing.T) {
	type closing struct {
		reason CloseReason
		n      any
	}
	closed := make(chan closing, 8)
	r := NewRouter()
	r.DisableWelcome()
	r.HandleOpen(func(s *Session, _ *codec.Request) error {
		if _, ok := s.Get("n"); ok {
			t.Error("a new session has a value")
		}
		s.Set("n", 0)
		return nil
	})
	r.HandleClose(func(s *Session, reason CloseReason) {
		v, _ := s.Get("n")
		closed <- closing{reason, v}
	})
	r.Handle("count", func(c *Context) {
		v, _ := c.Session().Get("n")
		c.Session().Set("n", v.(int)+1)
		c.OK(v)
	})
	r.Handle("enter", func(c *Context) {
		if err := c.Session().Join("lobby", []byte(`{"via":"library"}`)); err != nil {
			c.Fail(protocol.StatusInternal, err.Error())
		}
	})
	r.Handle("exit", func(c *Context) {
		left := c.Session().Leave("lobby")
		again := c.Session().Leave("lobby")
		c.OK(struct {
			Left  bool `json:"left"`
			Again bool `json:"again"`
		}{left, again})
	})
	r.Handle("ask", func(c *Context) {
		if err := c.Reply("answer", protocol.StatusOK, "ok", []byte(`{"a":1}`)); err != nil {
			t.Error(err)
		}
	})
	w := &wrapped{Handler: r}
	_, url := startServer(t, Config{}, w)

	c := dial(t, url) // no welcome
	watcher := dial(t, url)
	writeText(t, watcher, `{"cmd":"enter","seqno":"0"}`)
	readText(t, watcher)
	for i, want := range []string{`{"cmd":"count","seqno":"1","status":0,"msg":"ok","data":0}`, `{"cmd":"count","seqno":"2","status":0,"msg":"ok","data":1}`} {
		writeText(t, c, `{"cmd":"count","seqno":"`+itoa(i+1)+`"}`)
		if got := readText(t, c); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	writeText(t, c, `{"cmd":"enter","seqno":"3"}`)
	readText(t, c)
	if got := readText(t, watcher); !strings.Contains(got, `"cmd":"enter_room"`) || !strings.Contains(got, `"meta":{"via":"library"}`) {
		t.Fatalf("watcher got %s, want enter_room with the meta", got)
	}
	writeText(t, c, `{"cmd":"exit","seqno":"4"}`)
	if got := readText(t, c); got != `{"cmd":"exit","seqno":"4","status":0,"msg":"ok","data":{"left":true,"again":false}}` {
		t.Fatalf("exit: %s", got)
	}
	if got := readText(t, watcher); !strings.Contains(got, `"cmd":"exit_room"`) || !strings.Contains(got, `"reason":"leave"`) {
		t.Fatalf("watcher got %s, want exit_room (leave)", got)
	}
	writeText(t, c, `{"cmd":"ask","seqno":"5"}`)
	if got := readText(t, c); got != `{"cmd":"answer","seqno":"5","status":0,"msg":"ok","data":{"a":1}}` {
		t.Fatalf("Reply: %s", got)
	}
	_ = c.Close() // the session that counted to 2
	select {
	case cl := <-closed:
		if cl.reason.Cause != CauseDisconnect || cl.n != 2 {
			t.Errorf("at close: reason %+v, value %v; want a disconnect with 2", cl.reason, cl.n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("HandleClose's function did not run")
	}
	if n := w.opened.Load(); n != 2 {
		t.Errorf("the decorator saw %d opens, want 2", n)
	}
}

// TestRouterFrozen: once the Router routes, its setters panic instead of
// changing it (no silent all-404, no data race).
func TestRouterFrozen(t *testing.T) {
	r := NewRouter()
	_, url := startServer(t, Config{}, r)
	dialRouter(t, url)
	for name, set := range map[string]func(){
		"Handle":         func() { r.Handle("x", func(*Context) {}) },
		"Use":            func() { r.Use(func(h HandlerFunc) HandlerFunc { return h }) },
		"HandleOpen":     func() { r.HandleOpen(nil) },
		"HandleClose":    func() { r.HandleClose(nil) },
		"DisableWelcome": func() { r.DisableWelcome() },
	} {
		func() {
			defer func() {
				p := recover()
				if msg, _ := p.(string); !strings.Contains(msg, "Router."+name+" called after the Router began routing") {
					t.Errorf("%s after routing: panic %v", name, p)
				}
			}()
			set()
		}()
	}
}

// TestOnCloseOnlyAfterOnOpen: a connection that OnOpen refuses never
// reaches OnClose.
func TestOnCloseOnlyAfterOnOpen(t *testing.T) {
	rec := newCloseRecorder(BuiltinHandler{})
	refuse := &refuser{closeRecorder: rec}
	_, url := startServer(t, Config{}, refuse)
	c := dial(t, url)
	if ce := expectClose(t, c, 1008); ce.Text != "no" {
		t.Fatalf("refusal %q", ce.Text)
	}
	refuse.ok.Store(true)
	c2 := dial(t, url)
	_ = c2.Close()
	if r := rec.next(t); r.Cause != CauseDisconnect {
		t.Fatalf("the accepted connection's close: %+v", r)
	}
	select {
	case r := <-rec.closed:
		t.Fatalf("OnClose ran for the refused connection too: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
}

type refuser struct {
	*closeRecorder
	ok atomic.Bool
}

func (r *refuser) OnOpen(s *Session, req *codec.Request) error {
	if !r.ok.Load() {
		return codec.CloseError{Code: codec.StatusPolicyViolation, Reason: "no"}
	}
	return nil
}
