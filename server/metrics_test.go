package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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
