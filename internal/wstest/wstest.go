// Package wstest holds the WebSocket client helpers of wsloop's tests:
// gorilla clients that speak the JSON protocol, with a reader goroutine
// that sorts replies from pushes. It imports none of wsloop's server
// packages, so that every package's tests, the server's own included, can
// use it.
package wstest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Logger writes a server's logs to the test log at debug level when
// WSLOOP_TEST_LOG is set, and discards them otherwise.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("WSLOOP_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Dial connects a gorilla client to url; it is closed when the test ends.
func Dial(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096, TLSClientConfig: TLSConfig(url)}
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// trusted maps a wss:// server's host:port to the CA its tests trust.
var trusted sync.Map

// Trust makes Dial trust pool for wss:// URLs of hostport.
func Trust(hostport string, pool *x509.CertPool) { trusted.Store(hostport, pool) }

// TLSConfig returns the client TLS configuration for url: its server's CA
// (Trust), nil for a ws:// URL.
func TLSConfig(url string) *tls.Config {
	rest, ok := strings.CutPrefix(url, "wss://")
	if !ok {
		return nil
	}
	host, _, _ := strings.Cut(rest, "/")
	pool, _ := trusted.Load(host)
	p, _ := pool.(*x509.CertPool)
	return &tls.Config{RootCAs: p}
}

// DialRouter is Dial for a server that speaks the JSON protocol: it reads
// the welcome event and returns the session id it carries.
func DialRouter(t testing.TB, url string) (*websocket.Conn, string) {
	t.Helper()
	c := Dial(t, url)
	msg := ReadText(t, c)
	const prefix = `{"cmd":"welcome","data":{"sid":"`
	if !strings.HasPrefix(msg, prefix) {
		t.Fatalf("first message %q is not a welcome", msg)
	}
	sid := msg[len(prefix):]
	return c, sid[:strings.IndexByte(sid, '"')]
}

// ReadText reads the next message, which must be text, within 5 s.
func ReadText(t testing.TB, c *websocket.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, p, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("message type %d, want text", typ)
	}
	return string(p)
}

// WriteText writes one text message.
func WriteText(t testing.TB, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// ExpectClose reads until the server's close frame and checks its code.
func ExpectClose(t testing.TB, c *websocket.Conn, code int) *websocket.CloseError {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		ce, ok := err.(*websocket.CloseError)
		if !ok {
			t.Fatalf("read: %v, want close %d", err, code)
		}
		if ce.Code != code {
			t.Fatalf("close code %d (%q), want %d", ce.Code, ce.Text, code)
		}
		return ce
	}
}

// Client is a gorilla connection with a reader goroutine that sorts what
// arrives into replies (with a seqno) and pushes (without).
type Client struct {
	T       testing.TB
	Conn    *websocket.Conn
	SID     string // from the welcome event
	Replies chan map[string]any
	Pushes  chan map[string]any
	Done    chan struct{} // closed when the reader stops
	Err     atomic.Value  // why the reader stopped

	seq atomic.Int64
	wmu sync.Mutex // gorilla allows one writer at a time
}

// NewClient connects to url (a server speaking the JSON protocol) and
// starts the reader.
func NewClient(t testing.TB, url string) *Client {
	t.Helper()
	c, sid := DialRouter(t, url)
	return Attach(t, c, sid)
}

// Attach starts a Client's reader on a connection dialled another way
// (sid: what its welcome said, if it was read).
func Attach(t testing.TB, c *websocket.Conn, sid string) *Client {
	cl := &Client{T: t, Conn: c, SID: sid, Replies: make(chan map[string]any, 1024), Pushes: make(chan map[string]any, 1<<16), Done: make(chan struct{})}
	_ = c.SetReadDeadline(time.Time{}) // the reader waits as long as the test needs
	go func() {
		defer close(cl.Done)
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				cl.Err.Store(err)
				return
			}
			var m map[string]any
			if err := json.Unmarshal(p, &m); err != nil {
				cl.Err.Store(fmt.Errorf("bad JSON %q: %w", p, err))
				return
			}
			if _, ok := m["seqno"]; ok {
				cl.Replies <- m
			} else {
				cl.Pushes <- m
			}
		}
	}()
	return cl
}

// Send writes a request and returns its seqno.
func (cl *Client) Send(cmd string, data any) string {
	cl.T.Helper()
	seq := strconv.FormatInt(cl.seq.Add(1), 10)
	req, _ := json.Marshal(map[string]any{"cmd": cmd, "seqno": seq, "data": data})
	if err := cl.Write(req); err != nil {
		cl.T.Fatalf("write %s: %v", cmd, err)
	}
	return seq
}

// Write writes one text message.
func (cl *Client) Write(p []byte) error {
	cl.wmu.Lock()
	defer cl.wmu.Unlock()
	return cl.Conn.WriteMessage(websocket.TextMessage, p)
}

// Call sends a request and waits for its reply.
func (cl *Client) Call(cmd string, data any) map[string]any {
	cl.T.Helper()
	seq := cl.Send(cmd, data)
	for {
		select {
		case m := <-cl.Replies:
			if m["seqno"] == seq {
				return m
			}
		case <-time.After(5 * time.Second):
			cl.T.Fatalf("no reply to %s (seqno %s); reader: %v", cmd, seq, cl.Err.Load())
		}
	}
}

// OK calls and checks status 0.
func (cl *Client) OK(cmd string, data any) map[string]any {
	cl.T.Helper()
	m := cl.Call(cmd, data)
	if m["status"] != 0.0 {
		cl.T.Fatalf("%s %v: reply %v", cmd, data, m)
	}
	return m
}

// Status calls, checks the reply's status and returns its msg.
func (cl *Client) Status(cmd string, data any, want int) string {
	cl.T.Helper()
	m := cl.Call(cmd, data)
	if m["status"] != float64(want) {
		cl.T.Fatalf("%s %v: reply %v, want status %d", cmd, data, m, want)
	}
	msg, _ := m["msg"].(string)
	return msg
}

// Push returns the next push whose cmd is cmd, skipping others.
func (cl *Client) Push(cmd string) map[string]any {
	cl.T.Helper()
	for {
		select {
		case m := <-cl.Pushes:
			if m["cmd"] == cmd {
				return m
			}
		case <-time.After(15 * time.Second):
			cl.T.Fatalf("no %s push; reader: %v", cmd, cl.Err.Load())
		}
	}
}

// Quiet checks that no push other than skip arrives within d.
func (cl *Client) Quiet(d time.Duration, skip ...string) {
	cl.T.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-cl.Pushes:
			ignored := false
			for _, s := range skip {
				ignored = ignored || m["cmd"] == s
			}
			if !ignored {
				cl.T.Fatalf("unexpected push %v", m)
			}
		case <-deadline:
			return
		}
	}
}

// Data returns the "data" object of a message.
func Data(m map[string]any) map[string]any {
	d, _ := m["data"].(map[string]any)
	return d
}
