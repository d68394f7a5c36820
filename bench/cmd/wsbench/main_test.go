package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs every scenario for about a second against wsloop and a
// peer (broadcast against two peers), built from this tree, with small
// counts, and checks that each round saw no error and some throughput.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the servers")
	}
	if err := raiseFileLimit(); err != nil {
		t.Log(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	var stderr bytes.Buffer
	prog := newProgress(&stderr)

	o := defaultOptions()
	o.binDir = dir
	o.rounds = 1
	o.warmup = 300 * time.Millisecond
	o.duration = time.Second
	o.hold = 300 * time.Millisecond
	o.rate = 50
	o.hbTimeout = time.Second

	start := time.Now()
	var reports []*report
	built := map[string]bool{}
	for _, tc := range []struct {
		scenario string
		targets  []string
		conns    int
	}{
		{"echo", []string{"wsloop", "naivegnet"}, 50},
		{"raw", []string{"wsloop", "naivegnet"}, 50},
		{"broadcast", []string{"wsloop", "naivegnet", "gws"}, 200},
		{"cluster-broadcast", []string{"wsloop", "wsloop-cluster"}, 150},
		{"idle", []string{"wsloop", "naivegnet"}, 200},
		{"expiry", []string{"wsloop", "naivegnet"}, 100},
		{"echo-compression", []string{"wsloop", "gws", "naivegnet"}, 50},
		{"echo-tls", []string{"wsloop", "gorilla", "naivegnet"}, 50},
		{"idle-tls", []string{"wsloop", "gorilla"}, 200},
		{"broadcast-api", []string{"wsloop", "naivegnet"}, 200},
		{"connect", []string{"wsloop", "naivegnet"}, 300},
	} {
		if tc.scenario == "cluster-broadcast" {
			if _, err := natsServerBinary(&o); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatal(err)
				}
				t.Logf("cluster-broadcast not run: %v", err)
				continue
			}
		}
		so := o
		so.scenarios = []string{tc.scenario}
		if tc.scenario == "echo-compression" {
			// echo with permessage-deflate: requests big enough to be
			// compressed; naivegnet, which cannot, is skipped.
			so.scenarios, so.compression, so.payload = []string{"echo"}, true, 1024
		}
		if tc.scenario == "broadcast-api" {
			// wsloop publishes through its HTTP API; naivegnet, which has
			// none, through a publisher connection.
			so.scenarios, so.apiPublish = []string{"broadcast"}, true
		}
		if name, ok := strings.CutSuffix(tc.scenario, "-tls"); ok {
			// wss://: naivegnet, which cannot, is skipped.
			so.scenarios, so.tls = []string{name}, true
		}
		so.targets = tc.targets
		so.conns = tc.conns
		so.binaries = map[string]string{}
		for _, tg := range tc.targets {
			if built[tg] {
				so.binaries[tg] = filepath.Join(dir, tg)
			}
			built[tg] = true
		}
		more, err := bench(ctx, so, prog)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.scenario, err, stderr.String())
		}
		reports = append(reports, more...)
		t.Logf("%s took %v", tc.scenario, time.Since(start))
	}

	// The -matrix output, from these real (tiny) figures.
	so := o
	so.out = t.TempDir()
	so.command = "go run ./cmd/wsbench -test"
	path, err := writeResults(&so, reports, start)
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, rep := range reports {
		svg, err := os.ReadFile(filepath.Join(so.out, "charts", rep.scen.name+".svg"))
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("chart %s: %v", rep.scen.name, err)
		}
		if !bytes.Contains(md, []byte("## "+rep.scen.name+" — ")) || !bytes.Contains(md, []byte("(charts/"+rep.scen.name+".svg)")) {
			t.Errorf("RESULTS.md has no %s section", rep.scen.name)
		}
	}

	var out bytes.Buffer
	for _, rep := range reports {
		rep.write(&out)
		if a := rep.anomalies(); len(a) > 0 {
			t.Errorf("%s anomalies: %q", rep.scen.name, a)
		}
	}
	t.Logf("report:\n%s", out.String())

	for _, rep := range reports {
		if len(rep.results) != len(rep.targets) {
			t.Fatalf("%s: %d results for %d targets", rep.scen.name, len(rep.results), len(rep.targets))
		}
		for _, r := range rep.results {
			m := r.m
			ok := m["errors"] == 0
			switch rep.scen.name {
			case "echo", "raw":
				ok = ok && m["msgs_s"] > 0 && m["cpu_us"] > 0 && m["conns"] == 50
				if rep.o.tls {
					ok = ok && r.target != "naivegnet"
				}
				if rep.o.compression {
					// A 1 KiB reply of filler text comes out well under 1 KiB.
					ok = ok && m["wire_b"] > 100 && m["wire_b"] < 900 && r.target != "naivegnet"
				} else if rep.scen.name == "echo" {
					ok = ok && m["wire_b"] >= 64
				}
			case "broadcast":
				ok = ok && m["subscribers"] == 200 && m["publishes"] > 0 && m["deliveries_s"] > 0 && m["missing"] == 0 && m["p50_us"] > 0
			case "cluster-broadcast":
				ok = ok && m["subscribers"] == 150 && m["publishes"] > 0 && m["deliveries_s"] > 0 && m["missing"] == 0 && m["cpu_us"] > 0
				_, pub := m["p50_pub_us"]
				_, other := m["p50_other_us"]
				_, nats := m["nats_cpu_pct"]
				if r.target == "wsloop-cluster" {
					// Members on every node, and nats-server's CPU counted.
					ok = ok && pub && other && nats && m["p50_other_us"] > 0
				} else {
					ok = ok && !pub && !other && !nats
				}
			case "idle":
				ok = ok && m["held"] == 200 && m["alive"] == 200 && m["pongs"] == 200
				_, has := m["connect_us"]
				ok = ok && has && (!rep.o.tls || m["connect_us"] > 0) // 200 TLS handshakes take more than a clock tick
			case "connect":
				ok = ok && m["opened"] == 300 && m["conns_s"] > 0 && (r.target != "wsloop" || m["welcomed"] == 300)
			case "expiry":
				ok = ok && m["closed"] == 100 && m["p100_s"] >= 0.9 && m["p100_s"] < 10
			}
			if !ok {
				t.Errorf("%s %s: %v", rep.scen.name, r.target, m)
			}
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-scenario", "echo,idle", "-targets", "naivegnet", "-conns", "10", "-rounds", "1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.scenarios, ",") != "echo,idle" || strings.Join(o.targets, ",") != "naivegnet" || o.conns != 10 || o.rounds != 1 {
		t.Fatalf("parsed %+v", o)
	}
	o, err = parseFlags([]string{"-matrix", "-rounds", "1", "-rate", "5", "-hb-timeout", "2s"}, io.Discard)
	if err != nil || !o.matrix || o.targetsSet || strings.Join(o.scenarios, ",") != "echo,raw,broadcast,cluster-broadcast,idle,connect,expiry" || o.rate != 5 || o.hbTimeout != 2*time.Second {
		t.Fatalf("matrix: %+v, %v", o, err)
	}
	if got, _ := idleScenario.targets(&o); strings.Join(got, ",") != "wsloop,wsloop-nohb,naivegnet,gorilla,gws,nbio" {
		t.Errorf("matrix idle targets %q", got)
	}
	if got, _ := echoScenario.targets(&o); strings.Join(got, ",") != "wsloop,naivegnet,gorilla,gws,nbio" {
		t.Errorf("matrix echo targets %q", got)
	}
	if got, _ := clusterBroadcastScenario.targets(&o); strings.Join(got, ",") != "wsloop,wsloop-cluster" {
		t.Errorf("matrix cluster-broadcast targets %q", got)
	}
	if b := clusterBroadcastScenario.baselineOf([]string{"wsloop", "wsloop-cluster"}); b != "wsloop" {
		t.Errorf("cluster-broadcast baseline %q", b)
	}
	o, err = parseFlags([]string{"-matrix", "-scenario", "expiry", "-targets", "wsloop-nohb,gws"}, io.Discard)
	if err != nil || strings.Join(o.scenarios, ",") != "expiry" {
		t.Fatalf("narrowed matrix: %+v, %v", o, err)
	}
	if run, skipped := expiryScenario.targets(&o); strings.Join(run, ",") != "gws" || strings.Join(skipped, ",") != "wsloop-nohb" {
		t.Errorf("expiry targets %q, skipped %q", run, skipped)
	}
	o, err = parseFlags([]string{"-addr", "127.0.0.1:8080", "-pid", "1"}, io.Discard)
	if err != nil || len(o.targets) != 1 || o.targets[0] != externalTarget {
		t.Fatalf("external: %+v, %v", o.targets, err)
	}
	for _, bad := range [][]string{
		{"-scenario", "nope"},
		{"-targets", "nope"},
		{"-rate", "0"},
		{"-hb-timeout", "1ms"},
		{"-matrix", "-addr", "127.0.0.1:8080", "-pid", "1"},
		{"-addr", "127.0.0.1:8080"},              // no -pid
		{"-addr", "10.0.0.1:8080", "-pid", "1"},  // not loopback
		{"-addr", "example.com:80", "-pid", "1"}, // not loopback
		{"-rounds", "0"},
		{"-window", "0"},
		{"extra"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

func TestReportMediansAndRatio(t *testing.T) {
	o := defaultOptions()
	rep := &report{
		scen:     echoScenario,
		o:        &o,
		conns:    10,
		targets:  []string{"wsloop", "naivegnet"},
		baseline: "naivegnet",
		results: []result{
			{target: "wsloop", round: 1, m: metrics{"cpu_us": 3, "msgs_s": 100}},
			{target: "naivegnet", round: 1, m: metrics{"cpu_us": 10, "msgs_s": 50}},
			{target: "wsloop", round: 2, m: metrics{"cpu_us": 1, "msgs_s": 300}},
			{target: "naivegnet", round: 2, m: metrics{"cpu_us": 8, "msgs_s": 60}},
			{target: "wsloop", round: 3, m: metrics{"cpu_us": 2, "msgs_s": 200}},
			{target: "naivegnet", round: 3, m: metrics{"cpu_us": 9, "msgs_s": 40}, notes: []string{"1 replies missing"}},
		},
	}
	if v, _ := rep.median("wsloop", "cpu_us"); v != 2 {
		t.Errorf("median = %v, want 2", v)
	}
	rep.results = rep.results[:4]
	if v, _ := rep.median("naivegnet", "cpu_us"); v != 9 {
		t.Errorf("even median = %v, want 9", v)
	}
	if _, ok := rep.median("wsloop", "p50_us"); ok {
		t.Error("median of a missing key")
	}
	var b bytes.Buffer
	rep.write(&b)
	s := b.String()
	// wsloop median cpu 2, naive 9: ratio 0.22.
	if !strings.Contains(s, "| wsloop | 200 | 2.00 | 0.22 |") || !strings.Contains(s, "| naivegnet | 55 | 9.00 | 1.00 |") {
		t.Errorf("report:\n%s", s)
	}
	if strings.Contains(s, "Anomalies") {
		t.Errorf("anomalies from a dropped round:\n%s", s)
	}
}

func TestBaselineTarget(t *testing.T) {
	for _, tc := range []struct {
		targets []string
		want    string
	}{
		{[]string{"wsloop", "naivegnet"}, "naivegnet"},
		{[]string{"naivegnet", "wsloop"}, "naivegnet"},
		{[]string{"wsloop"}, ""},
		{[]string{"wsloop", "wsloop-nohb", "naivegnet"}, "naivegnet"},
		{[]string{externalTarget}, ""},
	} {
		if got := baselineTarget(tc.targets); got != tc.want {
			t.Errorf("baselineTarget(%q) = %q, want %q", tc.targets, got, tc.want)
		}
	}
}
