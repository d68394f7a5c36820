package main

import (
	"context"
	"fmt"
	"time"

	"github.com/wsloop/wsloop/bench/internal/loadgen"
	"github.com/wsloop/wsloop/bench/internal/procfs"
)

// idleScenario: hold C connections that each sent one Ping, then check that
// every one still answers, and report the server's resident memory per
// connection.
var idleScenario = &scenario{
	name:         "idle",
	about:        "idle connections: server RSS per connection, liveness after a hold",
	defaultConns: 18000,
	run:          runIdle,
	columns: []column{
		{key: "held", title: "conns held", format: "%.0f"},
		{key: "alive", title: "alive after hold", format: "%.0f"},
		{key: "kib_per_conn", title: "RSS KiB/conn", format: "%.3f", ratio: true},
		{key: "connect_us", title: "server CPU µs/conn to connect", format: "%.1f", ratio: true},
		{key: "hold_cpu_pct", title: "server CPU % while held", format: "%.2f"},
		{key: "rss0_mib", title: "RSS before MiB", format: "%.1f"},
		{key: "rss1_mib", title: "RSS held MiB", format: "%.1f"},
		{key: "kslab_kib_per_conn", title: "kernel slab KiB/conn (both ends)", format: "%.2f"},
		{key: "ktcpbuf_kib_per_conn", title: "TCP buffers KiB/conn (both ends)", format: "%.2f"},
		{key: "errors", title: "errors", format: "%.0f"},
	},
	describe: func(o *options, conns int) string {
		return fmt.Sprintf("%d connections, one Ping each, held %v, then one echo each", conns, o.hold)
	},
	matrixExtra: []string{"wsloop-nohb"},
	chart:       []string{"kib_per_conn", "hold_cpu_pct"},
}

func runIdle(ctx context.Context, r *round) (metrics, error) {
	rss0, err := procfs.ReadRSS(r.srv.pid)
	if err != nil {
		return nil, fmt.Errorf("server RSS: %w", err)
	}
	// The kernel's memory for sockets, machine-wide: on loopback every
	// connection is two sockets (the client's and the server's) here.
	k0, kerr := procfs.ReadKernelMem()
	e, err := r.newEngine(nil)
	if err != nil {
		return nil, err
	}
	// Server CPU while the connections are made: accept, TLS handshake if
	// any, upgrade, first message.
	sd0, err := procfs.ReadStat(r.srv.pid)
	if err != nil {
		return nil, fmt.Errorf("server stat: %w", err)
	}
	open := r.dial(ctx, "idle")
	sd1, err := procfs.ReadStat(r.srv.pid)
	if err != nil {
		return nil, fmt.Errorf("server stat: %w", err)
	}
	if open == 0 {
		errs, _ := e.Errors()
		return nil, fmt.Errorf("no connection opened: %q", errs)
	}

	e.Broadcast(loadgen.CmdPing)
	pongs := waitCount(ctx, 30*time.Second, func() int64 { return e.Totals().Pongs }, open, func(n int64) {
		r.prog.set("%s: pongs %d/%d", r.label("idle"), n, open)
	})
	if pongs < open {
		r.note("only %d of %d connections answered the Ping", pongs, open)
	}
	st0, err := procfs.ReadStat(r.srv.pid)
	if err != nil {
		return nil, fmt.Errorf("server stat: %w", err)
	}
	holdStart := time.Now()
	if err := r.sleep(ctx, r.o.hold, func(el time.Duration) string {
		return fmt.Sprintf("%s: holding %d connections %.0fs/%.0fs", r.label("idle"), e.Totals().Open(), el.Seconds(), r.o.hold.Seconds())
	}); err != nil {
		return nil, err
	}
	st1, err := procfs.ReadStat(r.srv.pid)
	if err != nil {
		return nil, fmt.Errorf("server stat: %w", err)
	}
	// Server CPU while nothing but the hold happens: timers and ticks only.
	holdCPU := float64(st1.CPUTicks()-st0.CPUTicks()) / float64(procfs.ClockTicks()) / time.Since(holdStart).Seconds() * 100
	rss1, err := procfs.ReadRSS(r.srv.pid)
	if err != nil {
		return nil, fmt.Errorf("server RSS: %w", err)
	}
	held := e.Totals().Open()
	k1, kerr1 := procfs.ReadKernelMem()

	// Alive: answers an echo request (a Ping where the target has no echo).
	answers, cmd := func() int64 { return e.Totals().Replies }, loadgen.CmdEchoOnce
	if targetSpecs[r.srv.name].noEcho {
		answers, cmd = func() int64 { return e.Totals().Pongs }, loadgen.CmdPing
	}
	before := answers()
	e.Broadcast(cmd)
	alive := waitCount(ctx, 30*time.Second, func() int64 { return answers() - before }, held, func(n int64) {
		r.prog.set("%s: alive %d/%d", r.label("idle"), n, held)
	})

	tot := e.Totals()
	m := metrics{
		"conns":        float64(r.conns),
		"held":         float64(held),
		"alive":        float64(alive),
		"pongs":        float64(pongs),
		"rss0_mib":     float64(rss0) / 1024,
		"hold_cpu_pct": holdCPU,
		"rss1_mib":     float64(rss1) / 1024,
		"errors":       float64(tot.Errors + tot.Dropped + tot.DialErrors + tot.HandshakeErrors + (held - alive)),
	}
	m["connect_us"] = float64(sd1.CPUTicks()-sd0.CPUTicks()) / float64(procfs.ClockTicks()) * 1e6 / float64(open)
	if held > 0 {
		m["kib_per_conn"] = float64(rss1-rss0) / float64(held)
		if kerr == nil && kerr1 == nil {
			m["kslab_kib_per_conn"] = float64(k1.SlabKiB-k0.SlabKiB) / float64(held)
			m["ktcpbuf_kib_per_conn"] = float64(k1.TCPBufKiB-k0.TCPBufKiB) / float64(held)
			m["ktcp_sockets"] = float64(k1.TCPInUse - k0.TCPInUse)
		}
	}
	if held < int64(r.conns) {
		r.note("%d of %d connections held", held, r.conns)
	}
	if alive < held {
		r.note("%d of %d held connections answered the echo after the hold", alive, held)
	}
	if tot.Errors+tot.Dropped > 0 {
		errs, n := e.Errors()
		r.note("%d protocol errors, %d connections dropped; %d error events, first: %q", tot.Errors, tot.Dropped, n, errs)
	}
	return m, nil
}

// waitCount polls get until it reaches want or timeout passes, reporting
// progress each 250 ms; it returns the last value.
func waitCount(ctx context.Context, timeout time.Duration, get func() int64, want int64, progress func(int64)) int64 {
	deadline := time.Now().Add(timeout)
	lastShown := time.Now()
	for {
		v := get()
		if v >= want || time.Now().After(deadline) || ctx.Err() != nil {
			return v
		}
		if time.Since(lastShown) > 250*time.Millisecond {
			progress(v)
			lastShown = time.Now()
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitUntil polls cond until it holds or timeout passes; it reports
// whether it held.
func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}
