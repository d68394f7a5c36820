package main

import (
	"context"
	"fmt"

	"github.com/wsloop/wsloop/bench/internal/loadgen"
	"github.com/wsloop/wsloop/bench/internal/procfs"
)

// connectDialers is how many dials the connect scenario runs at once.
const connectDialers = 64

// connectScenario: C connections opened as fast as the load generator
// can, each upgraded (and, from servers that send one, welcomed); the
// server's CPU over that window only, per connection.
var connectScenario = &scenario{
	name:         "connect",
	about:        "connection storm: server CPU per connection accepted, upgraded and sent its first message",
	defaultConns: 18000,
	run:          runConnect,
	columns: []column{
		{key: "opened", title: "conns opened", format: "%.0f"},
		{key: "conns_s", title: "conns/s", format: "%.0f"},
		{key: "cpu_us", title: "server CPU µs/conn", format: "%.1f", ratio: true},
		{key: "server_cpu_pct", title: "server CPU %", format: "%.0f"},
		{key: "lg_cpu_pct", title: "load-gen CPU %", format: "%.0f"},
		{key: "busy_pct", title: "machine busy %", format: "%.0f"},
		{key: "welcomed", title: "welcomes", format: "%.0f"},
		{key: "errors", title: "errors", format: "%.0f"},
	},
	describe: func(o *options, conns int) string {
		return fmt.Sprintf("%d connections opened as fast as the load generator can (%d dials at once), each upgraded; the window ends when the last has its upgrade response (and the welcome, from servers that send one in the same write)", conns, connectDialers)
	},
	chart: []string{"cpu_us", "conns_s"},
}

func runConnect(ctx context.Context, r *round) (metrics, error) {
	e, err := r.newEngine(func(c *loadgen.Config) { c.DialWorkers = connectDialers })
	if err != nil {
		return nil, err
	}
	s0, err := takeSnapshot(r.srv, 0)
	if err != nil {
		return nil, err
	}
	t0 := e.Now()
	open := r.dial(ctx, "connect")
	s1, err := takeSnapshot(r.srv, open)
	if err != nil {
		return nil, err
	}
	if open == 0 {
		errs, _ := e.Errors()
		return nil, fmt.Errorf("no connection opened: %q", errs)
	}
	var last int64
	for _, ct := range e.Times() {
		last = max(last, ct.Upgraded)
	}
	tot := e.Totals()
	hz := float64(procfs.ClockTicks())
	wall := s1.at.Sub(s0.at).Seconds()
	m := metrics{
		"opened":         float64(open),
		"conns_s":        float64(open) / (float64(last-t0) / 1e9),
		"cpu_us":         float64(s1.srvTicks-s0.srvTicks) / hz * 1e6 / float64(open),
		"server_cpu_pct": float64(s1.srvTicks-s0.srvTicks) / hz / wall * 100,
		"lg_cpu_pct":     float64(s1.selfTicks-s0.selfTicks) / hz / wall * 100,
		"busy_pct":       procfs.Busy(s0.cpu, s1.cpu) * 100,
		"welcomed":       float64(tot.Pushes),
		"errors":         float64(tot.Errors + tot.Dropped + tot.DialErrors + tot.HandshakeErrors),
	}
	if tot.Errors+tot.Dropped > 0 {
		errs, n := e.Errors()
		r.note("%d protocol errors, %d connections dropped; %d error events, first: %q", tot.Errors, tot.Dropped, n, errs)
	}
	return m, nil
}
