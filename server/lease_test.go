package server

import (
	"errors"
	"io"
	"log/slog"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/wsloop/wsloop/codec"
)

// leaseRig is a lease table on an injected clock, with the closes it asked
// for recorded: no server, no goroutine, no sleep.
type leaseRig struct {
	*leaseTable
	now    int64
	closed []pendingClose
	full   int // the next full closes report ErrQueueFull
}

func newLeaseRig(t *testing.T, timeout, tick time.Duration) *leaseRig {
	t.Helper()
	r := &leaseRig{}
	r.leaseTable = newLeaseTable(timeout, tick, func() int64 { return r.now },
		func(sid uint64, code codec.StatusCode, reason string) error {
			if r.full > 0 {
				r.full--
				return ErrQueueFull
			}
			r.closed = append(r.closed, pendingClose{sid, code, reason})
			return nil
		}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return r
}

// at sets the clock and advances the table.
func (r *leaseRig) at(d time.Duration) {
	r.now = int64(d)
	r.advance()
}

func (r *leaseRig) start(t *testing.T, user string) (id, auth string) {
	t.Helper()
	id, auth, err := r.leaseTable.start(user)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return id, auth
}

func everyoneAlive(uint64) bool { return true }

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
	r.now = int64(10 * time.Second)
	if user, ok := r.bind([]byte(auth), 7, everyoneAlive); !ok || user != "alice" {
		t.Fatalf("bind = %q, %v; want alice, true", user, ok)
	}
	if _, ok := r.bind([]byte(auth), 8, everyoneAlive); !ok {
		t.Fatal("second bind refused")
	}
	r.at(29*time.Second + 999*time.Millisecond)
	if c := r.takeClosed(); len(c) != 0 || r.expired.Load() != 0 {
		t.Fatalf("closed %v before the deadline", c)
	}
	// At the deadline the API sees it expired, before the tick runs.
	r.now = int64(30 * time.Second)
	if failed := r.heartbeat(id); !slices.Equal(failed, []string{id}) {
		t.Fatalf("heartbeat at the deadline: failed %v", failed)
	}
	if _, ok := r.bind([]byte(auth), 9, everyoneAlive); ok {
		t.Fatal("bind at the deadline accepted")
	}
	r.at(30 * time.Second)
	want := []pendingClose{{7, codec.StatusPolicyViolation, leaseExpiredReason}, {8, codec.StatusPolicyViolation, leaseExpiredReason}}
	if c := r.takeClosed(); !reflect.DeepEqual(c, want) {
		t.Fatalf("closed %v, want %v", c, want)
	}
	if r.expired.Load() != 1 || r.active.Load() != 0 || r.refused.Load() != 1 {
		t.Fatalf("expired %d active %d refused %d, want 1 0 1", r.expired.Load(), r.active.Load(), r.refused.Load())
	}
	if _, err := r.end(id); !errors.Is(err, ErrUnknownLease) {
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
	r.bind([]byte(auth), 1, everyoneAlive)
	r.now = int64(20 * time.Second)
	if failed := r.heartbeat(id); failed != nil {
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
	r.bind([]byte(auth), 1, everyoneAlive)
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
	r.now = int64(5 * time.Second)
	c, _ := r.start(t, "")
	if _, err := r.end(b); err != nil {
		t.Fatal(err)
	}
	r.now = int64(9 * time.Second)
	r.heartbeat(c)
	r.at(10 * time.Second) // a expires, c lives until 19 s
	got := r.heartbeat(a, b, c, "nope", a, "nope", c)
	if want := []string{a, b, "nope"}; !slices.Equal(got, want) {
		t.Fatalf("failed %v, want %v", got, want)
	}
	if got := r.heartbeat(c); got != nil {
		t.Fatalf("heartbeat of a live lease failed: %v", got)
	}
}

// TestLeaseEnd: ending a lease closes its connections with 1000 at once and
// forgets it.
func TestLeaseEnd(t *testing.T) {
	r := newLeaseRig(t, 10*time.Second, time.Second)
	id, auth := r.start(t, "")
	r.bind([]byte(auth), 3, everyoneAlive)
	r.bind([]byte(auth), 4, everyoneAlive)
	n, err := r.end(id)
	if err != nil || n != 2 {
		t.Fatalf("end = %d, %v; want 2, nil", n, err)
	}
	want := []pendingClose{{3, codec.StatusNormalClosure, leaseEndedReason}, {4, codec.StatusNormalClosure, leaseEndedReason}}
	if c := r.takeClosed(); !reflect.DeepEqual(c, want) {
		t.Fatalf("closed %v, want %v", c, want)
	}
	if _, err := r.end(id); !errors.Is(err, ErrUnknownLease) {
		t.Fatalf("second end: %v", err)
	}
	if _, ok := r.bind([]byte(auth), 5, everyoneAlive); ok {
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
	open := map[uint64]bool{}
	alive := func(sid uint64) bool { return open[sid] }
	for sid := uint64(1); sid <= 100; sid++ {
		open[sid] = true
		delete(open, sid-1) // the previous connection has closed
		if _, ok := r.bind([]byte(auth), sid, alive); !ok {
			t.Fatal("bind refused")
		}
	}
	if le := r.byID[id]; !slices.Equal(le.sids, []uint64{100}) {
		t.Fatalf("bound sids %v, want [100]", le.sids)
	}
}

// TestLeaseCloseRetry: a close refused by a full ring is retried at the
// next tick.
func TestLeaseCloseRetry(t *testing.T) {
	r := newLeaseRig(t, 10*time.Second, time.Second)
	_, auth := r.start(t, "")
	r.bind([]byte(auth), 1, everyoneAlive)
	r.bind([]byte(auth), 2, everyoneAlive)
	r.full = 1
	r.at(10 * time.Second)
	if c := r.takeClosed(); len(c) != 1 || c[0].sid != 2 {
		t.Fatalf("closed %v, want session 2 (1 met a full ring)", c)
	}
	r.at(11 * time.Second)
	if c := r.takeClosed(); len(c) != 1 || c[0].sid != 1 || c[0].reason != leaseExpiredReason {
		t.Fatalf("retry closed %v, want session 1", c)
	}
}
