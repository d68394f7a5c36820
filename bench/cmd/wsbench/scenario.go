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

// newEngine starts a load generator for this round's server; adjust, if
// not nil, changes its configuration first.
func (r *round) newEngine(adjust func(*loadgen.Config)) (*loadgen.Engine, error) {
	cfg := loadgen.Config{
		Addr:        r.srv.addr,
		Path:        r.srv.path,
		Loops:       clientLoops(r.o),
		Window:      r.o.window,
		Payload:     r.o.payload,
		Compression: r.o.compression,
		Centrifugo:  targetSpecs[r.srv.name].protocol == "centrifugo",
	}
	if r.o.tlsFiles != nil {
		cfg.TLS = r.o.tlsFiles.client
	}
	if adjust != nil {
		adjust(&cfg)
	}
	e, err := loadgen.New(cfg)
	r.engine = e
	return e, err
}

// dial opens r.conns connections, with progress, spread evenly over the
// server's endpoints (a cluster's nodes: those of the first node in
// loadgen group 0, the others in group 1), and waits for their handshakes;
// it returns the number open and notes any shortfall.
func (r *round) dial(ctx context.Context, scen string) int64 {
	start := time.Now()
	eps := r.srv.endpoints()
	done := 0
	for i, addr := range eps {
		n := r.conns / len(eps)
		if i < r.conns%len(eps) {
			n++
		}
		base := done
		r.engine.DialAt(ctx, addr, min(i, loadgen.Groups-1), n, func(d int) {
			r.prog.set("%s: dialed %d/%d", r.label(scen), base+d, r.conns)
		})
		done += n
	}
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

// scenario is one workload: a run function, a default connection count and
// the columns it reports.
type scenario struct {
	name         string
	about        string
	defaultConns int
	run          func(ctx context.Context, r *round) (metrics, error)
	columns      []column
	// describe returns the parameters line of the report.
	describe func(o *options, conns int) string
	// mode returns what the servers must be started with; nil: the
	// default heartbeat timeout and nothing else.
	mode func(o *options) serverMode
	// needsHeartbeat: targets without heartbeats are skipped.
	needsHeartbeat bool
	// needsEcho: targets without an echo command are skipped.
	needsEcho bool
	// matrixExtra are targets -matrix adds for this scenario, after wsloop.
	matrixExtra []string
	// chart lists the keys of the columns drawn in the scenario's chart.
	chart []string
	// ownTargets, if set, are the scenario's targets when -targets is not
	// given (also in -matrix), and baseline the one its ratio column
	// divides by (instead of the first target that is not wsloop).
	ownTargets []string
	baseline   string
}

// scenarios are every scenario, in the order -matrix runs them.
var scenarios = []*scenario{echoScenario, rawScenario, broadcastScenario, clusterBroadcastScenario, idleScenario, connectScenario, expiryScenario}

// serverMode returns the mode the scenario's servers are started in.
func (sc *scenario) serverMode(o *options) serverMode {
	m := serverMode{heartbeat: defaultHeartbeat}
	if sc.mode != nil {
		m = sc.mode(o)
	}
	m.compression = o.compression
	if o.tlsFiles != nil {
		m.tlsCert, m.tlsKey = o.tlsFiles.cert, o.tlsFiles.key
	}
	return m
}

// targets returns the targets the scenario runs against, in order, and
// those skipped because they cannot run it.
func (sc *scenario) targets(o *options) (run, skipped []string) {
	list := o.targets
	if sc.ownTargets != nil && !o.targetsSet {
		list = sc.ownTargets
	} else if o.matrix && !o.targetsSet {
		list = nil
		for _, t := range matrixTargets {
			list = append(list, t)
			if t == "wsloop" {
				list = append(list, sc.matrixExtra...)
			}
		}
	}
	for _, t := range list {
		if sc.needsHeartbeat && targetSpecs[t].noHeartbeat || o.compression && targetSpecs[t].noCompression || o.tls && targetSpecs[t].noTLS || sc.needsEcho && targetSpecs[t].noEcho {
			skipped = append(skipped, t)
			continue
		}
		run = append(run, t)
	}
	return run, skipped
}

// baselineOf returns the target of targets the ratio column divides by.
func (sc *scenario) baselineOf(targets []string) string {
	if sc.baseline != "" {
		if slices.Contains(targets, sc.baseline) {
			return sc.baseline
		}
		return ""
	}
	return baselineTarget(targets)
}

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
	skipped  []string // targets that cannot run the scenario
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
	o.runDir = binDir
	if o.tls {
		f, err := newTLSFiles(binDir)
		if err != nil {
			return nil, fmt.Errorf("-tls: %w", err)
		}
		o.tlsFiles = f
	}
	var all []string
	for _, name := range o.scenarios {
		run, _ := scenarioByName(name).targets(&o)
		for _, t := range run {
			if !slices.Contains(all, t) {
				all = append(all, t)
			}
		}
	}
	bins, err := buildTargets(ctx, &o, all, binDir, prog)
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
		targets, skipped := sc.targets(&o)
		rep := &report{scen: sc, o: &o, conns: conns, targets: targets, skipped: skipped, baseline: sc.baselineOf(targets), started: time.Now(), env: env}
		reports = append(reports, rep)
		for n := 1; n <= o.rounds; n++ {
			for _, t := range targets {
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
	srv, err := startServer(ctx, o, t, bin, logPath, sc.serverMode(o))
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
