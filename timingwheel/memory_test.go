package timingwheel_test

import (
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/wsloop/wsloop/timingwheel"
)

// TestMemoryPerTimer measures what the wheel allocates for 1 M scheduled
// timers (bound: 16 bytes per timer; the design needs 0) and states the size
// of the Timer handle the owner embeds.
func TestMemoryPerTimer(t *testing.T) {
	const n = 1 << 20
	handle := reflect.TypeFor[timingwheel.Timer[item]]().Size()
	if ptr := reflect.TypeFor[*item]().Size(); handle > 2*ptr+8 {
		t.Fatalf("Timer is %d bytes, want at most %d", handle, 2*ptr+8)
	}
	items := make([]item, n)
	w, err := timingwheel.New(timingwheel.Config{}, 0, itemTimer, func(*item) {})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range items {
		if err := w.Add(&items[i], time.Duration(i%7200)*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perTimer := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	mallocs := after.Mallocs - before.Mallocs
	t.Logf("%d timers: wheel-owned %.2f bytes/timer (%d mallocs); Timer handle in the owner: %d bytes", n, perTimer, mallocs, handle)
	if perTimer > 16 {
		t.Errorf("wheel-owned memory %.2f bytes/timer, want <= 16", perTimer)
	}
	if w.Len() != n {
		t.Fatalf("Len = %d", w.Len())
	}
	runtime.KeepAlive(items)
}
