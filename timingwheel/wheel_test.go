package timingwheel_test

import (
	"errors"
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
		name string
		cfg  timingwheel.Config
		ok   bool
	}{
		{name: "zero", cfg: timingwheel.Config{}, ok: true},
		{name: "one slot", cfg: timingwheel.Config{Tick: time.Millisecond, Slots: 1}, ok: true},
		{name: "odd slots", cfg: timingwheel.Config{Slots: 1000}, ok: true},
		{name: "1ns tick", cfg: timingwheel.Config{Tick: 1}, ok: true},
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
			if err != nil && !errors.Is(err, timingwheel.ErrConfig) {
				t.Fatalf("error %v is not ErrConfig", err)
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
			h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 4}, tt.origin)
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
	// Reset within the same tick keeps the timer where it is.
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

func TestOtherWheel(t *testing.T) {
	h1 := newHarness(t, timingwheel.Config{}, 0)
	h2 := newHarness(t, timingwheel.Config{}, 0)
	a := &item{id: 1}
	h1.add(a, time.Second)
	if err := h2.w.Add(a, time.Second); !errors.Is(err, timingwheel.ErrOtherWheel) {
		t.Errorf("Add on other wheel: %v, want ErrOtherWheel", err)
	}
	if err := h2.w.Reset(a, time.Second); !errors.Is(err, timingwheel.ErrOtherWheel) {
		t.Errorf("Reset on other wheel: %v, want ErrOtherWheel", err)
	}
	if h2.w.Remove(a) {
		t.Error("Remove on other wheel returned true")
	}
	if h2.w.Len() != 0 || h1.w.Len() != 1 {
		t.Fatalf("Len = %d, %d; want 1, 0", h1.w.Len(), h2.w.Len())
	}
	if got := h2.advance(sec); len(got) != 0 {
		t.Fatalf("other wheel fired %v", got)
	}
	if got := h1.advance(sec); !slices.Equal(got, []int{1}) {
		t.Fatalf("owning wheel fired %v, want [1]", got)
	}
	// Once fired, another wheel may take it.
	h2.add(a, time.Second)
	if got := h2.advance(2 * sec); !slices.Equal(got, []int{1}) {
		t.Fatalf("second wheel fired %v, want [1]", got)
	}
}

func TestTooLong(t *testing.T) {
	h := newHarness(t, timingwheel.Config{Tick: time.Millisecond, Slots: 64}, 0)
	a := &item{id: 1}
	limit := time.Duration(math.MaxInt32) * time.Millisecond // about 24.8 days
	for _, d := range []time.Duration{limit + 1, 25 * 24 * time.Hour, math.MaxInt64, math.MaxInt64 - time.Millisecond + 1} {
		if err := h.w.Add(a, d); !errors.Is(err, timingwheel.ErrTooLong) {
			t.Fatalf("Add(%v): %v, want ErrTooLong", d, err)
		}
		if a.tm.Scheduled() || h.w.Len() != 0 {
			t.Fatalf("failed Add changed the wheel")
		}
	}
	h.add(a, limit)
	// A failed Reset leaves the timer where it was.
	if err := h.w.Reset(a, limit+time.Millisecond); !errors.Is(err, timingwheel.ErrTooLong) {
		t.Fatalf("Reset: %v, want ErrTooLong", err)
	}
	if got := h.advance(int64(limit) - 1); len(got) != 0 {
		t.Fatalf("fired early: %v", got)
	}
	if got := h.advance(int64(limit)); len(got) != 1 {
		t.Fatalf("not fired at the limit")
	}
	// With a 1 s tick the range is about 68 years.
	h2 := newHarness(t, timingwheel.Config{}, 0)
	h2.add(a, 60*365*24*time.Hour)
}

// TestWrapAround: deadlines that straddle the end of the slot array, added
// at a tick that is not a multiple of the slot count, fire at their tick.
func TestWrapAround(t *testing.T) {
	const slots = 8
	h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: slots}, 0)
	h.advance(5 * sec)
	var items []*item
	for i := 1; i <= 3*slots; i++ {
		it := &item{id: i, due: 5*sec + int64(i)*sec}
		h.add(it, time.Duration(i)*time.Second)
		items = append(items, it)
	}
	for s := int64(6); s <= 5+3*slots+2; s++ {
		got := h.advance(s * sec)
		var want []int
		if i := s - 5; i <= 3*slots {
			want = []int{int(i)}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("at %d s fired %v, want %v", s, got, want)
		}
	}
	for _, it := range items {
		if it.fired != 1 || it.lastAt != it.due {
			t.Fatalf("item %d fired %d times, last at %d, want once at %d", it.id, it.fired, it.lastAt, it.due)
		}
	}
}

// TestRounds: timeouts of several revolutions and of hours, advanced tick
// by tick and in one jump.
func TestRounds(t *testing.T) {
	const slots = 16
	ds := []time.Duration{
		slots * time.Second,               // exactly one revolution
		(slots + 1) * time.Second,         // just over
		(3*slots + 5) * time.Second,       // several revolutions
		3*time.Hour + 7*time.Second,       // hours: 675 revolutions
		10 * time.Hour,                    //
		(slots - 1) * time.Second,         // within one
		3*time.Hour + 7*time.Second + 100, // same slot as the 3 h one, next tick
	}
	for _, jump := range []bool{false, true} {
		h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: slots}, 0)
		var items []*item
		for i, d := range ds {
			it := &item{id: i, due: (int64(d) + sec - 1) / sec * sec}
			h.add(it, d)
			items = append(items, it)
		}
		end := 10*3600*sec + 5*sec
		if jump {
			h.advance(end)
		} else {
			for now := sec; now <= end; now += sec {
				h.advance(now)
			}
		}
		for _, it := range items {
			if it.fired != 1 {
				t.Fatalf("jump=%v: item %d (d=%v) fired %d times", jump, it.id, ds[it.id], it.fired)
			}
			if !jump && it.lastAt != it.due {
				t.Fatalf("item %d (d=%v) fired at %d, want %d", it.id, ds[it.id], it.lastAt, it.due)
			}
		}
		if h.w.Len() != 0 {
			t.Fatalf("Len = %d after all fired", h.w.Len())
		}
	}
}

// TestExpiryOrder: one Advance over many ticks fires timers in deadline
// order, and fire sees the Advance's now.
func TestExpiryOrder(t *testing.T) {
	h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 64}, 0)
	var items []*item
	var seed uint64 = 1
	for i := range 2000 {
		seed = seed*6364136223846793005 + 1442695040888963407
		d := time.Duration(seed>>20) % (200 * time.Second) // about 3 revolutions
		it := &item{id: i, due: (int64(d) + sec - 1) / sec * sec}
		if it.due == 0 {
			it.due = sec
		}
		h.add(it, d)
		items = append(items, it)
	}
	end := 250 * sec
	h.advance(end)
	if len(h.log) != len(items) {
		t.Fatalf("fired %d of %d", len(h.log), len(items))
	}
	for i, it := range h.log {
		if it.lastAt != end {
			t.Fatalf("fire saw Now %d, want %d", it.lastAt, end)
		}
		if i > 0 && it.due < h.log[i-1].due {
			t.Fatalf("fired item due at %d after one due at %d", it.due, h.log[i-1].due)
		}
	}
}

// TestFireMutates: fire functions that remove, reset and add other timers,
// including ones due at the same tick, and re-add themselves.
func TestFireMutates(t *testing.T) {
	h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 8}, 0)
	a, b, c, d, e, f := &item{id: 1}, &item{id: 2}, &item{id: 3}, &item{id: 4}, &item{id: 5}, &item{id: 6}
	g := &item{id: 7}
	for _, it := range []*item{a, b, c, f} {
		h.add(it, 2*time.Second) // all due at tick 2
	}
	h.onFire = func(it *item) {
		switch it {
		case a, b, c, f:
			if it.fired > 1 {
				return
			}
			// The first of them to fire removes two others of the same
			// tick and moves the third; the one moved is then re-added by
			// itself when it fires.
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
			if err := h.w.Reset(others[2], 3*time.Second); err != nil { // tick 3+3 = 6: later in this Advance
				t.Error(err)
			}
			if h.w.Remove(it) {
				t.Error("Remove of the firing timer returned true")
			}
			if err := h.w.Add(it, time.Second); err != nil { // re-add itself: tick 4
				t.Error(err)
			}
			if err := h.w.Add(d, 0); err != nil { // Now's tick, 3: later in this Advance
				t.Error(err)
			}
			if err := h.w.Add(e, 20*time.Second); err != nil { // tick 23: not in this Advance
				t.Error(err)
			}
			if err := h.w.Add(g, 8*time.Second); err != nil { // tick 11: d's slot, next revolution
				t.Error(err)
			}
		}
	}
	if got := h.advance(sec); len(got) != 0 {
		t.Fatalf("at 1 s fired %v", got)
	}
	// Advance to 3 s: tick 2 fires one of a, b, c, f, which schedules the
	// rest; tick 3 fires d but not g, in the same slot.
	got := h.advance(3 * sec)
	first := h.log[0]
	if len(got) != 2 || got[1] != d.id {
		t.Fatalf("at 3 s fired %v, want one of [1 2 3 6] then 4", got)
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
	if removed != 2 || moved == nil || h.w.Len() != 4 {
		t.Fatalf("removed %d (want 2), moved %v, Len %d (want 4)", removed, moved, h.w.Len())
	}
	// Advance to 10 s: first at tick 4, the moved one at tick 6.
	if got := h.advance(10 * sec); !slices.Equal(got, []int{first.id, moved.id}) {
		t.Fatalf("at 10 s fired %v, want [%d %d]", got, first.id, moved.id)
	}
	if h.w.Len() != 2 {
		t.Fatalf("Len = %d, want 2 (e, g)", h.w.Len())
	}
	if got := h.advance(11*sec - 1); len(got) != 0 {
		t.Fatalf("fired early: %v", got)
	}
	if got := h.advance(30 * sec); !slices.Equal(got, []int{7, 5}) {
		t.Fatalf("at 30 s fired %v, want [7 5]", got)
	}
	for _, it := range []*item{a, b, c, f} {
		if it.fired != 0 && it != first && it != moved {
			t.Fatalf("removed item %d fired", it.id)
		}
	}
	for _, it := range []*item{a, b, c, d, e, f, g} {
		if it.tm.Scheduled() {
			t.Fatalf("item %d still scheduled", it.id)
		}
	}
}

// TestFireSameAdvance: a timer that fire schedules fires in the same
// Advance if its deadline falls in a later tick up to now, and on a later
// Advance otherwise.
func TestFireSameAdvance(t *testing.T) {
	h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 4}, 0)
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
	h2 := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 4}, 0)
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
	h3 := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 4}, 0)
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
// timers that did not fire fire on the next Advance, even one within the
// same tick, and the others keep their deadlines.
func TestFirePanics(t *testing.T) {
	h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 4}, 0)
	items := []*item{{id: 1}, {id: 2}, {id: 3}}
	nextRev := &item{id: 4} // tick 6: the same slot, next revolution
	h.add(nextRev, 6*time.Second)
	for _, it := range items {
		h.add(it, 2*time.Second)
	}
	later := &item{id: 5} // tick 3
	h.add(later, 3*time.Second)
	h.onFire = func(it *item) {
		if len(h.log) == 1 {
			panic("boom")
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic did not propagate")
			}
		}()
		h.w.Advance(2 * sec)
	}()
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
	if got := h.advance(6*sec - 1); len(got) != 0 {
		t.Fatalf("before 6 s fired %v", got)
	}
	if got := h.advance(6 * sec); !slices.Equal(got, []int{4}) {
		t.Fatalf("at 6 s fired %v, want [4]", got)
	}
	for _, it := range append(items, nextRev, later) {
		if it.fired != 1 {
			t.Fatalf("item %d fired %d times", it.id, it.fired)
		}
	}
	// The wheel still works.
	h.add(items[0], time.Second)
	if got := h.advance(7 * sec); !slices.Equal(got, []int{1}) {
		t.Fatalf("fired %v, want [1]", got)
	}
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

// TestAdvanceJump: one Advance over billions of ticks with far timers skips
// the empty revolutions instead of visiting every tick.
func TestAdvanceJump(t *testing.T) {
	// With a 1 ns tick, 2^31 ticks pass in 2.1 s of wheel time. Visiting
	// every tick would take seconds; skipping takes microseconds.
	h := newHarness(t, timingwheel.Config{Tick: 1, Slots: 64}, 0)
	var items []*item
	for i := 1; i <= 20; i++ {
		d := time.Duration(int64(i) * (math.MaxInt32 / 20))
		it := &item{id: i, due: int64(d)}
		h.add(it, d)
		items = append(items, it)
	}
	near := &item{id: 100, due: 3}
	h.add(near, 3)
	start := time.Now()
	got := h.advance(math.MaxInt32)
	elapsed := time.Since(start)
	if len(got) != 21 || got[0] != 100 {
		t.Fatalf("fired %v", got)
	}
	for i, it := range items {
		if got[i+1] != it.id {
			t.Fatalf("fired %v, want in deadline order", got)
		}
	}
	if elapsed > 500*time.Millisecond {
		t.Fatalf("Advance over 2^31 ticks took %v: not skipping", elapsed)
	}
	// A jump over an empty wheel is immediate too.
	start = time.Now()
	h.advance(1 << 62)
	if elapsed := time.Since(start); elapsed > 100*time.Millisecond {
		t.Fatalf("Advance over an empty wheel took %v", elapsed)
	}
	h.add(near, time.Second)
	if got := h.advance(1<<62 + int64(time.Second)); !slices.Equal(got, []int{100}) {
		t.Fatalf("after the jump fired %v", got)
	}
}

// TestMillionTimers: 1 M timers spread over more than a revolution all fire
// exactly once, at their tick.
func TestMillionTimers(t *testing.T) {
	const n = 1 << 20
	h := newHarness(t, timingwheel.Config{Tick: time.Second, Slots: 4096}, 0)
	items := make([]item, n)
	for i := range items {
		it := &items[i]
		it.id = i
		d := time.Duration(i%5000)*time.Second + time.Duration(i%1000)*time.Millisecond
		it.due = (int64(d) + sec - 1) / sec * sec
		if it.due == 0 {
			it.due = sec
		}
		h.add(it, d)
	}
	if h.w.Len() != n {
		t.Fatalf("Len = %d", h.w.Len())
	}
	total := 0
	for now := sec; now <= 5001*sec; now += sec {
		h.log = h.log[:0]
		total += h.w.Advance(now)
		for _, it := range h.log {
			if it.due != now {
				t.Fatalf("item %d due at %d fired at %d", it.id, it.due, now)
			}
		}
	}
	if total != n || h.w.Len() != 0 {
		t.Fatalf("fired %d of %d, Len %d", total, n, h.w.Len())
	}
	for i := range items {
		if items[i].fired != 1 {
			t.Fatalf("item %d fired %d times", i, items[i].fired)
		}
	}
}
