package timingwheel_test

import (
	"testing"
	"time"

	"github.com/wsloop/wsloop/timingwheel"
)

// benchConn is a benchmark owner: a connection with a heartbeat timer.
type benchConn struct {
	lastSeen int64
	hb       timingwheel.Timer[benchConn]
}

func benchTimer(c *benchConn) *timingwheel.Timer[benchConn] { return &c.hb }

// rng is a xorshift generator, cheap enough not to dominate a benchmark.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = rng(x)
	return x
}

func newBenchWheel(b *testing.B, fire func(*benchConn)) *timingwheel.Wheel[benchConn] {
	b.Helper()
	w, err := timingwheel.New(timingwheel.Config{}, 0, benchTimer, fire)
	if err != nil {
		b.Fatal(err)
	}
	return w
}

const batch = 1 << 16

// BenchmarkAdd: one Add of an unscheduled timer, spread over 1000 slots.
func BenchmarkAdd(b *testing.B) {
	cs := make([]benchConn, batch)
	w := newBenchWheel(b, func(*benchConn) {})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		j := i & (batch - 1)
		if j == 0 && i > 0 {
			b.StopTimer()
			for k := range cs {
				w.Remove(&cs[k])
			}
			b.StartTimer()
		}
		if err := w.Add(&cs[j], time.Duration(1+j%1000)*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReset: one Reset of a random timer among 1 M scheduled ones, to
// another slot (the eager way to refresh a heartbeat).
func BenchmarkReset(b *testing.B) {
	const n = 1 << 20
	cs := make([]benchConn, n)
	w := newBenchWheel(b, func(*benchConn) {})
	for i := range cs {
		if err := w.Add(&cs[i], time.Duration(1+i%1000)*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	r := rng(88172645463325252)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		x := r.next()
		if err := w.Reset(&cs[x&(n-1)], time.Duration(1+(x>>32)%1000)*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRemove: one Remove of a scheduled timer, in random order.
func BenchmarkRemove(b *testing.B) {
	cs := make([]benchConn, batch)
	order := make([]int, batch)
	r := rng(88172645463325252)
	for i := range order {
		order[i] = i
	}
	for i := len(order) - 1; i > 0; i-- {
		j := int(r.next() % uint64(i+1))
		order[i], order[j] = order[j], order[i]
	}
	w := newBenchWheel(b, func(*benchConn) {})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		j := i & (batch - 1)
		if j == 0 {
			b.StopTimer()
			for k := range cs {
				if err := w.Add(&cs[k], time.Duration(1+k%1000)*time.Second); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
		if !w.Remove(&cs[order[j]]) {
			b.Fatal("Remove returned false")
		}
	}
}

// BenchmarkAdvance_1MTimers: one Advance by step ticks with 1 M timers
// held, each re-added by its fire function (steady state). spread is the
// timeout in ticks: 20 fires 1/20 of the timers per tick (heartbeats), 4000
// about 262 per tick (leases). step=10 is a loop catching up: the due slots
// are queued (each list but the last walked once) before they fire, so
// ns/fired against step=1 is the cost of that walk.
func BenchmarkAdvance_1MTimers(b *testing.B) {
	for _, c := range []struct{ spread, step int }{{20, 1}, {4000, 1}, {20, 10}} {
		b.Run("spread="+itoa(c.spread)+"/step="+itoa(c.step), func(b *testing.B) {
			const n = 1 << 20
			cs := make([]benchConn, n)
			d := time.Duration(c.spread) * time.Second
			var w *timingwheel.Wheel[benchConn]
			w = newBenchWheel(b, func(c *benchConn) {
				if err := w.Add(c, d); err != nil {
					b.Fatal(err)
				}
			})
			for i := range cs {
				if err := w.Add(&cs[i], time.Duration(1+i%c.spread)*time.Second); err != nil {
					b.Fatal(err)
				}
			}
			now := int64(0)
			fired := 0
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				now += int64(c.step) * int64(time.Second)
				fired += w.Advance(now)
			}
			b.StopTimer()
			if w.Len() != n {
				b.Fatalf("Len = %d", w.Len())
			}
			b.ReportMetric(float64(fired)/float64(b.N), "fired/op")
			if fired > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(fired), "ns/fired")
			}
		})
	}
}

// BenchmarkRefresh: one inbound frame refreshing a connection's liveness,
// with 1 M connections held (timeout 20 s, 1 s ticks), each sending a frame
// every interval in a fixed random order; the wheel advances once per
// simulated second. lazy stores the frame's time and reschedules when the
// timer fires; eager Resets the timer on every frame. ns/op includes the
// amortized Advance and its fires.
func BenchmarkRefresh(b *testing.B) {
	const (
		n       = 1 << 20
		timeout = 20 * time.Second
	)
	for _, interval := range []int{1, 15} {
		for _, lazy := range []bool{true, false} {
			name := "interval=" + itoa(interval) + "s/eager"
			if lazy {
				name = "interval=" + itoa(interval) + "s/lazy"
			}
			b.Run(name, func(b *testing.B) {
				benchRefresh(b, n, interval, timeout, lazy)
			})
		}
	}
}

func benchRefresh(b *testing.B, n, interval int, timeout time.Duration, lazy bool) {
	cs := make([]benchConn, n)
	order := make([]uint32, n)
	r := rng(88172645463325252)
	for i := range order {
		order[i] = uint32(i)
	}
	for i := len(order) - 1; i > 0; i-- {
		j := int(r.next() % uint64(i+1))
		order[i], order[j] = order[j], order[i]
	}
	var w *timingwheel.Wheel[benchConn]
	expired, fired := 0, 0
	w = newBenchWheel(b, func(c *benchConn) {
		fired++
		idle := time.Duration(w.Now() - c.lastSeen)
		if idle >= timeout { // would close; not in steady state
			expired++
			c.lastSeen, idle = w.Now(), 0
		}
		if err := w.Add(c, timeout-idle); err != nil {
			b.Fatal(err)
		}
	})
	// Start in the steady state: each connection sent its previous frame
	// one interval before its first frame in the loop, and its timer is due
	// a timeout after that.
	perTick := n / interval
	for k, j := range order {
		c := &cs[j]
		c.lastSeen = int64(k/perTick-interval) * int64(time.Second)
		if err := w.Add(c, time.Duration(c.lastSeen)+timeout); err != nil {
			b.Fatal(err)
		}
	}
	now, i := int64(0), 0
	b.ReportAllocs()
	for b.Loop() {
		c := &cs[order[i%n]]
		if lazy {
			c.lastSeen = now // the refresh: one store
		} else if err := w.Reset(c, timeout); err != nil {
			b.Fatal(err)
		}
		i++
		if i%perTick == 0 {
			now += int64(time.Second)
			w.Advance(now)
		}
	}
	b.ReportMetric(float64(fired)/float64(i), "fired/op")
	b.ReportMetric(float64(expired)/float64(i), "expired/op")
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	p := len(b)
	for ; i > 0; i /= 10 {
		p--
		b[p] = byte('0' + i%10)
	}
	return string(b[p:])
}
