package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/panjf2000/gnet/v2"

	"github.com/wsloop/wsloop/clock"
	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/internal/accept"
	"github.com/wsloop/wsloop/internal/tlsrec"
	"github.com/wsloop/wsloop/internal/uring"
	"github.com/wsloop/wsloop/protocol"
	"github.com/wsloop/wsloop/rooms"
)

const (
	stNew int32 = iota
	stServing
	stShuttingDown
	stClosed
)

// Server is a WebSocket server on gnet event loops. Create it with New, run
// it with Serve, stop it with Shutdown. Its methods are safe for concurrent
// use unless they say otherwise.
type Server struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	clk     clock.Clock // Config.Clock
	epoch   time.Time   // clk's time at New; the loop clock counts from it
	// sysClock: clk is clock.System(), so the loop clock reads the
	// monotonic clock alone (time.Since: one clock read instead of
	// time.Now's two; each loop reads it once per read from a socket).
	sysClock bool

	reg    *rooms.Registry[Session]
	broker rooms.Broker

	noDirect bool // tests on fake connections: every write goes through gnet
	// batchSends: the loops send a wakeup's output with io_uring (cork.go,
	// flushBatch); set by Serve when the kernel allows it.
	batchSends bool

	cli *gnet.Client
	ln  net.Listener

	state atomic.Int32
	seq   atomic.Uint64
	conns atomic.Int64 // open sockets (OnOpen..OnClose)
	// enrolling counts accepted sockets not yet handed to a loop; they count
	// against MaxConns.
	enrolling atomic.Int64

	loopsMu sync.Mutex
	loops   atomic.Pointer[[]*loop] // copy-on-write; index = loop id in session ids
	// unbound are the loops Serve made before accepting (their job rings,
	// timing wheels and io_uring rings allocated once, at start), each
	// bound to a gnet event loop by its first connection (loopOf). Under
	// loopsMu.
	unbound []*loop

	refused      atomic.Uint64 // connections refused at the accept stage
	acceptErrors atomic.Uint64
	brokerErrors atomic.Uint64 // publishes the broker refused

	plain atomic.Pointer[PlainFunc] // HandlePlain

	origins []originRule // Limits.AllowedOrigins
	ipGuard *ipGuard     // MaxConnsPerIP, HandshakeRatePerIP; nil: none

	// TLS (server/tls.go): the handshakes' configuration (nil: plain),
	// the certificate read from TLS.CertFile, the handshakes in progress.
	tlsCfg        *tls.Config
	tlsCert       atomic.Pointer[tls.Certificate]
	handshakes    atomic.Int64
	lastHSWarn    time.Time // the accept loop's own
	hsMu          sync.Mutex
	hsConns       map[net.Conn]struct{}
	hsPerIP       map[netip.Addr]int // TLS handshakes in progress per client address (Limits.MaxConnsPerIP)
	tlsIPRefused  atomic.Uint64      // connections refused for their address's handshakes in progress
	tlsHandshakes atomic.Uint64      // completed
	tlsFailures   atomic.Uint64      // failed or timed out
	proxyRefused  atomic.Uint64      // PROXY headers refused before a TLS handshake

	listenOnce sync.Once
	listenErr  error
	ready      chan struct{}
	done       chan struct{}

	tickMu      sync.Mutex
	tickTimer   clock.Timer
	tickStopped bool
}

// New validates cfg and returns a server that will dispatch to h. cfg is
// copied; the caller's value is not modified.
func New(cfg Config, h Handler) (*Server, error) {
	if h == nil {
		return nil, errors.New("server: nil Handler")
	}
	c, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      c,
		handler:  h,
		log:      c.Logger,
		clk:      c.Clock,
		epoch:    c.Clock.Now(),
		sysClock: c.Clock == clock.System(),
		ready:    make(chan struct{}),
		done:     make(chan struct{}),
	}
	s.origins, _ = compileOrigins(c.Limits.AllowedOrigins) // checked by normalize
	if c.TLS.Enabled() {
		if err := s.tlsSetup(); err != nil {
			return nil, err
		}
	}
	s.ipGuard = newIPGuard(&c.Limits)
	s.broker = c.Broker
	if s.broker == nil {
		s.broker = rooms.Local{}
	}
	s.reg = rooms.NewRegistry(c.Tuning.Loops, memberOf, s.broker, func(err error) { s.log.Warn("broker", "err", err) })
	empty := []*loop{}
	s.loops.Store(&empty)
	cli, err := gnet.NewClient(&events{srv: s},
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(c.Tuning.Loops),
		// Go's accept has set TCP_NODELAY already; TCPDelay only keeps gnet
		// from setting it a second time (it never clears it).
		gnet.WithTCPNoDelay(gnet.TCPDelay),
		gnet.WithReadBufferCap(c.Tuning.ReadBufferSize),
		gnet.WithLogger(gnetLogger{c.Logger}),
	)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.cli = cli
	return s, nil
}

// Config returns the normalized configuration (defaults filled in).
func (s *Server) Config() Config { return s.cfg }

// clock is the loop clock: monotonic nanoseconds since the server started.
func (s *Server) clock() int64 {
	if s.sysClock {
		return int64(time.Since(s.epoch))
	}
	return int64(s.clk.Now().Sub(s.epoch))
}

// Listen binds the listening socket. Serve calls it if it has not been
// called; call it first to learn the address (Addr) before serving.
func (s *Server) Listen() error {
	s.listenOnce.Do(func() {
		// No TCP keepalive: heartbeats find dead clients, and the four
		// setsockopt calls per accepted socket that Go's default (15 s
		// probes) costs are a tenth of a connection's set-up.
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err := lc.Listen(context.Background(), "tcp", s.cfg.Addr)
		if err != nil {
			s.listenErr = fmt.Errorf("server: listen: %w", err)
			return
		}
		s.ln = ln
	})
	return s.listenErr
}

// Addr returns the bound listener address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Ready is closed once Serve accepts connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Serve accepts connections until Shutdown; it then returns ErrServerClosed.
// It never returns because of what a client or the OS did: accept errors,
// descriptor exhaustion included, are logged and retried with backoff.
func (s *Server) Serve() error {
	if err := s.Listen(); err != nil {
		return err
	}
	if !s.state.CompareAndSwap(stNew, stServing) {
		return ErrServerClosed
	}
	s.batchSends = !s.cfg.Tuning.NoIOUring && !s.noDirect && uringWorks(s.log)
	s.loopsMu.Lock()
	for i := range s.cfg.Tuning.Loops {
		s.unbound = append(s.unbound, newLoop(s, i, nil))
	}
	s.loopsMu.Unlock()
	if err := s.broker.Start(s.deliverRemote); err != nil {
		s.closeRings()
		s.state.Store(stClosed)
		close(s.done)
		return fmt.Errorf("server: start broker: %w", err)
	}
	if err := s.cli.Start(); err != nil {
		s.closeRings()
		s.state.Store(stClosed)
		close(s.done)
		return fmt.Errorf("server: start event loops: %w", err)
	}
	s.armTick()
	s.log.Info("wsloop serving", "addr", s.ln.Addr().String(), "path", s.cfg.Path, "loops", s.cfg.Tuning.Loops, "max_conns", s.cfg.Tuning.MaxConns, "io_uring", s.batchSends, "tls", s.tlsCfg != nil, "gomaxprocs", runtime.GOMAXPROCS(0))
	close(s.ready)
	s.acceptLoop()
	<-s.done
	return ErrServerClosed
}

// uringWorks reports whether this kernel lets the process use io_uring
// (it may be missing, disabled by sysctl, or blocked by a seccomp policy,
// as in containers by default).
func uringWorks(log *slog.Logger) bool {
	if err := uring.Probe(); err != nil {
		log.Info("io_uring unavailable; each connection's output leaves with its own system call", "err", err)
		return false
	}
	return true
}

// acceptLoop accepts on the Go runtime's poller and hands each socket to the
// least loaded event loop. wsloop accepts itself instead of letting gnet do
// it because gnet v2.10 shuts its whole engine down on the first accept
// error (EMFILE included); here an error only slows accepting down.
func (s *Server) acceptLoop() {
	enroll := make(chan net.Conn, 64)
	defer close(enroll)
	for i := 0; i < 2*s.cfg.Tuning.Loops; i++ {
		go s.enroller(enroll)
	}
	var localIP net.IP
	accept.Loop(s.ln, func(c net.Conn) {
		if s.conns.Load()+s.enrolling.Load() >= int64(s.cfg.Tuning.MaxConns) {
			s.refused.Add(1)
			if s.tlsCfg != nil {
				_ = c.Close() // an HTTP answer means nothing to a TLS client
			} else {
				accept.Refuse(c, "server full", s.log)
			}
			return
		}
		s.enrolling.Add(1)
		if s.tlsCfg != nil {
			accept.TrimAddrs(c, &localIP)
			s.startTLS(c)
			return
		}
		enroll <- c
	}, func() bool { return s.state.Load() >= stShuttingDown },
		func(error) { s.acceptErrors.Add(1) },
		func() { s.refused.Add(1) }, s.log)
}

// enroller hands accepted sockets to the event loops. gnet's Enroll waits
// until the loop has registered the socket, a round trip to the loop; a
// few enrollers keep that many round trips in flight, so that a reconnect
// storm is accepted at the loops' pace rather than one round trip at a
// time.
//
// A socket stops counting as enrolling when OnOpen counts it as a
// connection, on its loop: were the enroller to do it after Enroll
// returns, a client could be answered, connect again and be refused as
// over MaxConns before the enroller ran. OnOpen marks the enroller's token
// (passed as the connection's first context); a socket gnet never opened
// is uncounted here.
func (s *Server) enroller(enroll <-chan net.Conn) {
	var lastWarn time.Time
	var localIP net.IP
	tok := new(enrollToken)
	for c := range enroll {
		accept.TrimAddrs(c, &localIP)
		tok.opened = false
		_, err := s.cli.EnrollContext(c, tok) // closes c in every case; returns after OnOpen
		if !tok.opened {
			s.enrolling.Add(-1)
		}
		if err != nil {
			s.refused.Add(1)
			if time.Since(lastWarn) > 5*time.Second {
				lastWarn = time.Now()
				s.log.Warn("connection refused", "err", err, "conns", s.conns.Load())
			}
		}
	}
}

// enrollToken is an enroller's mark that OnOpen ran for the socket it is
// enrolling (written on the loop before Enroll returns to the enroller),
// and what a TLS handshake learnt before it: the record layer's keys and
// the PROXY header's client address.
type enrollToken struct {
	opened  bool
	proxied bool
	src     netip.AddrPort
	tls     *tlsrec.State
}

// tickLag is how long after a tick boundary the loops are woken.
const tickLag = 200 * time.Microsecond

// armTick schedules the next tick on the server's clock: it wakes every
// loop once per Tick to advance its timing wheel, just after each tick
// starts (ticks count from the server's epoch, as the wheels do), so that a
// timeout fires within one Tick after it is due. It re-arms itself until
// stopTicks.
func (s *Server) armTick() {
	tick := int64(s.cfg.Heartbeat.Tick)
	d := time.Duration(tick-s.clock()%tick) + tickLag
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	if !s.tickStopped {
		s.tickTimer = s.clk.AfterFunc(d, s.onTick)
	}
}

func (s *Server) onTick() {
	if s.ipGuard != nil {
		s.ipGuard.sweep(s.clock())
	}
	for _, l := range *s.loops.Load() {
		if l.tickWait.CompareAndSwap(false, true) {
			if err := l.el.Execute(context.Background(), l.tickR); err != nil {
				l.tickWait.Store(false)
			}
		}
	}
	s.armTick()
}

// stopTicks stops the ticks for good.
func (s *Server) stopTicks() {
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	s.tickStopped = true
	if s.tickTimer != nil {
		s.tickTimer.Stop()
	}
}

// Shutdown stops accepting, sends every connection a close frame with 1001
// (going away), waits for them to close until ctx is done, then closes what
// is left and stops the event loops. Serve then returns ErrServerClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.state.CompareAndSwap(stNew, stClosed) {
		if s.ln != nil {
			_ = s.ln.Close()
		}
		close(s.done)
		return nil
	}
	if !s.state.CompareAndSwap(stServing, stShuttingDown) {
		<-s.done
		return nil
	}
	_ = s.ln.Close()
	s.cutHandshakes()
	for _, l := range *s.loops.Load() {
		_ = l.enqueue(job{kind: jobFunc, fn: func(l *loop) {
			for _, ss := range l.sessions {
				if ss == nil {
					continue
				}
				switch ss.state {
				case stateOpen:
					l.closeWith(ss, codec.StatusGoingAway, "server shutting down", CauseShutdown)
				case stateHandshake:
					l.closeSoon(ss)
				}
			}
		}})
	}
	var err error
	poll := time.NewTicker(10 * time.Millisecond)
	// Sockets being enrolled (a TLS handshake that finished as Shutdown
	// began, an accepted socket on its way to a loop) are waited for too:
	// once the loops stop, an enrolment would wait for them for ever.
	for (s.conns.Load() > 0 || s.enrolling.Load() > 0) && err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-poll.C:
		}
	}
	poll.Stop()
	s.stopTicks()
	if berr := s.broker.Close(); berr != nil {
		s.log.Warn("broker close", "err", berr)
	}
	if stopErr := s.cli.Stop(); stopErr != nil {
		s.log.Debug("event loops stopped", "err", stopErr)
	}
	s.closeRings() // the loops have exited
	s.state.Store(stClosed)
	close(s.done)
	s.log.Info("wsloop stopped", "forced", err != nil)
	return err
}

// closeRings closes the io_uring rings of every loop, bound or not, once
// no loop runs.
func (s *Server) closeRings() {
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	all := append(append([]*loop(nil), *s.loops.Load()...), s.unbound...)
	for _, l := range all {
		if l != nil && l.ring != nil {
			_ = l.ring.Close()
			l.ring = nil
		}
	}
	s.unbound = nil
}

// loopOf returns wsloop's state for a gnet loop, binding one that Serve made
// on first use.
func (s *Server) loopOf(el gnet.EventLoop) *loop {
	for _, l := range *s.loops.Load() {
		if l.el == el {
			return l
		}
	}
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	old := *s.loops.Load()
	for _, l := range old {
		if l.el == el {
			return l
		}
	}
	var l *loop
	if idx := len(old); idx < len(s.unbound) {
		l, s.unbound[idx] = s.unbound[idx], nil
		l.el = el
	} else {
		l = newLoop(s, idx, el) // gnet runs no more loops than Tuning.Loops; this is a guard
	}
	grown := append(append(make([]*loop, 0, len(old)+1), old...), l)
	s.loops.Store(&grown)
	return l
}

// loopFor returns the loop that owns session id sid.
func (s *Server) loopFor(sid uint64) (*loop, error) {
	if s.state.Load() != stServing {
		if s.state.Load() == stNew {
			return nil, ErrNotServing
		}
		return nil, ErrServerClosed
	}
	if SIDNode(sid) != s.cfg.NodeID {
		return nil, ErrNoSession
	}
	loops := *s.loops.Load()
	if idx := int(sid >> 56); idx < len(loops) && loops[idx].idx == idx {
		return loops[idx], nil
	}
	return nil, ErrNoSession
}

// A session id is 64 bits: the loop (8), the node (16, Config.NodeID), a
// generation (8: a slot reused by a later connection gets another id) and
// the session's slot in its loop's table (32, loop.put). It encodes where
// the session lives, so a push finds its node, its loop and its slot
// without a shared table.
func newSID(loop int, node uint16, seq uint64, slot int) uint64 {
	return uint64(loop)<<56 | uint64(node)<<40 | (seq&0xFF)<<32 | uint64(uint32(slot))
}

// SIDNode returns the node (Config.NodeID) of session id sid.
func SIDNode(sid uint64) uint16 { return uint16(sid >> 40) }

// isRemote reports whether sid names a session of another node of the
// cluster.
func (s *Server) isRemote(sid uint64) bool { return SIDNode(sid) != s.cfg.NodeID }

// AppendSID appends the session id clients see (Session.SID) of the
// session with routing id id and random tag tag: 32 lowercase hex digits.
func AppendSID(dst []byte, id, tag uint64) []byte {
	const hexDigits = "0123456789abcdef"
	for _, v := range [2]uint64{id, tag} {
		for shift := 60; shift >= 0; shift -= 4 {
			dst = append(dst, hexDigits[v>>uint(shift)&0xF])
		}
	}
	return dst
}

// ParseSID parses a session id in the form Session.SID returns into its
// routing id (Session.ID) and its random tag; ErrNoSession if it is not
// one.
func ParseSID(s string) (id, tag uint64, err error) {
	if len(s) != 32 {
		return 0, 0, ErrNoSession
	}
	id, err1 := strconv.ParseUint(s[:16], 16, 64)
	tag, err2 := strconv.ParseUint(s[16:], 16, 64)
	if err1 != nil || err2 != nil || tag == 0 || s[0] == '+' || s[16] == '+' {
		return 0, 0, ErrNoSession
	}
	return id, tag, nil
}

// Disconnect closes session sid with a close frame carrying code and reason.
// Safe for concurrent use.
func (s *Server) Disconnect(sid uint64, code codec.StatusCode, reason string) error {
	if !utf8.ValidString(reason) {
		return ErrInvalidUTF8
	}
	if err := s.serving(); err != nil {
		return err
	}
	if s.isRemote(sid) {
		return s.publish(rooms.Event{Kind: rooms.ToSession, Op: rooms.Disconnect, Session: sid, Code: uint16(code), Data: []byte(reason)}, nil, nil)
	}
	return s.disconnectLocal(sid, code, reason)
}

// disconnectLocal closes this node's session sid (CauseServer).
func (s *Server) disconnectLocal(sid uint64, code codec.StatusCode, reason string) error {
	l, err := s.loopFor(sid)
	if err != nil {
		return err
	}
	return l.enqueue(job{kind: jobClose, sid: sid, code: code, text: reason})
}

// Evict closes session sid with a close frame carrying code and reason, as
// the application removing it (DisconnectUser does the same for all of a
// user's sessions): its handler's OnClose sees CauseKick and its rooms are
// told exit_room with reason "kick". A session that has closed meanwhile is
// not an error. Safe for concurrent use.
func (s *Server) Evict(sid uint64, code codec.StatusCode, reason string) error {
	if !utf8.ValidString(reason) {
		return ErrInvalidUTF8
	}
	l, err := s.loopFor(sid)
	if err != nil {
		return err
	}
	return l.enqueue(job{kind: jobFunc, fn: func(l *loop) {
		if ss := l.lookup(sid); ss != nil {
			l.closeWith(ss, code, reason, CauseKick)
		}
	}})
}

// Serving returns nil while the server serves, ErrNotServing before Serve
// (or Listen) and ErrServerClosed once Shutdown has begun: what a
// readiness check reports. Safe for concurrent use.
func (s *Server) Serving() error { return s.serving() }

// PlainFunc answers a plain HTTP request (a well-formed GET that asks for
// no upgrade) on the WebSocket port: status, Content-Type and body, or
// status 0 to refuse it as any non-upgrade request is refused (400). It
// runs on the connection's event loop and must not block; r and its bytes
// are valid only during the call. The response closes the connection.
type PlainFunc func(r *codec.Request) (status int, contentType string, body []byte)

// HandlePlain sets what answers plain HTTP requests on the WebSocket port
// (nil: none, every one is refused with 400), so that clients that only
// reach the public port can ask it something, such as where to connect
// (httpapi.PlainEndPoint). Safe for concurrent use; it applies to
// requests that arrive after it returns.
func (s *Server) HandlePlain(fn PlainFunc) {
	if fn == nil {
		s.plain.Store(nil)
		return
	}
	s.plain.Store(&fn)
}

// Count returns the number of open connections (handshakes in progress
// included). Safe for concurrent use.
func (s *Server) Count() int { return int(s.conns.Load()) }

// SignPing returns the sign of a signed ping command (Heartbeat.Secret):
// hex(HMAC-SHA256(secret, onlineToken + "." + sid + "." + timestamp)),
// where onlineToken and sid come from the connection's welcome event and
// timestamp is Unix seconds. Safe for concurrent use.
func SignPing(secret []byte, onlineToken, sid string, timestamp int64) string {
	return protocol.Sign(secret, onlineToken, sid, timestamp)
}
