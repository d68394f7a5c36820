package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wsloop/wsloop/protocol"
)

// scrape fetches /metrics and returns value by "name" or "name{label=value}".
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name
			for _, lp := range m.GetLabel() {
				key += "{" + lp.GetName() + "=" + lp.GetValue() + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// TestMetricsMove: the counters move by exactly what the clients did.
func TestMetricsMove(t *testing.T) {
	srv, url := startServer(t, Config{MaxMessageSize: 100}, NewRouter())
	h := srv.HTTPHandler()
	before := scrape(t, h)

	a, _ := dialRouter(t, url)
	b, _ := dialRouter(t, url)
	for i := 0; i < 3; i++ {
		writeText(t, a, `{"cmd":"echo","seqno":"1","data":"abc"}`)
		readText(t, a)
	}
	rc := dialRaw(t, srv, false)
	rc.send([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")) // not an upgrade
	rc.readHTTP()
	_ = b.WriteMessage(1, bytes.Repeat([]byte("x"), 200)) // over MaxMessageSize → 1009
	expectClose(t, b, 1009)
	b.Close()
	a.Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Count() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	after := scrape(t, h)
	delta := func(k string) float64 { return after[k] - before[k] }
	checks := []struct {
		key  string
		want float64
	}{
		{"wsloop_connections_accepted_total", 3},
		{"wsloop_messages_in_total", 3},
		{"wsloop_message_bytes_in_total", 3 * float64(len(`{"cmd":"echo","seqno":"1","data":"abc"}`))},
		{"wsloop_messages_out_total", 2 + 3}, // two welcomes, three replies
		{"wsloop_handshake_failures_total", 1},
		{"wsloop_connections_closed_total{code=1009}", 1},
		{"wsloop_connections_closed_total{code=1006}", 1}, // a closed without a close frame
		{"wsloop_connections", 0},
	}
	for _, c := range checks {
		got := delta(c.key)
		if c.key == "wsloop_connections" {
			got = after[c.key]
		}
		if got != c.want {
			t.Errorf("%s moved by %v, want %v", c.key, got, c.want)
		}
	}
	if after["wsloop_bytes_out_total"] <= before["wsloop_bytes_out_total"] {
		t.Error("wsloop_bytes_out_total did not move")
	}
	if _, ok := after["go_goroutines"]; !ok {
		t.Error("Go runtime metrics missing")
	}
}

func TestHealthAndReady(t *testing.T) {
	srv, err := New(Config{Addr: "127.0.0.1:0", Logger: testLogger(t)}, NewRouter())
	if err != nil {
		t.Fatal(err)
	}
	h := srv.HTTPHandler()
	get := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	if get("/healthz") != 200 || get("/readyz") != 503 {
		t.Fatalf("before Serve: healthz %d readyz %d", get("/healthz"), get("/readyz"))
	}
	_ = srv.Listen()
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	<-srv.Ready()
	if get("/readyz") != 200 {
		t.Fatalf("serving: readyz %d", get("/readyz"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	<-served
	if get("/readyz") != 503 || get("/healthz") != 200 {
		t.Fatalf("after Shutdown: readyz %d healthz %d", get("/readyz"), get("/healthz"))
	}
}

// TestMetricsRoomsDropsRingFull: room deliveries, slow-consumer drops and
// ring-full events move by exactly what the HTTP API did, and a full ring
// answers 503.
func TestMetricsRoomsDropsRingFull(t *testing.T) {
	const maxOut = 1000
	srv, url, api := startAPI(t, Config{Loops: 1, QueueSize: 16, MaxOutboundBytes: maxOut}, NewRouter())
	h := srv.HTTPHandler()
	m := newClient(t, url)
	m.ok("join", map[string]any{"room": "r"})

	// A room message of n bytes on the wire; floor(maxOut/n) of them fit
	// in one wakeup's output for a member, the rest are dropped.
	payload := `"` + strings.Repeat("x", 200) + `"`
	frame := len(protocol.AppendMessage(nil, "r", "", []byte(payload)))
	frame += 2 + 2 // header with a 16-bit length
	fit := maxOut / frame
	if fit < 1 || fit >= 16 {
		t.Fatalf("frame of %d bytes: %d fit; adjust the test", frame, fit)
	}

	before := scrape(t, h)
	release := blockLoop(t, (*srv.loops.Load())[0])
	queued, full := 0, 0
	for full == 0 {
		res := api.do("POST", "/api/publish", `{"room":"r","payload":`+payload+`}`)
		switch res.status {
		case 200:
			queued++
		case 503:
			full++
			if res.header.Get("Retry-After") != "1" || res.body["code"] != 503.0 {
				t.Errorf("queue full: %v %s", res.header, res.raw)
			}
		default:
			t.Fatalf("publish: %d %s", res.status, res.raw)
		}
		if queued > 16 {
			t.Fatal("the ring never filled")
		}
	}
	release()
	for i := 0; i < fit; i++ {
		m.push("message")
	}
	m.quiet(100 * time.Millisecond)
	after := scrape(t, h)
	delta := func(k string) float64 { return after[k] - before[k] }
	for _, c := range []struct {
		key  string
		want float64
	}{
		{"wsloop_ring_full_total", float64(full)},
		{"wsloop_room_deliveries_total", float64(fit)},
		{"wsloop_slow_consumer_dropped_total", float64(queued - fit)},
		{"wsloop_messages_out_total", float64(fit)},
		{"wsloop_messages_in_total", 0},
		{"wsloop_slow_consumer_closed_total", 0},
	} {
		if got := delta(c.key); got != c.want {
			t.Errorf("%s moved by %v, want %v", c.key, got, c.want)
		}
	}
	if queued != 16 || full != 1 {
		t.Errorf("queued %d before the ring was full, want 16", queued)
	}
	if after["wsloop_connections"] != 1 || after["wsloop_loop_connections{loop=0}"] != 1 || after["wsloop_rooms"] != 1 {
		t.Errorf("gauges: connections %v, loop 0 %v, rooms %v; want 1 each", after["wsloop_connections"], after["wsloop_loop_connections{loop=0}"], after["wsloop_rooms"])
	}
}

// TestMetricsHeartbeatExpiry: a silent connection is expired once.
func TestMetricsHeartbeatExpiry(t *testing.T) {
	srv, _ := startServer(t, Config{HeartbeatTimeout: 200 * time.Millisecond, Tick: 20 * time.Millisecond}, NewRouter())
	h := srv.HTTPHandler()
	before := scrape(t, h)
	rc := dialRaw(t, srv, true)
	if reason := rc.expectCloseCode(1000); reason != "heartbeat timeout" {
		t.Fatalf("close reason %q", reason)
	}
	waitIdle(t, srv)
	after := scrape(t, h)
	for k, want := range map[string]float64{
		"wsloop_heartbeat_expired_total":             1,
		"wsloop_connections_closed_total{code=1000}": 1,
		"wsloop_connections_accepted_total":          1,
	} {
		if got := after[k] - before[k]; got != want {
			t.Errorf("%s moved by %v, want %v", k, got, want)
		}
	}
}

// TestMetricsLeases: lease starts, expiries and refusals, and the 1008
// closes they cause.
func TestMetricsLeases(t *testing.T) {
	srv, url, api := startAPI(t, Config{LeaseTimeout: 800 * time.Millisecond, Tick: 20 * time.Millisecond}, NewRouter())
	h := srv.HTTPHandler()
	before := scrape(t, h)
	a := api.startLease("")
	b := api.startLease("")
	c, _ := dialRouter(t, a.link)
	expectRefused(t, dial(t, url+"?auth_body=nope"), "unknown or expired auth_body")
	if got := scrape(t, h)["wsloop_leases"]; got != 2 {
		t.Errorf("wsloop_leases %v, want 2", got)
	}
	api.ok("POST", "/api/session/end", `{"conn_id":"`+b.id+`"}`)
	expectClose(t, c, 1008) // a expired
	waitIdle(t, srv)
	after := scrape(t, h)
	for k, want := range map[string]float64{
		"wsloop_leases_started_total":                2,
		"wsloop_leases_expired_total":                1,
		"wsloop_lease_refused_total":                 1,
		"wsloop_connections_closed_total{code=1008}": 2,
	} {
		if got := after[k] - before[k]; got != want {
			t.Errorf("%s moved by %v, want %v", k, got, want)
		}
	}
	if after["wsloop_leases"] != 0 {
		t.Errorf("wsloop_leases %v after end and expiry, want 0", after["wsloop_leases"])
	}
}

// waitIdle waits until the server holds no connection.
func waitIdle(t *testing.T, srv *Server) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Count() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open", srv.Count())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMetricsIOUring: a room message to two members of one loop is one
// io_uring submission of two sends (none where io_uring is unavailable).
func TestMetricsIOUring(t *testing.T) {
	srv, url := startServer(t, Config{Loops: 1}, userRouter())
	h := srv.HTTPHandler()
	a, b := newClient(t, url+"?user=a"), newClient(t, url+"?user=b")
	a.ok("join", map[string]any{"room": "r"})
	b.ok("join", map[string]any{"room": "r"})
	a.push("enter_room")
	before := scrape(t, h)
	if err := srv.PublishMessage("r", "test", "hello"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{a, b} {
		if d := data(c.push("message")); d["payload"] != "hello" {
			t.Fatalf("message %v", d)
		}
	}
	after := scrape(t, h)
	wantSubmits, wantSends := 1.0, 2.0
	if !srv.batchSends {
		wantSubmits, wantSends = 0, 0
	}
	if got := after["wsloop_io_uring_submits_total"] - before["wsloop_io_uring_submits_total"]; got != wantSubmits {
		t.Errorf("wsloop_io_uring_submits_total moved by %v, want %v", got, wantSubmits)
	}
	if got := after["wsloop_io_uring_sends_total"] - before["wsloop_io_uring_sends_total"]; got != wantSends {
		t.Errorf("wsloop_io_uring_sends_total moved by %v, want %v", got, wantSends)
	}
}
