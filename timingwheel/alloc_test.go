//go:build !race

package timingwheel_test

import (
	"testing"
	"time"

	"github.com/wsloop/wsloop/timingwheel"
)

// TestZeroAllocs: Add, Reset, Remove and Advance (with fires that re-add)
// allocate nothing.
func TestZeroAllocs(t *testing.T) {
	const n = 1024
	items := make([]item, n)
	var w *timingwheel.Wheel[item]
	w, err := timingwheel.New(timingwheel.Config{Tick: time.Second, Slots: 512}, 0, itemTimer, func(it *item) {
		it.fired++
		if err := w.Add(it, time.Duration(it.id%100+1)*time.Second); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range items {
		items[i].id = i
	}
	i := 0
	next := func() *item { i = (i + 1) % n; return &items[i] }

	if a := testing.AllocsPerRun(1000, func() {
		it := next()
		if err := w.Add(it, time.Duration(i%200)*time.Second); err != nil {
			t.Fatal(err)
		}
		w.Remove(it)
	}); a != 0 {
		t.Errorf("Add+Remove: %v allocs, want 0", a)
	}
	for j := range items {
		if err := w.Add(&items[j], time.Duration(j%100+1)*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if a := testing.AllocsPerRun(1000, func() {
		if err := w.Reset(next(), time.Duration(i%300)*time.Second); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Reset: %v allocs, want 0", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		it := next()
		w.Remove(it)
		if err := w.Add(it, time.Duration(i%300)*time.Second); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Remove+Add: %v allocs, want 0", a)
	}
	now := int64(0)
	fired := 0
	if a := testing.AllocsPerRun(500, func() {
		now += int64(time.Second)
		fired += w.Advance(now)
	}); a != 0 {
		t.Errorf("Advance: %v allocs, want 0", a)
	}
	if fired < 500 {
		t.Fatalf("only %d fires during the Advance runs", fired)
	}
	if w.Len() != n {
		t.Fatalf("Len = %d, want %d", w.Len(), n)
	}
}
