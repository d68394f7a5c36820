package timingwheel_test

import (
	"reflect"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/wsloop/wsloop/timingwheel"
)

// TestTimerSize: the handle an owner embeds is two pointers, 16 bytes on
// 64-bit platforms, whatever the owner type.
func TestTimerSize(t *testing.T) {
	want := 2 * unsafe.Sizeof(uintptr(0))
	if got := unsafe.Sizeof(timingwheel.Timer[struct{}]{}); got != want {
		t.Fatalf("Timer[struct{}] is %d bytes, want %d", got, want)
	}
	if got := unsafe.Sizeof(timingwheel.Timer[item]{}); got != want {
		t.Fatalf("Timer[item] is %d bytes, want %d", got, want)
	}
	if unsafe.Sizeof(uintptr(0)) == 8 && unsafe.Sizeof(timingwheel.Timer[struct{}]{}) != 16 {
		t.Fatalf("Timer is %d bytes on a 64-bit platform, want 16", unsafe.Sizeof(timingwheel.Timer[struct{}]{}))
	}
}

// TestMemoryPerTimer measures what the wheel allocates for 1 M scheduled
// timers (the design needs 0 bytes per timer; the bound allows for noise
// from the runtime) and states the size of the Timer handle the owner
// embeds.
func TestMemoryPerTimer(t *testing.T) {
	const n = 1 << 20
	handle := reflect.TypeFor[timingwheel.Timer[item]]().Size()
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
	t.Logf("%d timers: wheel-owned %.3f bytes/timer (%d mallocs); Timer handle in the owner: %d bytes", n, perTimer, mallocs, handle)
	if perTimer > 0.5 {
		t.Errorf("wheel-owned memory %.3f bytes/timer, want 0", perTimer)
	}
	if w.Len() != n {
		t.Fatalf("Len = %d", w.Len())
	}
	runtime.KeepAlive(items)
	runtime.KeepAlive(w)
}
