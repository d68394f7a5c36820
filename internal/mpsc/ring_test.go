package mpsc

import (
	"sync"
	"testing"
)

func TestRingFIFOAndFull(t *testing.T) {
	r := New[int](3) // rounds to 4
	if r.Cap() != 4 {
		t.Fatalf("Cap = %d, want 4", r.Cap())
	}
	for i := 0; i < 4; i++ {
		if !r.Push(i) {
			t.Fatalf("Push(%d) refused on a ring with room", i)
		}
	}
	if r.Push(99) {
		t.Fatal("Push on a full ring succeeded")
	}
	for i := 0; i < 4; i++ {
		v, ok := r.Pop()
		if !ok || v != i {
			t.Fatalf("Pop = %d,%v, want %d,true", v, ok, i)
		}
	}
	if _, ok := r.Pop(); ok {
		t.Fatal("Pop on an empty ring succeeded")
	}
	// Wrap around many times.
	for i := 0; i < 1000; i++ {
		if !r.Push(i) {
			t.Fatal("Push refused after drain")
		}
		if v, ok := r.Pop(); !ok || v != i {
			t.Fatalf("wrap: Pop = %d,%v", v, ok)
		}
	}
}

func TestRingConcurrentProducers(t *testing.T) {
	const producers, per = 4, 20000
	r := New[[2]int](256)
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < per; {
				if r.Push([2]int{p, i}) {
					i++
				}
			}
		}(p)
	}
	next := make([]int, producers)
	got := 0
	for got < producers*per {
		v, ok := r.Pop()
		if !ok {
			continue
		}
		if v[1] != next[v[0]] {
			t.Fatalf("producer %d: got %d, want %d (per-producer order broken)", v[0], v[1], next[v[0]])
		}
		next[v[0]]++
		got++
	}
	wg.Wait()
	if r.Len() != 0 {
		t.Fatalf("Len = %d after draining", r.Len())
	}
}

func BenchmarkRingPushPop(b *testing.B) {
	r := New[[3]uint64](1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Push([3]uint64{uint64(i)})
		r.Pop()
	}
}
