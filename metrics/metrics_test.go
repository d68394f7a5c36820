package metrics

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wsloop/wsloop/auth"
	"github.com/wsloop/wsloop/clock"
	"github.com/wsloop/wsloop/cluster"
	"github.com/wsloop/wsloop/internal/srvtest"
	"github.com/wsloop/wsloop/internal/wstest"
	"github.com/wsloop/wsloop/lease"
	"github.com/wsloop/wsloop/server"
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

// TestMetricsNames: every metric README lists is exported, with the
// values of server.Stats and lease.Stats, and the Go runtime's beside them.
func TestMetricsNames(t *testing.T) {
	leases, err := lease.New(lease.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv, url := srvtest.Start(t, server.Config{Tuning: server.Tuning{Loops: 1}}, leases.Wrap(server.NewRouter()))
	h := Handler(Sources{Server: srv, Leases: leases})
	c, _ := wstest.DialRouter(t, url)
	wstest.WriteText(t, c, `{"cmd":"join","seqno":"1","data":{"room":"r"}}`)
	wstest.ReadText(t, c)
	got := scrape(t, h)
	var names []string
	for k := range got {
		if strings.HasPrefix(k, "wsloop_") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	want := "wsloop_bytes_out_total wsloop_connections wsloop_connections_accepted_total wsloop_connections_refused_total wsloop_deflate_connections_total " +
		"wsloop_handshake_failures_total wsloop_handshake_rate_limited_total wsloop_heartbeat_expired_total wsloop_io_uring_sends_total wsloop_io_uring_submits_total wsloop_ip_conns_refused_total " +
		"wsloop_lease_refused_total wsloop_leases wsloop_leases_expired_total wsloop_leases_started_total " +
		"wsloop_loop_connections{loop=0} wsloop_message_bytes_in_total wsloop_messages_in_total " +
		"wsloop_messages_out_total wsloop_origin_refused_total wsloop_proxy_refused_total wsloop_ring_full_total wsloop_room_deliveries_total wsloop_rooms wsloop_slow_consumer_closed_total " +
		"wsloop_slow_consumer_dropped_total wsloop_tls_handshake_failures_total wsloop_tls_handshakes_total wsloop_tls_handshaking wsloop_users_online"
	if strings.Join(names, " ") != want {
		t.Errorf("metrics\n got  %s\n want %s", strings.Join(names, " "), want)
	}
	st := srv.Stats()
	if got["wsloop_connections"] != 1 || got["wsloop_rooms"] != 1 || got["wsloop_messages_in_total"] != float64(st.MessagesIn) ||
		got["wsloop_connections_accepted_total"] != float64(st.Accepted) || got["wsloop_bytes_out_total"] != float64(st.BytesOut) {
		t.Errorf("values differ from Stats %+v: %v", st, got)
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("Go runtime metrics missing")
	}
	// Without a lease table: no lease metrics.
	if _, ok := scrape(t, Handler(Sources{Server: srv}))["wsloop_leases"]; ok {
		t.Error("lease metrics without a lease table")
	}
}

// TestMetricsLeases: lease starts, expiries and refusals, and the 1008
// closes they cause, move by exactly what happened.
func TestMetricsLeases(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	leases, err := lease.New(lease.Config{Timeout: 800 * time.Millisecond, Tick: 20 * time.Millisecond, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	srv, url := srvtest.Start(t, server.Config{}, leases.Wrap(server.NewRouter()))
	if err := leases.Attach(srv); err != nil {
		t.Fatal(err)
	}
	defer leases.Stop()
	h := Handler(Sources{Server: srv, Leases: leases})
	before := scrape(t, h)
	a, err := leases.Start("")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := leases.Start("")
	c, _ := wstest.DialRouter(t, url+"?auth_body="+a.Auth)
	refused := wstest.Dial(t, url+"?auth_body=nope")
	wstest.ExpectClose(t, refused, 1008)
	if got := scrape(t, h)["wsloop_leases"]; got != 2 {
		t.Errorf("wsloop_leases %v, want 2", got)
	}
	if _, err := leases.End(b.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second) // a expires
	wstest.ExpectClose(t, c, 1008)
	deadline := time.Now().Add(5 * time.Second)
	for srv.Count() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // the sockets closing
	}
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

// TestMetricsCluster: a node cut off from NATS says so (connected 0, one
// node known: itself) and counts the events it could not send.
func TestMetricsCluster(t *testing.T) {
	node, err := cluster.New(cluster.Config{URL: "nats://127.0.0.1:1", Name: "cut-off"})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	srv, url := srvtest.Start(t, server.Config{NodeID: node.ID(), Broker: node}, server.NewRouter())
	node.Attach(srv)
	h := Handler(Sources{Server: srv, Cluster: node})
	before := scrape(t, h)
	for _, k := range []string{"wsloop_cluster_connected", "wsloop_cluster_nodes", "wsloop_cluster_published_total",
		"wsloop_cluster_publish_errors_total", "wsloop_cluster_received_total", "wsloop_cluster_reconnects_total",
		"wsloop_cluster_bad_messages_total"} {
		if _, ok := before[k]; !ok {
			t.Errorf("%s missing", k)
		}
	}
	if before["wsloop_cluster_connected"] != 0 || before["wsloop_cluster_nodes"] != 1 {
		t.Errorf("connected %v nodes %v, want 0 and 1", before["wsloop_cluster_connected"], before["wsloop_cluster_nodes"])
	}
	c, _ := wstest.DialRouter(t, url)
	wstest.WriteText(t, c, `{"cmd":"join","seqno":"1","data":{"room":"r"}}`)
	wstest.ReadText(t, c)
	before = scrape(t, h) // (the join's enter event was a publish too)
	srv.Publish("r", "news", 1)
	srv.Publish("r", "news", 2)
	wstest.ReadText(t, c) // local members still get it
	wstest.ReadText(t, c)
	after := scrape(t, h)
	if d := after["wsloop_cluster_publish_errors_total"] - before["wsloop_cluster_publish_errors_total"]; d != 2 {
		t.Errorf("publish errors moved by %v, want 2", d)
	}
	if after["wsloop_cluster_published_total"] != 0 {
		t.Errorf("published %v while cut off", after["wsloop_cluster_published_total"])
	}
	// Without a cluster node: no cluster metrics.
	if _, ok := scrape(t, Handler(Sources{Server: srv}))["wsloop_cluster_connected"]; ok {
		t.Error("cluster metrics without a cluster node")
	}
}

// TestMetricsAuth: the token counters move by what happened.
func TestMetricsAuth(t *testing.T) {
	v, err := auth.New(auth.Config{Secret: []byte("s3cret"), Require: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, url := srvtest.Start(t, server.Config{}, v.Wrap(server.NewRouter()))
	h := Handler(Sources{Server: srv, Auth: v})
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice"}).SignedString([]byte("s3cret"))
	wstest.DialRouter(t, url+"?token="+tok)
	wstest.ExpectClose(t, wstest.Dial(t, url), 1008)
	wstest.ExpectClose(t, wstest.Dial(t, url+"?token=junk"), 1008)
	got := scrape(t, h)
	for k, want := range map[string]float64{"wsloop_auth_accepted_total": 1, "wsloop_auth_refused_total": 2, "wsloop_auth_expired_total": 0, "wsloop_auth_refreshed_total": 0} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	if _, ok := scrape(t, Handler(Sources{Server: srv}))["wsloop_auth_accepted_total"]; ok {
		t.Error("auth metrics without a verifier")
	}
}
