package codec

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// cipherRef is the RFC 6455 definition, byte by byte.
func cipherRef(p []byte, mask [4]byte, offset int) {
	for i := range p {
		p[i] ^= mask[(offset+i)%4]
	}
}

func TestCipher(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	mask := [4]byte{0x11, 0x22, 0x84, 0xf8}
	for n := 0; n <= 100; n++ {
		for offset := range 9 {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(r.Uint32())
			}
			want := bytes.Clone(src)
			cipherRef(want, mask, offset)
			got := bytes.Clone(src)
			if next := Cipher(got, mask, offset); next != (offset+n)%4 {
				t.Fatalf("len %d offset %d: next offset %d; want %d", n, offset, next, (offset+n)%4)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("len %d offset %d:\n got % x\nwant % x", n, offset, got, want)
			}
			// Applying it twice restores the input.
			Cipher(got, mask, offset)
			if !bytes.Equal(got, src) {
				t.Fatalf("len %d offset %d: not an involution", n, offset)
			}
		}
	}
}

func TestCipherResumesAcrossChunks(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	mask := [4]byte{0xde, 0xad, 0xbe, 0xef}
	src := make([]byte, 3000)
	for i := range src {
		src[i] = byte(r.Uint32())
	}
	want := bytes.Clone(src)
	cipherRef(want, mask, 0)
	for range 50 {
		got := bytes.Clone(src)
		offset := 0
		for p := got; len(p) > 0; {
			k := min(1+r.IntN(70), len(p))
			offset = Cipher(p[:k], mask, offset)
			p = p[k:]
		}
		if !bytes.Equal(got, want) {
			t.Fatal("chunked Cipher differs from one pass")
		}
	}
}
