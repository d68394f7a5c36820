// Package loadgen is wsbench's WebSocket client side: many connections on a
// few gnet client event loops, with no goroutine per connection.
//
// An Engine dials connections (spreading source addresses over 127.0.0.x
// when the ports of one run out), does the client handshake, and then drives
// them with commands broadcast from the caller's goroutine: start pipelined
// echo traffic (Window JSON requests in flight per connection, each reply
// answered with the next request), send one Ping, send one echo request.
// Every reply is checked: its seqno must be one in flight on that
// connection, its status 0 and its size the request's plus the reply
// fields; anything else counts as an error.
//
// Three more modes serve the other scenarios. Raw (Config.Raw): the echo
// requests are binary frames of exactly Payload bytes, each reply must be
// the same bytes. Rooms: CmdJoin makes a connection join Config.Room;
// Publish makes the publisher connection (SetPublisher) send publish
// requests whose payload carries the send time and a sequence number, and
// every member counts the messages it receives, checks their order, and
// records their delivery latency. Expiry (Config.ExpectClose): connections
// closed by the server are expected, and each one's close time is kept
// (Times).
//
//	caller goroutine                 gnet client loop k (owns its conns)
//	Dial ──EnrollContext──────────►  OnOpen: send upgrade request
//	                                 OnTraffic: 101 → open; frames → check
//	Broadcast(cmd) ──pending|=cmd,   reply → record latency, send next
//	                 Wake────────►   request; all writes of one wakeup in
//	                                 one c.Write
//	Totals ◄───── atomic per-loop counters, per-loop latency histograms
//
// # Concurrency
//
// Engine methods are safe for concurrent use unless they say otherwise. A
// connection's state belongs to its event loop; other goroutines see only
// atomic counters.
package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/wsloop/wsloop/bench/internal/hist"
	"github.com/wsloop/wsloop/bench/internal/wsframe"
	"github.com/wsloop/wsloop/internal/tlsrec"
)

// Config configures an Engine. The zero value of each field means the
// default its doc gives.
type Config struct {
	// Addr is the server's host:port. Required; loopback only.
	Addr string
	// Path is the WebSocket endpoint. Zero means "/ws".
	Path string
	// Loops is the number of client event loops. Zero means
	// runtime.NumCPU().
	Loops int
	// Window is the number of echo requests in flight per connection during
	// echo traffic. Zero means 1.
	Window int
	// Payload is the size in bytes of each JSON echo request (the whole
	// {"cmd":"echo","seqno":"N","data":"xxx…"} text), at least what the
	// envelope needs. Zero means 64.
	Payload int
	// DialWorkers is how many dials run at once. Zero means 16.
	DialWorkers int
	// DialTimeout bounds one dial. Zero means 5 s.
	DialTimeout time.Duration
	// Raw makes echo requests binary frames of exactly Payload bytes (at
	// least 8: a sequence number, then filler) for a server in echo mode,
	// which sends them back verbatim.
	Raw bool
	// Room is the room CmdJoin joins and the publisher publishes to. Zero
	// means "r1".
	Room string
	// ExpectClose: the server is expected to close the connections (a
	// heartbeat timeout). Its Close frames and closes are counted in
	// Totals.Closed and not as errors or drops.
	ExpectClose bool
	// Compression offers permessage-deflate with no context takeover
	// (wsframe.DeflateOffer); server messages compressed on a connection
	// that negotiated it are inflated before they are checked. Requests go
	// uncompressed (the protocol allows it), so that what is measured is
	// the server's compressing.
	Compression bool
	// Centrifugo speaks Centrifugo's JSON protocol (v2) instead of
	// wsloop's: after the upgrade a connection sends a connect command and
	// counts as upgraded when its reply comes; CmdJoin subscribes to the
	// channel Room; publications ({"push":{"channel":…,"pub":{"data":…}}})
	// are room messages; the server's pings ({}) are answered ({}). A
	// frame may hold several replies, one per line. There is no echo.
	Centrifugo bool
	// TLS, when set, makes every connection wss://: the TLS handshake runs
	// on the dialing goroutine (tlsrec.Client, crypto/tls's handshake),
	// then the loop seals and opens the records itself, as it frames.
	TLS *tls.Config
}

// Commands for Broadcast; they can be or-ed.
const (
	// CmdStartEcho sends Window echo requests; while echo traffic runs
	// (StartEcho), every reply is answered with a new request.
	CmdStartEcho uint32 = 1 << iota
	// CmdPing sends one Ping frame (its Pong is counted in Totals.Pongs).
	CmdPing
	// CmdEchoOnce sends one echo request.
	CmdEchoOnce
	// CmdJoin sends one join request for Config.Room (its reply is
	// counted in Totals.Joined).
	CmdJoin
)

// Totals are the Engine's counters, summed over its loops.
type Totals struct {
	Dialed          int64 // TCP connections established and enrolled
	DialErrors      int64 // dials or enrolls that failed
	Upgraded        int64 // handshakes completed (101 with the right accept key)
	HandshakeErrors int64 // handshakes refused or malformed
	Replies         int64 // echo replies received and checked
	Errors          int64 // protocol errors: bad or unexpected replies, bad frames
	Pongs           int64 // Pong frames received
	Pushes          int64 // server pushes received (messages without a seqno, e.g. welcome)
	Dropped         int64 // connections closed by the server or the network
	InFlight        int64 // echo requests sent and not yet answered
	Lost            int64 // requests in flight on a connection when it dropped
	Joined          int64 // join requests answered with status 0
	Published       int64 // publish requests sent
	PublishAcks     int64 // publish requests answered with status 0
	Deliveries      int64 // room messages received (from this engine's publisher)
	WindowDelivered int64 // of them, messages of the publishes in the window (SetPublishWindow)
	Closed          int64 // connections closed by the server (ExpectClose)
	SourceAddrs     int   // distinct source addresses dialed from
	WireBytesIn     int64 // frame bytes received from the server, as on the wire (compressed when it was)
}

// Open returns the connections that completed the handshake and have not
// dropped.
func (t Totals) Open() int64 { return t.Upgraded - t.Dropped }

// Engine drives client connections to one server.
type Engine struct {
	cfg    Config
	cli    *gnet.Client
	key    string            // the Sec-WebSocket-Key of every upgrade request
	reqs   map[string][]byte // the upgrade request by server address (under mu)
	accept string            // the Sec-WebSocket-Accept expected
	epoch  time.Time
	filler []byte

	running   atomic.Bool // echo traffic: answer each reply with a request
	measuring atomic.Bool // record latencies
	closing   atomic.Bool
	src       atomic.Int32 // last octet of the source address; 0: kernel's choice
	dialed    atomic.Int64
	dialErrs  atomic.Int64
	seeds     atomic.Int64

	mu       sync.Mutex
	loops    map[gnet.EventLoop]*loopStats
	stats    []*loopStats
	conns    []*conn
	errs     []string // first distinct error descriptions
	errCount map[string]int
	nerrs    int
	srcSet   map[int32]bool

	pub    atomic.Pointer[conn] // the publisher connection
	owed   atomic.Int64         // publishes asked for and not yet sent
	pubSeq atomic.Int64         // next publish sequence number
	// Publishes made outside the engine (NextPayload, Acked): through a
	// server's HTTP API.
	apiPublished, apiAcks atomic.Int64
	winFrom               atomic.Int64 // publishes in [winFrom, winTo) are measured
	winTo                 atomic.Int64
}

// loopStats are one client loop's counters: written by that loop only,
// read by anyone.
type loopStats struct {
	upgraded, hsErrors, replies, errors, pongs, pushes, dropped, inflight, lost atomic.Int64
	joined, published, pubAcks, deliveries, winDelivered, closed                atomic.Int64
	wireIn                                                                      atomic.Int64 // frame bytes received (as on the wire, after the handshake)
	inflater                                                                    *inflater    // this loop's (Compression)
	lat                                                                         hist.Histogram
	groupLat                                                                    [Groups]hist.Histogram
	_                                                                           [64]byte
}

const (
	stHandshake int32 = iota
	stOpen
	stClosed
)

// conn is one client connection. Its fields other than state, pending and
// gc belong to its event loop.
type conn struct {
	e       *Engine
	gc      gnet.Conn // set by Dial; used from the caller's goroutine only
	state   atomic.Int32
	pending atomic.Uint32

	st       *loopStats
	seq      uint64
	inflight []slot
	out      []byte
	rng      uint64
	lastPub  int64  // sequence number of the last room message received
	deflate  bool   // permessage-deflate negotiated
	req      []byte // the upgrade request (for its server's address)
	group    int    // DialAt's group: latencies are also kept per group

	// TLS (Config.TLS): the record layer, the plaintext opened but not yet
	// consumed, and the scratch buffer records are sealed into.
	tls    *tlsrec.State
	plain  []byte
	sealed []byte

	// Times in ns since the engine's epoch, for Times.
	sentAt, upgradedAt, closedAt atomic.Int64
}

type slot struct {
	seq  uint64
	sent int64 // ns since epoch
}

const (
	reqPrefix   = `{"cmd":"echo","seqno":"`
	reqMiddle   = `","data":"`
	reqSuffix   = `"}`
	replyInsert = `,"status":0,"msg":"ok"` // between seqno and data in a reply
	reqFixed    = len(reqPrefix) + len(reqMiddle) + len(reqSuffix)
)

// New starts an Engine's event loops. Call Close when done.
func New(cfg Config) (*Engine, error) {
	if cfg.Addr == "" {
		return nil, errors.New("loadgen: no Addr")
	}
	if cfg.Path == "" {
		cfg.Path = "/ws"
	}
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.NumCPU()
	}
	if cfg.Window <= 0 {
		cfg.Window = 1
	}
	if cfg.Payload <= 0 {
		cfg.Payload = 64
	}
	if cfg.DialWorkers <= 0 {
		cfg.DialWorkers = 16
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.Room == "" {
		cfg.Room = "r1"
	}
	if cfg.Raw && cfg.Payload < rawSeqSize {
		return nil, fmt.Errorf("loadgen: raw payload %d below %d bytes", cfg.Payload, rawSeqSize)
	}
	key := wsframe.NewKey(uint64(time.Now().UnixNano()))
	e := &Engine{
		cfg:    cfg,
		key:    key,
		reqs:   map[string][]byte{},
		accept: wsframe.AcceptKey(key),
		epoch:  time.Now(),
		filler: Filler(max(cfg.Payload, 1)),
		loops:  map[gnet.EventLoop]*loopStats{},
		srcSet: map[int32]bool{},

		errCount: map[string]int{},
	}
	e.winFrom.Store(math.MaxInt64) // no window yet
	e.winTo.Store(math.MaxInt64)
	cli, err := gnet.NewClient(&events{e: e},
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(cfg.Loops),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{e}),
	)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	if err := cli.Start(); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	e.cli = cli
	return e, nil
}

// Close stops the engine: every connection is closed, and the event loops
// exit. Connections closed by it do not count as dropped.
func (e *Engine) Close() error {
	e.closing.Store(true)
	e.running.Store(false)
	return e.cli.Stop()
}

func (e *Engine) now() int64 { return int64(time.Since(e.epoch)) }

// RequestSize returns the size of the echo request with sequence number seq.
func (e *Engine) requestSize(seq uint64) int {
	if e.cfg.Raw {
		return e.cfg.Payload
	}
	return max(e.cfg.Payload, reqFixed+digits(seq))
}

func digits(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// Groups is the number of groups of DialAt.
const Groups = 2

// Dial opens n more connections to Config.Addr, DialWorkers at a time, and
// starts their handshakes; it returns when every dial has succeeded or
// failed (or ctx is done). progress, if not nil, is called from time to
// time with the connections dialed so far. Failed dials are counted in
// Totals.DialErrors and described in Errors. Its connections are in group 0.
func (e *Engine) Dial(ctx context.Context, n int, progress func(done int)) {
	e.DialAt(ctx, e.cfg.Addr, 0, n, progress)
}

// DialAt is Dial to another server (addr: host:port, loopback only), for
// a cluster whose nodes serve the same rooms. Its connections are in group
// (0 ≤ group < Groups): the latencies of their room messages are also
// recorded in GroupLatency(group).
func (e *Engine) DialAt(ctx context.Context, addr string, group, n int, progress func(done int)) {
	if group < 0 || group >= Groups {
		panic("loadgen: DialAt group out of range")
	}
	e.mu.Lock()
	req := e.reqs[addr]
	if req == nil {
		req = wsframe.Request(addr, e.cfg.Path, e.key)
		if e.cfg.Compression {
			req = wsframe.RequestDeflate(addr, e.cfg.Path, e.key)
		}
		e.reqs[addr] = req
	}
	e.mu.Unlock()
	var next, done atomic.Int64
	var wg sync.WaitGroup
	for range min(e.cfg.DialWorkers, n) {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				e.dialOne(ctx, addr, req, group)
				if d := done.Add(1); progress != nil && d%500 == 0 {
					progress(int(d))
				}
			}
		})
	}
	wg.Wait()
	if progress != nil {
		progress(int(done.Load()))
	}
}

func (e *Engine) dialOne(ctx context.Context, addr string, req []byte, group int) {
	loopback := strings.HasPrefix(addr, "127.")
	for {
		src := e.src.Load()
		d := net.Dialer{Timeout: e.cfg.DialTimeout}
		if src > 0 {
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(src))}
		}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil && loopback && errors.Is(err, syscall.EADDRNOTAVAIL) && src < 254 {
			// The ports of this source address ran out: move to the next one.
			nsrc := src + 1
			if src == 0 {
				nsrc = 2 // the kernel's choice was 127.0.0.1
			}
			e.src.CompareAndSwap(src, nsrc)
			continue
		}
		if err != nil {
			e.dialErrs.Add(1)
			e.noteErr("dial: " + err.Error())
			return
		}
		cs := &conn{e: e, rng: uint64(e.seeds.Add(1))*0x9e3779b97f4a7c15 + 1, lastPub: -1, req: req, group: group}
		if e.cfg.TLS != nil {
			st, err := tlsrec.Client(nc, e.cfg.TLS, e.cfg.DialTimeout)
			if err != nil {
				nc.Close()
				e.dialErrs.Add(1)
				e.noteErr("TLS handshake: " + err.Error())
				return
			}
			cs.tls, cs.plain = st, st.Leftover
			st.Leftover = nil
		}
		gc, err := e.cli.EnrollContext(nc, cs) // closes nc in every case
		if err != nil {
			e.dialErrs.Add(1)
			e.noteErr("enroll: " + err.Error())
			return
		}
		e.dialed.Add(1)
		e.mu.Lock()
		cs.gc = gc
		e.conns = append(e.conns, cs)
		e.srcSet[src] = true
		e.mu.Unlock()
		return
	}
}

// WaitHandshakes waits until every dialed connection has completed or
// failed its handshake (or dropped), or until timeout; it returns the number
// of connections open.
func (e *Engine) WaitHandshakes(ctx context.Context, timeout time.Duration) int64 {
	deadline := time.Now().Add(timeout)
	for {
		t := e.Totals()
		if t.Upgraded+t.HandshakeErrors+t.Dropped >= t.Dialed || time.Now().After(deadline) || ctx.Err() != nil {
			return t.Open()
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Broadcast sends cmd to every open connection: each one's loop runs it on
// its next wakeup.
func (e *Engine) Broadcast(cmd uint32) {
	e.mu.Lock()
	conns := slices.Clone(e.conns)
	e.mu.Unlock()
	for _, cs := range conns {
		if cs.state.Load() != stOpen {
			continue
		}
		cs.pending.Or(cmd)
		_ = cs.gc.Wake(nil)
	}
}

// StartEcho switches echo traffic on: from now on every reply is answered
// with a new request. Broadcast(CmdStartEcho) then fills each window.
func (e *Engine) StartEcho() { e.running.Store(true) }

// StopEcho switches echo traffic off: replies still arrive and are
// checked, but no new request is sent.
func (e *Engine) StopEcho() { e.running.Store(false) }

// Measure switches latency recording on or off.
func (e *Engine) Measure(on bool) { e.measuring.Store(on) }

// Drain waits until no echo request is in flight, or until timeout; it
// returns the requests still in flight.
func (e *Engine) Drain(timeout time.Duration) int64 {
	deadline := time.Now().Add(timeout)
	for {
		t := e.Totals()
		if t.InFlight <= 0 || time.Now().After(deadline) {
			return t.InFlight
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// SetPublisher makes the connection dialed last the publisher; it returns
// false if that connection is not open.
func (e *Engine) SetPublisher() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.conns) == 0 {
		return false
	}
	cs := e.conns[len(e.conns)-1]
	if cs.state.Load() != stOpen {
		return false
	}
	e.pub.Store(cs)
	return true
}

// Publish makes the publisher send n more publish requests to Config.Room
// on its next wakeup. Each payload is {"t":T,"n":N,"p":"xxx…"}: T the send
// time (ns since the engine started), N the publish's sequence number from
// 0, padded to Payload bytes.
func (e *Engine) Publish(n int) {
	cs := e.pub.Load()
	if cs == nil || n <= 0 {
		return
	}
	e.owed.Add(int64(n))
	_ = cs.gc.Wake(nil)
}

// NextPayload returns the payload of the next publish made outside the
// engine (through a server's HTTP API, say), with its sequence number and
// the send time in it, padded to Config.Payload bytes; it counts as
// published. Call from one goroutine: publishes are numbered in order.
func (e *Engine) NextPayload(dst []byte) []byte {
	n := e.pubSeq.Add(1) - 1
	e.apiPublished.Add(1)
	return AppendPayload(dst, e.now(), n, e.cfg.Payload)
}

// Acked counts a publish made outside the engine as accepted by the server.
func (e *Engine) Acked() { e.apiAcks.Add(1) }

// Owed returns the publishes asked for and not yet sent.
func (e *Engine) Owed() int64 { return e.owed.Load() }

// NextPublish returns the sequence number the next publish will carry.
func (e *Engine) NextPublish() int64 { return e.pubSeq.Load() }

// SetPublishWindow makes the members measure the messages of the
// publishes numbered from to to-1 (to < 0: no upper bound yet): their
// latency is recorded and they count in Totals.WindowDelivered.
func (e *Engine) SetPublishWindow(from, to int64) {
	if to < 0 {
		to = math.MaxInt64
	}
	e.winFrom.Store(from)
	e.winTo.Store(to)
}

// ConnTimes are one connection's times, in ns since the engine started; 0
// means not yet.
type ConnTimes struct {
	Sent     int64 // the last bytes written (the upgrade request, for a silent connection)
	Upgraded int64 // handshake completed
	Closed   int64 // closed by the server (ExpectClose) or dropped
}

// Times returns the times of every connection dialed.
func (e *Engine) Times() []ConnTimes {
	e.mu.Lock()
	conns := slices.Clone(e.conns)
	e.mu.Unlock()
	out := make([]ConnTimes, len(conns))
	for i, cs := range conns {
		out[i] = ConnTimes{Sent: cs.sentAt.Load(), Upgraded: cs.upgradedAt.Load(), Closed: cs.closedAt.Load()}
	}
	return out
}

// Now returns the time in ns since the engine started, the clock of
// ConnTimes.
func (e *Engine) Now() int64 { return e.now() }

// Totals sums the counters of every loop.
func (e *Engine) Totals() Totals {
	e.mu.Lock()
	stats := slices.Clone(e.stats)
	srcs := len(e.srcSet)
	e.mu.Unlock()
	t := Totals{Dialed: e.dialed.Load(), DialErrors: e.dialErrs.Load(), SourceAddrs: srcs}
	for _, s := range stats {
		t.Upgraded += s.upgraded.Load()
		t.HandshakeErrors += s.hsErrors.Load()
		t.Replies += s.replies.Load()
		t.Errors += s.errors.Load()
		t.Pongs += s.pongs.Load()
		t.Pushes += s.pushes.Load()
		t.Dropped += s.dropped.Load()
		t.InFlight += s.inflight.Load()
		t.Lost += s.lost.Load()
		t.Joined += s.joined.Load()
		t.Published += s.published.Load()
		t.PublishAcks += s.pubAcks.Load()
		t.Deliveries += s.deliveries.Load()
		t.WindowDelivered += s.winDelivered.Load()
		t.Closed += s.closed.Load()
		t.WireBytesIn += s.wireIn.Load()
	}
	t.Published += e.apiPublished.Load()
	t.PublishAcks += e.apiAcks.Load()
	return t
}

// Latency returns the latencies recorded while Measure was on, in
// nanoseconds, merged over the loops.
func (e *Engine) Latency() *hist.Histogram {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := new(hist.Histogram)
	for _, s := range e.stats {
		h.Merge(&s.lat)
	}
	return h
}

// GroupLatency returns the room-message latencies of group's connections
// (DialAt) recorded in the publish window, merged over the loops.
func (e *Engine) GroupLatency(group int) *hist.Histogram {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := new(hist.Histogram)
	for _, s := range e.stats {
		h.Merge(&s.groupLat[group])
	}
	return h
}

// Errors returns the first distinct error descriptions seen (at most 10,
// each with its count when it repeated) and how many errors there were in
// all.
func (e *Engine) Errors() ([]string, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, len(e.errs))
	for i, s := range e.errs {
		out[i] = s
		if n := e.errCount[s]; n > 1 {
			out[i] = fmt.Sprintf("%s (×%d)", s, n)
		}
	}
	return out, e.nerrs
}

func (e *Engine) noteErr(s string) {
	e.mu.Lock()
	e.nerrs++
	if _, seen := e.errCount[s]; seen {
		e.errCount[s]++
	} else if len(e.errs) < 10 {
		e.errs = append(e.errs, s)
		e.errCount[s] = 1
	}
	e.mu.Unlock()
}

func (e *Engine) statsFor(el gnet.EventLoop) *loopStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.loops[el]
	if s == nil {
		s = new(loopStats)
		e.loops[el] = s
		e.stats = append(e.stats, s)
	}
	return s
}

// events is the gnet client event handler.
type events struct {
	gnet.BuiltinEventEngine
	e *Engine
}

func (h *events) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	cs := c.Context().(*conn)
	cs.st = h.e.statsFor(c.EventLoop())
	cs.sentAt.Store(h.e.now())
	if cs.tls != nil {
		return cs.tls.Seal(nil, cs.req), gnet.None
	}
	return cs.req, gnet.None
}

func (h *events) OnClose(c gnet.Conn, err error) gnet.Action {
	cs, ok := c.Context().(*conn)
	if !ok || cs.st == nil {
		return gnet.None
	}
	was := cs.state.Swap(stClosed)
	if was != stClosed && !h.e.closing.Load() {
		cs.closedAt.CompareAndSwap(0, h.e.now())
	}
	if n := len(cs.inflight); n > 0 {
		cs.st.inflight.Add(-int64(n))
		cs.st.lost.Add(int64(n))
		cs.inflight = cs.inflight[:0]
	}
	if h.e.closing.Load() {
		return gnet.None
	}
	if was == stOpen && h.e.cfg.ExpectClose {
		cs.st.closed.Add(1)
	} else if was == stOpen {
		cs.st.dropped.Add(1)
		msg := "connection dropped"
		if err != nil {
			msg += ": " + err.Error()
		}
		h.e.noteErr(msg)
	} else if was == stHandshake {
		cs.st.hsErrors.Add(1)
		msg := "closed during handshake"
		if err != nil {
			msg += ": " + err.Error()
		}
		h.e.noteErr(msg)
	}
	return gnet.None
}

func (h *events) OnTraffic(c gnet.Conn) gnet.Action {
	cs := c.Context().(*conn)
	e := cs.e
	buf, _ := c.Peek(-1)
	now := e.now()
	var action gnet.Action
	if cs.tls == nil {
		var n int
		n, action = cs.traffic(buf, now)
		if n > 0 { // gnet's Discard(0) would drop everything, a partial frame too
			_, _ = c.Discard(n)
		}
	} else {
		action = cs.tlsTraffic(c, buf, now)
	}
	if len(cs.out) > 0 {
		out := cs.out
		if cs.tls != nil {
			cs.sealed = cs.tls.Seal(cs.sealed[:0], out)
			out = cs.sealed
		}
		_, _ = c.Write(out)
		cs.out = cs.out[:0]
		if action == gnet.None {
			cs.sentAt.Store(now) // not a close answer
		}
	}
	return action
}

// tlsTraffic opens the whole records in buf (in place), discards them,
// and hands their plaintext, behind what was left of the last read, to
// traffic. The server's close_notify ends the connection once the frames
// before it are handled.
func (cs *conn) tlsTraffic(c gnet.Conn, buf []byte, now int64) gnet.Action {
	off, closed := 0, false
	for {
		n, err := tlsrec.Next(buf[off:])
		if err != nil {
			return cs.fail("TLS: " + err.Error())
		}
		if n == 0 {
			break
		}
		p, err := cs.tls.Open(buf[off : off+n])
		off += n
		if errors.Is(err, tlsrec.ErrCloseNotify) {
			closed = true
			break
		}
		if err != nil {
			return cs.fail("TLS: " + err.Error())
		}
		cs.plain = append(cs.plain, p...)
	}
	if off > 0 {
		_, _ = c.Discard(off)
	}
	n, action := cs.traffic(cs.plain, now)
	cs.plain = cs.plain[:copy(cs.plain, cs.plain[n:])]
	if closed && action == gnet.None {
		action = gnet.Close
	}
	return action
}

// traffic handles the bytes the server sent (plaintext): the handshake
// response, then frames; it returns how many it consumed.
func (cs *conn) traffic(buf []byte, now int64) (int, gnet.Action) {
	e := cs.e
	n := 0
	if cs.state.Load() == stHandshake {
		hn, err := wsframe.ParseResponse(buf, e.accept)
		if err != nil {
			cs.state.Store(stClosed)
			cs.st.hsErrors.Add(1)
			e.noteErr(fmt.Sprintf("handshake: %v: %q", err, firstLine(buf)))
			return 0, gnet.Close
		}
		if hn == 0 {
			return 0, gnet.None
		}
		n = hn
		cs.deflate = wsframe.Deflated(buf[:hn])
		cs.state.Store(stOpen)
		if e.cfg.Centrifugo {
			// Open once the connect command is answered (cfMessage).
			cs.out = wsframe.AppendClient(cs.out, wsframe.OpText, cfConnect, cs.mask())
		} else {
			cs.upgradedAt.Store(now)
			cs.st.upgraded.Add(1)
		}
	}
	action := gnet.None
	for action == gnet.None {
		decode := wsframe.Decode
		if cs.deflate {
			decode = wsframe.DecodeDeflate
		}
		h, p, fn, err := decode(buf[n:])
		if err != nil {
			action = cs.fail("bad frame: " + err.Error())
			break
		}
		if fn == 0 {
			break
		}
		n += fn
		if h.Masked || !h.Fin {
			action = cs.fail(fmt.Sprintf("unexpected frame: masked=%v fin=%v op=%d", h.Masked, h.Fin, h.OpCode))
			break
		}
		cs.st.wireIn.Add(int64(fn))
		if h.Rsv == 0x4 {
			if p, err = cs.st.inflate(p); err != nil {
				action = cs.fail("inflate: " + err.Error())
				break
			}
		}
		switch h.OpCode {
		case wsframe.OpText, wsframe.OpBinary:
			if e.cfg.Raw {
				cs.rawMessage(h.OpCode, p, now)
			} else if e.cfg.Centrifugo {
				cs.cfMessage(p, now)
			} else {
				cs.message(p, now)
			}
		case wsframe.OpPong:
			cs.st.pongs.Add(1)
		case wsframe.OpPing:
			cs.out = wsframe.AppendClient(cs.out, wsframe.OpPong, p, cs.mask())
		case wsframe.OpClose:
			if e.cfg.ExpectClose {
				// Closed by the server: answer and count it (OnClose).
				cs.closedAt.CompareAndSwap(0, now)
				cs.out = wsframe.AppendClient(cs.out, wsframe.OpClose, p[:min(len(p), 2)], cs.mask())
				action = gnet.Close
				break
			}
			action = cs.fail(fmt.Sprintf("server sent close %q", p))
		default:
			action = cs.fail(fmt.Sprintf("unexpected opcode %d", h.OpCode))
		}
	}
	if action == gnet.None && cs.state.Load() == stOpen {
		if cmd := cs.pending.Swap(0); cmd != 0 {
			cs.command(cmd, now)
		}
		if e.pub.Load() == cs {
			if n := e.owed.Swap(0); n > 0 {
				for range n {
					cs.publish(now)
				}
			}
		}
	}
	return n, action
}

// fail counts a protocol error and closes the connection.
func (cs *conn) fail(msg string) gnet.Action {
	cs.st.errors.Add(1)
	cs.e.noteErr(msg)
	return gnet.Close
}

func (cs *conn) command(cmd uint32, now int64) {
	if cmd&CmdPing != 0 {
		cs.out = wsframe.AppendClient(cs.out, wsframe.OpPing, []byte("p"), cs.mask())
	}
	if cmd&CmdEchoOnce != 0 {
		cs.send(now)
	}
	if cmd&CmdJoin != 0 {
		cs.join()
	}
	if cmd&CmdStartEcho != 0 {
		for len(cs.inflight) < cs.e.cfg.Window {
			cs.send(now)
		}
	}
}

// mask returns a fresh masking key (xorshift64).
func (cs *conn) mask() [4]byte {
	x := cs.rng
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	cs.rng = x
	return [4]byte{byte(x), byte(x >> 8), byte(x >> 16), byte(x >> 24)}
}

// send appends the next echo request to the output.
func (cs *conn) send(now int64) {
	e := cs.e
	seq := cs.seq
	cs.seq++
	size := e.requestSize(seq)
	mask := cs.mask()
	if e.cfg.Raw {
		cs.out = wsframe.AppendClientHeader(cs.out, wsframe.OpBinary, size, mask)
		start := len(cs.out)
		cs.out = binary.LittleEndian.AppendUint64(cs.out, seq)
		cs.out = append(cs.out, e.filler[:size-rawSeqSize]...)
		wsframe.Mask(cs.out[start:], mask)
		cs.inflight = append(cs.inflight, slot{seq: seq, sent: now})
		cs.st.inflight.Add(1)
		return
	}
	cs.out = wsframe.AppendClientHeader(cs.out, wsframe.OpText, size, mask)
	start := len(cs.out)
	cs.out = append(cs.out, reqPrefix...)
	cs.out = strconv.AppendUint(cs.out, seq, 10)
	cs.out = append(cs.out, reqMiddle...)
	cs.out = append(cs.out, e.filler[:size-reqFixed-digits(seq)]...)
	cs.out = append(cs.out, reqSuffix...)
	wsframe.Mask(cs.out[start:], mask)
	cs.inflight = append(cs.inflight, slot{seq: seq, sent: now})
	cs.st.inflight.Add(1)
}

// message checks one data message from the server.
func (cs *conn) message(p []byte, now int64) {
	seq, ok := parseSeqno(p)
	if !ok {
		if bytes.HasPrefix(p, messagePrefix) {
			cs.delivery(p, now)
			return
		}
		if bytes.HasPrefix(p, joinPrefix) || bytes.HasPrefix(p, publishPrefix) {
			cs.roomReply(p)
			return
		}
		if isPush(p) {
			cs.st.pushes.Add(1)
			return
		}
		cs.st.errors.Add(1)
		cs.e.noteErr(fmt.Sprintf("bad reply %.120q", p))
		return
	}
	i := slices.IndexFunc(cs.inflight, func(s slot) bool { return s.seq == seq })
	if i < 0 {
		cs.st.errors.Add(1)
		cs.e.noteErr(fmt.Sprintf("reply seqno %d not in flight", seq))
		return
	}
	if want := cs.e.requestSize(seq) + len(replyInsert); len(p) != want {
		cs.st.errors.Add(1)
		cs.e.noteErr(fmt.Sprintf("reply %d is %d bytes, want %d: %.120q", seq, len(p), want, p))
	}
	cs.answered(i, now)
}

// answered retires in-flight request i, answered at now.
func (cs *conn) answered(i int, now int64) {
	if cs.e.measuring.Load() {
		cs.st.lat.Record(now - cs.inflight[i].sent)
	}
	last := len(cs.inflight) - 1
	cs.inflight[i] = cs.inflight[last]
	cs.inflight = cs.inflight[:last]
	cs.st.inflight.Add(-1)
	cs.st.replies.Add(1)
	if cs.e.running.Load() {
		cs.send(now)
	}
}

// rawSeqSize is the sequence number at the front of a raw request.
const rawSeqSize = 8

// rawMessage checks one data message in raw mode: a binary copy of a
// request in flight.
func (cs *conn) rawMessage(op wsframe.OpCode, p []byte, now int64) {
	e := cs.e
	if op != wsframe.OpBinary || len(p) != e.cfg.Payload || !bytes.Equal(p[rawSeqSize:], e.filler[:len(p)-rawSeqSize]) {
		cs.st.errors.Add(1)
		e.noteErr(fmt.Sprintf("bad raw reply: opcode %d, %d bytes (want %d): %.40q", op, len(p), e.cfg.Payload, p))
		return
	}
	seq := binary.LittleEndian.Uint64(p)
	i := slices.IndexFunc(cs.inflight, func(s slot) bool { return s.seq == seq })
	if i < 0 {
		cs.st.errors.Add(1)
		e.noteErr(fmt.Sprintf("raw reply %d not in flight", seq))
		return
	}
	cs.answered(i, now)
}

// join appends a join request for the configured room (Centrifugo: a
// subscribe command for the channel).
func (cs *conn) join() {
	var b []byte
	if cs.e.cfg.Centrifugo {
		b = append(b, `{"id":2,"subscribe":{"channel":`...)
		b = strconv.AppendQuote(b, cs.e.cfg.Room)
		b = append(b, "}}"...)
		cs.out = wsframe.AppendClient(cs.out, wsframe.OpText, b, cs.mask())
		return
	}
	b = append(b, `{"cmd":"join","seqno":"j","data":{"room":`...)
	b = strconv.AppendQuote(b, cs.e.cfg.Room)
	b = append(b, "}}"...)
	cs.out = wsframe.AppendClient(cs.out, wsframe.OpText, b, cs.mask())
}

// publish appends the next publish request.
func (cs *conn) publish(now int64) {
	e := cs.e
	n := e.pubSeq.Load()
	e.pubSeq.Store(n + 1)
	var b []byte
	b = append(b, `{"cmd":"publish","seqno":"`...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, `","data":{"room":`...)
	b = strconv.AppendQuote(b, e.cfg.Room)
	b = append(b, `,"notify_type":"bc","payload":`...)
	b = AppendPayload(b, now, n, e.cfg.Payload)
	b = append(b, "}}"...)
	cs.out = wsframe.AppendClient(cs.out, wsframe.OpText, b, cs.mask())
	cs.st.published.Add(1)
}

// fillerText is the padding of requests and publish payloads: words drawn
// from a small vocabulary by a fixed generator, so that it compresses as
// chat text does (about 2–3× with deflate), not as a run of one letter
// (hundreds of times), and every run pads with the same bytes. Letters and
// spaces only: nothing to escape in JSON.
var fillerText = func() []byte {
	words := strings.Fields(`the a to and of in is you that it for on are with as be this have from or
		one had by word but not what all were we when your can said there use an each which she do how their
		if will up other about out many then them these so some her would make like him into time has look two
		more write go see number no way could people my than first water been call who oil its now find long
		down day did get come made may part room seat mic gift call voice chat live stream game lobby hello
		everyone tonight host join leave send message rose cake rocket diamond play music song dance`)
	b := make([]byte, 0, 1<<20)
	x := uint64(0x9e3779b97f4a7c15)
	for len(b) < 1<<20 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b = append(b, words[x%uint64(len(words))]...)
		b = append(b, ' ')
	}
	return b[:1<<20]
}()

// Filler returns n bytes of padding text (a copy; n at most 1 MiB, more
// repeats it).
func Filler(n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, fillerText[:min(n-len(out), len(fillerText))]...)
	}
	return out
}

// AppendPayload appends a publish payload {"t":t,"n":n,"p":"…"}, padded
// with filler text to size bytes when the bare {"t":t,"n":n} is shorter.
func AppendPayload(b []byte, t, n int64, size int) []byte {
	start := len(b)
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"n":`...)
	b = strconv.AppendInt(b, n, 10)
	if pad := size - (len(b) - start) - len(`,"p":""}`); pad > 0 {
		b = append(b, `,"p":"`...)
		for pad > 0 {
			k := min(pad, len(fillerText))
			b = append(b, fillerText[:k]...)
			pad -= k
		}
		b = append(b, '"')
	}
	return append(b, '}')
}

// ParsePayload returns t and n from a room message carrying a payload of
// AppendPayload: {"cmd":"message","data":{…,"payload":{"t":t,"n":n…}}},
// or a Centrifugo publication {"push":{…,"pub":{"data":{"t":t,"n":n…}}}}.
func ParsePayload(p []byte) (t, n int64, ok bool) {
	key := payloadKey
	i := bytes.Index(p, key)
	if i < 0 {
		key = cfDataKey
		if i = bytes.Index(p, key); i < 0 {
			return 0, 0, false
		}
	}
	p = p[i+len(key):]
	if t, p, ok = parseInt(p); !ok || !bytes.HasPrefix(p, nKey) {
		return 0, 0, false
	}
	n, p, ok = parseInt(p[len(nKey):])
	if !ok || len(p) == 0 || (p[0] != ',' && p[0] != '}') {
		return 0, 0, false
	}
	return t, n, true
}

func parseInt(p []byte) (v int64, rest []byte, ok bool) {
	i := 0
	for i < len(p) && i < 18 && p[i] >= '0' && p[i] <= '9' {
		v = v*10 + int64(p[i]-'0')
		i++
	}
	return v, p[i:], i > 0
}

var (
	messagePrefix = []byte(`{"cmd":"message","data":{`)
	joinPrefix    = []byte(`{"cmd":"join","seqno":"`)
	publishPrefix = []byte(`{"cmd":"publish","seqno":"`)
	statusOK      = []byte(`","status":0,"msg":"ok"`)
	payloadKey    = []byte(`"payload":{"t":`)
	cfDataKey     = []byte(`"pub":{"data":{"t":`)
	cfConnect     = []byte(`{"id":1,"connect":{}}`)
	cfConnected   = []byte(`{"id":1,"connect":{`)
	cfSubscribed  = []byte(`{"id":2,"subscribe":{`)
	cfPush        = []byte(`{"push":{"channel":`)
	nKey          = []byte(`,"n":`)
)

// delivery counts one room message.
func (cs *conn) delivery(p []byte, now int64) {
	e := cs.e
	t, n, ok := ParsePayload(p)
	if !ok {
		cs.st.errors.Add(1)
		e.noteErr(fmt.Sprintf("bad room message %.160q", p))
		return
	}
	if n <= cs.lastPub {
		cs.st.errors.Add(1)
		e.noteErr(fmt.Sprintf("room message %d after %d: duplicate or out of order", n, cs.lastPub))
		return
	}
	cs.lastPub = n
	cs.st.deliveries.Add(1)
	if n >= e.winFrom.Load() && n < e.winTo.Load() {
		cs.st.winDelivered.Add(1)
		cs.st.lat.Record(now - t)
		cs.st.groupLat[cs.group].Record(now - t)
	}
}

// roomReply checks the reply to a join or publish: status 0.
func (cs *conn) roomReply(p []byte) {
	join := bytes.HasPrefix(p, joinPrefix)
	rest := p[len(publishPrefix):]
	if join {
		rest = p[len(joinPrefix):]
	}
	q := bytes.IndexByte(rest, '"')
	if q < 0 || !bytes.HasPrefix(rest[q:], statusOK) {
		cs.st.errors.Add(1)
		cs.e.noteErr(fmt.Sprintf("room command failed: %.160q", p))
		return
	}
	if join {
		cs.st.joined.Add(1)
	} else {
		cs.st.pubAcks.Add(1)
	}
}

// cfMessage handles a Centrifugo frame: one reply or push per line.
func (cs *conn) cfMessage(p []byte, now int64) {
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		switch {
		case len(line) == 0:
		case string(line) == "{}": // the server's ping
			cs.out = wsframe.AppendClient(cs.out, wsframe.OpText, line, cs.mask())
		case bytes.HasPrefix(line, cfPush):
			cs.delivery(line, now)
		case bytes.HasPrefix(line, cfConnected):
			cs.upgradedAt.Store(now)
			cs.st.upgraded.Add(1)
			cs.st.pushes.Add(1) // the connect reply is Centrifugo's welcome
		case bytes.HasPrefix(line, cfSubscribed):
			cs.st.joined.Add(1)
		default:
			cs.st.errors.Add(1)
			cs.e.noteErr(fmt.Sprintf("unexpected from Centrifugo: %.160q", line))
		}
	}
}

// parseSeqno returns the seqno of a successful echo reply:
// {"cmd":"echo","seqno":"N","status":0,"msg":"ok",…}.
func parseSeqno(p []byte) (uint64, bool) {
	if len(p) < len(reqPrefix) || string(p[:len(reqPrefix)]) != reqPrefix {
		return 0, false
	}
	i := len(reqPrefix)
	var seq uint64
	start := i
	for i < len(p) && p[i] >= '0' && p[i] <= '9' && i-start < 19 {
		seq = seq*10 + uint64(p[i]-'0')
		i++
	}
	if i == start || i >= len(p) || p[i] != '"' {
		return 0, false
	}
	i++
	if len(p)-i < len(replyInsert)+1 || string(p[i:i+len(replyInsert)]) != replyInsert || p[len(p)-1] != '}' {
		return 0, false
	}
	return seq, true
}

// isPush reports whether p is a server push: a JSON object with no seqno.
func isPush(p []byte) bool {
	return len(p) > 8 && string(p[:8]) == `{"cmd":"` && !bytes.Contains(p, seqnoKey)
}

// gnetLogger drops gnet's debug and info logs and keeps its warnings and
// errors among the engine's error descriptions.
type gnetLogger struct{ e *Engine }

func (gnetLogger) Debugf(string, ...any) {}
func (gnetLogger) Infof(string, ...any)  {}
func (l gnetLogger) Warnf(format string, args ...any) {
	l.e.noteErr("gnet: " + fmt.Sprintf(format, args...))
}
func (l gnetLogger) Errorf(format string, args ...any) {
	l.e.noteErr("gnet: " + fmt.Sprintf(format, args...))
}
func (l gnetLogger) Fatalf(format string, args ...any) {
	l.e.noteErr("gnet: " + fmt.Sprintf(format, args...))
}

var seqnoKey = []byte(`"seqno"`)

func firstLine(b []byte) string {
	s := string(b[:min(len(b), 200)])
	s, _, _ = strings.Cut(s, "\r\n")
	return s
}
