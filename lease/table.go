package lease

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsloop/wsloop/clock"
	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/server"
	"github.com/wsloop/wsloop/timingwheel"
)

// Defaults for the zero values of Config fields.
const (
	DefaultTimeout = 30 * time.Second
	DefaultTick    = time.Second
)

// Config configures a Table. The zero value is valid: every field's doc
// says what zero means.
type Config struct {
	// Timeout is how long a lease lives without a heartbeat; an expired
	// lease closes the connections bound to it. Zero means 30 s.
	Timeout time.Duration

	// Tick is the resolution of expiry: an expired lease's connections are
	// closed within one Tick of its deadline. Zero means 1 s, or Timeout/8
	// when that is shorter (at least 10 ms).
	Tick time.Duration

	// Require refuses WebSocket connections that present no auth_body
	// (close 1008 right after the handshake). Zero (false) accepts them; a
	// connection that presents a bad or expired auth_body is refused
	// either way.
	Require bool

	// Clock is where the table reads the time. Zero means clock.System().
	Clock clock.Clock

	// Shared keeps the leases where every node of a cluster sees them
	// (see Shared). Zero means this table alone holds them, in memory.
	Shared Shared

	// Logger receives the table's logs. Zero means slog.Default().
	Logger *slog.Logger
}

// Close reasons of lease-bound connections.
const (
	// ExpiredReason closes (1008) the connections of an expired lease: their
	// authorization lapsed.
	ExpiredReason = "lease expired"
	// EndedReason closes (1000) the connections of a lease ended with End.
	EndedReason = "lease ended"
	// RequiredReason refuses (1008) a connection without an auth_body when
	// Config.Require is set.
	RequiredReason = "auth_body required"
	// BadReason refuses (1008) a connection whose auth_body names no live
	// lease.
	BadReason = "unknown or expired auth_body"
)

// ErrUnknown is returned by End for a conn_id that names no live lease
// (never issued, ended or expired).
var ErrUnknown = errors.New("lease: unknown or expired conn_id")

// Closer closes one session for its lease: *server.Server is one (Evict
// closes with server.CauseKick, so room members are told exit_room with
// reason "kick"). It returns server.ErrQueueFull when the session's loop
// cannot take the job now; the table tries again at the next tick.
type Closer interface {
	Evict(sid uint64, code codec.StatusCode, reason string) error
}

// Lease is what Start returns: the conn_id the backend heartbeats, and the
// auth_body its client presents.
type Lease struct {
	ID   string
	Auth string
}

// Stats are the table's counters.
type Stats struct {
	Active  int64  // leases alive
	Started uint64 // leases started
	Expired uint64 // leases expired for want of a heartbeat
	Refused uint64 // connections refused for a bad auth_body, or none when required
}

// lease is one session lease.
type lease struct {
	id   string // conn_id, what the backend heartbeats
	auth string // auth_body, what the client presents
	user string // user id the bound connections get ("" none)
	// deadline is when the lease expires, on the table's clock (ns since
	// its epoch); a heartbeat moves it without touching the wheel (the
	// timer re-arms when it fires).
	deadline int64
	timer    timingwheel.Timer[lease]
	sids     []uint64 // bound connections
}

// pendingClose is a close a full loop ring refused, retried at the next tick.
type pendingClose struct {
	sid    uint64
	code   codec.StatusCode
	reason string
}

// Table holds the leases. Its methods are safe for concurrent use.
type Table struct {
	cfg     Config
	timeout int64 // ns
	epoch   time.Time

	mu     sync.Mutex
	closer Closer
	wheel  *timingwheel.Wheel[lease]
	byID   map[string]*lease
	byAuth map[string]*lease
	bySid  map[uint64]*lease
	due    []*lease       // leases the running advance expired
	retry  []pendingClose // closes refused by a full ring
	ticker clock.Timer    // nil when stopped
	closed bool

	active                    atomic.Int64
	started, expired, refused atomic.Uint64
}

// New returns an empty table. Its leases expire for the API at once; their
// connections are closed once Attach has given the table a Closer.
func New(cfg Config) (*Table, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Tick == 0 {
		cfg.Tick = min(DefaultTick, max(10*time.Millisecond, cfg.Timeout/8))
	}
	if cfg.Timeout < 0 || cfg.Tick < time.Millisecond {
		return nil, fmt.Errorf("lease: Timeout %v must be positive and Tick %v at least 1ms", cfg.Timeout, cfg.Tick)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Table{
		cfg:     cfg,
		timeout: int64(cfg.Timeout),
		epoch:   cfg.Clock.Now(),
		byID:    make(map[string]*lease),
		byAuth:  make(map[string]*lease),
		bySid:   make(map[uint64]*lease),
	}
	slots := min(max(64, int(cfg.Timeout/cfg.Tick)+3), 1<<16) // longer timeouts re-arm (fire)
	w, err := timingwheel.New(timingwheel.Config{Tick: cfg.Tick, Slots: slots}, 0,
		func(le *lease) *timingwheel.Timer[lease] { return &le.timer }, t.fire)
	if err != nil {
		return nil, fmt.Errorf("lease: %w", err)
	}
	t.wheel = w
	return t, nil
}

// Config returns the table's configuration, defaults filled in.
func (t *Table) Config() Config { return t.cfg }

// now is the table's clock: ns since its epoch.
func (t *Table) now() int64 { return int64(t.cfg.Clock.Now().Sub(t.epoch)) }

// Attach attaches the table to the server whose connections it binds:
// from then on expired leases close their connections through c, checked
// once per Tick on the table's clock (with a shared store: as the store
// reports them), until Stop.
func (t *Table) Attach(c Closer) error {
	t.mu.Lock()
	t.closer = c
	t.closed = false
	if t.cfg.Shared == nil {
		t.armLocked()
		t.mu.Unlock()
		return nil
	}
	t.mu.Unlock()
	return t.cfg.Shared.Watch(t.mirror)
}

// Stop stops the expiry ticks. Leases keep expiring for the API; their
// connections are no longer closed.
func (t *Table) Stop() {
	t.mu.Lock()
	t.closed = true
	if t.ticker != nil {
		t.ticker.Stop()
		t.ticker = nil
	}
	t.mu.Unlock()
	if t.cfg.Shared != nil {
		_ = t.cfg.Shared.Close()
	}
}

func (t *Table) armLocked() {
	if !t.closed {
		t.ticker = t.cfg.Clock.AfterFunc(t.cfg.Tick, t.tick)
	}
}

func (t *Table) tick() {
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.armLocked()
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

// Start creates a lease for user ("" for none): its conn_id (16
// characters) and auth_body (32), random (crypto/rand) base64url tokens.
func (t *Table) Start(user string) (Lease, error) {
	if sh := t.cfg.Shared; sh != nil {
		id, err := token(12)
		if err != nil {
			return Lease{}, err
		}
		auth, err := token(24)
		if err != nil {
			return Lease{}, err
		}
		r := Record{ID: id, Auth: auth, User: user}
		if err := sh.Put(r); err != nil {
			return Lease{}, storeErr(err)
		}
		t.started.Add(1)
		t.mirror(Change{Record: r}) // bindable here at once; the store tells the others
		return Lease{ID: id, Auth: auth}, nil
	}
	le := &lease{user: user}
	t.mu.Lock()
	defer t.mu.Unlock()
	for le.id == "" || t.byID[le.id] != nil || t.byAuth[le.auth] != nil {
		var err error
		if le.id, err = token(12); err != nil {
			return Lease{}, err
		}
		if le.auth, err = token(24); err != nil {
			return Lease{}, err
		}
	}
	le.deadline = t.now() + t.timeout
	t.byID[le.id] = le
	t.byAuth[le.auth] = le
	t.arm(le)
	t.active.Add(1)
	t.started.Add(1)
	return Lease{ID: le.id, Auth: le.auth}, nil
}

// arm (re)schedules le's timer for its deadline, or for the wheel's range
// when the deadline lies beyond it. Called with t.mu held.
func (t *Table) arm(le *lease) {
	d := min(le.deadline-t.wheel.Now(), int64(t.wheel.MaxDelay()))
	_ = t.wheel.Reset(le, time.Duration(d)) // d <= MaxDelay: no error
}

// live returns the unexpired lease called id, or nil. Called with t.mu held.
func (t *Table) live(id string, now int64) *lease {
	if le := t.byID[id]; le != nil && now < le.deadline {
		return le
	}
	return nil
}

// Heartbeat extends the leases called ids by the timeout and returns the
// ids it could not extend (unknown or expired), each once, in order; an
// error (ErrStore) when the shared store could not be reached.
func (t *Table) Heartbeat(ids ...string) (failed []string, err error) {
	if sh := t.cfg.Shared; sh != nil {
		seen := make(map[string]bool, len(ids))
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			ok, err := sh.Refresh(id)
			if err != nil {
				return nil, storeErr(err)
			}
			if !ok {
				failed = append(failed, id)
			}
		}
		return failed, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var seen map[string]bool
	for _, id := range ids {
		if le := t.live(id, now); le != nil {
			le.deadline = now + t.timeout
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
	return failed, nil
}

// End removes the lease called id and closes its connections with 1000
// "lease ended". It returns how many connections it asked to close, or
// ErrUnknown.
func (t *Table) End(id string) (int, error) {
	if sh := t.cfg.Shared; sh != nil {
		t.mu.Lock()
		var auth string
		n := 0
		if le := t.byID[id]; le != nil {
			auth, n = le.auth, len(le.sids)
		}
		t.mu.Unlock()
		ok, err := sh.Remove(id)
		if err != nil {
			return 0, storeErr(err)
		}
		if !ok {
			return 0, ErrUnknown
		}
		if auth != "" {
			t.mirror(Change{Record: Record{ID: id, Auth: auth}, Gone: true, Ended: true})
		}
		return n, nil // this node's connections; the others close theirs as the store tells them
	}
	t.mu.Lock()
	le := t.live(id, t.now())
	if le == nil {
		t.mu.Unlock()
		return 0, ErrUnknown // an expired one is left to its timer
	}
	t.remove(le)
	t.wheel.Remove(le)
	sids := le.sids
	le.sids = nil
	t.mu.Unlock()
	t.closeAll(sids, codec.StatusNormalClosure, EndedReason)
	return len(sids), nil
}

// remove takes le out of the table. Called with t.mu held.
func (t *Table) remove(le *lease) {
	delete(t.byID, le.id)
	delete(t.byAuth, le.auth)
	for _, sid := range le.sids {
		delete(t.bySid, sid)
	}
	t.active.Add(-1)
}

// bind binds session sid to the unexpired lease whose auth_body is auth
// and returns the lease's user; ok is false when there is no such lease.
func (t *Table) bind(auth []byte, sid uint64) (user string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	le := t.byAuth[string(auth)]
	if le == nil || t.now() >= le.deadline {
		t.refused.Add(1)
		return "", false
	}
	le.sids = append(le.sids, sid)
	t.bySid[sid] = le
	return le.user, true
}

// unbind forgets session sid, which has closed.
func (t *Table) unbind(sid uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	le := t.bySid[sid]
	if le == nil {
		return
	}
	delete(t.bySid, sid)
	for i, x := range le.sids {
		if x == sid {
			le.sids = append(le.sids[:i], le.sids[i+1:]...)
			break
		}
	}
}

// fire runs, inside advance, when a lease's timer is due: a lease
// heartbeated since it was armed is armed again for its new deadline, an
// expired one leaves the table and is queued for advance to close.
func (t *Table) fire(le *lease) {
	if le.deadline > t.wheel.Now() {
		t.arm(le)
		return
	}
	t.remove(le)
	t.expired.Add(1)
	t.due = append(t.due, le)
}

// advance moves the wheel to the clock, expiring due leases, and closes
// their connections with 1008 "lease expired"; it retries closes that a
// full ring refused at the previous tick.
func (t *Table) advance() {
	t.mu.Lock()
	t.wheel.Advance(t.now())
	todo := t.retry
	t.retry = nil
	due := t.due
	t.due = nil
	t.mu.Unlock()
	for _, p := range todo {
		t.closeOne(p)
	}
	for _, le := range due {
		t.cfg.Logger.Debug("lease expired", "conn_id", le.id, "conns", len(le.sids))
		t.closeAll(le.sids, codec.StatusPolicyViolation, ExpiredReason)
	}
}

func (t *Table) closeAll(sids []uint64, code codec.StatusCode, reason string) {
	for _, sid := range sids {
		t.closeOne(pendingClose{sid: sid, code: code, reason: reason})
	}
}

// closeOne asks sid's loop to close it; a full ring is retried next tick.
// Other errors (the server is shutting down and closes everything anyway,
// or has not started) are dropped.
func (t *Table) closeOne(p pendingClose) {
	t.mu.Lock()
	c := t.closer
	t.mu.Unlock()
	if c == nil {
		return
	}
	if err := c.Evict(p.sid, p.code, p.reason); errors.Is(err, server.ErrQueueFull) {
		t.mu.Lock()
		t.retry = append(t.retry, p)
		t.mu.Unlock()
	}
}

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	return Stats{
		Active:  t.active.Load(),
		Started: t.started.Load(),
		Expired: t.expired.Load(),
		Refused: t.refused.Load(),
	}
}
