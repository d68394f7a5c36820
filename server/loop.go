package server

import (
	"context"
	crand "crypto/rand"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/internal/mpsc"
	"github.com/wsloop/wsloop/internal/uring"
	"github.com/wsloop/wsloop/rooms"
	"github.com/wsloop/wsloop/timingwheel"
)

type jobKind uint8

const (
	jobPush      jobKind = iota + 1 // frame to one session
	jobBroadcast                    // frame to every open session of the loop
	jobClose                        // close one session
	jobFunc                         // run fn on the loop
	jobGroup                        // frame to the loop's members of group, except session sid
	jobPtp                          // frame to the loop's members of group (a user) that are in room
	jobSession                      // frame to session sid (if anonymous is set, only if it has no user), if it is in room (nil: any)
)

// job is one entry of a loop's ring. It is a value: pushing one allocates
// nothing. The small fields come first, so that they share one word: 72
// bytes, 80 with the ring's sequence number, a ring of 8192 taking 640 KiB.
type job struct {
	kind jobKind
	code codec.StatusCode
	// anonymous: a jobSession for a sid that was a `to`
	anonymous bool
	// reply: a jobPush that is a deferred reply (Context.Defer)
	reply bool
	sid   uint64
	frame *codec.PreparedFrame // the job's reference, released by the loop after use
	group *group
	room  *group
	text  string
	fn    func(*loop)
	// tag: a jobSession for a sid a client gave must match the session's
	// random tag (0: the server's own, not checked)
	tag uint64
}

// maxDrain bounds the jobs one wakeup runs, so that a publisher flood cannot
// starve the loop's sockets; the rest run in the next wakeup.
const maxDrain = 4096

// loop is wsloop's state for one gnet event loop. Everything in it, and in
// the sessions it owns, is touched only by that loop's goroutine, except the
// fields marked atomic.
type loop struct {
	srv *Server
	idx int
	el  gnet.EventLoop

	jobs     *mpsc.Ring[job]
	wake     atomic.Bool // a drain is scheduled
	tickWait atomic.Bool // a tick is scheduled
	drainR   gnet.Runnable
	tickR    gnet.Runnable

	tags     *rand.ChaCha8   // session tags: a cryptographic generator, seeded from crypto/rand, no lock
	deflater *codec.Deflater // compresses this loop's own frames (Compression); made on first use
	now      int64           // loop clock: ns since srv.epoch, read once per wakeup
	// sessions holds the loop's sessions by slot (the low 32 bits of
	// their id), nil where a session has closed; freeSlots are those nil
	// slots, reused last-freed first. Slots are the loop's own, not
	// descriptors: a descriptor number is process-wide, so a table by
	// descriptor on every loop would hold a slot per connection of every
	// loop (8 bytes × loops per connection; 64 at a million connections
	// on eight loops), where this one holds one per connection of its own.
	sessions  []*Session
	freeSlots []int32
	shard     *rooms.Shard[Session]

	// The cork (cork.go).
	dirty     []*Session             // sessions with queued output in this wakeup
	closeList []*Session             // sessions to close at the end of this wakeup
	arena     []byte                 // bytes encoded for the cork in this wakeup
	segs      []seg                  // the sessions' output chains; segs[0] unused
	held      []*codec.PreparedFrame // shared frames the chains point into
	iov       [][]byte               // writev scratch
	iovecs    []unix.Iovec           // raw writev scratch
	ring      *uring.Ring            // batched sends (flushBatch); nil: one system call per connection
	batch     []batched              // the sessions in the ring's submission
	// brokenRing is a ring whose submission failed, kept (never closed or
	// reset) with what its entries point at; dropArena: the arena goes
	// with it (abandon).
	brokenRing *uring.Ring
	dropArena  bool
	flushing   bool // in endWakeup
	active     bool // in a wakeup (OnTraffic, drain, tick) that ends with endWakeup

	scratch []byte // encode scratch
	tailBuf []byte // lastWords' read buffer
	// tlsPlain gathers a TLS session's output of several segments before
	// it is sealed (server/tls.go).
	tlsPlain []byte
	reply    []byte // reply encode scratch
	pong     []byte // ping data scratch
	req      codec.Request
	ctx      Context // reused by Router for every request
	wheel    *timingwheel.Wheel[Session]

	stats loopStats
}

// loopStats are per-loop counters, written by the loop and read at scrape
// time: no lock and no shared cache line on the hot path.
type loopStats struct {
	conns        atomic.Int64
	accepted     atomic.Uint64
	msgsIn       atomic.Uint64
	bytesIn      atomic.Uint64
	msgsOut      atomic.Uint64
	bytesOut     atomic.Uint64
	handshakeErr atomic.Uint64
	ringFull     atomic.Uint64
	expired      atomic.Uint64
	slow         atomic.Uint64             // closed as too slow (1013)
	dropped      atomic.Uint64             // server frames dropped for slow consumers
	deliveries   atomic.Uint64             // room and user messages queued to a member
	uringSubmits atomic.Uint64             // io_uring submissions (flushBatch)
	uringSends   atomic.Uint64             // connection writes in them
	closed       [CloseSlots]atomic.Uint64 // by close code, see CloseSlot

	deflateConns   atomic.Uint64 // connections that negotiated permessage-deflate
	proxyRefused   atomic.Uint64 // connections closed for their PROXY header
	originRefused  atomic.Uint64 // handshakes refused for their Origin (403)
	rateLimited    atomic.Uint64 // handshakes refused by HandshakeRatePerIP (429)
	ipConnsRefused atomic.Uint64 // handshakes refused by MaxConnsPerIP (429)
}

// newTag returns a session's random tag: 64 bits, never 0.
func (l *loop) newTag() uint64 {
	for {
		if t := l.tags.Uint64(); t != 0 {
			return t
		}
	}
}

func newLoop(srv *Server, idx int, el gnet.EventLoop) *loop {
	l := &loop{srv: srv, idx: idx, el: el, jobs: mpsc.New[job](srv.cfg.Tuning.QueueSize), shard: srv.reg.Shard(idx)}
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		panic("server: no randomness for session ids: " + err.Error()) // crypto/rand does not fail on Linux
	}
	l.tags = rand.NewChaCha8(seed)
	l.segs = make([]seg, 1, 64)
	l.drainR = gnet.RunnableFunc(func(context.Context) error { l.drain(); return nil })
	l.tickR = gnet.RunnableFunc(func(context.Context) error { l.tick(); return nil })
	l.now = srv.clock()
	// Every loop's wheel counts ticks from the server's epoch, the phase the
	// ticker wakes the loops at, so a timer fires right after its tick
	// starts: within one Tick after it is due.
	w, err := timingwheel.New(timingwheel.Config{Tick: srv.cfg.Heartbeat.Tick, Slots: srv.cfg.wheelSlots()}, 0,
		func(s *Session) *sessionTimer { return &s.timer }, l.fire)
	if err != nil {
		panic(err) // Tick was validated by Config.normalize
	}
	w.Advance(l.now)
	l.wheel = w
	if srv.batchSends {
		r, err := uring.New(ringEntries, iovMax)
		if err != nil {
			srv.log.Warn("io_uring unavailable; sending one system call per connection", "loop", idx, "err", err)
		} else {
			l.ring = r
		}
	}
	return l
}

// ringEntries is the most connections one io_uring submission sends to:
// enough to spread one system call over hundreds of sends, and a small ring
// (about 60 KiB per loop with its scratch).
const ringEntries = 256

// enqueue puts j on the ring and wakes the loop unless a wakeup is already
// pending. Safe for concurrent use.
func (l *loop) enqueue(j job) error {
	if !l.jobs.Push(j) {
		l.stats.ringFull.Add(1)
		return ErrQueueFull
	}
	if l.wake.CompareAndSwap(false, true) {
		if err := l.el.Execute(context.Background(), l.drainR); err != nil {
			l.wake.Store(false)
			return ErrServerClosed
		}
	}
	return nil
}

// drain runs queued jobs. Runs on the loop.
func (l *loop) drain() {
	l.active = true
	l.wake.Store(false) // before popping: a later push wakes us again
	l.now = l.srv.clock()
	for i := 0; i < maxDrain; i++ {
		j, ok := l.jobs.Pop()
		if !ok {
			break
		}
		l.run(j)
	}
	if l.jobs.Len() > 0 && l.wake.CompareAndSwap(false, true) {
		if err := l.el.Execute(context.Background(), l.drainR); err != nil {
			l.wake.Store(false)
		}
	}
	l.endWakeup(nil)
}

func (l *loop) run(j job) {
	switch j.kind {
	case jobPush:
		if s := l.lookup(j.sid); s != nil {
			if j.reply { // a deferred reply: never dropped, as replies are not
				if s.state == stateOpen {
					l.hold(j.frame)
					l.share(s, l.frameBytes(s, j.frame))
					l.stats.msgsOut.Add(1)
				}
			} else {
				l.pushShared(s, j.frame)
			}
		}
		j.frame.Release()
	case jobBroadcast:
		l.broadcast(j.frame)
		j.frame.Release()
	case jobGroup:
		l.deliver(j.group, j.frame, j.sid)
		j.frame.Release()
	case jobPtp:
		l.deliverPtp(j.group, j.room, j.frame)
		j.frame.Release()
	case jobSession:
		if s := l.lookup(j.sid); s != nil && (j.tag == 0 || s.tag == j.tag) && (!j.anonymous || s.UserID() == "") && (j.room == nil || l.shard.In(s, j.room)) {
			if l.pushShared(s, j.frame) {
				l.stats.deliveries.Add(1)
			}
		}
		j.frame.Release()
	case jobClose:
		if s := l.lookup(j.sid); s != nil {
			l.closeWith(s, j.code, j.text, CauseServer)
		}
	case jobFunc:
		j.fn(l)
	}
}

// tick advances the timing wheel. Runs on the loop.
func (l *loop) tick() {
	l.active = true
	l.tickWait.Store(false)
	l.now = l.srv.clock()
	l.wheel.Advance(l.now)
	l.endWakeup(nil)
}

// fire runs when a session's timer is due.
func (l *loop) fire(s *Session) {
	switch s.state {
	case stateHandshake:
		s.setReason(CauseTimeout, codec.StatusAbnormalClosure, "handshake timeout")
		l.stats.handshakeErr.Add(1)
		l.closeSoon(s)
	case stateOpen:
		l.heartbeat(s)
	case stateClosing:
		l.closing(s)
	}
}

// closing runs when a closing session's timer fires: once its close frame
// has left, the socket is half-closed; at the close deadline it is closed.
// While the close frame waits behind output the socket has not taken (a
// slow consumer), it checks again every tick.
func (l *loop) closing(s *Session) {
	if s.shutWR && s.gc.OutboundBuffered() == 0 {
		l.halfClose(s)
	}
	left := s.lastSeen - l.now
	switch {
	case left <= 0:
		l.closeSoon(s)
	case s.shutWR:
		l.schedule(s, min(left, int64(l.srv.cfg.Heartbeat.Tick)))
	default:
		l.schedule(s, left)
	}
}

// halfClose shuts the socket's sending side once the close frame has left,
// so the client sees EOF after it while its unread input is still drained
// (no reset).
func (l *loop) halfClose(s *Session) {
	s.shutWR = false
	_ = unix.Shutdown(s.gc.Fd(), unix.SHUT_WR)
}

// heartbeat checks an open session's liveness when its timer fires: it
// expires a silent one, sends a server Ping when one is due, and re-arms the
// timer for the next check. Liveness itself is refreshed by one store
// (s.lastSeen) per inbound frame; the wheel is only touched here, lazily.
func (l *loop) heartbeat(s *Session) {
	if x := s.ext; x != nil && x.deadline > 0 && l.now >= x.deadline {
		l.closeWith(s, x.dlCode, x.dlReason, CauseServer) // SetDeadline
		return
	}
	cfg := &l.srv.cfg
	idle := l.now - s.lastSeen
	if hb := int64(cfg.Heartbeat.Timeout); hb > 0 && idle >= hb {
		l.expire(s)
		return
	}
	if pi := int64(cfg.Heartbeat.ServerPingInterval); pi > 0 {
		k := idle / pi // server Pings due since the client was last heard
		if k > int64(cfg.Heartbeat.MaxMissedPongs) {
			l.expire(s) // pings 1..k-1 went unanswered
			return
		}
		if k >= 1 {
			l.share(s, codec.FramePing)
		}
	}
	l.rearm(s)
}

// rearm schedules s's timer for its next check: the heartbeat timeout, the
// next server Ping, or its deadline (SetDeadline), whichever comes first.
// It does nothing else, so it may run at any time.
func (l *loop) rearm(s *Session) {
	cfg := &l.srv.cfg
	idle := l.now - s.lastSeen
	next := int64(math.MaxInt64)
	if hb := int64(cfg.Heartbeat.Timeout); hb > 0 {
		next = max(hb-idle, 0)
	}
	if pi := int64(cfg.Heartbeat.ServerPingInterval); pi > 0 {
		next = min(next, (idle/pi+1)*pi-idle)
	}
	if x := s.ext; x != nil && x.deadline > 0 {
		next = min(next, max(x.deadline-l.now, 0))
	}
	if next != math.MaxInt64 {
		l.schedule(s, next)
	}
}

// expire closes a silent session: the close frame, then the socket at once
// (a silent client is most likely gone; waiting for its answer is pointless).
func (l *loop) expire(s *Session) {
	l.stats.expired.Add(1)
	l.closeWith(s, codec.StatusNormalClosure, "heartbeat timeout", CauseTimeout)
	l.closeSoon(s)
}

// schedule (re)arms s's timer to fire d nanoseconds after the loop clock.
// The wheel measures from its last Advance, so the time since then is added.
func (l *loop) schedule(s *Session, d int64) {
	d += l.now - l.wheel.Now()
	if max := int64(l.wheel.MaxDelay()); d > max {
		// Only a late tick gets here: the wheel is sized with two ticks of
		// margin over the longest timeout. Firing a tick early is then safe
		// for heartbeats (heartbeat re-checks the idle time).
		d = max
	}
	_ = l.wheel.Reset(s, time.Duration(d))
}

func (l *loop) lookup(sid uint64) *Session {
	slot := int(uint32(sid))
	if slot < len(l.sessions) {
		if s := l.sessions[slot]; s != nil && s.id == sid {
			return s
		}
	}
	return nil
}

// put gives s a slot in l.sessions and returns it.
func (l *loop) put(s *Session) int {
	if n := len(l.freeSlots); n > 0 {
		slot := int(l.freeSlots[n-1])
		l.freeSlots = l.freeSlots[:n-1]
		l.sessions[slot] = s
		return slot
	}
	l.sessions = append(l.sessions, s)
	return len(l.sessions) - 1
}

// release frees s's slot (a closed session).
func (l *loop) release(s *Session) {
	if slot := int(uint32(s.id)); slot < len(l.sessions) && l.sessions[slot] == s {
		l.sessions[slot] = nil
		l.freeSlots = append(l.freeSlots, int32(slot))
	}
}

// closeSoon closes s's socket at the end of this wakeup, after its output.
func (l *loop) closeSoon(s *Session) {
	if !s.closing {
		s.closing = true
		l.closeList = append(l.closeList, s)
		if s.flags&sfTLS != 0 {
			l.markDirty(s) // close_notify
		}
	}
}

// closeWith starts the closing handshake: a close frame with code and text,
// then a half-close once it has left. The socket closes when the client
// answers or after CloseTimeout.
func (l *loop) closeWith(s *Session, code codec.StatusCode, text string, cause Cause) {
	if s.state != stateOpen {
		return
	}
	s.state = stateClosing
	s.setReason(cause, code, text)
	m := l.mark()
	l.arena = codec.AppendClose(l.arena, code, text)
	l.commit(s, m)
	s.shutWR = true
	s.lastSeen = l.now + int64(l.srv.cfg.Limits.CloseTimeout) // the close deadline
	l.schedule(s, int64(l.srv.cfg.Limits.CloseTimeout))
}

// protocolError answers a client's protocol violation with its close code.
func (l *loop) protocolError(s *Session, err error) {
	var ce codec.CloseError
	if !errors.As(err, &ce) {
		ce = codec.CloseError{Code: codec.StatusProtocolError, Reason: err.Error()}
	}
	l.closeWith(s, ce.Code, ce.Reason, CauseProtocol)
}

// frames decodes and dispatches the frames in b; it returns how many bytes
// were consumed. Runs on the loop.
func (l *loop) frames(s *Session, b []byte) int {
	if s.state == stateClosing && s.cause == CauseProtocol {
		return len(b) // the stream is garbage after a protocol error: drain it
	}
	total := 0
	for s.state == stateOpen || s.state == stateClosing {
		n, m, err := s.dec.Decode(b[total:])
		total += n
		if err != nil {
			if s.state == stateOpen {
				l.protocolError(s, err)
			} else {
				l.closeSoon(s)
			}
			return len(b)
		}
		if m.OpCode == 0 {
			break
		}
		if s.state == stateClosing {
			if m.OpCode == codec.OpClose {
				l.closeSoon(s) // the client answered our close
			}
			continue
		}
		l.frame(s, m)
	}
	return total
}

// frame handles one message or control frame of an open session.
func (l *loop) frame(s *Session, m codec.Message) {
	switch m.OpCode {
	case codec.OpPing:
		l.appendFrame(s, codec.OpPong, m.Payload)
		if l.srv.cfg.Heartbeat.Forms&HeartbeatPingFrame != 0 {
			s.lastSeen = l.now
		}
	case codec.OpPong:
		s.lastSeen = l.now
	case codec.OpClose:
		code, reason, _ := codec.ParseClose(m.Payload) // validated by the decoder
		s.state = stateClosing
		s.setReason(CauseClient, code, string(reason))
		if code == codec.StatusNoStatusRcvd {
			l.appendFrame(s, codec.OpClose, nil)
		} else {
			mk := l.mark()
			l.arena = codec.AppendClose(l.arena, code, "")
			l.commit(s, mk)
		}
		l.closeSoon(s)
	default:
		if len(m.Payload) == 0 && l.srv.cfg.Heartbeat.Forms&HeartbeatEmptyFrame != 0 {
			s.lastSeen = l.now
			return
		}
		l.stats.msgsIn.Add(1)
		l.stats.bytesIn.Add(uint64(len(m.Payload)))
		s.notAlive = false
		l.onMessage(s, m.OpCode, m.Payload)
		if !s.notAlive { // a rejected signed ping does not count
			s.lastSeen = l.now
		}
	}
}

func (l *loop) onMessage(s *Session, op codec.OpCode, p []byte) {
	defer l.recoverHandler(s, "OnMessage")
	l.srv.handler.OnMessage(s, op, p)
}

func (l *loop) recoverHandler(s *Session, where string) {
	if r := recover(); r != nil {
		l.srv.log.Error("handler panic", "where", where, "sid", s.id, "panic", r, "stack", string(debug.Stack()))
	}
}

// handshake parses the upgrade request in b; it returns how many bytes were
// consumed (0 while the request is incomplete). Runs on the loop.
func (l *loop) handshake(s *Session, b []byte) int {
	pn := 0
	if l.srv.cfg.Proxies.Protocol && s.flags&sfProxied == 0 {
		var ok bool
		if pn, ok = l.proxyHeader(s, b); !ok || pn == 0 {
			return pn // refused (all of b), or waiting for the rest of the header
		}
		if len(b) == pn {
			return pn
		}
	}
	n := l.handshakeHTTP(s, b[pn:])
	if s.state == stateHandshake && n == 0 {
		return pn
	}
	return pn + n
}

// handshakeHTTP reads the upgrade request at the start of b (after any
// PROXY header).
func (l *loop) handshakeHTTP(s *Session, b []byte) int {
	cfg := &l.srv.cfg
	r := &l.req
	n, err := codec.ParseRequest(b, r, cfg.Limits.MaxHeaderSize)
	if err != nil {
		he := codec.HandshakeError{Status: 400, Reason: "malformed HTTP request"}
		if errors.Is(err, codec.ErrRequestTooLarge) {
			he = codec.HandshakeError{Status: 431, Reason: "request header too large"}
		}
		l.reject(s, he)
		return len(b)
	}
	if n == 0 {
		return 0
	}
	if err := r.Check(); err != nil {
		if errors.Is(err, codec.ErrNotUpgrade) && l.answerPlain(s, r) {
			return len(b)
		}
		var he codec.HandshakeError
		if !errors.As(err, &he) {
			he = codec.HandshakeError{Status: 400, Reason: err.Error()}
		}
		l.reject(s, he)
		return len(b)
	}
	if string(r.Path) != cfg.Path {
		l.reject(s, codec.HandshakeError{Status: 404, Reason: "no WebSocket endpoint at this path"})
		return len(b)
	}
	if len(cfg.Proxies.Trusted) > 0 {
		l.forwardedFor(s, r)
	}
	if len(l.srv.origins) > 0 && r.Origin != nil && !originAllowed(l.srv.origins, r.Origin) {
		l.stats.originRefused.Add(1)
		l.reject(s, codec.HandshakeError{Status: 403, Reason: "origin not allowed"})
		return len(b)
	}
	if g := l.srv.ipGuard; g != nil {
		if ip, ok := remoteIP(s.RemoteAddr()); ok {
			if he, byRate := g.admit(ip, l.now); he != nil {
				if byRate {
					l.stats.rateLimited.Add(1)
				} else {
					l.stats.ipConnsRefused.Add(1)
				}
				l.reject(s, *he)
				return len(b)
			}
			s.flags |= sfIPCounted
		}
	}
	m := l.mark()
	if cfg.Compression.Enabled && codec.NegotiateDeflate(r) {
		s.flags |= sfDeflate
		s.dec.SetDeflate(true)
		l.stats.deflateConns.Add(1)
		l.arena = codec.AppendAcceptDeflate(l.arena, r.Key)
	} else {
		l.arena = codec.AppendAccept(l.arena, r.Key)
	}
	l.commit(s, m)
	if l.srv.log.Enabled(context.Background(), slog.LevelDebug) {
		l.srv.log.Debug("connection open", "sid", s.SID(), "remote", s.RemoteAddr().String(), "deflate", s.deflating())
	}
	s.state = stateOpen
	s.dec.MaxMessageSize = cfg.Limits.MaxMessageSize
	s.lastSeen = l.now
	l.wheel.Remove(s)
	l.heartbeat(s) // arms the heartbeat timer, if any
	if err := l.onOpen(s, r); err != nil {
		var ce codec.CloseError
		if !errors.As(err, &ce) {
			ce = codec.CloseError{Code: codec.StatusPolicyViolation, Reason: err.Error()}
		}
		l.closeWith(s, ce.Code, ce.Reason, CauseServer)
		return len(b)
	}
	s.opened = true
	// Frames may follow the request in the same read.
	return n + l.frames(s, b[n:])
}

func (l *loop) onOpen(s *Session, r *codec.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			l.srv.log.Error("handler panic", "where", "OnOpen", "sid", s.id, "panic", p, "stack", string(debug.Stack()))
			err = codec.CloseError{Code: codec.StatusInternalError, Reason: "internal error"}
		}
	}()
	return l.srv.handler.OnOpen(s, r)
}

// answerPlain answers a plain HTTP request with the server's PlainFunc, if
// there is one and it answers, and closes; it reports whether it did.
func (l *loop) answerPlain(s *Session, r *codec.Request) bool {
	fn := l.srv.plain.Load()
	if fn == nil {
		return false
	}
	status, contentType, body := (*fn)(r)
	if status == 0 {
		return false
	}
	s.setReason(CauseServer, codec.StatusAbnormalClosure, "plain HTTP request answered")
	m := l.mark()
	l.arena = codec.AppendResponse(l.arena, status, contentType, body)
	l.commit(s, m)
	l.closeSoon(s)
	return true
}

// reject answers a failed handshake with an HTTP error and closes.
func (l *loop) reject(s *Session, he codec.HandshakeError) {
	l.stats.handshakeErr.Add(1)
	s.setReason(CauseProtocol, codec.StatusAbnormalClosure, he.Reason)
	m := l.mark()
	l.arena = codec.AppendReject(l.arena, he)
	l.commit(s, m)
	if l.srv.log.Enabled(context.Background(), slog.LevelDebug) {
		l.srv.log.Debug("handshake rejected", "remote", s.RemoteAddr().String(), "status", he.Status, "reason", he.Reason)
	}
	l.closeSoon(s)
}
