//go:build !race

package tlsrec

import (
	"crypto/tls"
	"testing"
)

// TestSealOpenAllocateNothing: a round trip through the record layer (the
// client's record opened, the reply sealed) allocates nothing.
func TestSealOpenAllocateNothing(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		srv, cli := statePair(t, v)
		p := make([]byte, 1000)
		var rec []byte
		allocs := testing.AllocsPerRun(200, func() {
			rec = cli.Seal(rec[:0], p)
			if _, err := srv.Open(rec); err != nil {
				t.Fatal(err)
			}
			rec = srv.Seal(rec[:0], p)
			if _, err := cli.Open(rec); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("version %x: %v allocations per round trip", v, allocs)
		}
	}
}
