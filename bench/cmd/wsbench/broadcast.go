package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/wsloop/wsloop/bench/internal/loadgen"
	"github.com/wsloop/wsloop/bench/internal/procfs"
)

// broadcastScenario: S subscribers join one room; one more connection, not
// a member, publishes R messages a second into it. Each message carries its
// send time and sequence number, so each subscriber measures its delivery
// latency and notices gaps, duplicates and reordering.
var broadcastScenario = &scenario{
	name:         "broadcast",
	about:        "room fan-out: one publisher, S subscribers; server CPU per delivery, delivery latency",
	defaultConns: 2000,
	run:          runBroadcast("broadcast"),
	columns:      broadcastColumns(nil),
	describe: func(o *options, conns int) string {
		return fmt.Sprintf("%d subscribers in one room, 1 publisher (not a member) at %g publishes/s, %d-byte payloads; %v warm-up, %v measured per round, up to %v to drain",
			conns, o.rate, o.payload, o.warmup, o.duration, broadcastDrain)
	},
	mode: func(*options) serverMode {
		return serverMode{rooms: true, heartbeat: defaultHeartbeat}
	},
	chart: []string{"cpu_us", "p99_us"},
}

// broadcastColumns are broadcast's columns; cluster-broadcast adds the
// latencies by node after the p99 (instead of the p999) and nats-server's
// CPU after the server's.
func broadcastColumns(byNode []column, extra ...column) []column {
	cols := []column{
		{key: "deliveries_s", title: "deliveries/s", format: "%.0f"},
		{key: "cpu_us", title: "server CPU µs/delivery", format: "%.3f", ratio: true},
		{key: "p50_us", title: "p50 µs", format: "%.0f"},
		{key: "p99_us", title: "p99 µs", format: "%.0f"},
	}
	if byNode == nil {
		cols = append(cols, column{key: "p999_us", title: "p999 µs", format: "%.0f"})
	}
	cols = append(cols, byNode...)
	cols = append(cols,
		column{key: "wire_b", title: "wire B/delivery", format: "%.0f"},
		column{key: "missing", title: "missing", format: "%.0f"},
		column{key: "server_cpu_pct", title: "server CPU %", format: "%.1f"})
	cols = append(cols, extra...)
	return append(cols,
		column{key: "busy_pct", title: "machine busy %", format: "%.0f"},
		column{key: "rss_kib", title: "server RSS KiB", format: "%.0f"},
		column{key: "errors", title: "errors", format: "%.0f"})
}

// clusterBroadcastScenario is broadcast against three wsloop nodes joined
// by a nats-server, beside one node: the subscribers are spread evenly
// over the nodes and the publisher is on the first; CPU is summed over the
// nodes and nats-server.
var clusterBroadcastScenario = &scenario{
	name:         "cluster-broadcast",
	about:        "room fan-out across a cluster: 3 wsloop nodes + nats-server against 1 node; server CPU per delivery (all processes), latency on the publisher's node and on the others",
	defaultConns: 2000,
	run:          runBroadcast("cluster-broadcast"),
	columns: broadcastColumns(
		[]column{
			{key: "p50_pub_us", title: "p50 µs, publisher's node", format: "%.0f"},
			{key: "p99_pub_us", title: "p99 µs, publisher's node", format: "%.0f"},
			{key: "p50_other_us", title: "p50 µs, other nodes", format: "%.0f"},
			{key: "p99_other_us", title: "p99 µs, other nodes", format: "%.0f"},
		},
		column{key: "nats_cpu_pct", title: "of which nats-server %", format: "%.1f"},
	),
	describe: func(o *options, conns int) string {
		return fmt.Sprintf("%d subscribers in one room, spread evenly over the nodes, 1 publisher (not a member) on the first node at %g publishes/s, %d-byte payloads; %v warm-up, %v measured per round, up to %v to drain; wsloop-cluster is 3 nodes and a nats-server (JetStream on), its CPU and RSS summed over the 4 processes",
			conns, o.rate, o.payload, o.warmup, o.duration, broadcastDrain)
	},
	mode: func(*options) serverMode {
		return serverMode{rooms: true, heartbeat: defaultHeartbeat}
	},
	chart:      []string{"cpu_us", "p99_us"},
	ownTargets: []string{"wsloop", "wsloop-cluster"},
	baseline:   "wsloop",
}

// broadcastDrain bounds the wait, after the window, for the messages of
// its publishes.
const broadcastDrain = 10 * time.Second

// runBroadcast returns the run function of broadcast and
// cluster-broadcast: subscribers over the server's endpoints (r.dial),
// the publisher on the first.
func runBroadcast(name string) func(ctx context.Context, r *round) (metrics, error) {
	return func(ctx context.Context, r *round) (metrics, error) {
		return broadcastRound(ctx, r, name)
	}
}

func broadcastRound(ctx context.Context, r *round, name string) (metrics, error) {
	label := r.label(name)
	e, err := r.newEngine(nil)
	if err != nil {
		return nil, err
	}
	open := r.dial(ctx, name)
	if open == 0 {
		errs, _ := e.Errors()
		return nil, fmt.Errorf("no connection opened: %q", errs)
	}
	e.Broadcast(loadgen.CmdJoin)
	joined := waitCount(ctx, 30*time.Second, func() int64 { return e.Totals().Joined }, open, func(n int64) {
		r.prog.set("%s: joined %d/%d", label, n, open)
	})
	if joined < open {
		errs, _ := e.Errors()
		r.note("only %d of %d subscribers joined; first errors: %q", joined, open, errs)
	}
	if joined == 0 {
		return nil, fmt.Errorf("no subscriber joined the room")
	}
	publish := e.Publish
	if r.srv.apiAddr != "" {
		// Through the server's HTTP API, from this goroutine.
		p := newAPIPublisher(r, e)
		defer p.close()
		publish = p.publish
	} else {
		dialed := e.Totals().Dialed
		e.Dial(ctx, 1, nil)
		e.WaitHandshakes(ctx, 10*time.Second)
		if e.Totals().Dialed != dialed+1 || !e.SetPublisher() {
			errs, _ := e.Errors()
			return nil, fmt.Errorf("the publisher did not connect: %q", errs)
		}
	}

	stop := make(chan struct{})
	paced := make(chan struct{})
	go func() {
		defer close(paced)
		pace(publish, r.o.rate, stop)
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-paced
	}()
	line := func(phase string) func(time.Duration) string {
		return func(el time.Duration) string {
			t := e.Totals()
			return fmt.Sprintf("%s: %s %.0fs, %d published, %d delivered", label, phase, el.Seconds(), t.Published, t.Deliveries)
		}
	}
	if err := r.sleep(ctx, r.o.warmup, line("warm-up")); err != nil {
		return nil, err
	}
	from := e.NextPublish()
	e.SetPublishWindow(from, -1)
	s0, err := takeSnapshot(r.srv, e.Totals().Deliveries)
	if err != nil {
		return nil, err
	}
	wire0 := e.Totals().WireBytesIn
	if err := r.sleep(ctx, r.o.duration, line("measuring")); err != nil {
		return nil, err
	}
	s1, err := takeSnapshot(r.srv, e.Totals().Deliveries)
	if err != nil {
		return nil, err
	}
	wire1 := e.Totals().WireBytesIn
	close(stop)
	<-paced
	waitUntil(ctx, 5*time.Second, func() bool { return e.Owed() == 0 })
	to := e.NextPublish()
	e.SetPublishWindow(from, to)
	publishes := to - from
	expected := publishes * joined
	r.prog.set("%s: draining", label)
	delivered := waitCount(ctx, broadcastDrain, func() int64 { return e.Totals().WindowDelivered }, expected, func(n int64) {
		r.prog.set("%s: draining, %d/%d delivered", label, n, expected)
	})
	waitUntil(ctx, time.Second, func() bool { t := e.Totals(); return t.PublishAcks+t.Errors >= t.Published })
	rss, _ := serverRSS(r.srv)

	tot := e.Totals()
	lat := e.Latency()
	hz := float64(procfs.ClockTicks())
	wall := s1.at.Sub(s0.at).Seconds()
	deliveries := float64(s1.count - s0.count)
	missing := max(expected-delivered, 0)
	unacked := max(tot.Published-tot.PublishAcks, 0)
	m := metrics{
		"conns":          float64(open),
		"subscribers":    float64(joined),
		"publishes":      float64(publishes),
		"deliveries_s":   deliveries / wall,
		"server_cpu_pct": float64(s1.srvTicks-s0.srvTicks) / hz / wall * 100,
		"lg_cpu_pct":     float64(s1.selfTicks-s0.selfTicks) / hz / wall * 100,
		"busy_pct":       procfs.Busy(s0.cpu, s1.cpu) * 100,
		"p50_us":         float64(lat.Quantile(0.5)) / 1e3,
		"p99_us":         float64(lat.Quantile(0.99)) / 1e3,
		"p999_us":        float64(lat.Quantile(0.999)) / 1e3,
		"missing":        float64(missing),
		"rss_kib":        float64(rss),
		"errors":         float64(tot.Errors + tot.Dropped + tot.DialErrors + tot.HandshakeErrors + missing + unacked + (open - joined)),
	}
	for g, keys := range [loadgen.Groups][2]string{{"p50_pub_us", "p99_pub_us"}, {"p50_other_us", "p99_other_us"}} {
		if h := e.GroupLatency(g); h.Count() > 0 && r.srv.nodes != nil {
			m[keys[0]] = float64(h.Quantile(0.5)) / 1e3
			m[keys[1]] = float64(h.Quantile(0.99)) / 1e3
		}
	}
	if r.srv.nats != nil {
		m["nats_cpu_pct"] = float64(s1.natsTicks-s0.natsTicks) / hz / wall * 100
	}
	if deliveries > 0 {
		m["wire_b"] = float64(wire1-wire0) / deliveries
		m["cpu_us"] = float64(s1.srvTicks-s0.srvTicks) / hz * 1e6 / deliveries
	} else {
		r.note("no message delivered in the measured window")
	}
	if publishes == 0 {
		r.note("nothing published in the measured window")
	}
	if missing > 0 {
		r.note("%d of %d messages (%d publishes × %d subscribers) not delivered %v after the window", missing, expected, publishes, joined, broadcastDrain)
	}
	if unacked > 0 {
		r.note("%d of %d publishes not acknowledged with status 0", unacked, tot.Published)
	}
	if tot.Errors+tot.Dropped > 0 {
		errs, n := e.Errors()
		r.note("%d protocol errors, %d connections dropped; %d error events, first: %q", tot.Errors, tot.Dropped, n, errs)
	}
	if m["busy_pct"] >= 95 {
		r.warn("machine saturated (%.0f%% busy): latency is bounded by the machine, compare server CPU µs/delivery", m["busy_pct"])
	}
	return m, nil
}

// pace asks for rate publishes a second, evenly spaced, until stop is
// closed: the first at once, then whenever one is due (at most every
// millisecond, several at once above 1000/s).
func pace(publish func(n int), rate float64, stop <-chan struct{}) {
	start := time.Now()
	var asked int64
	for {
		due := int64(time.Since(start).Seconds()*rate) + 1
		if due > asked {
			publish(int(due - asked))
			asked = due
		}
		next := start.Add(time.Duration(float64(asked) / rate * float64(time.Second)))
		select {
		case <-stop:
			return
		case <-time.After(max(time.Until(next), time.Millisecond)):
		}
	}
}

// apiPublisher publishes room messages through a server's HTTP API, one
// request at a time (in order), on a kept-alive connection.
type apiPublisher struct {
	r      *round
	e      *loadgen.Engine
	client *http.Client
	url    string
	key    string // Centrifugo's X-API-Key
	body   []byte
	failed int
	msgs   []string // the first failures, noted at close
}

func newAPIPublisher(r *round, e *loadgen.Engine) *apiPublisher {
	p := &apiPublisher{r: r, e: e, client: &http.Client{Timeout: 10 * time.Second}, url: "http://" + r.srv.apiAddr + "/api/publish"}
	if r.srv.api == "centrifugo" {
		p.key = centrifugoKey
	}
	return p
}

// publish makes n publishes: wsloop's {"room":…,"payload":…} or
// Centrifugo's {"channel":…,"data":…}.
func (p *apiPublisher) publish(n int) {
	for range n {
		b := p.body[:0]
		if p.key != "" {
			b = append(b, `{"channel":"r1","data":`...)
		} else {
			b = append(b, `{"room":"r1","payload":`...)
		}
		b = p.e.NextPayload(b)
		b = append(b, '}')
		p.body = b
		req, err := http.NewRequest(http.MethodPost, p.url, bytes.NewReader(b))
		if err != nil {
			p.fail(err.Error())
			continue
		}
		req.Header.Set("Content-Type", "application/json")
		if p.key != "" {
			req.Header.Set("X-API-Key", p.key)
		}
		res, err := p.client.Do(req)
		if err != nil {
			p.fail(err.Error())
			continue
		}
		reply, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		res.Body.Close()
		if res.StatusCode != http.StatusOK || bytes.Contains(reply, []byte(`"error"`)) && p.key != "" {
			p.fail(fmt.Sprintf("%s: %s", res.Status, reply))
			continue
		}
		p.e.Acked()
	}
}

func (p *apiPublisher) fail(msg string) {
	if p.failed++; p.failed <= 3 {
		p.msgs = append(p.msgs, msg)
	}
}

// close notes the failures; the publishing goroutine has stopped.
func (p *apiPublisher) close() {
	p.client.CloseIdleConnections()
	if p.failed > 0 {
		p.r.note("%d HTTP API publishes failed; first: %q", p.failed, p.msgs)
	}
}
