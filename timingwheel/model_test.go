package timingwheel_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/wsloop/wsloop/timingwheel"
)

// model is the reference: a map of deadline ticks, and the rule that a timer
// of duration d added at time now is due at the first tick at or after
// now+d that has not been processed yet, if d is at most maxD.
type model struct {
	origin, tick int64
	maxD         time.Duration
	now          int64
	proc         int64 // last processed tick
	sched        map[int]int64
}

// deadline returns the tick a timer of duration d added now is due at, and
// whether d is in range.
func (m *model) deadline(d time.Duration) (int64, bool) {
	if d > m.maxD {
		return 0, false
	}
	e := m.now - m.origin + max(int64(d), 0)
	b := e / m.tick
	if b*m.tick != e {
		b++
	}
	return max(b, m.proc+1), true
}

// errBoom is what a fire function panics with in the model test.
var errBoom = errors.New("boom")

func TestModel(t *testing.T) {
	configs := []timingwheel.Config{
		{Tick: 1, Slots: 1},
		{Tick: 3, Slots: 2},
		{Tick: 7, Slots: 8},
		{Tick: time.Microsecond, Slots: 64},
		{Tick: time.Second, Slots: 4096},
	}
	for _, cfg := range configs {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("tick=%v/slots=%d/seed=%d", cfg.Tick, cfg.Slots, seed), func(t *testing.T) {
				runModel(t, cfg, seed, 20000)
			})
		}
	}
}

func runModel(t *testing.T, cfg timingwheel.Config, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, uint64(cfg.Tick)))
	tick := int64(cfg.Tick)
	slots := int64(cfg.Slots)
	origin := rng.Int64N(2e12) - 1e12
	maxD := time.Duration((slots - 1) * tick)
	m := &model{origin: origin, tick: tick, maxD: maxD, now: origin, sched: map[int]int64{}}
	items := make([]*item, 48)
	for i := range items {
		items[i] = &item{id: i}
	}

	// randD draws a duration: mostly within the wheel's range, often near,
	// often around its end, sometimes beyond it.
	randD := func() time.Duration {
		switch r := rng.IntN(100); {
		case r < 5:
			return -time.Duration(rng.Int64N(3 * tick))
		case r < 45:
			return time.Duration(rng.Int64N(4*tick + 1))
		case r < 55:
			return time.Duration(rng.Int64N(4) * tick) // exact multiples
		case r < 85:
			return time.Duration(rng.Int64N(int64(maxD) + 1))
		case r < 95: // around the limit
			return maxD - time.Duration(2*tick) + time.Duration(rng.Int64N(4*tick+1))
		case r < 99: // beyond
			return maxD + 1 + time.Duration(rng.Int64N(3*slots*tick))
		default:
			return time.Duration(math.MaxInt64 - rng.Int64N(2*tick))
		}
	}

	var w *timingwheel.Wheel[item]
	advancing := false
	var target, lastB int64
	fired := 0

	draining := false
	left := map[int]bool{} // due items left unfired by a panicking fire
	var op func(it *item)
	check := func(where string) {
		t.Helper()
		if w.Len() != len(m.sched) {
			t.Fatalf("%s: Len = %d, model has %d", where, w.Len(), len(m.sched))
		}
	}
	fire := func(it *item) {
		b, ok := m.sched[it.id]
		if !ok {
			t.Fatalf("fired item %d, which the model has not scheduled", it.id)
		}
		if b > target || (b <= m.proc && !left[it.id]) || b < lastB {
			t.Fatalf("fired item %d due at tick %d: Advance to tick %d, processed %d, last fired %d", it.id, b, target, m.proc, lastB)
		}
		if it.tm.Scheduled() {
			t.Fatalf("item %d still scheduled in fire", it.id)
		}
		if w.Now() != m.now {
			t.Fatalf("Now = %d in fire, want %d", w.Now(), m.now)
		}
		lastB = b
		delete(m.sched, it.id)
		delete(left, it.id)
		fired++
		// Adds from here count from the tick being processed.
		saved := m.proc
		m.proc = b
		for n := rng.IntN(3); n > 0 && !draining; n-- {
			if rng.IntN(3) == 0 {
				op(it) // often itself: re-add, reset, remove
			} else {
				op(nil)
			}
		}
		m.proc = saved
		if !draining && rng.IntN(300) == 0 {
			panic(errBoom)
		}
	}
	w, err := timingwheel.New(cfg, origin, itemTimer, fire)
	if err != nil {
		t.Fatal(err)
	}
	if w.MaxDelay() != maxD {
		t.Fatalf("MaxDelay = %v, want %v", w.MaxDelay(), maxD)
	}

	// op does a random operation on it, or on a random item if it is nil.
	op = func(it *item) {
		if it == nil {
			it = items[rng.IntN(len(items))]
		}
		_, scheduled := m.sched[it.id]
		if it.tm.Scheduled() != scheduled {
			t.Fatalf("item %d Scheduled() = %v, model %v", it.id, it.tm.Scheduled(), scheduled)
		}
		switch r := rng.IntN(100); {
		case r < 35:
			d := randD()
			b, ok := m.deadline(d)
			err := w.Add(it, d)
			if scheduled {
				if !errors.Is(err, timingwheel.ErrScheduled) {
					t.Fatalf("Add of scheduled item %d: %v", it.id, err)
				}
				return
			}
			checkAdd(t, m, it, b, ok, err)
		case r < 60:
			d := randD()
			b, ok := m.deadline(d)
			err := w.Reset(it, d)
			checkAdd(t, m, it, b, ok, err)
			if ok {
				delete(left, it.id)
			}
		case r < 75:
			if got := w.Remove(it); got != scheduled {
				t.Fatalf("Remove(%d) = %v, model %v", it.id, got, scheduled)
			}
			delete(m.sched, it.id)
			delete(left, it.id)
		default:
			if advancing {
				return
			}
			var now int64
			switch r := rng.IntN(100); {
			case r < 10: // the past or the same time
				now = m.now - rng.Int64N(3*tick)
			case r < 70: // within a few ticks
				now = m.now + rng.Int64N(3*tick+1)
			case r < 95: // a few revolutions
				now = m.now + rng.Int64N(3*slots*tick+1)
			default: // very far, keeping now-origin far from overflow
				now = m.now + rng.Int64N(min(1<<32, (1<<50)/tick)*tick)
			}
			advancing = true
			fired, lastB = 0, math.MinInt64
			moved := now > m.now
			if moved {
				m.now = now
				target = (now - m.origin) / tick
			} else {
				target = m.proc
			}
			var n int
			panicked := func() (panicked bool) {
				defer func() {
					if r := recover(); r != nil {
						if r != errBoom {
							panic(r)
						}
						panicked = true
					}
				}()
				n = w.Advance(now)
				return false
			}()
			advancing = false
			m.proc = target
			if panicked {
				// The due items not fired stay scheduled and fire first
				// on the next Advance with a later now.
				for id, b := range m.sched {
					if b <= target {
						left[id] = true
					}
				}
			} else {
				if n != fired {
					t.Fatalf("Advance returned %d, fired %d", n, fired)
				}
				for id, b := range m.sched {
					// Items left by a panic wait for a later now.
					if b <= target && (!left[id] || moved) {
						t.Fatalf("item %d due at tick %d not fired by Advance to tick %d", id, b, target)
					}
				}
			}
			if w.Now() != m.now {
				t.Fatalf("Now = %d, want %d", w.Now(), m.now)
			}
		}
		check("after op")
	}
	for range steps {
		op(nil)
	}
	// Drain: everything fires, at its tick.
	draining = true
	for len(m.sched) > 0 {
		maxB := int64(math.MinInt64)
		for _, b := range m.sched {
			maxB = max(maxB, b)
		}
		m.now = max(m.now+1, m.origin+maxB*tick)
		target = (m.now - m.origin) / tick
		fired, lastB = 0, math.MinInt64
		advancing = true
		n := w.Advance(m.now)
		advancing = false
		m.proc = target
		if n != fired || len(m.sched) != 0 || w.Len() != 0 {
			t.Fatalf("drain: Advance returned %d, fired %d, model left %d, Len %d", n, fired, len(m.sched), w.Len())
		}
	}
}

// checkAdd checks the result of an Add or Reset of an unscheduled item, or a
// Reset of a scheduled one, against the model, and updates the model.
func checkAdd(t *testing.T, m *model, it *item, b int64, ok bool, err error) {
	t.Helper()
	if !ok {
		if !errors.Is(err, timingwheel.ErrTooLong) {
			t.Fatalf("item %d: %v, want ErrTooLong", it.id, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("item %d: %v", it.id, err)
	}
	m.sched[it.id] = b
}
