package protocol

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// Envelope is the top level of a wsloop JSON message (README "Protocol"):
//
//	{"cmd":"join","seqno":"42","data":{"room":"r1"}}
//
// Decode fills it in place; the handler binds Data with sonic afterwards.
//
// Decoding is a small validating scanner written for this one shape rather
// than a call into sonic: it runs for every message a server receives, and
// sonic allocates there (sonic.Unmarshal into a struct with a string Cmd
// and NoCopyRawMessage Seqno and Data: 3 allocations per message; sonic.Get
// of "cmd" alone: 2), while Decode allocates nothing and validates the
// whole message. BenchmarkEnvelope_Scanner and the BenchmarkEnvelope_Sonic*
// benchmarks beside it measure both.
type Envelope struct {
	// Cmd is the contents of the "cmd" string, without the quotes. It is
	// non-empty valid UTF-8 with no escapes, so it can be written back
	// between quotes as is.
	Cmd []byte
	// Seqno is the raw "seqno" token as sent, with its quotes if it is a
	// string (`"42"`) and without if it is a number (`42`); nil when
	// absent. A reply echoes it verbatim.
	Seqno []byte
	// Data is the raw "data" value, any JSON value including `null`; nil
	// when absent.
	Data []byte
}

// maxJSONDepth bounds how deeply arrays and objects nest in a message,
// counting the envelope itself.
const maxJSONDepth = 64

// Decode parses the message p into e without allocating; e's fields alias
// p.
//
// p must be exactly one JSON object, with optional whitespace around it,
// and valid JSON throughout: skipped values are validated too (strings
// with their escapes, numbers, literals, nesting up to 64 levels). Keys
// other than "cmd", "seqno" and "data" are skipped; keys match exactly
// (case-sensitive, after unescaping). "cmd" is required: a string without
// escapes. "seqno" is optional: a string or a number. "data" is optional:
// any value. UTF-8 validity of skipped strings and of Data is not checked
// here: the frame layer checks every text message.
//
// The errors, in order of precedence: ErrBadJSON when p is not such a JSON
// object (e is then zeroed); ErrJSONTooDeep when it nests deeper than 64
// levels (the rest of p is not read; the fields read before the deep value
// stay set); otherwise the first of ErrDuplicateKey, ErrBadCmd and
// ErrBadSeqno in message order, then ErrMissingCmd. On every error but
// ErrBadJSON the fields that were valid stay set, so that the 400 reply can
// echo Seqno (and Cmd).
//
// Must be called on the connection's event loop. p is not modified; e's
// fields are valid only as long as p is.
func (e *Envelope) Decode(p []byte) error {
	*e = Envelope{}
	err := e.decode(p)
	if err == ErrBadJSON {
		*e = Envelope{}
		return err
	}
	if err == ErrJSONTooDeep {
		return err
	}
	if err == nil && len(e.Cmd) == 0 {
		err = ErrMissingCmd
	}
	return err
}

// Bits of the keys an envelope has already seen.
const (
	envKeyCmd = 1 << iota
	envKeySeqno
	envKeyData
)

// envKeyBit returns the bit of the envelope key whose raw contents (already
// validated) are key, or 0 for any other key.
func envKeyBit(key []byte, escaped bool) uint8 {
	if escaped {
		switch {
		case jsonKeyIs(key, true, "cmd"):
			return envKeyCmd
		case jsonKeyIs(key, true, "seqno"):
			return envKeySeqno
		case jsonKeyIs(key, true, "data"):
			return envKeyData
		}
		return 0
	}
	switch string(key) {
	case "cmd":
		return envKeyCmd
	case "seqno":
		return envKeySeqno
	case "data":
		return envKeyData
	}
	return 0
}

func (e *Envelope) decode(p []byte) (semantic error) {
	i := skipJSONSpace(p, 0)
	if i == len(p) || p[i] != '{' {
		return ErrBadJSON
	}
	i = skipJSONSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		i++
	} else {
		var seen uint8
		for {
			if i == len(p) || p[i] != '"' {
				return ErrBadJSON
			}
			end, escaped, ok := scanJSONString(p, i)
			if !ok {
				return ErrBadJSON
			}
			key := p[i+1 : end-1]
			i = skipJSONSpace(p, end)
			if i == len(p) || p[i] != ':' {
				return ErrBadJSON
			}
			i = skipJSONSpace(p, i+1)
			start := i
			var err error
			if i, err = skipJSONValue(p, i, 1); err != nil {
				return err
			}
			value := p[start:i]

			bit := envKeyBit(key, escaped)
			var bad error
			switch {
			case bit == 0:
			case seen&bit != 0:
				bad = ErrDuplicateKey
			case bit == envKeyCmd:
				if value[0] != '"' || bytes.IndexByte(value, '\\') >= 0 || !utf8.Valid(value) {
					bad = ErrBadCmd
				} else {
					e.Cmd = value[1 : len(value)-1]
				}
			case bit == envKeySeqno:
				if (value[0] == '"' && utf8.Valid(value)) || value[0] == '-' || isJSONDigit(value[0]) {
					e.Seqno = value
				} else {
					bad = ErrBadSeqno
				}
			case bit == envKeyData:
				e.Data = value
			}
			seen |= bit
			if semantic == nil {
				semantic = bad
			}

			i = skipJSONSpace(p, i)
			if i == len(p) {
				return ErrBadJSON
			}
			if p[i] == '}' {
				i++
				break
			}
			if p[i] != ',' {
				return ErrBadJSON
			}
			i = skipJSONSpace(p, i+1)
		}
	}
	if skipJSONSpace(p, i) != len(p) {
		return ErrBadJSON
	}
	return semantic
}

// CheckJSON reports whether p is exactly one JSON value (whitespace around
// it allowed) that can be written into a text frame as it is: valid JSON
// throughout, arrays and objects nested at most 64 deep, and valid UTF-8.
// It returns nil, ErrBadJSON, ErrJSONTooDeep or ErrInvalidUTF8. Servers use
// it on raw JSON handed to them by code they do not control before framing
// it, since a text frame that is not UTF-8 makes a conforming client fail
// its connection (RFC 6455 §8.1).
//
// It does not allocate. Safe for concurrent use.
func CheckJSON(p []byte) error {
	i := skipJSONSpace(p, 0)
	if i == len(p) {
		return ErrBadJSON
	}
	end, err := skipJSONValue(p, i, 0)
	if err != nil {
		return err
	}
	if skipJSONSpace(p, end) != len(p) {
		return ErrBadJSON
	}
	if !utf8.Valid(p) {
		return ErrInvalidUTF8
	}
	return nil
}

// jsonWhite marks the four JSON whitespace bytes.
var jsonWhite = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func skipJSONSpace(p []byte, i int) int {
	for i < len(p) && jsonWhite[p[i]] {
		i++
	}
	return i
}

func isJSONDigit(c byte) bool { return '0' <= c && c <= '9' }

// jsonPlain marks the bytes a JSON string holds without escaping: not '"',
// not '\\', not a control character.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanJSONString validates the string whose opening quote is p[i] and
// returns the index just past its closing quote and whether it holds a
// backslash escape.
func scanJSONString(p []byte, i int) (end int, escaped, ok bool) {
	i++
	for {
		// Eight bytes at a time while eight are left (most strings of an
		// envelope end within the first eight), then one at a time.
		for i+8 <= len(p) {
			if t := nonPlain8(binary.LittleEndian.Uint64(p[i:])); t != 0 {
				i += bits.TrailingZeros64(t) >> 3
				break
			}
			i += 8
		}
		for i < len(p) && jsonPlain[p[i]] {
			i++
		}
		if i == len(p) {
			return 0, false, false
		}
		switch p[i] {
		case '"':
			return i + 1, escaped, true
		case '\\':
			escaped = true
			if i+1 == len(p) {
				return 0, false, false
			}
			switch p[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(p)-i < 6 || !isJSONHex(p[i+2]) || !isJSONHex(p[i+3]) || !isJSONHex(p[i+4]) || !isJSONHex(p[i+5]) {
					return 0, false, false
				}
				i += 6
			default:
				return 0, false, false
			}
		default: // a control character
			return 0, false, false
		}
	}
}

// SWAR constants: a one and a high bit in every byte of a word.
const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// nonPlain8 marks, with the high bit of its byte, the first byte of the
// little-endian word x that a JSON string cannot hold as it is ('"', '\\'
// or a control character), and perhaps later ones; 0 when all eight are
// plain. Each term, (v - k·ones) &^ v & high, sets the high bit of the
// lowest byte of v below k exactly (a borrow only starts at such a byte,
// so only bytes above it can be marked wrongly), and the callers look at
// the lowest mark only.
func nonPlain8(x uint64) uint64 {
	q := x ^ swarOnes*'"'
	b := x ^ swarOnes*'\\'
	return ((x-swarOnes*0x20)&^x | (q-swarOnes)&^q | (b-swarOnes)&^b) & swarHigh
}

// jsonUnhex returns the value of the hex digit c.
func jsonUnhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func isJSONHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// skipJSONValue validates the JSON value that starts at p[i] and returns
// the index just past it. depth is the number of arrays and objects that
// enclose it. Nesting is tracked without recursion: bit k of stack tells
// whether the k-th open container is an object.
func skipJSONValue(p []byte, i, depth int) (int, error) {
	var stack uint64
	level := 0
	for {
		// One value, or the opening of a container.
		if i == len(p) {
			return 0, ErrBadJSON
		}
		opened := false
		switch c := p[i]; {
		case c == '"':
			end, _, ok := scanJSONString(p, i)
			if !ok {
				return 0, ErrBadJSON
			}
			i = end
		case c == '{' || c == '[':
			if depth+level >= maxJSONDepth {
				return 0, ErrJSONTooDeep
			}
			if c == '{' {
				stack |= 1 << level
			} else {
				stack &^= 1 << level
			}
			level++
			i = skipJSONSpace(p, i+1)
			if i < len(p) && (p[i] == '}' && c == '{' || p[i] == ']' && c == '[') {
				i++
				level--
				break
			}
			if c == '{' {
				var ok bool
				if i, ok = skipJSONKey(p, i); !ok {
					return 0, ErrBadJSON
				}
			}
			opened = true
		case c == 't':
			if !hasLiteral(p, i, "true") {
				return 0, ErrBadJSON
			}
			i += len("true")
		case c == 'f':
			if !hasLiteral(p, i, "false") {
				return 0, ErrBadJSON
			}
			i += len("false")
		case c == 'n':
			if !hasLiteral(p, i, "null") {
				return 0, ErrBadJSON
			}
			i += len("null")
		case c == '-' || isJSONDigit(c):
			var ok bool
			if i, ok = scanJSONNumber(p, i); !ok {
				return 0, ErrBadJSON
			}
		default:
			return 0, ErrBadJSON
		}
		if opened {
			continue // parse the container's first element
		}

		// A value is complete: close containers until one goes on.
		for {
			if level == 0 {
				return i, nil
			}
			i = skipJSONSpace(p, i)
			if i == len(p) {
				return 0, ErrBadJSON
			}
			object := stack&(1<<(level-1)) != 0
			c := p[i]
			if c == ',' {
				i = skipJSONSpace(p, i+1)
				if object {
					var ok bool
					if i, ok = skipJSONKey(p, i); !ok {
						return 0, ErrBadJSON
					}
				}
				break
			}
			if object && c == '}' || !object && c == ']' {
				i++
				level--
				continue
			}
			return 0, ErrBadJSON
		}
	}
}

// skipJSONKey validates `"key" :` at p[i] and the whitespace after it, and
// returns the index of the value.
func skipJSONKey(p []byte, i int) (int, bool) {
	if i == len(p) || p[i] != '"' {
		return 0, false
	}
	end, _, ok := scanJSONString(p, i)
	if !ok {
		return 0, false
	}
	i = skipJSONSpace(p, end)
	if i == len(p) || p[i] != ':' {
		return 0, false
	}
	return skipJSONSpace(p, i+1), true
}

func hasLiteral(p []byte, i int, lit string) bool {
	return len(p)-i >= len(lit) && string(p[i:i+len(lit)]) == lit
}

// scanJSONNumber validates the number at p[i] and returns the index just
// past it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanJSONNumber(p []byte, i int) (int, bool) {
	if p[i] == '-' {
		i++
	}
	switch {
	case i == len(p):
		return 0, false
	case p[i] == '0':
		i++
	case isJSONDigit(p[i]):
		i = skipDigits(p, i)
	default:
		return 0, false
	}
	if i < len(p) && p[i] == '.' {
		j := skipDigits(p, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(p) && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < len(p) && (p[i] == '+' || p[i] == '-') {
			i++
		}
		j := skipDigits(p, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

func skipDigits(p []byte, i int) int {
	for i < len(p) && isJSONDigit(p[i]) {
		i++
	}
	return i
}

// jsonKeyIs reports whether the raw contents of a key string, already
// validated, equal name (ASCII) once unescaped.
func jsonKeyIs(raw []byte, escaped bool, name string) bool {
	if !escaped {
		return string(raw) == name
	}
	j := 0
	for i := 0; i < len(raw); j++ {
		if j == len(name) {
			return false
		}
		c := raw[i]
		if c == '\\' {
			switch raw[i+1] {
			case 'u':
				r := 0
				for _, h := range raw[i+2 : i+6] {
					r = r<<4 | int(jsonUnhex(h))
				}
				if r >= 0x80 {
					return false // name is ASCII
				}
				c = byte(r)
				i += 6
			case 'b':
				c, i = '\b', i+2
			case 'f':
				c, i = '\f', i+2
			case 'n':
				c, i = '\n', i+2
			case 'r':
				c, i = '\r', i+2
			case 't':
				c, i = '\t', i+2
			default: // '"', '\\', '/'
				c, i = raw[i+1], i+2
			}
		} else {
			i++
		}
		if c != name[j] {
			return false
		}
	}
	return j == len(name)
}

// AppendReply appends a response to a request:
//
//	{"cmd":…,"seqno":…,"status":0,"msg":"ok","data":…}
//
// with the keys in that order. cmd is written as a JSON string (the Cmd of
// a decoded Envelope needs no escaping and is copied as is); seqno is
// written verbatim and omitted when empty, so pass Envelope.Seqno; msg is
// JSON-escaped; data must be a valid JSON value (e.g. from sonic.Marshal)
// and is written verbatim, omitted when empty. It does not allocate when
// dst has room.
//
// Safe for concurrent use.
func AppendReply(dst, cmd, seqno []byte, status int, msg string, data []byte) []byte {
	dst = append(dst, `{"cmd":`...)
	dst = appendJSONString(dst, cmd)
	if len(seqno) > 0 {
		dst = append(dst, `,"seqno":`...)
		dst = append(dst, seqno...)
	}
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, `,"msg":`...)
	dst = appendJSONString(dst, msg)
	if len(data) > 0 {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	return append(dst, '}')
}

// AppendPush appends a server-initiated message, {"cmd":…,"data":…}, with
// no seqno. cmd is JSON-escaped; data must be a valid JSON value and is
// written verbatim, omitted when empty. It does not allocate when dst has
// room.
//
// Safe for concurrent use.
func AppendPush(dst []byte, cmd string, data []byte) []byte {
	dst = append(dst, `{"cmd":`...)
	dst = appendJSONString(dst, cmd)
	if len(data) > 0 {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	return append(dst, '}')
}
