package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestIndexUpperConsistent(t *testing.T) {
	prev := int64(-1)
	for i := 0; i < buckets; i++ {
		u := upper(i)
		if u <= prev {
			t.Fatalf("bucket %d upper %d not above bucket %d's %d", i, u, i-1, prev)
		}
		if index(u) != i || index(prev+1) != i {
			t.Fatalf("bucket %d = [%d, %d] but index gives %d, %d", i, prev+1, u, index(prev+1), index(u))
		}
		prev = u
	}
	if prev != math.MaxInt64 {
		t.Fatalf("last bucket ends at %d, want MaxInt64", prev)
	}
}

func TestQuantileTable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []int64
		q      float64
		want   int64
	}{
		{"empty", nil, 0.5, 0},
		{"one", []int64{100}, 0.5, 100},
		{"exact small p50", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5, 5},
		{"exact small p90", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9},
		{"exact small p99", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.99, 10},
		{"q0 is min bucket", []int64{3, 50, 90}, 0, 3},
		{"clipped to max", []int64{1000}, 1, 1000},
		{"negative as zero", []int64{-5}, 0.5, 0},
	} {
		var h Histogram
		for _, v := range tc.values {
			h.Record(v)
		}
		if got := h.Quantile(tc.q); got != tc.want {
			t.Errorf("%s: Quantile(%v) = %d, want %d", tc.name, tc.q, got, tc.want)
		}
	}
}

// Against exact order statistics of random latencies spanning µs to s, the
// reported quantile is never below the true one and at most 1/64 above.
func TestQuantileErrorBound(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]int64, 200000)
	for i := range vals {
		v := int64(math.Exp(r.Float64() * math.Log(1e9))) // log-uniform 1 ns .. 1 s
		vals[i] = v
		h.Record(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
		rank := int(math.Ceil(q * float64(len(vals))))
		exact := vals[rank-1]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/64+1 {
			t.Errorf("q=%v: got %d, exact %d", q, got, exact)
		}
	}
	if h.Count() != uint64(len(vals)) || h.Max() != vals[len(vals)-1] {
		t.Errorf("Count %d Max %d", h.Count(), h.Max())
	}
}

func TestMergeReset(t *testing.T) {
	var a, b, m Histogram
	for i := int64(1); i <= 1000; i++ {
		if i%2 == 0 {
			a.Record(i * 1000)
		} else {
			b.Record(i * 1000)
		}
	}
	m.Merge(&a)
	m.Merge(&b)
	if m.Count() != 1000 || m.Max() != 1000000 {
		t.Fatalf("merged Count %d Max %d", m.Count(), m.Max())
	}
	if p := m.Quantile(0.5); p < 500000 || p > 500000+500000/64 {
		t.Fatalf("merged p50 %d", p)
	}
	if mean := m.Mean(); mean != 500500 {
		t.Fatalf("mean %v", mean)
	}
	m.Reset()
	if m.Count() != 0 || m.Quantile(0.5) != 0 {
		t.Fatal("Reset left values")
	}
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(int64(i&0xffff) * 97)
	}
}
