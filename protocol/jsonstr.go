package protocol

// AppendString appends s as a JSON string: quoted, with '"', '\\' and
// control characters escaped (\n, \r, \t, \b, \f, else \u00XX) and each
// byte of invalid UTF-8 replaced by \ufffd. Everything else, including
// valid non-ASCII UTF-8, is written as is. It does not allocate when dst
// has room.
//
// Safe for concurrent use.
func AppendString(dst []byte, s string) []byte {
	return appendJSONString(dst, s)
}

const jsonHexDigits = "0123456789abcdef"

// appendJSONString is AppendString for a string or a byte slice.
func appendJSONString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			i++
			continue
		}
		if c >= 0x80 {
			if n := utf8SeqLen(s, i); n > 0 {
				i += n
				continue
			}
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			if c < 0x20 {
				dst = append(dst, '\\', 'u', '0', '0', jsonHexDigits[c>>4], jsonHexDigits[c&0xf])
			} else {
				dst = append(dst, `\ufffd`...)
			}
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// utf8SeqLen returns the length of the valid UTF-8 sequence that starts at
// s[i] (a byte >= 0x80), or 0 if none does (RFC 3629 §4: no overlongs, no
// surrogates, nothing above U+10FFFF).
func utf8SeqLen[S ~string | ~[]byte](s S, i int) int {
	c := s[i]
	n, lo, hi := 0, byte(0x80), byte(0xbf) // lo, hi bound the second byte
	switch {
	case c >= 0xc2 && c <= 0xdf:
		n = 2
	case c == 0xe0:
		n, lo = 3, 0xa0
	case c == 0xed:
		n, hi = 3, 0x9f
	case c >= 0xe1 && c <= 0xef:
		n = 3
	case c == 0xf0:
		n, lo = 4, 0x90
	case c == 0xf4:
		n, hi = 4, 0x8f
	case c >= 0xf1 && c <= 0xf3:
		n = 4
	default:
		return 0
	}
	if len(s)-i < n {
		return 0
	}
	if b := s[i+1]; b < lo || b > hi {
		return 0
	}
	for k := 2; k < n; k++ {
		if b := s[i+k]; b < 0x80 || b > 0xbf {
			return 0
		}
	}
	return n
}
