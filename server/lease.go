package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/timingwheel"
)

// Session leases (DESIGN §4, README "HTTP API"). An application's backend
// starts a lease over the HTTP API and gets a conn_id and an auth_body; its
// client presents the auth_body when it opens the WebSocket, which binds
// that connection to the lease. The backend heartbeats the lease; one not
// heartbeated within Config.LeaseTimeout expires, and the connections bound
// to it are closed.
//
//	HTTP API goroutines ── start / heartbeat / end ──┐
//	                                                 ▼
//	lease ticker (one goroutine) ── advance ──► leaseTable (mutex) ── timing wheel
//	                                                 ▲                    │ expired
//	event loop, handshake ── admitLease ── bind ─────┘                    ▼
//	                                            closeLeased(sid) ── job on the sid's loop
//
// Leases are not connection state: they live in one table under a mutex,
// outside the event loops, and are kept in memory only (a restart forgets
// them). A loop touches the table once per handshake that presents an
// auth_body, to bind; the table reaches a connection only through its
// loop's job ring.
//
// Expiry is exact for the API: a lease whose last heartbeat is LeaseTimeout
// old is expired at once (heartbeats and binds fail). Its timer fires on the
// first tick after that and closes the bound connections, so they are
// closed within one Tick of the deadline.

// Close reasons of lease-bound connections.
const (
	// Lease expired: close 1008, the connection's authorization lapsed.
	leaseExpiredReason = "lease expired"
	// Lease ended with /api/session/end: close 1000.
	leaseEndedReason = "lease ended"
	// Handshake refusals (close 1008).
	leaseRequiredReason = "auth_body required"
	leaseBadReason      = "unknown or expired auth_body"
)

// lease is one session lease.
type lease struct {
	id   string // conn_id, what the backend heartbeats
	auth string // auth_body, what the client presents
	user string // user id the bound connections get ("" none)
	// deadline is when the lease expires, on the server clock; a heartbeat
	// moves it without touching the wheel (the timer re-arms when it fires).
	deadline int64
	timer    timingwheel.Timer[lease]
	sids     []uint64 // bound connections (some may have closed since)
}

// pendingClose is a close a full loop ring refused, retried at the next tick.
type pendingClose struct {
	sid    uint64
	code   codec.StatusCode
	reason string
}

// leaseTable holds the leases. Its methods are safe for concurrent use.
type leaseTable struct {
	timeout int64                                                      // ns
	clock   func() int64                                               // the server clock (injected in tests)
	close   func(sid uint64, code codec.StatusCode, text string) error // closes one bound connection
	log     *slog.Logger

	mu     sync.Mutex
	wheel  *timingwheel.Wheel[lease]
	byID   map[string]*lease
	byAuth map[string]*lease
	due    []*lease       // leases the running advance expired
	retry  []pendingClose // closes refused by a full ring

	active                    atomic.Int64
	started, expired, refused atomic.Uint64
}

// newLeaseTable returns an empty table whose leases live timeout without a
// heartbeat, timed on a wheel of the given tick.
func newLeaseTable(timeout, tick time.Duration, clock func() int64, closeFn func(uint64, codec.StatusCode, string) error, log *slog.Logger) *leaseTable {
	slots := min(max(64, int(timeout/tick)+3), 1<<16) // longer timeouts re-arm (fire)
	lt := &leaseTable{
		timeout: int64(timeout),
		clock:   clock,
		close:   closeFn,
		log:     log,
		byID:    make(map[string]*lease),
		byAuth:  make(map[string]*lease),
	}
	w, err := timingwheel.New(timingwheel.Config{Tick: tick, Slots: slots}, clock(),
		func(le *lease) *timingwheel.Timer[lease] { return &le.timer }, lt.fire)
	if err != nil {
		panic(err) // Tick was validated by Config.normalize
	}
	lt.wheel = w
	return lt
}

// token returns n random bytes, base64url without padding (URL-safe: it
// goes into the WebSocket URL's query as it is).
func token(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// start creates a lease for user ("" for none) and returns its conn_id and
// auth_body.
func (lt *leaseTable) start(user string) (id, auth string, err error) {
	le := &lease{user: user}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	for le.id == "" || lt.byID[le.id] != nil || lt.byAuth[le.auth] != nil {
		if le.id, err = token(12); err != nil {
			return "", "", err
		}
		if le.auth, err = token(24); err != nil {
			return "", "", err
		}
	}
	le.deadline = lt.clock() + lt.timeout
	lt.byID[le.id] = le
	lt.byAuth[le.auth] = le
	lt.arm(le)
	lt.active.Add(1)
	lt.started.Add(1)
	return le.id, le.auth, nil
}

// arm (re)schedules le's timer for its deadline, or for the wheel's range
// when the deadline lies beyond it. Called with lt.mu held.
func (lt *leaseTable) arm(le *lease) {
	d := min(le.deadline-lt.wheel.Now(), int64(lt.wheel.MaxDelay()))
	_ = lt.wheel.Reset(le, time.Duration(d)) // d <= MaxDelay: no error
}

// live returns the unexpired lease called id, or nil. Called with lt.mu held.
func (lt *leaseTable) live(id string, now int64) *lease {
	if le := lt.byID[id]; le != nil && now < le.deadline {
		return le
	}
	return nil
}

// heartbeat extends the leases called ids by the timeout and returns the
// ids it could not extend (unknown or expired), each once, in order.
func (lt *leaseTable) heartbeat(ids ...string) (failed []string) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	now := lt.clock()
	var seen map[string]bool
	for _, id := range ids {
		if le := lt.live(id, now); le != nil {
			le.deadline = now + lt.timeout
			continue
		}
		if len(ids) > 1 {
			if seen == nil {
				seen = make(map[string]bool)
			}
			if seen[id] {
				continue
			}
			seen[id] = true
		}
		failed = append(failed, id)
	}
	return failed
}

// end removes the lease called id and closes its connections with 1000
// "lease ended". It returns how many connections it asked to close.
func (lt *leaseTable) end(id string) (int, error) {
	lt.mu.Lock()
	le := lt.live(id, lt.clock())
	if le == nil {
		lt.mu.Unlock()
		return 0, ErrUnknownLease // an expired one is left to its timer
	}
	lt.remove(le)
	lt.wheel.Remove(le)
	sids := le.sids
	le.sids = nil
	lt.mu.Unlock()
	lt.closeAll(sids, codec.StatusNormalClosure, leaseEndedReason)
	return len(sids), nil
}

// remove takes le out of the table. Called with lt.mu held.
func (lt *leaseTable) remove(le *lease) {
	delete(lt.byID, le.id)
	delete(lt.byAuth, le.auth)
	lt.active.Add(-1)
}

// bind binds session sid to the unexpired lease whose auth_body is auth
// and returns the lease's user; ok is false when there is no such lease.
// alive reports whether a session bound earlier may still be open; the
// ones it rules out are forgotten, so that a lease whose client reconnects
// does not collect dead ids. Called on sid's event loop.
func (lt *leaseTable) bind(auth []byte, sid uint64, alive func(uint64) bool) (user string, ok bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	le := lt.byAuth[string(auth)]
	if le == nil || lt.clock() >= le.deadline {
		lt.refused.Add(1)
		return "", false
	}
	kept := le.sids[:0]
	for _, x := range le.sids {
		if alive(x) {
			kept = append(kept, x)
		}
	}
	le.sids = append(kept, sid)
	return le.user, true
}

// fire runs, inside advance, when a lease's timer is due: a lease
// heartbeated since it was armed is armed again for its new deadline, an
// expired one leaves the table and is queued for advance to close.
func (lt *leaseTable) fire(le *lease) {
	if le.deadline > lt.wheel.Now() {
		lt.arm(le)
		return
	}
	lt.remove(le)
	lt.expired.Add(1)
	lt.due = append(lt.due, le)
}

// advance moves the wheel to the clock, expiring due leases, and closes
// their connections with 1008 "lease expired"; it retries closes that a
// full ring refused at the previous tick.
func (lt *leaseTable) advance() {
	lt.mu.Lock()
	lt.wheel.Advance(lt.clock())
	todo := lt.retry
	lt.retry = nil
	due := lt.due
	lt.due = nil
	lt.mu.Unlock()
	for _, p := range todo {
		lt.closeOne(p)
	}
	for _, le := range due {
		lt.log.Debug("lease expired", "conn_id", le.id, "conns", len(le.sids))
		lt.closeAll(le.sids, codec.StatusPolicyViolation, leaseExpiredReason)
	}
}

func (lt *leaseTable) closeAll(sids []uint64, code codec.StatusCode, reason string) {
	for _, sid := range sids {
		lt.closeOne(pendingClose{sid: sid, code: code, reason: reason})
	}
}

// closeOne asks sid's loop to close it; a full ring is retried next tick,
// a server that is shutting down closes everything anyway.
func (lt *leaseTable) closeOne(p pendingClose) {
	err := lt.close(p.sid, p.code, p.reason)
	if errors.Is(err, ErrQueueFull) {
		lt.mu.Lock()
		lt.retry = append(lt.retry, p)
		lt.mu.Unlock()
	}
}

// run advances the table every tick until stop is closed.
func (lt *leaseTable) run(stop <-chan struct{}, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			lt.advance()
		}
	}
}

// closeLeased closes session sid for its lease, with CauseKick (room
// members are told exit_room with reason "kick"). A session that has
// closed meanwhile is not an error. Safe for concurrent use.
func (s *Server) closeLeased(sid uint64, code codec.StatusCode, reason string) error {
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

// admitLease binds a connection being opened to the session lease whose
// auth_body its upgrade request presents: the auth_body query parameter,
// or else the X-Auth-Body header. It returns why the connection must be
// refused (close 1008), or "" to accept it: a bad or expired auth_body is
// refused, a missing one only when Config.RequireLease is set. A lease
// with a user binds the connection to it (Session.SetUserID) before the
// handler's OnOpen. Runs on the loop, in the handshake.
func (l *loop) admitLease(s *Session, r *codec.Request) string {
	srv := l.srv
	auth := r.QueryValue("auth_body")
	if auth != nil {
		if bytes.IndexByte(auth, '%') >= 0 { // tokens need no escaping, but a client may escape anyway
			if u, err := url.QueryUnescape(string(auth)); err == nil {
				auth = []byte(u)
			}
		}
	} else {
		auth = r.HeaderValue("X-Auth-Body")
	}
	reason := ""
	if auth == nil {
		if !srv.cfg.RequireLease {
			return ""
		}
		srv.leases.refused.Add(1)
		reason = leaseRequiredReason
	} else {
		user, ok := srv.leases.bind(auth, s.id, func(sid uint64) bool {
			return int(sid>>56) != l.idx || l.lookup(sid) != nil // only this loop's sessions can be checked here
		})
		if ok {
			if user != "" {
				s.SetUserID(user)
			}
			return ""
		}
		reason = leaseBadReason
	}
	if srv.log.Enabled(context.Background(), slog.LevelDebug) {
		srv.log.Debug("connection refused", "sid", s.id, "remote", s.gc.RemoteAddr().String(), "reason", reason)
	}
	return reason
}
