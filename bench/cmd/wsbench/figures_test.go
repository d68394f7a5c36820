package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsloop/wsloop/bench/internal/loadgen"
)

func TestExpiryFigures(t *testing.T) {
	s := int64(time.Second)
	f := expiryFigures([]loadgen.ConnTimes{
		{Sent: 1 * s, Upgraded: 1*s + 1, Closed: 6 * s},   // 5 s
		{Sent: 2 * s, Upgraded: 2*s + 1, Closed: 8 * s},   // 6 s
		{Sent: 3 * s, Upgraded: 3*s + 1, Closed: 10 * s},  // 7 s, the last close
		{Sent: 4 * s, Upgraded: 4 * s, Closed: 0},         // still open: not counted
		{Sent: 5 * s, Upgraded: 0, Closed: 5*s + 1},       // never opened: left out
		{Sent: 2 * s, Upgraded: 2*s + 1, Closed: 7*s + 5}, // 5 s
	})
	if f.closed != 4 || f.min != 5 || f.p100 != 7 {
		t.Errorf("figures %+v", f)
	}
	if f.p50 < 5 || f.p50 > 5.0000001 { // nearest rank: 2nd of 4
		t.Errorf("p50 %v", f.p50)
	}
	if want := float64(10*s-4*s) / 1e9; f.allClosed != want { // last open at 4 s
		t.Errorf("allClosed %v, want %v", f.allClosed, want)
	}
	if f := expiryFigures(nil); f.closed != 0 || f.p50 != 0 {
		t.Errorf("empty %+v", f)
	}
}

func TestRank(t *testing.T) {
	for _, tc := range []struct {
		n    int
		q    float64
		want int
	}{{1, 0.5, 0}, {2, 0.5, 0}, {3, 0.5, 1}, {4, 0.5, 1}, {100, 0.99, 98}, {100, 1, 99}, {5, 0, 0}} {
		if got := rank(tc.n, tc.q); got != tc.want {
			t.Errorf("rank(%d, %v) = %d, want %d", tc.n, tc.q, got, tc.want)
		}
	}
}

func TestServerArgs(t *testing.T) {
	o := defaultOptions()
	o.serverLoops = 3
	hb := serverMode{heartbeat: 5 * time.Second}
	for _, tc := range []struct {
		target string
		m      serverMode
		want   string
	}{
		{"wsloop", serverMode{heartbeat: defaultHeartbeat}, "--addr A --loops 3 --log-level warn --http-addr  --heartbeat-timeout 2m0s"},
		{"wsloop", serverMode{raw: true, heartbeat: defaultHeartbeat}, "--addr A --loops 3 --log-level warn --http-addr  --heartbeat-timeout 2m0s --echo"},
		{"wsloop", serverMode{rooms: true, heartbeat: defaultHeartbeat}, "--addr A --loops 3 --log-level warn --http-addr  --heartbeat-timeout 2m0s --publish-rate=-1 --room-events-max-members=-1"},
		{"wsloop", hb, "--addr A --loops 3 --log-level warn --http-addr  --heartbeat-timeout 5s"},
		{"wsloop-nohb", hb, "--addr A --loops 3 --log-level warn --http-addr  --heartbeat-timeout -1s --heartbeats none"},
		{"wsloop-nouring", serverMode{rooms: true, heartbeat: defaultHeartbeat}, "--addr A --loops 3 --log-level warn --http-addr  --heartbeat-timeout 2m0s --io-uring=false --publish-rate=-1 --room-events-max-members=-1"},
		{"naivegnet", hb, "--addr A --loops 3 --heartbeat-timeout 5s"},
		{"nbio", serverMode{raw: true, heartbeat: time.Second}, "--addr A --loops 3 --heartbeat-timeout 1s --echo"},
		{"gorilla", serverMode{raw: true, rooms: true, heartbeat: time.Second}, "--addr A --heartbeat-timeout 1s --echo"},
		{"gws", hb, "--addr A --heartbeat-timeout 5s"},
		{"wsloop", serverMode{rooms: true, heartbeat: defaultHeartbeat, apiAddr: "B"}, "--addr A --loops 3 --log-level warn --http-addr  --heartbeat-timeout 2m0s --publish-rate=-1 --room-events-max-members=-1 --http-addr B"},
		{"gorilla", serverMode{heartbeat: defaultHeartbeat, tlsCert: "c.pem", tlsKey: "k.pem"}, "--addr A --heartbeat-timeout 2m0s --tls-cert c.pem --tls-key k.pem"},
	} {
		if got := strings.Join(targetSpecs[tc.target].args("A", &o, tc.m), " "); got != tc.want {
			t.Errorf("%s %+v:\n got %s\nwant %s", tc.target, tc.m, got, tc.want)
		}
	}
	if m := expiryScenario.serverMode(&o); m.heartbeat != o.hbTimeout || m.raw || m.rooms {
		t.Errorf("expiry mode %+v", m)
	}
	if m := idleScenario.serverMode(&o); m.heartbeat != defaultHeartbeat {
		t.Errorf("idle mode %+v", m)
	}
	for name, spec := range targetSpecs {
		// Built here, installed on first use, or given: one of the three.
		if n := btoi(spec.pkg != "") + btoi(spec.install != "") + btoi(spec.prebuilt != ""); n != 1 || !strings.HasPrefix(spec.path, "/") {
			t.Errorf("target %s: %+v", name, spec)
		}
	}
	if got := strings.Join(targetSpecs["uws"].args("127.0.0.1:4567", &o, serverMode{}), " "); got != "4567" {
		t.Errorf("uws args %q", got)
	}
	o.runDir = t.TempDir()
	args := targetSpecs["centrifugo"].args("127.0.0.1:4567", &o, serverMode{rooms: true})
	if len(args) != 2 || args[0] != "--config" {
		t.Fatalf("centrifugo args %q", args)
	}
	cfg, err := os.ReadFile(args[1])
	var parsed struct {
		HTTPServer struct {
			Address string `json:"address"`
			Port    int    `json:"port"`
		} `json:"http_server"`
		HTTPAPI struct {
			Key string `json:"key"`
		} `json:"http_api"`
	}
	if err != nil || json.Unmarshal(cfg, &parsed) != nil || parsed.HTTPServer.Address != "127.0.0.1" || parsed.HTTPServer.Port != 4567 || parsed.HTTPAPI.Key != centrifugoKey {
		t.Errorf("centrifugo config %s: %v %+v", cfg, err, parsed)
	}
	for _, tg := range matrixTargets {
		if _, ok := targetSpecs[tg]; !ok {
			t.Errorf("matrix target %s unknown", tg)
		}
	}
	for _, sc := range scenarios {
		for _, key := range sc.chart {
			if _, ok := (&report{scen: sc}).column(key); !ok {
				t.Errorf("%s charts unknown column %s", sc.name, key)
			}
		}
	}
}

// pace spreads publishes evenly: about rate × elapsed, the first at once.
func TestPace(t *testing.T) {
	var mu sync.Mutex
	var total, calls int
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		pace(func(n int) {
			mu.Lock()
			total += n
			calls++
			mu.Unlock()
		}, 200, stop)
	}()
	time.Sleep(250 * time.Millisecond)
	close(stop)
	<-done
	if total < 40 || total > 60 || calls < 20 {
		t.Errorf("%d publishes in %d calls over 250 ms at 200/s", total, calls)
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"-matrix", "-scenario", "echo,idle", "-out", "/tmp/a b", "-x", ""})
	if want := `go run ./cmd/wsbench -matrix -scenario echo,idle -out '/tmp/a b' -x ''`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestAnchor(t *testing.T) {
	if got := anchor("echo — pipelined JSON echo: throughput, server CPU per message, latency"); got != "echo--pipelined-json-echo-throughput-server-cpu-per-message-latency" {
		t.Errorf("anchor %s", got)
	}
}

func fakeReport() *report {
	o := defaultOptions()
	o.rounds = 2
	o.command = "go run ./cmd/wsbench -matrix"
	return &report{
		scen: broadcastScenario, o: &o, conns: 10,
		targets: []string{"wsloop", "naivegnet", "gws"}, baseline: "naivegnet",
		results: []result{
			{target: "wsloop", round: 1, m: metrics{"cpu_us": 1, "p99_us": 100, "deliveries_s": 10}},
			{target: "naivegnet", round: 1, m: metrics{"cpu_us": 4, "p99_us": 300}},
			{target: "gws", round: 1, m: metrics{"cpu_us": 3, "p99_us": 200}},
			{target: "wsloop", round: 2, m: metrics{"cpu_us": 2, "p99_us": 110, "deliveries_s": 12}},
			{target: "naivegnet", round: 2, m: metrics{"cpu_us": 5, "p99_us": 320}},
		},
	}
}

func TestSpread(t *testing.T) {
	rep := fakeReport()
	med, lo, hi, ok := rep.spread("wsloop", "cpu_us")
	if !ok || med != 1.5 || lo != 1 || hi != 2 {
		t.Errorf("spread %v %v %v %v", med, lo, hi, ok)
	}
	if _, _, _, ok := rep.spread("gws", "deliveries_s"); ok {
		t.Error("spread of a missing key")
	}
	if med, lo, hi, _ := rep.spread("gws", "cpu_us"); med != 3 || lo != 3 || hi != 3 || math.IsInf(lo, 0) {
		t.Errorf("one round: %v %v %v", med, lo, hi)
	}
}

func TestResultsMarkdownAndChart(t *testing.T) {
	rep := fakeReport()
	var b bytes.Buffer
	started := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	writeResultsMarkdown(&b, rep.o, []*report{rep}, started, machine{cpu: "Test CPU", kernel: "6.1.0-test", goVersion: "go1.99", tree: "abc1234", cores: 2, nofile: 1024})
	md := b.String()
	for _, want := range []string{
		"# wsloop benchmark results",
		"| date | 2026-01-02 03:04 UTC",
		"| command | `go run ./cmd/wsbench -matrix` |",
		"| tree | `abc1234` |",
		"| CPU | Test CPU |",
		"| cores | 2 |",
		"| kernel | 6.1.0-test |",
		"| Go | go1.99 |",
		"[broadcast](#broadcast--room-fan-out-one-publisher-s-subscribers-server-cpu-per-delivery-delivery-latency)",
		"## broadcast — room fan-out",
		"| wsloop | 11 | 1.500 | 0.33 |",
		"![broadcast](charts/broadcast.svg)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("RESULTS.md lacks %q:\n%s", want, md)
		}
	}
	svg, err := rep.chart()
	if err != nil {
		t.Fatal(err)
	}
	s := string(svg)
	if !strings.HasPrefix(s, "<?xml") || !strings.Contains(s, "<svg") {
		t.Fatalf("not an SVG: %.200s", s)
	}
	for _, want := range []string{"server CPU µs/delivery", "p99 µs", "wsloop", "naivegnet", "gws"} {
		if !strings.Contains(s, want) && !strings.Contains(s, strings.ReplaceAll(want, "µ", "&#181;")) {
			t.Errorf("chart lacks %q", want)
		}
	}
	rep.scen = &scenario{name: "x", chart: []string{"nope"}}
	if _, err := rep.chart(); err == nil {
		t.Error("chart of an unknown column")
	}
	if !slices.Contains(scenarioNames(), "expiry") {
		t.Error("no expiry scenario")
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
