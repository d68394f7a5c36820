package codec

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// utf8Samples mixes valid text and every class of invalid sequence.
var utf8Samples = []string{
	"",
	"plain ascii, long enough to take the word-at-a-time path",
	"héllo wörld",
	"世界 and 🙂 and €",
	"\u0080\u07ff\u0800\uffff\U00010000\U0010ffff",
	"\ud7ff\ue000",           // around the surrogates
	"\xed\x9f\xbf",           // U+D7FF, last before the surrogates
	"\xed\xa0\x80",           // U+D800, a surrogate
	"\xed\xbf\xbf",           // U+DFFF
	"\xc0\x80",               // overlong NUL
	"\xc1\xbf",               // overlong
	"\xe0\x80\x80",           // overlong
	"\xe0\x9f\xbf",           // overlong
	"\xf0\x8f\xbf\xbf",       // overlong
	"\xf4\x8f\xbf\xbf",       // U+10FFFF
	"\xf4\x90\x80\x80",       // above U+10FFFF
	"\xf5\x80\x80\x80",       // invalid lead
	"\xff",                   // never valid
	"\x80",                   // lone continuation
	"ab\xe2\x82",             // truncated
	"ab\xe2\x82(",            // broken by ASCII
	"\xf0\x9f\x99",           // truncated 4-byte
	"\xf0\x9f\x99\x82\x82",   // extra continuation
	"κόσμε\xce",              // truncated at the end
	"12345678\xc3\xa9abcdef", // sequence after a word
}

// validPrefix reports whether p can be extended to valid UTF-8: the oracle
// for fail-fast, built from utf8.Valid alone.
func validPrefix(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	conts := []byte{0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf}
	for _, a := range conts {
		if utf8.Valid(append(bytes.Clone(p), a)) {
			return true
		}
		for _, b := range conts {
			if utf8.Valid(append(bytes.Clone(p), a, b)) {
				return true
			}
			for _, c := range conts {
				if utf8.Valid(append(bytes.Clone(p), a, b, c)) {
					return true
				}
			}
		}
	}
	return false
}

func TestUTF8AgreesWithStdlib(t *testing.T) {
	for _, s := range utf8Samples {
		p := []byte(s)
		want := utf8.Valid(p)
		// Whole, and split at every pair of cut points.
		for i := 0; i <= len(p); i++ {
			for j := i; j <= len(p); j++ {
				var u UTF8
				ok := u.Write(p[:i]) && u.Write(p[i:j]) && u.Write(p[j:])
				if got := ok && u.Complete(); got != want {
					t.Errorf("%q split at %d,%d: valid %v; want %v", s, i, j, got, want)
				}
			}
		}
	}
}

func TestUTF8FailsFast(t *testing.T) {
	for _, s := range utf8Samples {
		p := []byte(s)
		// One byte at a time: Write must turn false exactly at the first
		// prefix that no continuation can make valid, and stay false.
		var u UTF8
		failed := false
		for i := range p {
			ok := u.Write(p[i : i+1])
			want := !failed && validPrefix(p[:i+1])
			if ok != want {
				t.Fatalf("%q: Write of byte %d = %v; want %v", s, i, ok, want)
			}
			failed = !ok
		}
		if u.Complete() != utf8.Valid(p) {
			t.Fatalf("%q: Complete = %v", s, u.Complete())
		}
		u.Reset()
		if !u.Complete() || !u.Write([]byte("ok")) {
			t.Fatalf("%q: Reset did not clear the state", s)
		}
	}
}

func TestUTF8LongInputs(t *testing.T) {
	// Long runs take the utf8.Valid path; an error deep inside must be
	// found however the input is cut.
	for _, tail := range []string{"", "\xff", "\xe2\x82", "\xed\xa0\x80"} {
		p := append(bytes.Clone(bigText[:4096]), tail...)
		p = append(p, "end"...)
		want := utf8.Valid(p)
		for _, step := range []int{1, 7, 100, 1000, len(p)} {
			var u UTF8
			ok := true
			for i := 0; i < len(p) && ok; i += step {
				ok = u.Write(p[i:min(i+step, len(p))])
			}
			if got := ok && u.Complete(); got != want {
				t.Errorf("tail %q, step %d: valid %v; want %v", tail, step, got, want)
			}
		}
	}
}
