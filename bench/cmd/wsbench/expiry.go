package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/wsloop/wsloop/bench/internal/loadgen"
	"github.com/wsloop/wsloop/bench/internal/procfs"
)

// expiryScenario: C connections that go silent after the handshake (no
// Ping, no message) against servers started with a short heartbeat
// timeout; how soon after their timeout are they closed, and what does the
// server spend meanwhile.
var expiryScenario = &scenario{
	name:         "expiry",
	about:        "heartbeat expiry of silent connections: close delay against the timeout, server CPU meanwhile",
	defaultConns: 10000,
	run:          runExpiry,
	columns: []column{
		{key: "timeout_s", title: "timeout s", format: "%.1f"},
		{key: "closed", title: "closed", format: "%.0f"},
		{key: "min_s", title: "close after min s", format: "%.2f"},
		{key: "p50_s", title: "p50 s", format: "%.2f"},
		{key: "p100_s", title: "p100 s", format: "%.2f", ratio: true},
		{key: "all_closed_s", title: "last open → all closed s", format: "%.2f"},
		{key: "wait_cpu_pct", title: "server CPU % while waiting", format: "%.2f"},
		{key: "wait_cpu_ms", title: "server CPU ms while waiting", format: "%.0f"},
		{key: "errors", title: "errors", format: "%.0f"},
	},
	describe: func(o *options, conns int) string {
		return fmt.Sprintf("%d connections silent after the handshake, servers started with a %v heartbeat timeout; close times measured from each connection's last write (its upgrade request)",
			conns, o.hbTimeout)
	},
	mode: func(o *options) serverMode {
		return serverMode{heartbeat: o.hbTimeout}
	},
	needsHeartbeat: true,
	chart:          []string{"p50_s", "p100_s"},
}

func runExpiry(ctx context.Context, r *round) (metrics, error) {
	label := r.label("expiry")
	e, err := r.newEngine(func(c *loadgen.Config) { c.ExpectClose = true })
	if err != nil {
		return nil, err
	}
	r.dial(ctx, "expiry")
	tot := e.Totals()
	if tot.Upgraded == 0 {
		errs, _ := e.Errors()
		return nil, fmt.Errorf("no connection opened: %q", errs)
	}
	st0, err := procfs.ReadStat(r.srv.pid)
	if err != nil {
		return nil, fmt.Errorf("server stat: %w", err)
	}
	waitStart := time.Now()
	bound := 2*r.o.hbTimeout + 30*time.Second
	last := time.Now()
	waitUntil(ctx, bound, func() bool {
		t := e.Totals()
		if time.Since(last) > 250*time.Millisecond {
			r.prog.set("%s: %d/%d closed by the server, %.0fs", label, t.Closed, t.Upgraded, time.Since(waitStart).Seconds())
			last = time.Now()
		}
		return t.Closed+t.Dropped >= t.Upgraded
	})
	st1, err := procfs.ReadStat(r.srv.pid)
	if err != nil {
		return nil, fmt.Errorf("server stat: %w", err)
	}
	wall := time.Since(waitStart).Seconds()
	cpu := float64(st1.CPUTicks()-st0.CPUTicks()) / float64(procfs.ClockTicks())

	tot = e.Totals()
	f := expiryFigures(e.Times())
	notClosed := tot.Upgraded - f.closed
	m := metrics{
		"conns":        float64(r.conns),
		"timeout_s":    r.o.hbTimeout.Seconds(),
		"closed":       float64(f.closed),
		"wait_cpu_pct": cpu / wall * 100,
		"wait_cpu_ms":  cpu * 1e3,
		"errors":       float64(tot.Errors + tot.Dropped + tot.DialErrors + tot.HandshakeErrors + notClosed),
	}
	if f.closed > 0 {
		m["min_s"], m["p50_s"], m["p100_s"], m["all_closed_s"] = f.min, f.p50, f.p100, f.allClosed
	}
	if notClosed > 0 {
		r.note("%d of %d connections still open %v after the last one opened (timeout %v)", notClosed, tot.Upgraded, bound, r.o.hbTimeout)
	}
	if tot.Errors+tot.Dropped > 0 {
		errs, n := e.Errors()
		r.note("%d protocol errors, %d connections dropped; %d error events, first: %q", tot.Errors, tot.Dropped, n, errs)
	}
	if f.closed > 0 && f.min < 0.9*r.o.hbTimeout.Seconds() {
		r.warn("a connection was closed %.2fs after its last write, before the %v timeout", f.min, r.o.hbTimeout)
	}
	return m, nil
}

// expiry is what the close times of the connections give.
type expiry struct {
	closed         int64   // connections closed by the server
	min, p50, p100 float64 // seconds from a connection's last write to its close
	allClosed      float64 // seconds from the last handshake to the last close
}

// expiryFigures computes the expiry figures from the connections' times
// (those that never opened are left out).
func expiryFigures(times []loadgen.ConnTimes) expiry {
	var f expiry
	var delays []int64
	var lastOpen, lastClose int64
	for _, t := range times {
		if t.Upgraded == 0 {
			continue
		}
		lastOpen = max(lastOpen, t.Upgraded)
		if t.Closed == 0 {
			continue
		}
		lastClose = max(lastClose, t.Closed)
		delays = append(delays, t.Closed-t.Sent)
	}
	f.closed = int64(len(delays))
	if len(delays) == 0 {
		return f
	}
	slices.Sort(delays)
	f.min = float64(delays[0]) / 1e9
	f.p50 = float64(delays[rank(len(delays), 0.5)]) / 1e9
	f.p100 = float64(delays[len(delays)-1]) / 1e9
	f.allClosed = float64(lastClose-lastOpen) / 1e9
	return f
}

// rank returns the index of quantile q in n sorted values (nearest rank).
func rank(n int, q float64) int {
	return min(max(int(math.Ceil(q*float64(n)))-1, 0), n-1)
}
