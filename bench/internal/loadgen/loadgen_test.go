package loadgen

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

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
	ctx := context.Background()
	e.Dial(ctx, 20, nil)
	if open := e.WaitHandshakes(ctx, 5*time.Second); open != 20 {
		t.Fatalf("%d open, totals %+v", open, e.Totals())
	}
	e.Broadcast(CmdPing)
	waitFor(t, func() bool { return e.Totals().Pongs == 20 })

	e.StartEcho()
	e.Measure(true)
	e.Broadcast(CmdStartEcho)
	waitFor(t, func() bool { return e.Totals().Replies >= 2000 })
	e.Measure(false)
	e.StopEcho()
	if left := e.Drain(5 * time.Second); left != 0 {
		t.Fatalf("%d requests still in flight", left)
	}
	tot := e.Totals()
	errs, _ := e.Errors()
	if tot.Errors != 0 || tot.Dropped != 0 || tot.Lost != 0 || tot.Pushes != 20 {
		t.Fatalf("totals %+v, errors %q", tot, errs)
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

func startWsloop(t *testing.T) *server.Server {
	t.Helper()
	srv, err := server.New(server.Config{
		Addr:   "127.0.0.1:0",
		Loops:  1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, server.NewRouter())
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
