package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/wsloop/wsloop/bench/internal/loadgen"
)

// metrics are one round's figures, by key (see each scenario's columns).
type metrics map[string]float64

// round is what a scenario gets to run one round against one server.
type round struct {
	o      *options
	srv    *server
	conns  int // connections to use (the scenario's default or -conns)
	n, of  int // round number, of rounds
	prog   *progress
	engine *loadgen.Engine
	notes  []string // anomalies seen: errors, missing replies, connections lost
	warns  []string // observations that do not make the run fail
}

// note records an anomaly.
func (r *round) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// warn records an observation that is not an error (a saturated machine).
func (r *round) warn(format string, args ...any) {
	r.warns = append(r.warns, fmt.Sprintf(format, args...))
}

// label is the progress prefix: "echo wsloop 2/3".
func (r *round) label(scen string) string {
	return fmt.Sprintf("%s %s %d/%d", scen, r.srv.name, r.n, r.of)
}

// newEngine starts a load generator for this round's server.
func (r *round) newEngine() (*loadgen.Engine, error) {
	e, err := loadgen.New(loadgen.Config{
		Addr:    r.srv.addr,
		Path:    r.srv.path,
		Loops:   clientLoops(r.o),
		Window:  r.o.window,
		Payload: r.o.payload,
	})
	r.engine = e
	return e, err
}

// dial opens r.conns connections, with progress, and waits for their
// handshakes; it returns the number open and notes any shortfall.
func (r *round) dial(ctx context.Context, scen string) int64 {
	start := time.Now()
	r.engine.Dial(ctx, r.conns, func(done int) {
		r.prog.set("%s: dialed %d/%d", r.label(scen), done, r.conns)
	})
	open := r.engine.WaitHandshakes(ctx, 30*time.Second)
	t := r.engine.Totals()
	r.prog.set("%s: %d open in %.1fs from %d source address(es)", r.label(scen), open, time.Since(start).Seconds(), max(t.SourceAddrs, 1))
	if open < int64(r.conns) {
		errs, _ := r.engine.Errors()
		r.note("only %d of %d connections opened (dial errors %d, handshake errors %d); first errors: %q", open, r.conns, t.DialErrors, t.HandshakeErrors, errs)
	}
	return open
}

// sleep waits d, showing a progress line each second; it returns early if
// ctx is done or the server exits.
func (r *round) sleep(ctx context.Context, d time.Duration, line func(elapsed time.Duration) string) error {
	end := time.Now().Add(d)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		left := time.Until(end)
		if left <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.srv.exited:
			return fmt.Errorf("%s exited during the round:\n%s", r.srv.name, tail(r.srv.log))
		case <-time.After(min(left, time.Second)):
		case <-tick.C:
		}
		if line != nil {
			r.prog.set("%s", line(d-time.Until(end)))
		}
	}
}

// column is one figure in a report table.
type column struct {
	key    string
	title  string
	format string // fmt verb for the value
	// ratio adds a column after this one: this target's value divided by
	// the baseline target's (both medians).
	ratio bool
}

// scenario is one workload. New scenarios (broadcast, expiry, raw) are a
// run function, a default connection count and the columns they report.
type scenario struct {
	name         string
	about        string
	defaultConns int
	run          func(ctx context.Context, r *round) (metrics, error)
	columns      []column
	// describe returns the parameters line of the report.
	describe func(o *options, conns int) string
}

var scenarios = []*scenario{echoScenario, idleScenario}

func scenarioByName(name string) *scenario {
	for _, s := range scenarios {
		if s.name == name {
			return s
		}
	}
	return nil
}

func scenarioNames() []string {
	var names []string
	for _, s := range scenarios {
		names = append(names, s.name)
	}
	return names
}

// result is one round against one target.
type result struct {
	target string
	round  int
	m      metrics
	notes  []string
	warns  []string
}

// report is everything measured for one scenario.
type report struct {
	scen     *scenario
	o        *options
	conns    int
	targets  []string
	baseline string
	results  []result
	started  time.Time
	env      string
}

// bench builds the targets, then runs every scenario for o.rounds rounds,
// each round running every target once, in order.
func bench(ctx context.Context, o options, prog *progress) ([]*report, error) {
	for _, name := range o.scenarios {
		conns := o.conns
		if conns == 0 {
			conns = scenarioByName(name).defaultConns
		}
		if lim := fileLimit(); lim > 0 && uint64(conns)+100 > lim {
			return nil, fmt.Errorf("%s: %d connections need more descriptors than RLIMIT_NOFILE %d allows (100 are kept for the rest)", name, conns, lim)
		}
	}
	binDir := o.binDir
	if binDir == "" {
		d, err := os.MkdirTemp("", "wsbench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		binDir = d
	} else if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, err
	}
	bins, err := buildTargets(ctx, &o, binDir, prog)
	if err != nil {
		return nil, err
	}
	env := environment(&o)
	var reports []*report
	for _, name := range o.scenarios {
		sc := scenarioByName(name)
		conns := o.conns
		if conns == 0 {
			conns = sc.defaultConns
		}
		rep := &report{scen: sc, o: &o, conns: conns, targets: o.targets, baseline: baselineTarget(o.targets), started: time.Now(), env: env}
		reports = append(reports, rep)
		for n := 1; n <= o.rounds; n++ {
			for _, t := range o.targets {
				res, err := runRound(ctx, &o, sc, t, bins[t], filepath.Join(binDir, fmt.Sprintf("%s-%s-%d.log", sc.name, t, n)), conns, n, prog)
				prog.done()
				if err != nil {
					return reports, fmt.Errorf("%s round %d, %s: %w", sc.name, n, t, err)
				}
				rep.results = append(rep.results, res)
			}
		}
	}
	return reports, nil
}

func runRound(ctx context.Context, o *options, sc *scenario, t, bin, logPath string, conns, n int, prog *progress) (result, error) {
	prog.set("%s %s %d/%d: starting the server", sc.name, t, n, o.rounds)
	srv, err := startServer(ctx, o, t, bin, logPath)
	if err != nil {
		return result{}, err
	}
	defer srv.stop()
	r := &round{o: o, srv: srv, conns: conns, n: n, of: o.rounds, prog: prog}
	defer func() {
		if r.engine != nil {
			_ = r.engine.Close()
		}
	}()
	m, err := sc.run(ctx, r)
	if err != nil {
		return result{}, err
	}
	if !srv.alive() {
		r.note("%s exited during the round:\n%s", t, tail(srv.log))
	}
	return result{target: t, round: n, m: m, notes: r.notes, warns: r.warns}, nil
}

// median returns the median of the target's values for key (NaN when the
// target has none).
func (rep *report) median(target, key string) (float64, bool) {
	var vs []float64
	for _, r := range rep.results {
		if v, ok := r.m[key]; ok && r.target == target {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

// anomalies lists what went wrong in any round.
func (rep *report) anomalies() []string {
	var out []string
	for _, r := range rep.results {
		for _, n := range r.notes {
			out = append(out, fmt.Sprintf("%s round %d: %s", r.target, r.round, n))
		}
	}
	return out
}

// observations lists the rounds' warnings.
func (rep *report) observations() []string {
	var out []string
	for _, r := range rep.results {
		for _, n := range r.warns {
			out = append(out, fmt.Sprintf("%s round %d: %s", r.target, r.round, n))
		}
	}
	return out
}
