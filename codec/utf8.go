package codec

import "unicode/utf8"

// UTF8 validates UTF-8 text given in pieces, such as the fragments of a text
// message, as RFC 6455 requires (section 8.1). It fails fast: Write reports
// false as soon as the bytes seen so far cannot begin any valid text, even
// when the offending sequence started in an earlier piece. The zero value is
// ready to use and the whole state is one byte.
//
// A UTF8 is not safe for concurrent use.
type UTF8 struct {
	state uint8
}

// Validator states. Each state >= utf8Need1 is "inside a sequence" and
// names what the next byte must be.
const (
	utf8Accept  uint8 = iota // between sequences
	utf8Reject               // invalid; absorbing
	utf8Need1                // 1 more byte in 80..BF
	utf8Need2                // 2 more, first in 80..BF
	utf8Need3                // 3 more, first in 80..BF
	utf8AfterE0              // 2 more, first in A0..BF (no overlongs)
	utf8AfterED              // 2 more, first in 80..9F (no surrogates)
	utf8AfterF0              // 3 more, first in 90..BF (no overlongs)
	utf8AfterF4              // 3 more, first in 80..8F (nothing above U+10FFFF)
	utf8States
)

// Byte classes: bytes that every state treats alike (RFC 3629, section 4).
const (
	clsASCII   = iota // 00..7F
	clsCont8          // 80..8F
	clsCont9          // 90..9F
	clsContA          // A0..BF
	clsLead2          // C2..DF
	clsE0             // E0
	clsLead3          // E1..EC, EE..EF
	clsED             // ED
	clsF0             // F0
	clsLead4          // F1..F3
	clsF4             // F4
	clsInvalid        // C0, C1, F5..FF
	utf8Classes
)

var utf8Class = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c <= 0x7f:
			t[c] = clsASCII
		case c <= 0x8f:
			t[c] = clsCont8
		case c <= 0x9f:
			t[c] = clsCont9
		case c <= 0xbf:
			t[c] = clsContA
		case c <= 0xc1:
			t[c] = clsInvalid
		case c <= 0xdf:
			t[c] = clsLead2
		case c == 0xe0:
			t[c] = clsE0
		case c == 0xed:
			t[c] = clsED
		case c <= 0xef:
			t[c] = clsLead3
		case c == 0xf0:
			t[c] = clsF0
		case c <= 0xf3:
			t[c] = clsLead4
		case c == 0xf4:
			t[c] = clsF4
		default:
			t[c] = clsInvalid
		}
	}
	return t
}()

// utf8Next[state][class] is the state after a byte of that class.
var utf8Next = func() (t [utf8States][utf8Classes]uint8) {
	for s := range t {
		for c := range t[s] {
			t[s][c] = utf8Reject
		}
	}
	a := &t[utf8Accept]
	a[clsASCII] = utf8Accept
	a[clsLead2] = utf8Need1
	a[clsE0] = utf8AfterE0
	a[clsLead3] = utf8Need2
	a[clsED] = utf8AfterED
	a[clsF0] = utf8AfterF0
	a[clsLead4] = utf8Need3
	a[clsF4] = utf8AfterF4
	for _, c := range []int{clsCont8, clsCont9, clsContA} {
		t[utf8Need1][c] = utf8Accept
		t[utf8Need2][c] = utf8Need1
		t[utf8Need3][c] = utf8Need2
	}
	t[utf8AfterE0][clsContA] = utf8Need1
	t[utf8AfterED][clsCont8] = utf8Need1
	t[utf8AfterED][clsCont9] = utf8Need1
	t[utf8AfterF0][clsCont9] = utf8Need2
	t[utf8AfterF0][clsContA] = utf8Need2
	t[utf8AfterF4][clsCont8] = utf8Need2
	return t
}()

// Write feeds p to the validator and reports whether all the bytes written
// since the last Reset are still a valid beginning of UTF-8 text. Once it
// has returned false it keeps returning false until Reset.
//
// Between sequences it hands complete runs to unicode/utf8.Valid, which
// checks 8 ASCII bytes at a time, and walks only the at most 3 bytes of a
// sequence split across pieces through its own state machine.
//
// 0 allocations.
func (u *UTF8) Write(p []byte) bool {
	s := u.state
	// Finish a sequence begun in an earlier piece.
	for s >= utf8Need1 && len(p) > 0 {
		s = utf8Next[s][utf8Class[p[0]]]
		p = p[1:]
	}
	if s == utf8Accept && len(p) > 0 {
		// Cut before the last sequence if it may be incomplete: its
		// lead byte is among the last 3 bytes.
		cut := len(p)
		for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
			if c := p[i]; c < 0x80 {
				break
			} else if c >= 0xc0 {
				cut = i
				break
			}
		}
		if !utf8.Valid(p[:cut]) {
			s = utf8Reject
		} else {
			for _, c := range p[cut:] {
				s = utf8Next[s][utf8Class[c]]
			}
		}
	}
	u.state = s
	return s != utf8Reject
}

// Complete reports whether the bytes written since the last Reset are valid,
// complete UTF-8 text: nothing invalid and no sequence left unfinished.
func (u *UTF8) Complete() bool {
	return u.state == utf8Accept
}

// Reset makes u ready for a new text.
func (u *UTF8) Reset() {
	u.state = utf8Accept
}
