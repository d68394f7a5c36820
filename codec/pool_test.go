package codec

import "testing"

func TestBufClass(t *testing.T) {
	cases := []struct{ n, class int }{
		{0, 0}, {1, 0}, {512, 0}, {513, 1}, {1024, 1}, {1025, 2},
		{1 << 22, 13}, {1<<22 + 1, 14}, {1 << 23, 14}, {1<<23 + 1, -1},
	}
	for _, tc := range cases {
		if got := bufClass(tc.n); got != tc.class {
			t.Errorf("bufClass(%d) = %d; want %d", tc.n, got, tc.class)
		}
	}
}

func TestBufGetPut(t *testing.T) {
	for _, n := range []int{0, 100, 512, 513, 70000, 1 << 23, 1<<23 + 1} {
		b := bufGet(n)
		if len(*b) != 0 || cap(*b) < n {
			t.Fatalf("bufGet(%d): len %d cap %d", n, len(*b), cap(*b))
		}
		*b = append(*b, "dirty"...)
		bufPut(b)
	}
	// Odd capacities are dropped, not pooled (they would break the
	// capacity promise of their class).
	odd := make([]byte, 0, 700)
	bufPut(&odd)
	for range 100 {
		if b := bufGet(1000); cap(*b) < 1000 || len(*b) != 0 {
			t.Fatalf("bufGet(1000) after an odd put: len %d cap %d", len(*b), cap(*b))
		}
	}
}
