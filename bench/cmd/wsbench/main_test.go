package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs each scenario for about a second against wsloop and
// naivegnet, built from this tree, with small counts.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the servers")
	}
	if err := raiseFileLimit(); err != nil {
		t.Log(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
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

	start := time.Now()
	echo := o
	echo.scenarios = []string{"echo"}
	echo.conns = 50
	reports, err := bench(ctx, echo, prog)
	if err != nil {
		t.Fatalf("echo: %v\n%s", err, stderr.String())
	}
	t.Logf("echo took %v", time.Since(start))

	idle := o
	idle.scenarios = []string{"idle"}
	idle.conns = 200
	idle.binaries = map[string]string{}
	for _, tg := range o.targets {
		idle.binaries[tg] = filepath.Join(dir, tg)
	}
	more, err := bench(ctx, idle, prog)
	if err != nil {
		t.Fatalf("idle: %v\n%s", err, stderr.String())
	}
	reports = append(reports, more...)
	t.Logf("echo and idle took %v", time.Since(start))

	var out bytes.Buffer
	for _, rep := range reports {
		rep.write(&out)
		if a := rep.anomalies(); len(a) > 0 {
			t.Errorf("%s anomalies: %q", rep.scen.name, a)
		}
	}
	t.Logf("report:\n%s", out.String())

	if len(reports) != 2 || len(reports[0].results) != 2 || len(reports[1].results) != 2 {
		t.Fatalf("want 2 reports of 2 results")
	}
	for _, r := range reports[0].results {
		if r.m["errors"] != 0 || r.m["msgs_s"] <= 0 || r.m["cpu_us"] <= 0 || r.m["conns"] != 50 {
			t.Errorf("echo %s: %v", r.target, r.m)
		}
	}
	for _, r := range reports[1].results {
		if r.m["errors"] != 0 || r.m["held"] != 200 || r.m["alive"] != 200 || r.m["pongs"] != 200 {
			t.Errorf("idle %s: %v", r.target, r.m)
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
	o, err = parseFlags([]string{"-addr", "127.0.0.1:8080", "-pid", "1"}, io.Discard)
	if err != nil || len(o.targets) != 1 || o.targets[0] != externalTarget {
		t.Fatalf("external: %+v, %v", o.targets, err)
	}
	for _, bad := range [][]string{
		{"-scenario", "nope"},
		{"-targets", "gorilla"},
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
