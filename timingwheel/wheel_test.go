package timingwheel_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/wsloop/wsloop/timingwheel"
)

const sec = int64(time.Second)

// item is a test owner.
type item struct {
	id     int
	due    int64 // expected fire time (start of the deadline tick), set by tests
	fired  int   // times fired
	lastAt int64 // wheel time at the last fire
	tm     timingwheel.Timer[item]
}

func itemTimer(it *item) *timingwheel.Timer[item] { return &it.tm }

// harness wraps a wheel of items and records fires.
type harness struct {
	t      testing.TB
	w      *timingwheel.Wheel[item]
	log    []*item
	onFire func(*item) // optional, runs after recording
}

func newHarness(t testing.TB, cfg timingwheel.Config, origin int64) *harness {
	t.Helper()
	h := &harness{t: t}
	w, err := timingwheel.New(cfg, origin, itemTimer, func(it *item) {
		it.fired++
		it.lastAt = h.w.Now()
		h.log = append(h.log, it)
		if h.onFire != nil {
			h.onFire(it)
		}
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.w = w
	return h
}

func (h *harness) add(it *item, d time.Duration) {
	h.t.Helper()
	if err := h.w.Add(it, d); err != nil {
		h.t.Fatalf("Add(%d, %v): %v", it.id, d, err)
	}
}

// advance calls Advance(now) and returns the ids fired, in order.
func (h *harness) advance(now int64) []int {
	h.t.Helper()
	h.log = h.log[:0]
	n := h.w.Advance(now)
	if n != len(h.log) {
		h.t.Fatalf("Advance(%d) = %d, fired %d", now, n, len(h.log))
	}
	ids := []int{}
	for _, it := range h.log {
		ids = append(ids, it.id)
	}
	return ids
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name     string
		cfg      timingwheel.Config
		ok       bool
		maxDelay time.Duration
	}{
		{name: "zero", cfg: timingwheel.Config{}, ok: true, maxDelay: 16383 * time.Second},
		{name: "one slot", cfg: timingwheel.Config{Tick: time.Millisecond, Slots: 1}, ok: true, maxDelay: 0},
		{name: "odd slots", cfg: timingwheel.Config{Slots: 1000}, ok: true, maxDelay: 1023 * time.Second},
		{name: "1ns tick", cfg: timingwheel.Config{Tick: 1}, ok: true, maxDelay: 16383},
		{name: "huge tick", cfg: timingwheel.Config{Tick: 1 << 61, Slots: 8}, ok: true, maxDelay: math.MaxInt64 - 1<<61},
		{name: "negative tick", cfg: timingwheel.Config{Tick: -time.Second}},
		{name: "negative slots", cfg: timingwheel.Config{Slots: -1}},
		{name: "too many slots", cfg: timingwheel.Config{Slots: 1<<24 + 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := timingwheel.New(tt.cfg, 0, itemTimer, func(*item) {})
			if tt.ok != (err == nil) || tt.ok != (w != nil) {
				t.Fatalf("New(%+v) = %v, %v; want ok=%v", tt.cfg, w, err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, timingwheel.ErrConfig) {
					t.Fatalf("error %v is not ErrConfig", err)
				}
				return
			}
			if got := w.MaxDelay(); got != tt.maxDelay {
				t.Fatalf("MaxDelay = %v, want %v", got, tt.maxDelay)
			}
		})
	}
	if _, err := timingwheel.New[item](timingwheel.Config{}, 0, nil, func(*item) {}); !errors.Is(err, timingwheel.ErrConfig) {
		t.Errorf("nil timer func: %v, want ErrConfig", err)
	}
	if _, err := timingwheel.New(timingwheel.Config{}, 0, itemTimer, nil); !errors.Is(err, timingwheel.ErrConfig) {
		t.Errorf("nil fire func: %v, want ErrConfig", err)
	}
}

// TestDefaultTick checks the zero Config's 1 s resolution.
func TestDefaultTick(t *testing.T) {
	h := newHarness(t, timingwheel.Config{}, 0)
	a := &item{id: 1}
	h.add(a, time.Nanosecond)
	if got := h.advance(sec - 1); len(got) != 0 {
		t.Fatalf("fired %v before the 1 s tick", got)
	}
	if got := h.advance(sec); !slices.Equal(got, []int{1}) {
		t.Fatalf("at 1 s fired %v, want [1]", got)
	}
}

// TestRounding: a timer fires at the first tick at or after Now+d, on the
// first Advance that reaches it, never before.
func TestRounding(t *testing.T) {
	const ms = int64(time.Millisecond)
	tests := []struct {
		name   string
		origin int64
		at     int64 // Advance to this before Add
		d      time.Duration
		want   int64 // fire time
	}{
		{name: "zero d", d: 0, want: sec},
		{name: "negative d", d: -time.Hour, want: sec},
		{name: "exact tick", d: time.Second, want: sec},
		{name: "just past tick", d: time.Second + 1, want: 2 * sec},
		{name: "mid tick exact", at: 500 * ms, d: 500 * time.Millisecond, want: sec},
		{name: "mid tick over", at: 500 * ms, d: 600 * time.Millisecond, want: 2 * sec},
		{name: "mid tick zero", at: 500 * ms, d: 0, want: sec},
		{name: "on boundary zero", at: 3 * sec, d: 0, want: 4 * sec},
		{name: "on boundary 1ns", at: 3 * sec, d: 1, want: 4 * sec},
		{name: "negative origin", origin: -7 * ms, d: time.Second, want: sec - 7*ms},
		{name: "large origin", origin: 1 << 60, at: 1<<60 + 10*sec + 1, d: 5 * time.Second, want: 1<<60 + 16*sec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 8}, tt.origin)
			if tt.at != 0 {
				h.advance(tt.at)
			}
			a := &item{id: 1}
			h.add(a, tt.d)
			if got := h.advance(tt.want - 1); len(got) != 0 {
				t.Fatalf("fired at %d, before %d", tt.want-1, tt.want)
			}
			if got := h.advance(tt.want); len(got) != 1 {
				t.Fatalf("not fired at %d", tt.want)
			}
		})
	}
}

func TestAddRemoveReset(t *testing.T) {
	h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 8}, 0)
	a, b := &item{id: 1}, &item{id: 2}

	h.add(a, 3*time.Second)
	if !a.tm.Scheduled() || h.w.Len() != 1 {
		t.Fatalf("after Add: Scheduled=%v Len=%d", a.tm.Scheduled(), h.w.Len())
	}
	if err := h.w.Add(a, time.Second); !errors.Is(err, timingwheel.ErrScheduled) {
		t.Fatalf("second Add: %v, want ErrScheduled", err)
	}
	if !h.w.Remove(a) || a.tm.Scheduled() || h.w.Len() != 0 {
		t.Fatalf("Remove: Scheduled=%v Len=%d", a.tm.Scheduled(), h.w.Len())
	}
	if h.w.Remove(a) {
		t.Fatal("second Remove returned true")
	}
	if h.w.Remove(b) {
		t.Fatal("Remove of a never-added timer returned true")
	}
	if got := h.advance(5 * sec); len(got) != 0 {
		t.Fatalf("removed timer fired: %v", got)
	}

	// Reset of an unscheduled timer schedules it.
	if err := h.w.Reset(a, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	h.add(b, 2*time.Second)
	// Reset moves a scheduled timer, later and earlier.
	if err := h.w.Reset(a, 4*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := h.w.Reset(b, time.Second); err != nil {
		t.Fatal(err)
	}
	if h.w.Len() != 2 {
		t.Fatalf("Len = %d, want 2", h.w.Len())
	}
	if got := h.advance(6 * sec); !slices.Equal(got, []int{2}) {
		t.Fatalf("at 6 s fired %v, want [2]", got)
	}
	if got := h.advance(7 * sec); len(got) != 0 {
		t.Fatalf("at 7 s fired %v, want none (a moved to 9 s)", got)
	}
	// Reset within the same tick: it still fires at that tick.
	if err := h.w.Reset(a, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := h.w.Reset(a, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := h.advance(9*sec - 1); len(got) != 0 {
		t.Fatalf("fired early: %v", got)
	}
	if got := h.advance(9 * sec); !slices.Equal(got, []int{1}) {
		t.Fatalf("at 9 s fired %v, want [1]", got)
	}
	if a.tm.Scheduled() || h.w.Len() != 0 {
		t.Fatalf("after firing: Scheduled=%v Len=%d", a.tm.Scheduled(), h.w.Len())
	}
	if h.w.Remove(a) {
		t.Fatal("Remove after firing returned true")
	}
}

// TestTimerMovesWheels: a Timer holds no state once fired or removed, so
// another wheel may then take it.
func TestTimerMovesWheels(t *testing.T) {
	h1 := newHarness(t, timingwheel.Config{}, 0)
	h2 := newHarness(t, timingwheel.Config{}, 0)
	a := &item{id: 1}
	h1.add(a, time.Second)
	if got := h1.advance(sec); !slices.Equal(got, []int{1}) {
		t.Fatalf("first wheel fired %v, want [1]", got)
	}
	h2.add(a, time.Second)
	if got := h2.advance(sec); !slices.Equal(got, []int{1}) {
		t.Fatalf("second wheel fired %v, want [1]", got)
	}
	h1.add(a, 5*time.Second)
	if !h1.w.Remove(a) {
		t.Fatal("Remove returned false")
	}
	h2.add(a, time.Second)
	if got := h1.advance(10 * sec); len(got) != 0 {
		t.Fatalf("first wheel fired %v after Remove", got)
	}
	if got := h2.advance(2 * sec); !slices.Equal(got, []int{1}) {
		t.Fatalf("second wheel fired %v, want [1]", got)
	}
	if h1.w.Len() != 0 || h2.w.Len() != 0 {
		t.Fatalf("Len = %d, %d; want 0, 0", h1.w.Len(), h2.w.Len())
	}
}

// dueAt returns when a timer of duration d added at wheel time at (origin 0)
// fires: the start of the first tick at or after at+d, and after at's tick.
func dueAt(at int64, d time.Duration, tick int64) int64 {
	b := (at + max(int64(d), 0) + tick - 1) / tick
	return max(b, at/tick+1) * tick
}

// TestMaxDelay: the longest allowed delay, one revolution minus one tick,
// fires exactly, added at a tick's start or within a tick, advanced tick by
// tick or in one jump; one nanosecond or one tick more is ErrTooLong, and a
// failed Add or Reset leaves the timer as it was.
func TestMaxDelay(t *testing.T) {
	const ms = int64(time.Millisecond)
	msWheel := timingwheel.Config{Tick: time.Millisecond, Slots: 64}
	tests := []struct {
		name string
		cfg  timingwheel.Config
		at   int64 // Advance to this before adding
		want time.Duration
	}{
		{name: "default", cfg: timingwheel.Config{}, want: 16383 * time.Second},
		{name: "default mid tick", cfg: timingwheel.Config{}, at: 7*sec + 1, want: 16383 * time.Second},
		{name: "ms", cfg: msWheel, want: 63 * time.Millisecond},
		{name: "ms mid tick", cfg: msWheel, at: 100*ms + ms/2, want: 63 * time.Millisecond},
		{name: "ms end of tick", cfg: msWheel, at: 101*ms - 1, want: 63 * time.Millisecond},
		{name: "ms on boundary", cfg: msWheel, at: 100 * ms, want: 63 * time.Millisecond},
		{name: "two slots mid tick", cfg: timingwheel.Config{Tick: time.Second, Slots: 2}, at: 5*sec + 1, want: time.Second},
		{name: "one slot", cfg: timingwheel.Config{Tick: time.Second, Slots: 1}},
		{name: "one slot mid tick", cfg: timingwheel.Config{Tick: time.Second, Slots: 1}, at: sec / 3},
	}
	for _, tt := range tests {
		for _, jump := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/jump=%v", tt.name, jump), func(t *testing.T) {
				h := newHarness(t, tt.cfg, 0)
				if tt.at != 0 {
					h.advance(tt.at)
				}
				tick := int64(tt.cfg.Tick)
				if tick == 0 {
					tick = sec
				}
				maxD := h.w.MaxDelay()
				if maxD != tt.want {
					t.Fatalf("MaxDelay = %v, want %v", maxD, tt.want)
				}
				// The longest first, then a few shorter ones.
				var items []*item
				for _, d := range []time.Duration{maxD, maxD - 1, maxD - time.Duration(tick) + 1, 1, 0} {
					if d > maxD {
						continue
					}
					it := &item{id: len(items), due: dueAt(tt.at, d, tick)}
					h.add(it, d)
					items = append(items, it)
				}
				longest := items[0]
				x := &item{id: 100}
				for _, d := range []time.Duration{maxD + 1, maxD + time.Duration(tick), math.MaxInt64} {
					if err := h.w.Add(x, d); !errors.Is(err, timingwheel.ErrTooLong) {
						t.Fatalf("Add(%v): %v, want ErrTooLong", d, err)
					}
					if err := h.w.Reset(x, d); !errors.Is(err, timingwheel.ErrTooLong) {
						t.Fatalf("Reset(%v) of an unscheduled timer: %v, want ErrTooLong", d, err)
					}
					if err := h.w.Reset(longest, d); !errors.Is(err, timingwheel.ErrTooLong) {
						t.Fatalf("Reset(%v): %v, want ErrTooLong", d, err)
					}
					if x.tm.Scheduled() || !longest.tm.Scheduled() || h.w.Len() != len(items) {
						t.Fatalf("a failed Add or Reset changed the wheel")
					}
				}
				end := longest.due
				if jump {
					h.advance(end - 1)
					if longest.fired != 0 {
						t.Fatalf("longest fired before %d", end)
					}
					if got := h.advance(end); !slices.Contains(got, longest.id) {
						t.Fatalf("at %d fired %v, want the longest (%d)", end, got, longest.id)
					}
				} else {
					for now := (tt.at/tick + 1) * tick; now <= end; now += tick {
						for _, id := range h.advance(now) {
							if it := items[id]; it.due != now {
								t.Fatalf("item %d due at %d fired at %d", id, it.due, now)
							}
						}
					}
				}
				for _, it := range items {
					if it.fired != 1 {
						t.Fatalf("item %d (due %d) fired %d times", it.id, it.due, it.fired)
					}
				}
				if h.w.Len() != 0 {
					t.Fatalf("Len = %d after all fired", h.w.Len())
				}
			})
		}
	}
}

// TestMaxDelayInFire: a fire function has the full range, MaxDelay, while
// Advance catches up over several ticks or over many revolutions, and what
// it adds fires exactly. With now within a tick, the longest delay lands in
// the slot of the tick being fired.
func TestMaxDelayInFire(t *testing.T) {
	for _, now := range []int64{3 * sec, 3*sec + sec/2, 100 * sec, 100*sec + 1} {
		t.Run(fmt.Sprintf("now=%v", time.Duration(now)), func(t *testing.T) {
			h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 8}, 0)
			maxD := h.w.MaxDelay()
			var items []*item
			var want []int
			for i := 1; i <= 7; i++ {
				it := &item{id: i, due: int64(i) * sec}
				h.add(it, time.Duration(i)*time.Second)
				items = append(items, it)
				if it.due <= now {
					want = append(want, i)
				}
			}
			h.onFire = func(it *item) {
				if err := h.w.Add(it, maxD+1); !errors.Is(err, timingwheel.ErrTooLong) {
					t.Errorf("Add(%v) in fire: %v, want ErrTooLong", maxD+1, err)
				}
				if err := h.w.Add(it, maxD); err != nil {
					t.Errorf("Add(MaxDelay) in fire: %v", err)
				}
				it.due = dueAt(now, maxD, sec)
			}
			if got := h.advance(now); !slices.Equal(got, want) {
				t.Fatalf("fired %v, want %v", got, want)
			}
			h.onFire = nil
			for at := (now/sec + 1) * sec; at <= now+9*sec; at += sec {
				for _, id := range h.advance(at) {
					if it := items[id-1]; it.due != at {
						t.Fatalf("item %d due at %d fired at %d", id, it.due, at)
					}
				}
			}
			for _, it := range items {
				if want := 1 + btoi(int64(it.id)*sec <= now); it.fired != want {
					t.Fatalf("item %d fired %d times, want %d", it.id, it.fired, want)
				}
			}
			if h.w.Len() != 0 {
				t.Fatalf("Len = %d", h.w.Len())
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestWrapAround: timers added at a tick that is not a multiple of the slot
// count, each re-adding itself for the longest delay when it fires, wrap
// around the slot array several times and fire at their tick.
func TestWrapAround(t *testing.T) {
	const slots = 8
	h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: slots}, 0)
	h.advance(5 * sec)
	maxD := h.w.MaxDelay()
	for i := 1; i < slots; i++ {
		it := &item{id: i, due: 5*sec + int64(i)*sec}
		h.add(it, time.Duration(i)*time.Second)
	}
	h.onFire = func(it *item) {
		if it.lastAt != it.due {
			t.Errorf("item %d due at %d fired at %d", it.id, it.due, it.lastAt)
		}
		if it.fired < 3 {
			h.add(it, maxD)
			it.due = h.w.Now() + int64(maxD)
		}
	}
	for s := int64(6); s <= 5+3*(slots-1)+3; s++ {
		got := h.advance(s * sec)
		var want []int
		if i := s - 5; i <= 3*(slots-1) {
			want = []int{int((i-1)%(slots-1)) + 1}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("at %d s fired %v, want %v", s, got, want)
		}
	}
	if h.w.Len() != 0 {
		t.Fatalf("Len = %d", h.w.Len())
	}
}

// TestExpiryOrder: one Advance over many ticks fires timers in deadline
// order, within one revolution and over several, fire sees the Advance's
// now, and what fire adds fires in order on a later Advance.
func TestExpiryOrder(t *testing.T) {
	h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 64}, 0)
	maxD := int64(h.w.MaxDelay())
	var seed uint64 = 1
	randD := func() time.Duration {
		seed = seed*6364136223846793005 + 1442695040888963407
		return time.Duration(int64(seed>>20) % (maxD + 1))
	}
	var items []*item
	for i := range 2000 {
		d := randD()
		it := &item{id: i, due: dueAt(0, d, sec)}
		h.add(it, d)
		items = append(items, it)
	}
	var now, lastDue int64
	readd := true
	h.onFire = func(it *item) {
		if it.lastAt != now {
			t.Errorf("fire saw Now %d, want %d", it.lastAt, now)
		}
		if it.due > now || it.due < lastDue {
			t.Errorf("fired item %d due at %d after one due at %d, at %d", it.id, it.due, lastDue, now)
		}
		lastDue = it.due
		if readd && it.id%3 == 0 {
			d := randD()
			h.add(it, d)
			it.due = dueAt(now, d, sec)
		}
	}
	total := 0
	// 20.5 s: within one revolution. 250 s: over several.
	for _, now = range []int64{20*sec + sec/2, 250 * sec} {
		lastDue = math.MinInt64
		h.advance(now)
		total += len(h.log)
		readd = false
		for _, it := range items {
			if it.tm.Scheduled() && it.due <= now {
				t.Fatalf("item %d due at %d not fired by %d", it.id, it.due, now)
			}
		}
	}
	if h.w.Len() != 0 || total <= len(items) {
		t.Fatalf("Len = %d, fired %d for %d items", h.w.Len(), total, len(items))
	}
}

// TestFireMutates: fire functions that remove, reset and add other timers,
// including ones due at the same tick, and re-add themselves; a timer added
// in the slot of a tick that fires in the same Advance waits for its own.
func TestFireMutates(t *testing.T) {
	h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 8}, 0)
	a, b, c, d, e, f := &item{id: 1}, &item{id: 2}, &item{id: 3}, &item{id: 4}, &item{id: 5}, &item{id: 6}
	g, z := &item{id: 7}, &item{id: 8}
	for _, it := range []*item{a, b, c, f} {
		h.add(it, 2*time.Second) // all due at tick 2
	}
	h.add(z, 3*time.Second) // tick 3
	h.onFire = func(it *item) {
		switch it {
		case a, b, c, f:
			if it.fired > 1 {
				return
			}
			// The first of them to fire removes two others of the same
			// tick and moves the third.
			first := h.log[0]
			if it != first {
				return
			}
			others := []*item{}
			for _, o := range []*item{a, b, c, f} {
				if o != it {
					others = append(others, o)
				}
			}
			if !h.w.Remove(others[0]) || !h.w.Remove(others[1]) {
				t.Error("Remove of a pending timer returned false")
			}
			// Now is 3.5 s: durations count from there.
			if err := h.w.Reset(others[2], 3*time.Second); err != nil { // tick 7
				t.Error(err)
			}
			if h.w.Remove(it) {
				t.Error("Remove of the firing timer returned true")
			}
			if err := h.w.Add(it, time.Second); err != nil { // re-add itself: tick 5
				t.Error(err)
			}
			if err := h.w.Add(d, 0); err != nil { // the next tick, 4: a later Advance
				t.Error(err)
			}
			if err := h.w.Add(e, 6*time.Second); err != nil { // tick 10: the slot of tick 2
				t.Error(err)
			}
			if err := h.w.Add(g, h.w.MaxDelay()); err != nil { // tick 11: z's slot
				t.Error(err)
			}
		}
	}
	if got := h.advance(sec); len(got) != 0 {
		t.Fatalf("at 1 s fired %v", got)
	}
	// Advance to 3.5 s: tick 2 fires one of a, b, c, f, which schedules the
	// rest; tick 3 fires z but not g, in the same slot.
	got := h.advance(3*sec + sec/2)
	first := h.log[0]
	if len(got) != 2 || got[1] != z.id {
		t.Fatalf("at 3.5 s fired %v, want one of [1 2 3 6] then 8", got)
	}
	var moved *item
	removed := 0
	for _, it := range []*item{a, b, c, f} {
		switch {
		case it == first:
		case it.tm.Scheduled():
			moved = it
		default:
			removed++
		}
	}
	if removed != 2 || moved == nil || h.w.Len() != 5 {
		t.Fatalf("removed %d (want 2), moved %v, Len %d (want 5)", removed, moved, h.w.Len())
	}
	// Ticks 4, 5 and 7: d, first, the moved one.
	if got := h.advance(10*sec - 1); !slices.Equal(got, []int{d.id, first.id, moved.id}) {
		t.Fatalf("before 10 s fired %v, want [%d %d %d]", got, d.id, first.id, moved.id)
	}
	if got := h.advance(10 * sec); !slices.Equal(got, []int{e.id}) {
		t.Fatalf("at 10 s fired %v, want [%d]", got, e.id)
	}
	if got := h.advance(11*sec - 1); len(got) != 0 {
		t.Fatalf("fired early: %v", got)
	}
	if got := h.advance(30 * sec); !slices.Equal(got, []int{g.id}) {
		t.Fatalf("at 30 s fired %v, want [%d]", got, g.id)
	}
	if g.lastAt != 30*sec {
		t.Fatalf("g fired with Now %d", g.lastAt)
	}
	for _, it := range []*item{a, b, c, f} {
		if it.fired != 0 && it != first && it != moved {
			t.Fatalf("removed item %d fired", it.id)
		}
	}
	for _, it := range []*item{a, b, c, d, e, f, g, z} {
		if it.tm.Scheduled() {
			t.Fatalf("item %d still scheduled", it.id)
		}
	}
}

// TestFireSameAdvance: a timer that fire schedules fires in the same
// Advance if its deadline falls in a later tick up to now, and on a later
// Advance otherwise.
func TestFireSameAdvance(t *testing.T) {
	h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 8}, 0)
	a := &item{id: 1}
	h.onFire = func(it *item) {
		// Now is the Advance's now (10 s), so d = 0 means tick 10: a later
		// tick of this Advance when fired at tick 1, the next tick when
		// fired at tick 10.
		if err := h.w.Add(it, 0); err != nil {
			t.Error(err)
		}
	}
	h.add(a, time.Second)
	if got := h.advance(10 * sec); !slices.Equal(got, []int{1, 1}) {
		t.Fatalf("at 10 s fired %v, want [1 1] (ticks 1 and 10)", got)
	}
	if got := h.advance(11*sec - 1); len(got) != 0 {
		t.Fatalf("fired %v before 11 s", got)
	}
	if got := h.advance(11 * sec); !slices.Equal(got, []int{1}) {
		t.Fatalf("at 11 s fired %v, want [1]", got)
	}

	// A timer added by fire due after the Advance's now waits.
	h2 := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 8}, 0)
	b, c := &item{id: 2}, &item{id: 3}
	h2.add(b, time.Second)
	h2.onFire = func(it *item) {
		if it == b {
			if err := h2.w.Add(c, time.Second); err != nil { // 21 s
				t.Error(err)
			}
		}
	}
	if got := h2.advance(20 * sec); !slices.Equal(got, []int{2}) {
		t.Fatalf("fired %v, want [2]", got)
	}
	if got := h2.advance(21*sec - 1); len(got) != 0 {
		t.Fatalf("fired %v before 21 s", got)
	}
	if got := h2.advance(21 * sec); !slices.Equal(got, []int{3}) {
		t.Fatalf("fired %v, want [3]", got)
	}

	// fire moves another timer earlier, into a later tick of the same
	// Advance: it fires once, there.
	h3 := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 8}, 0)
	x, y := &item{id: 4}, &item{id: 5}
	h3.add(x, time.Second)
	h3.add(y, 5*time.Second)
	h3.onFire = func(it *item) {
		if it == x {
			if err := h3.w.Reset(y, 0); err != nil { // tick 2
				t.Error(err)
			}
		}
	}
	if got := h3.advance(2 * sec); !slices.Equal(got, []int{4, 5}) {
		t.Fatalf("fired %v, want [4 5]", got)
	}
	if got := h3.advance(10 * sec); len(got) != 0 {
		t.Fatalf("fired %v after the move, want none", got)
	}
}

func TestAdvanceFromFirePanics(t *testing.T) {
	h := newHarness(t, timingwheel.Config{}, 0)
	a := &item{id: 1}
	h.add(a, time.Second)
	var r any
	h.onFire = func(*item) {
		defer func() { r = recover() }()
		h.w.Advance(h.w.Now() + sec)
	}
	h.advance(sec)
	if r == nil {
		t.Fatal("Advance from fire did not panic")
	}
}

// TestFirePanics: a panicking fire leaves the wheel consistent; the due
// timers that did not fire fire on the next Advance, in deadline order, even
// one within the same tick, and the others keep their deadlines.
func TestFirePanics(t *testing.T) {
	// mustPanic runs Advance(now), which must panic.
	mustPanic := func(t *testing.T, h *harness, now int64) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Fatal("panic did not propagate")
			}
		}()
		h.log = h.log[:0]
		h.w.Advance(now)
	}
	t.Run("one tick", func(t *testing.T) {
		h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 8}, 0)
		items := []*item{{id: 1}, {id: 2}, {id: 3}}
		for _, it := range items {
			h.add(it, 2*time.Second)
		}
		later := &item{id: 5} // tick 3
		h.add(later, 3*time.Second)
		far := &item{id: 4} // tick 7: the longest delay
		h.add(far, h.w.MaxDelay())
		h.onFire = func(it *item) {
			if len(h.log) == 1 {
				panic("boom")
			}
		}
		mustPanic(t, h, 2*sec)
		if h.w.Len() != 4 {
			t.Fatalf("Len = %d after the panic, want 4", h.w.Len())
		}
		h.onFire = nil
		if got := h.advance(2*sec + 1); len(got) != 2 {
			t.Fatalf("after the panic fired %v, want the two others of tick 2", got)
		}
		if got := h.advance(3 * sec); !slices.Equal(got, []int{5}) {
			t.Fatalf("at 3 s fired %v, want [5]", got)
		}
		if got := h.advance(7*sec - 1); len(got) != 0 {
			t.Fatalf("before 7 s fired %v", got)
		}
		if got := h.advance(7 * sec); !slices.Equal(got, []int{4}) {
			t.Fatalf("at 7 s fired %v, want [4]", got)
		}
		for _, it := range append(items, far, later) {
			if it.fired != 1 {
				t.Fatalf("item %d fired %d times", it.id, it.fired)
			}
		}
		// The wheel still works.
		h.add(items[0], time.Second)
		if got := h.advance(8 * sec); !slices.Equal(got, []int{1}) {
			t.Fatalf("fired %v, want [1]", got)
		}
	})
	// Advance over ticks 1 and 2 panics at the first fire of tick 1 (panicAt
	// 1) or of tick 2 (panicAt 2), after adding a timer for the longest delay,
	// which lands in the slot of tick 2.
	for _, panicAt := range []int64{1, 2} {
		t.Run(fmt.Sprintf("catching up/panic at tick %d", panicAt), func(t *testing.T) {
			h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 8}, 0)
			var items []*item
			for i := range 4 {
				it := &item{id: i + 1, due: int64(1+i/2) * sec} // 1 and 2 at tick 1, 3 and 4 at tick 2
				h.add(it, time.Duration(it.due))
				items = append(items, it)
			}
			x := &item{id: 9}
			h.onFire = func(it *item) {
				if it.due == panicAt*sec {
					h.onFire = nil
					h.add(x, h.w.MaxDelay()) // 2.5 s + 7 s: tick 10
					panic("boom")
				}
			}
			mustPanic(t, h, 2*sec+sec/2)
			// Fired: 1 at tick 1, or both of tick 1 and 1 of tick 2; added: x.
			if want := 4 - 2*int(panicAt-1); h.w.Len() != want {
				t.Fatalf("Len = %d after the panic, want %d", h.w.Len(), want)
			}
			lastDue := int64(0)
			got := h.advance(2*sec + sec/2 + 1)
			for _, id := range got {
				if id == x.id || items[id-1].due < lastDue {
					t.Fatalf("after the panic fired %v, want the other timers of ticks 1 and 2 in order", got)
				}
				lastDue = items[id-1].due
			}
			if len(got) != 3-2*int(panicAt-1) {
				t.Fatalf("after the panic fired %v, want all the others of ticks 1 and 2", got)
			}
			if got := h.advance(10*sec - 1); len(got) != 0 {
				t.Fatalf("before 10 s fired %v", got)
			}
			if got := h.advance(10 * sec); !slices.Equal(got, []int{x.id}) {
				t.Fatalf("at 10 s fired %v, want [%d]", got, x.id)
			}
			for _, it := range items {
				if it.fired != 1 {
					t.Fatalf("item %d fired %d times", it.id, it.fired)
				}
			}
			if h.w.Len() != 0 {
				t.Fatalf("Len = %d", h.w.Len())
			}
		})
	}
	// A second panic while the timers left by the first fire: the rest
	// still fire, in order, with the ones due since.
	t.Run("twice", func(t *testing.T) {
		h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 8}, 0)
		var items []*item
		for i := range 6 {
			it := &item{id: i + 1, due: int64(1+i/2) * sec} // two each at ticks 1, 2, 3
			h.add(it, time.Duration(it.due))
			items = append(items, it)
		}
		h.onFire = func(*item) {
			if len(h.log) == 1 {
				panic("boom")
			}
		}
		mustPanic(t, h, 2*sec)
		mustPanic(t, h, 2*sec+1)
		h.onFire = nil
		if h.w.Len() != 4 {
			t.Fatalf("Len = %d after two panics, want 4", h.w.Len())
		}
		got := h.advance(3 * sec)
		if len(got) != 4 {
			t.Fatalf("fired %v, want the 4 left", got)
		}
		for i := 1; i < len(h.log); i++ {
			if h.log[i].due < h.log[i-1].due {
				t.Fatalf("fired %v: not in deadline order", got)
			}
		}
	})
}

// TestAdvancePast: a now at or before the wheel's time does nothing.
func TestAdvancePast(t *testing.T) {
	h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 8}, 100*sec)
	a := &item{id: 1}
	h.add(a, 2*time.Second)
	h.advance(101 * sec)
	for _, now := range []int64{101 * sec, 100 * sec, 0, -1 << 62, 101*sec - 1} {
		if got := h.advance(now); len(got) != 0 {
			t.Fatalf("Advance(%d) fired %v", now, got)
		}
		if h.w.Now() != 101*sec {
			t.Fatalf("Advance(%d) moved Now to %d", now, h.w.Now())
		}
	}
	// Durations still count from the latest now.
	b := &item{id: 2}
	h.add(b, time.Second) // 102 s
	if got := h.advance(102 * sec); !slices.Equal(got, []int{1, 2}) && !slices.Equal(got, []int{2, 1}) {
		t.Fatalf("at 102 s fired %v, want 1 and 2", got)
	}
}

// TestAdvanceJump: one Advance over many revolutions visits each slot once
// instead of every tick, fires every timer in deadline order, and leaves the
// wheel working at the new time, for what fire added meanwhile too.
func TestAdvanceJump(t *testing.T) {
	for _, slots := range []int{64, 0} {
		t.Run(fmt.Sprintf("slots=%d", slots), func(t *testing.T) {
			// With a 1 ns tick, 2^40 ticks pass in 18 minutes of wheel
			// time. Visiting every tick would take many minutes.
			h := newHarness(t, timingwheel.Config{Tick: 1, Slots: slots}, 0)
			maxD := h.w.MaxDelay()
			count := min(64, int(maxD))
			step := maxD / time.Duration(count)
			var items []*item
			for i := range count {
				d := maxD - time.Duration(i)*step // decreasing deadlines, all distinct
				it := &item{id: i, due: int64(d)}
				h.add(it, d)
				items = append(items, it)
			}
			const end = 1 << 40
			h.onFire = func(it *item) {
				if it.fired == 1 {
					d := time.Duration(it.id+1) * step
					h.add(it, d) // from the new time
					it.due = end + int64(d)
				}
			}
			start := time.Now()
			got := h.advance(end)
			elapsed := time.Since(start)
			if len(got) != len(items) {
				t.Fatalf("fired %d of %d", len(got), len(items))
			}
			for i, id := range got {
				if id != len(items)-1-i {
					t.Fatalf("fired %v, want in deadline order", got)
				}
			}
			if elapsed > 500*time.Millisecond {
				t.Fatalf("Advance over 2^40 ticks took %v: not skipping", elapsed)
			}
			h.onFire = nil
			for _, it := range items {
				h.advance(it.due - 1)
				if it.fired != 1 {
					t.Fatalf("item %d fired early", it.id)
				}
				if got := h.advance(it.due); !slices.Contains(got, it.id) {
					t.Fatalf("at %d fired %v, want %d", it.due, got, it.id)
				}
			}
			// A jump over an empty wheel is immediate too.
			start = time.Now()
			h.advance(1 << 62)
			if elapsed := time.Since(start); elapsed > 100*time.Millisecond {
				t.Fatalf("Advance over an empty wheel took %v", elapsed)
			}
			h.add(items[0], maxD)
			if got := h.advance(1<<62 + int64(maxD)); !slices.Equal(got, []int{0}) {
				t.Fatalf("after the jump fired %v", got)
			}
		})
	}
}

// TestMillionTimers: 1 M timers, each added and then re-added once when it
// fires, spread over more than a revolution, all fire at their tick.
func TestMillionTimers(t *testing.T) {
	const n = 1 << 20
	h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 4096}, 0)
	items := make([]item, n)
	for i := range items {
		it := &items[i]
		it.id = i
		d := time.Duration(i%4000)*time.Second + time.Duration(i%1000)*time.Millisecond
		it.due = dueAt(0, d, sec)
		h.add(it, d)
	}
	if h.w.Len() != n {
		t.Fatalf("Len = %d", h.w.Len())
	}
	total := 0
	for now := sec; now <= 7100*sec; now += sec {
		h.log = h.log[:0]
		total += h.w.Advance(now)
		for _, it := range h.log {
			if it.due != now {
				t.Fatalf("item %d due at %d fired at %d", it.id, it.due, now)
			}
			if it.fired == 1 {
				d := time.Duration(it.id%3000)*time.Second + time.Duration(it.id%7)*time.Millisecond
				it.due = dueAt(now, d, sec)
				h.add(it, d)
			}
		}
	}
	if total != 2*n || h.w.Len() != 0 {
		t.Fatalf("fired %d of %d, Len %d", total, 2*n, h.w.Len())
	}
	for i := range items {
		if items[i].fired != 2 {
			t.Fatalf("item %d fired %d times", i, items[i].fired)
		}
	}
}
