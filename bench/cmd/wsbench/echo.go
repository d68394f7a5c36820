package main

import (
	"context"
	"fmt"
	"time"

	"github.com/wsloop/wsloop/bench/internal/loadgen"
	"github.com/wsloop/wsloop/bench/internal/procfs"
)

// echoScenario: C connections, each keeping W JSON echo requests of P bytes
// in flight (every reply is answered with the next request), for a warm-up
// and then a measured window.
var echoScenario = &scenario{
	name:         "echo",
	about:        "pipelined JSON echo: throughput, server CPU per message, latency",
	defaultConns: 1000,
	run: func(ctx context.Context, r *round) (metrics, error) {
		return runPipelined(ctx, r, "echo", false)
	},
	columns:   pipelinedColumns,
	needsEcho: true,
	describe: func(o *options, conns int) string {
		return fmt.Sprintf("%d connections × %d requests in flight, %d-byte JSON echo requests; %v warm-up, %v measured per round",
			conns, o.window, o.payload, o.warmup, o.duration)
	},
	chart: []string{"cpu_us", "msgs_s", "p99_us"},
}

// rawScenario: echo without JSON. C connections each keep W binary frames
// of P bytes in flight against servers in echo mode (wsloop --echo), which
// send every message back verbatim: the cost of the frame layer alone.
var rawScenario = &scenario{
	name:         "raw",
	about:        "pipelined binary echo, no JSON (echo mode): frame-layer cost per message",
	defaultConns: 1000,
	run: func(ctx context.Context, r *round) (metrics, error) {
		return runPipelined(ctx, r, "raw", true)
	},
	columns:   pipelinedColumns,
	needsEcho: true,
	describe: func(o *options, conns int) string {
		return fmt.Sprintf("%d connections × %d frames in flight, %d-byte binary messages echoed verbatim (servers in echo mode); %v warm-up, %v measured per round",
			conns, o.window, o.payload, o.warmup, o.duration)
	},
	mode: func(*options) serverMode {
		return serverMode{raw: true, heartbeat: defaultHeartbeat}
	},
	chart: []string{"cpu_us", "msgs_s", "p99_us"},
}

// pipelinedColumns are the figures of echo and raw.
var pipelinedColumns = []column{
	{key: "msgs_s", title: "msgs/s", format: "%.0f"},
	{key: "cpu_us", title: "server CPU µs/msg", format: "%.2f", ratio: true},
	{key: "p50_us", title: "p50 µs", format: "%.0f"},
	{key: "p99_us", title: "p99 µs", format: "%.0f"},
	{key: "p999_us", title: "p999 µs", format: "%.0f"},
	{key: "wire_b", title: "wire B/msg", format: "%.0f"},
	{key: "server_cpu_pct", title: "server CPU %", format: "%.0f"},
	{key: "lg_cpu_pct", title: "load-gen CPU %", format: "%.0f"},
	{key: "busy_pct", title: "machine busy %", format: "%.0f"},
	{key: "rss_mib", title: "server RSS MiB", format: "%.1f"},
	{key: "errors", title: "errors", format: "%.0f"},
}

// snapshot is what is read at each end of a measured window: the
// scenario's running count (replies, deliveries), the server's CPU ticks
// (summed over a cluster's processes, nats-server's also apart), wsbench's,
// and the machine's CPU times.
type snapshot struct {
	at        time.Time
	count     int64
	srvTicks  uint64
	natsTicks uint64
	selfTicks uint64
	cpu       procfs.CPUTimes
}

func takeSnapshot(srv *server, count int64) (snapshot, error) {
	s := snapshot{at: time.Now(), count: count}
	for _, pid := range srv.pids() {
		st, err := procfs.ReadStat(pid)
		if err != nil {
			return s, fmt.Errorf("server stat: %w", err)
		}
		s.srvTicks += st.CPUTicks()
		if srv.nats != nil && pid == srv.nats.pid {
			s.natsTicks = st.CPUTicks()
		}
	}
	self, err := procfs.ReadStat(0)
	if err != nil {
		return s, err
	}
	s.cpu, err = procfs.ReadCPUTimes()
	s.selfTicks = self.CPUTicks()
	return s, err
}

// serverRSS returns the server's resident set in KiB, summed over a
// cluster's processes.
func serverRSS(srv *server) (int64, error) {
	var sum int64
	for _, pid := range srv.pids() {
		rss, err := procfs.ReadRSS(pid)
		if err != nil {
			return 0, err
		}
		sum += rss
	}
	return sum, nil
}

// runPipelined runs echo (JSON) or raw (binary, echo mode) traffic.
func runPipelined(ctx context.Context, r *round, name string, raw bool) (metrics, error) {
	if raw && r.o.payload < 8 {
		return nil, fmt.Errorf("raw: -payload %d is below 8 bytes (the sequence number)", r.o.payload)
	}
	e, err := r.newEngine(func(c *loadgen.Config) { c.Raw = raw })
	if err != nil {
		return nil, err
	}
	open := r.dial(ctx, name)
	if open == 0 {
		errs, _ := e.Errors()
		return nil, fmt.Errorf("no connection opened: %q", errs)
	}
	e.StartEcho()
	e.Broadcast(loadgen.CmdStartEcho)

	rate := rateLine(r, e, name)
	if err := r.sleep(ctx, r.o.warmup, func(el time.Duration) string {
		return rate(fmt.Sprintf("warm-up %.0fs/%.0fs", el.Seconds(), r.o.warmup.Seconds()))
	}); err != nil {
		return nil, err
	}
	s0, err := takeSnapshot(r.srv, e.Totals().Replies)
	if err != nil {
		return nil, err
	}
	wire0 := e.Totals().WireBytesIn
	e.Measure(true)
	if err := r.sleep(ctx, r.o.duration, func(el time.Duration) string {
		return rate(fmt.Sprintf("measuring %.0fs/%.0fs", el.Seconds(), r.o.duration.Seconds()))
	}); err != nil {
		return nil, err
	}
	s1, err := takeSnapshot(r.srv, e.Totals().Replies)
	if err != nil {
		return nil, err
	}
	wire1 := e.Totals().WireBytesIn
	e.Measure(false)
	e.StopEcho()
	r.prog.set("%s: draining", r.label(name))
	missing := e.Drain(5 * time.Second)
	rss, _ := serverRSS(r.srv)

	tot := e.Totals()
	lat := e.Latency()
	hz := float64(procfs.ClockTicks())
	wall := s1.at.Sub(s0.at).Seconds()
	msgs := float64(s1.count - s0.count)
	m := metrics{
		"conns":          float64(open),
		"msgs_s":         msgs / wall,
		"server_cpu_pct": float64(s1.srvTicks-s0.srvTicks) / hz / wall * 100,
		"lg_cpu_pct":     float64(s1.selfTicks-s0.selfTicks) / hz / wall * 100,
		"busy_pct":       procfs.Busy(s0.cpu, s1.cpu) * 100,
		"p50_us":         float64(lat.Quantile(0.5)) / 1e3,
		"p99_us":         float64(lat.Quantile(0.99)) / 1e3,
		"p999_us":        float64(lat.Quantile(0.999)) / 1e3,
		"rss_mib":        float64(rss) / 1024,
		"missing":        float64(missing),
		"errors":         float64(tot.Errors + tot.Dropped + tot.Lost + missing + tot.DialErrors + tot.HandshakeErrors),
	}
	if msgs > 0 {
		m["wire_b"] = float64(wire1-wire0) / msgs
		m["cpu_us"] = float64(s1.srvTicks-s0.srvTicks) / hz * 1e6 / msgs
	} else {
		r.note("no reply in the measured window")
	}
	if tot.Errors+tot.Dropped+tot.Lost > 0 {
		errs, n := e.Errors()
		r.note("%d protocol errors, %d connections dropped, %d requests lost with them; %d error events, first: %q", tot.Errors, tot.Dropped, tot.Lost, n, errs)
	}
	if missing > 0 {
		r.note("%d replies missing 5 s after the window", missing)
	}
	if m["busy_pct"] >= 95 {
		r.warn("machine saturated (%.0f%% busy; load generator %.0f%% of a CPU): msgs/s is bounded by the machine, compare server CPU µs/msg", m["busy_pct"], m["lg_cpu_pct"])
	}
	return m, nil
}

// rateLine returns a function that formats a progress line with the reply
// rate since its previous call.
func rateLine(r *round, e *loadgen.Engine, name string) func(phase string) string {
	last, lastAt := e.Totals().Replies, time.Now()
	return func(phase string) string {
		now, at := e.Totals().Replies, time.Now()
		rate := float64(now-last) / at.Sub(lastAt).Seconds()
		last, lastAt = now, at
		return fmt.Sprintf("%s: %s, %.0f msgs/s", r.label(name), phase, rate)
	}
}
