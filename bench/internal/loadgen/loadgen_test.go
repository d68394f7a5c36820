package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsloop/wsloop/bench/internal/wsframe"
	"github.com/wsloop/wsloop/internal/wstest"
	"github.com/wsloop/wsloop/rooms"
	"github.com/wsloop/wsloop/server"
)

func TestParseSeqno(t *testing.T) {
	for _, tc := range []struct {
		reply string
		seq   uint64
		ok    bool
	}{
		{`{"cmd":"echo","seqno":"42","status":0,"msg":"ok","data":"xx"}`, 42, true},
		{`{"cmd":"echo","seqno":"0","status":0,"msg":"ok"}`, 0, true},
		{`{"cmd":"echo","seqno":"42","status":400,"msg":"bad"}`, 0, false},
		{`{"cmd":"echo","seqno":42,"status":0,"msg":"ok"}`, 0, false},
		{`{"cmd":"echo","seqno":"","status":0,"msg":"ok"}`, 0, false},
		{`{"cmd":"echo","seqno":"12345678901234567890123","status":0,"msg":"ok"}`, 0, false},
		{`{"cmd":"welcome","data":{"sid":"1"}}`, 0, false},
		{`{"cmd":"echo","seqno":"7","status":0,"msg":"ok"`, 0, false},
	} {
		seq, ok := parseSeqno([]byte(tc.reply))
		if seq != tc.seq || ok != tc.ok {
			t.Errorf("parseSeqno(%s) = %d, %v; want %d, %v", tc.reply, seq, ok, tc.seq, tc.ok)
		}
	}
	if !isPush([]byte(`{"cmd":"welcome","data":{"sid":"1","ping_interval":15}}`)) {
		t.Error("welcome is not a push")
	}
	if isPush([]byte(`{"cmd":"echo","seqno":"1","status":404,"msg":"x"}`)) {
		t.Error("a reply is a push")
	}
}

func TestRequestSize(t *testing.T) {
	e := &Engine{cfg: Config{Payload: 64}}
	for _, seq := range []uint64{0, 9, 10, 123456} {
		if got := e.requestSize(seq); got != 64 {
			t.Errorf("requestSize(%d) = %d, want 64", seq, got)
		}
	}
	e.cfg.Payload = 10 // below the envelope: the envelope wins
	if got := e.requestSize(5); got != reqFixed+1 {
		t.Errorf("requestSize = %d, want %d", got, reqFixed+1)
	}
}

// The engine against an in-process wsloop server: handshakes, pings,
// pipelined echo with every reply checked, and a clean drain.
func TestEngineAgainstWsloop(t *testing.T) {
	srv := startWsloop(t)
	e, err := New(Config{Addr: srv.Addr().String(), Loops: 2, Window: 4, Payload: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Measure(true)
	pingAndEcho(t, e, 20, 2000)
	e.Measure(false)
	tot := e.Totals()
	if tot.Pushes != 20 {
		t.Fatalf("%d welcomes, want 20", tot.Pushes)
	}
	if lat := e.Latency(); lat.Count() < 2000 || lat.Quantile(0.5) <= 0 {
		t.Fatalf("latency count %d p50 %d", lat.Count(), lat.Quantile(0.5))
	}
	before := tot.Replies
	e.Broadcast(CmdEchoOnce)
	waitFor(t, func() bool { return e.Totals().Replies == before+20 })
}

// Dialing from another 127.0.0.x source address (what Dial moves to when
// the ports of one run out) works against a server on 127.0.0.1.
func TestEngineSourceAddress(t *testing.T) {
	srv := startWsloop(t)
	e, err := New(Config{Addr: srv.Addr().String(), Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.src.Store(7)
	e.Dial(context.Background(), 5, nil)
	if open := e.WaitHandshakes(context.Background(), 5*time.Second); open != 5 {
		t.Fatalf("%d open, totals %+v", open, e.Totals())
	}
	e.mu.Lock()
	for _, cs := range e.conns {
		if got := cs.gc.LocalAddr().String(); !strings.HasPrefix(got, "127.0.0.7:") {
			t.Errorf("local address %s, want 127.0.0.7", got)
		}
	}
	e.mu.Unlock()
	if tot := e.Totals(); tot.SourceAddrs != 1 {
		t.Fatalf("SourceAddrs %d", tot.SourceAddrs)
	}
}

// pingAndEcho dials n connections, pings each, runs pipelined echo until
// replies have come back, drains, and checks that nothing went wrong.
func pingAndEcho(t *testing.T, e *Engine, n, replies int64) {
	t.Helper()
	ctx := context.Background()
	e.Dial(ctx, int(n), nil)
	if open := e.WaitHandshakes(ctx, 5*time.Second); open != n {
		errs, _ := e.Errors()
		t.Fatalf("%d open, totals %+v, errors %q", open, e.Totals(), errs)
	}
	e.Broadcast(CmdPing)
	waitFor(t, func() bool { return e.Totals().Pongs == n })
	e.StartEcho()
	e.Broadcast(CmdStartEcho)
	waitFor(t, func() bool { return e.Totals().Replies >= replies })
	e.StopEcho()
	if left := e.Drain(5 * time.Second); left != 0 {
		t.Fatalf("%d requests still in flight", left)
	}
	if tot := e.Totals(); tot.Errors != 0 || tot.Dropped != 0 || tot.Lost != 0 {
		errs, _ := e.Errors()
		t.Fatalf("totals %+v, errors %q", tot, errs)
	}
}

func startWsloop(t *testing.T) *server.Server {
	t.Helper()
	return startWsloopWith(t, server.Config{Tuning: server.Tuning{Loops: 1}}, server.NewRouter())
}

func startWsloopWith(t *testing.T, cfg server.Config, h server.Handler) *server.Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	<-srv.Ready()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestPayload(t *testing.T) {
	for _, size := range []int{0, 10, 20, 64, 300} {
		b := AppendPayload([]byte("x"), 1234567890123, 42, size)
		pl := b[1:]
		if !json.Valid(pl) {
			t.Fatalf("size %d: invalid JSON %s", size, pl)
		}
		if size > 25 && len(pl) != size {
			t.Errorf("size %d: %d bytes: %s", size, len(pl), pl)
		}
		msg := []byte(`{"cmd":"message","data":{"room":"r1","from":"c7","payload":` + string(pl) + `}}`)
		ts, n, ok := ParsePayload(msg)
		if !ok || ts != 1234567890123 || n != 42 {
			t.Errorf("ParsePayload(%s) = %d, %d, %v", msg, ts, n, ok)
		}
	}
	for _, bad := range []string{
		`{"cmd":"message","data":{"room":"r1","payload":1}}`,
		`{"cmd":"message","data":{"payload":{"t":1}}}`,
		`{"cmd":"message","data":{"payload":{"t":1,"n":}}}`,
		`{"cmd":"message","data":{"payload":{"t":1,"n":2x}}}`,
		`{"cmd":"message","data":{"payload":{"t":,"n":2}}}`,
	} {
		if _, _, ok := ParsePayload([]byte(bad)); ok {
			t.Errorf("ParsePayload(%s) ok", bad)
		}
	}
}

// Raw mode against wsloop's echo handler: binary requests of exactly
// Payload bytes, each reply checked byte for byte.
func TestEngineRaw(t *testing.T) {
	srv := startWsloopWith(t, server.Config{Tuning: server.Tuning{Loops: 1}}, server.EchoHandler{})
	e, err := New(Config{Addr: srv.Addr().String(), Loops: 2, Window: 4, Payload: 200, Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	e.Dial(ctx, 10, nil)
	if open := e.WaitHandshakes(ctx, 5*time.Second); open != 10 {
		t.Fatalf("%d open, totals %+v", open, e.Totals())
	}
	e.StartEcho()
	e.Measure(true)
	e.Broadcast(CmdStartEcho)
	waitFor(t, func() bool { return e.Totals().Replies >= 1000 })
	e.StopEcho()
	if left := e.Drain(5 * time.Second); left != 0 {
		t.Fatalf("%d requests still in flight", left)
	}
	if tot := e.Totals(); tot.Errors != 0 || tot.Dropped != 0 || tot.Pushes != 0 {
		errs, _ := e.Errors()
		t.Fatalf("totals %+v, errors %q", tot, errs)
	}
	if _, err := New(Config{Addr: "127.0.0.1:1", Raw: true, Payload: 4}); err == nil {
		t.Error("raw payload below the sequence number accepted")
	}
}

// Rooms: members join, a publisher that is not a member publishes, every
// member receives every message in order; the window counts only its
// publishes.
func TestEngineRooms(t *testing.T) {
	srv := startWsloopWith(t, server.Config{Tuning: server.Tuning{Loops: 2}, Rooms: server.Rooms{PublishRate: -1, EventsMaxMembers: -1}}, server.NewRouter())
	e, err := New(Config{Addr: srv.Addr().String(), Loops: 2, Payload: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	const members = 12
	e.Dial(ctx, members, nil)
	if open := e.WaitHandshakes(ctx, 5*time.Second); open != members {
		t.Fatalf("%d open", open)
	}
	e.Broadcast(CmdJoin)
	waitFor(t, func() bool { return e.Totals().Joined == members })
	e.Dial(ctx, 1, nil)
	e.WaitHandshakes(ctx, 5*time.Second)
	if !e.SetPublisher() {
		t.Fatal("no publisher")
	}
	e.Publish(5) // before the window
	waitFor(t, func() bool { return e.Totals().Deliveries == 5*members })
	e.SetPublishWindow(e.NextPublish(), -1)
	for range 4 {
		e.Publish(5)
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, func() bool { return e.Owed() == 0 })
	e.SetPublishWindow(5, e.NextPublish())
	e.Publish(3) // after the window
	waitFor(t, func() bool { return e.Totals().Deliveries == 28*members && e.Totals().PublishAcks == 28 })
	tot := e.Totals()
	if errs, _ := e.Errors(); tot.Errors != 0 || tot.Published != 28 || tot.WindowDelivered != 20*members {
		t.Fatalf("totals %+v, errors %q", tot, errs)
	}
	if lat := e.Latency(); lat.Count() != 20*members || lat.Quantile(0.5) <= 0 {
		t.Fatalf("latency count %d p50 %d", lat.Count(), lat.Quantile(0.5))
	}
}

// Expiry: silent connections closed by the server are counted as closed,
// not dropped, with their close times.
func TestEngineExpectClose(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := startWsloopWith(t, server.Config{Tuning: server.Tuning{Loops: 1}, Heartbeat: server.Heartbeat{Timeout: timeout, Tick: 20 * time.Millisecond}}, server.NewRouter())
	e, err := New(Config{Addr: srv.Addr().String(), Loops: 1, ExpectClose: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	e.Dial(ctx, 5, nil)
	if open := e.WaitHandshakes(ctx, 5*time.Second); open != 5 {
		t.Fatalf("%d open", open)
	}
	waitFor(t, func() bool { return e.Totals().Closed == 5 })
	if tot := e.Totals(); tot.Errors != 0 || tot.Dropped != 0 {
		errs, _ := e.Errors()
		t.Fatalf("totals %+v, errors %q", tot, errs)
	}
	for _, ct := range e.Times() {
		if d := time.Duration(ct.Closed - ct.Sent); ct.Upgraded == 0 || d < timeout || d > timeout+time.Second {
			t.Errorf("closed %v after the last write (timeout %v): %+v", d, timeout, ct)
		}
	}
}

// pair is a rooms.Broker that hands every event to the other server of a
// pair at once: two nodes, without a network.
type pair struct {
	peer    *pair
	deliver atomic.Pointer[func(rooms.Event)]
}

func (p *pair) Start(deliver func(rooms.Event)) error { p.deliver.Store(&deliver); return nil }
func (p *pair) Publish(ev rooms.Event) error {
	ev.Data = bytes.Clone(ev.Data)
	if d := p.peer.deliver.Load(); d != nil {
		(*d)(ev)
	}
	return nil
}
func (p *pair) Subscribe(rooms.Kind, string) error   { return nil }
func (p *pair) Unsubscribe(rooms.Kind, string) error { return nil }
func (p *pair) Close() error                         { return nil }

// DialAt: members on two servers of one room, the publisher on the first;
// each gets every message, and each group's latencies are kept apart.
func TestEngineDialAtGroups(t *testing.T) {
	a, b := &pair{}, &pair{}
	a.peer, b.peer = b, a
	cfg := server.Config{Tuning: server.Tuning{Loops: 1}, Rooms: server.Rooms{PublishRate: -1, EventsMaxMembers: -1}}
	cfg.NodeID, cfg.Broker = 1, a
	srvA := startWsloopWith(t, cfg, server.NewRouter())
	cfg.NodeID, cfg.Broker = 2, b
	srvB := startWsloopWith(t, cfg, server.NewRouter())
	e, err := New(Config{Addr: srvA.Addr().String(), Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	e.Dial(ctx, 3, nil)
	e.DialAt(ctx, srvB.Addr().String(), 1, 5, nil)
	if open := e.WaitHandshakes(ctx, 5*time.Second); open != 8 {
		t.Fatalf("%d open", open)
	}
	if srvA.Count() != 3 || srvB.Count() != 5 {
		t.Fatalf("connections %d and %d, want 3 and 5", srvA.Count(), srvB.Count())
	}
	e.Broadcast(CmdJoin)
	waitFor(t, func() bool { return e.Totals().Joined == 8 })
	e.Dial(ctx, 1, nil)
	e.WaitHandshakes(ctx, 5*time.Second)
	if !e.SetPublisher() {
		t.Fatal("no publisher")
	}
	e.SetPublishWindow(0, -1)
	e.Publish(10)
	waitFor(t, func() bool { return e.Totals().WindowDelivered == 80 })
	if n0, n1 := e.GroupLatency(0).Count(), e.GroupLatency(1).Count(); n0 != 30 || n1 != 50 {
		t.Errorf("group latencies %d and %d, want 30 and 50", n0, n1)
	}
	if tot := e.Totals(); tot.Errors != 0 {
		errs, _ := e.Errors()
		t.Fatalf("totals %+v, errors %q", tot, errs)
	}
}

// A frame that arrives in two reads is kept whole across them (gnet's
// Discard(0) would throw its first part away).
func TestEngineSplitFrame(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	upgraded, done := make(chan struct{}), make(chan struct{})
	defer close(done)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			served <- err
			return
		}
		_, err = fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			wsframe.AcceptKey(req.Header.Get("Sec-WebSocket-Key")))
		if err != nil {
			served <- err
			return
		}
		<-upgraded // the 101 read alone
		push := []byte(`{"cmd":"welcome","data":{}}`)
		frame := append([]byte{0x81, byte(len(push))}, push...)
		_, _ = c.Write(frame[:5])
		time.Sleep(50 * time.Millisecond) // a real socket: let the first part be read alone
		_, _ = c.Write(frame[5:])
		_, err = c.Write(frame)
		served <- err
		<-done // open while the test reads
	}()
	e, err := New(Config{Addr: ln.Addr().String(), Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Dial(context.Background(), 1, nil)
	waitFor(t, func() bool { return e.Totals().Upgraded == 1 })
	close(upgraded)
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { tot := e.Totals(); return tot.Pushes == 2 || tot.Errors > 0 })
	if tot := e.Totals(); tot.Pushes != 2 || tot.Errors != 0 {
		errs, _ := e.Errors()
		t.Fatalf("totals %+v, errors %q", tot, errs)
	}
}

// The engine over TLS 1.2 and 1.3 against a wsloop serving wss://:
// handshakes, pings and pipelined echo with every reply checked; then a
// server that closes idle connections (a close frame, then close_notify)
// counts them as closed, not dropped.
func TestEngineTLS(t *testing.T) {
	ca := wstest.NewCA(t, t.TempDir(), "loadgen")
	tlsCfg := server.TLS{CertFile: ca.CertFile, KeyFile: ca.KeyFile}
	srv := startWsloopWith(t, server.Config{Tuning: server.Tuning{Loops: 1}, TLS: tlsCfg}, server.NewRouter())
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		e, err := New(Config{Addr: srv.Addr().String(), Loops: 2, Window: 4, Payload: 100,
			TLS: &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1", MaxVersion: v}})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		pingAndEcho(t, e, 10, 1000)
	}

	const timeout = 300 * time.Millisecond
	expiring := startWsloopWith(t, server.Config{Tuning: server.Tuning{Loops: 1}, TLS: tlsCfg,
		Heartbeat: server.Heartbeat{Timeout: timeout, Tick: 20 * time.Millisecond}}, server.NewRouter())
	e, err := New(Config{Addr: expiring.Addr().String(), Loops: 1, ExpectClose: true, TLS: &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Dial(context.Background(), 5, nil)
	waitFor(t, func() bool { return e.Totals().Closed == 5 })
	if tot := e.Totals(); tot.Errors != 0 || tot.Dropped != 0 {
		errs, _ := e.Errors()
		t.Fatalf("totals %+v, errors %q", tot, errs)
	}
}

// Centrifugo's protocol, line by line as its frames carry it: the connect
// reply opens the connection, the server's ping is answered, the
// subscribe reply counts as joined, a publication is a room message with
// its payload parsed, anything else is an error.
func TestCentrifugoMessages(t *testing.T) {
	e := &Engine{cfg: Config{Centrifugo: true, Payload: 64}, errCount: map[string]int{}}
	cs := &conn{e: e, st: &loopStats{}, lastPub: -1, rng: 1}
	cs.cfMessage([]byte(`{"id":1,"connect":{"client":"c1","version":"6.9.1","ping":25,"pong":true}}`+"\n"+`{}`), 1)
	if cs.st.upgraded.Load() != 1 || cs.st.pushes.Load() != 1 {
		t.Fatalf("connect reply: upgraded %d, pushes %d", cs.st.upgraded.Load(), cs.st.pushes.Load())
	}
	if _, p, _, err := wsframe.Decode(unmaskFirst(t, cs.out)); err != nil || string(p) != "{}" {
		t.Fatalf("ping answer %q, %v", p, err)
	}
	cs.cfMessage([]byte(`{"id":2,"subscribe":{}}`), 2)
	pub := append([]byte(`{"push":{"channel":"r1","pub":{"data":`), AppendPayload(nil, 1, 0, 64)...)
	pub = append(pub, "}}}\n"...)
	pub = append(pub, `{"push":{"channel":"r1","pub":{"data":`...)
	pub = append(AppendPayload(pub, 1, 1, 64), "}}}"...)
	cs.cfMessage(pub, 3)
	if cs.st.joined.Load() != 1 || cs.st.deliveries.Load() != 2 || cs.st.errors.Load() != 0 {
		errs, _ := e.Errors()
		t.Fatalf("joined %d, deliveries %d, errors %d %q", cs.st.joined.Load(), cs.st.deliveries.Load(), cs.st.errors.Load(), errs)
	}
	cs.cfMessage([]byte(`{"id":2,"error":{"code":103,"message":"permission denied"}}`), 4)
	if cs.st.errors.Load() != 1 {
		t.Fatalf("an error reply was not counted")
	}
}

// unmaskFirst returns a copy of b with its first client frame unmasked
// (as a server would read it), for wsframe.Decode.
func unmaskFirst(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 6 || b[1]&0x80 == 0 || b[1]&0x7f >= 126 {
		t.Fatalf("not a short masked frame: %q", b)
	}
	n := int(b[1] & 0x7f)
	key := b[2:6]
	out := []byte{b[0], byte(n)}
	for i := 0; i < n; i++ {
		out = append(out, b[6+i]^key[i%4])
	}
	return out
}
