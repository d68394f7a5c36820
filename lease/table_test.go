package lease

import (
	"errors"
	"io"
	"log/slog"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/wsloop/wsloop/clock"
	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/server"
)

// leaseRig is a lease table on a fake clock, with the closes it asked for
// recorded: no server, no goroutine, no sleep. The table's own ticks are
// not armed (no Attach): at advances it by hand.
type leaseRig struct {
	*Table
	clk    *clock.Fake
	t0     time.Time
	closed []pendingClose
	full   int // the next full closes report server.ErrQueueFull
}

func newLeaseRig(t *testing.T, timeout, tick time.Duration) *leaseRig {
	t.Helper()
	r := &leaseRig{t0: time.Unix(1_700_000_000, 0)}
	r.clk = clock.NewFake(r.t0)
	tab, err := New(Config{Timeout: timeout, Tick: tick, Clock: r.clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r.Table = tab
	r.closer = r
	return r
}

// Evict implements Closer.
func (r *leaseRig) Evict(sid uint64, code codec.StatusCode, reason string) error {
	if r.full > 0 {
		r.full--
		return server.ErrQueueFull
	}
	r.closed = append(r.closed, pendingClose{sid, code, reason})
	return nil
}

// setNow moves the clock to t0+d without running the table's tick.
func (r *leaseRig) setNow(d time.Duration) { r.clk.Advance(r.t0.Add(d).Sub(r.clk.Now())) }

// at moves the clock to t0+d and runs the table's tick.
func (r *leaseRig) at(d time.Duration) {
	r.setNow(d)
	r.advance()
}

func (r *leaseRig) start(t *testing.T, user string) (id, auth string) {
	t.Helper()
	le, err := r.Start(user)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return le.ID, le.Auth
}

func (r *leaseRig) takeClosed() []pendingClose {
	c := r.closed
	r.closed = nil
	return c
}

func TestLeaseTokens(t *testing.T) {
	r := newLeaseRig(t, 30*time.Second, time.Second)
	urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id, auth := r.start(t, "")
		if len(id) != 16 || len(auth) != 32 || !urlSafe.MatchString(id) || !urlSafe.MatchString(auth) {
			t.Fatalf("conn_id %q auth_body %q: want 16 and 32 URL-safe characters", id, auth)
		}
		if seen[id] || seen[auth] || id == auth {
			t.Fatalf("token repeated: %q %q", id, auth)
		}
		seen[id], seen[auth] = true, true
	}
	if r.active.Load() != 100 || r.started.Load() != 100 {
		t.Fatalf("active %d started %d, want 100", r.active.Load(), r.started.Load())
	}
}

// TestLeaseExpiry: a lease expires exactly LeaseTimeout after its last
// heartbeat; its connections are closed at the first tick from then on.
func TestLeaseExpiry(t *testing.T) {
	r := newLeaseRig(t, 30*time.Second, time.Second)
	id, auth := r.start(t, "alice")
	r.setNow(10 * time.Second)
	if user, ok := r.bind([]byte(auth), 7); !ok || user != "alice" {
		t.Fatalf("bind = %q, %v; want alice, true", user, ok)
	}
	if _, ok := r.bind([]byte(auth), 8); !ok {
		t.Fatal("second bind refused")
	}
	r.at(29*time.Second + 999*time.Millisecond)
	if c := r.takeClosed(); len(c) != 0 || r.expired.Load() != 0 {
		t.Fatalf("closed %v before the deadline", c)
	}
	// At the deadline the API sees it expired, before the tick runs.
	r.setNow(30 * time.Second)
	if failed, _ := r.Heartbeat(id); !slices.Equal(failed, []string{id}) {
		t.Fatalf("heartbeat at the deadline: failed %v", failed)
	}
	if _, ok := r.bind([]byte(auth), 9); ok {
		t.Fatal("bind at the deadline accepted")
	}
	r.at(30 * time.Second)
	want := []pendingClose{{7, codec.StatusPolicyViolation, ExpiredReason}, {8, codec.StatusPolicyViolation, ExpiredReason}}
	if c := r.takeClosed(); !reflect.DeepEqual(c, want) {
		t.Fatalf("closed %v, want %v", c, want)
	}
	if r.expired.Load() != 1 || r.active.Load() != 0 || r.refused.Load() != 1 {
		t.Fatalf("expired %d active %d refused %d, want 1 0 1", r.expired.Load(), r.active.Load(), r.refused.Load())
	}
	if _, err := r.End(id); !errors.Is(err, ErrUnknown) {
		t.Fatalf("end of an expired lease: %v", err)
	}
	r.at(time.Hour)
	if c := r.takeClosed(); len(c) != 0 {
		t.Fatalf("closed again: %v", c)
	}
}

// TestLeaseHeartbeatExtends: a heartbeat moves the deadline; the timer that
// fires at the old deadline re-arms for the new one.
func TestLeaseHeartbeatExtends(t *testing.T) {
	r := newLeaseRig(t, 30*time.Second, time.Second)
	id, auth := r.start(t, "")
	r.bind([]byte(auth), 1)
	r.setNow(20 * time.Second)
	if failed, _ := r.Heartbeat(id); failed != nil {
		t.Fatalf("heartbeat failed: %v", failed)
	}
	r.at(30 * time.Second) // the first timer fires and re-arms
	r.at(49 * time.Second)
	if c := r.takeClosed(); len(c) != 0 {
		t.Fatalf("closed %v before the new deadline (50 s)", c)
	}
	r.at(50 * time.Second)
	if c := r.takeClosed(); len(c) != 1 || c[0].sid != 1 {
		t.Fatalf("closed %v at 50 s, want session 1", c)
	}
}

// TestLeaseLongerThanWheel: a timeout beyond the wheel's range re-arms until
// it is due.
func TestLeaseLongerThanWheel(t *testing.T) {
	r := newLeaseRig(t, 100*time.Hour, time.Second)
	if max := r.wheel.MaxDelay(); max >= 100*time.Hour {
		t.Fatalf("wheel range %v covers the timeout; the test needs a shorter one", max)
	}
	_, auth := r.start(t, "")
	r.bind([]byte(auth), 1)
	for h := time.Duration(1); h < 100; h += 7 {
		r.at(h * time.Hour)
	}
	r.at(100*time.Hour - time.Second)
	if c := r.takeClosed(); len(c) != 0 {
		t.Fatalf("closed %v before 100 h", c)
	}
	r.at(100 * time.Hour)
	if c := r.takeClosed(); len(c) != 1 {
		t.Fatalf("closed %v at 100 h, want one", c)
	}
}

// TestLeaseBatchHeartbeat: exactly the unknown, ended and expired ids fail,
// each once, in the order given.
func TestLeaseBatchHeartbeat(t *testing.T) {
	r := newLeaseRig(t, 10*time.Second, time.Second)
	a, _ := r.start(t, "")
	b, _ := r.start(t, "")
	r.setNow(5 * time.Second)
	c, _ := r.start(t, "")
	if _, err := r.End(b); err != nil {
		t.Fatal(err)
	}
	r.setNow(9 * time.Second)
	r.Heartbeat(c)
	r.at(10 * time.Second) // a expires, c lives until 19 s
	got, _ := r.Heartbeat(a, b, c, "nope", a, "nope", c)
	if want := []string{a, b, "nope"}; !slices.Equal(got, want) {
		t.Fatalf("failed %v, want %v", got, want)
	}
	if got, _ := r.Heartbeat(c); got != nil {
		t.Fatalf("heartbeat of a live lease failed: %v", got)
	}
}

// TestLeaseEnd: ending a lease closes its connections with 1000 at once and
// forgets it.
func TestLeaseEnd(t *testing.T) {
	r := newLeaseRig(t, 10*time.Second, time.Second)
	id, auth := r.start(t, "")
	r.bind([]byte(auth), 3)
	r.bind([]byte(auth), 4)
	n, err := r.End(id)
	if err != nil || n != 2 {
		t.Fatalf("end = %d, %v; want 2, nil", n, err)
	}
	want := []pendingClose{{3, codec.StatusNormalClosure, EndedReason}, {4, codec.StatusNormalClosure, EndedReason}}
	if c := r.takeClosed(); !reflect.DeepEqual(c, want) {
		t.Fatalf("closed %v, want %v", c, want)
	}
	if _, err := r.End(id); !errors.Is(err, ErrUnknown) {
		t.Fatalf("second end: %v", err)
	}
	if _, ok := r.bind([]byte(auth), 5); ok {
		t.Fatal("bind to an ended lease accepted")
	}
	r.at(time.Minute)
	if c := r.takeClosed(); len(c) != 0 || r.expired.Load() != 0 || r.active.Load() != 0 {
		t.Fatalf("an ended lease expired: closed %v, expired %d, active %d", c, r.expired.Load(), r.active.Load())
	}
}

// TestLeaseBindForgetsClosedSessions: sids that alive rules out are
// dropped at the next bind, so a reconnecting client does not pile them up.
func TestLeaseBindForgetsClosedSessions(t *testing.T) {
	r := newLeaseRig(t, 10*time.Second, time.Second)
	id, auth := r.start(t, "")
	for sid := uint64(1); sid <= 100; sid++ {
		if _, ok := r.bind([]byte(auth), sid); !ok {
			t.Fatal("bind refused")
		}
		r.unbind(sid - 1) // the previous connection has closed
	}
	if le := r.byID[id]; !slices.Equal(le.sids, []uint64{100}) || len(r.bySid) != 1 {
		t.Fatalf("bound sids %v (%d known), want [100]", le.sids, len(r.bySid))
	}
	r.at(10 * time.Second)
	if c := r.takeClosed(); len(c) != 1 || c[0].sid != 100 || len(r.bySid) != 0 {
		t.Fatalf("expiry closed %v, %d sids still known; want session 100 only", c, len(r.bySid))
	}
}

// TestLeaseCloseRetry: a close refused by a full ring is retried at the
// next tick.
func TestLeaseCloseRetry(t *testing.T) {
	r := newLeaseRig(t, 10*time.Second, time.Second)
	_, auth := r.start(t, "")
	r.bind([]byte(auth), 1)
	r.bind([]byte(auth), 2)
	r.full = 1
	r.at(10 * time.Second)
	if c := r.takeClosed(); len(c) != 1 || c[0].sid != 2 {
		t.Fatalf("closed %v, want session 2 (1 met a full ring)", c)
	}
	r.at(11 * time.Second)
	if c := r.takeClosed(); len(c) != 1 || c[0].sid != 1 || c[0].reason != ExpiredReason {
		t.Fatalf("retry closed %v, want session 1", c)
	}
}

// TestLeaseAttachTicks: once attached, the table checks for expired leases
// once per Tick on its own clock; Stop stops it.
func TestLeaseAttachTicks(t *testing.T) {
	r := newLeaseRig(t, 10*time.Second, time.Second)
	if err := r.Attach(r); err != nil {
		t.Fatal(err)
	}
	_, auth := r.start(t, "")
	r.bind([]byte(auth), 1)
	r.clk.Advance(10*time.Second - time.Millisecond)
	if c := r.takeClosed(); len(c) != 0 {
		t.Fatalf("closed %v before the deadline", c)
	}
	r.clk.Advance(time.Second)
	if c := r.takeClosed(); len(c) != 1 || c[0].reason != ExpiredReason {
		t.Fatalf("closed %v within a tick of the deadline, want session 1", c)
	}
	_, auth = r.start(t, "")
	r.bind([]byte(auth), 2)
	r.Stop()
	r.clk.Advance(time.Minute)
	if c := r.takeClosed(); len(c) != 0 {
		t.Fatalf("closed %v after Stop", c)
	}
}
