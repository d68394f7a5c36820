// Package wsframe is the load generator's side of RFC 6455: the client half
// of the opening handshake and a minimal frame encoder and decoder over
// []byte.
//
// Client frames are always final and masked (AppendClient); server frames
// are parsed in place from whatever bytes have arrived (Decode returns 0
// consumed until a whole frame is there). Only what wsbench needs is here:
// no fragmentation on send, no extensions, no UTF-8 checks.
//
// Everything is a function over caller buffers, safe for concurrent use on
// distinct buffers, and allocates nothing (except Request and AcceptKey).
package wsframe

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math/bits"
)

// OpCode is a frame opcode.
type OpCode byte

// Opcodes defined by RFC 6455.
const (
	OpContinuation OpCode = 0x0
	OpText         OpCode = 0x1
	OpBinary       OpCode = 0x2
	OpClose        OpCode = 0x8
	OpPing         OpCode = 0x9
	OpPong         OpCode = 0xA
)

// Errors returned by Decode and ParseResponse.
var (
	// ErrReservedBits: a frame has RSV bits set (no extension is negotiated).
	ErrReservedBits = errors.New("wsframe: reserved bits set")
	// ErrLength: a 64-bit length has its top bit set, or does not fit an int.
	ErrLength = errors.New("wsframe: invalid payload length")
	// ErrHandshake: the server did not answer 101 with the right
	// Sec-WebSocket-Accept.
	ErrHandshake = errors.New("wsframe: handshake rejected")
	// ErrResponseTooLarge: no end of the response head within 8 KiB.
	ErrResponseTooLarge = errors.New("wsframe: handshake response too large")
)

// Header is a decoded frame header.
type Header struct {
	Fin    bool
	Rsv    byte // the three RSV bits, RSV1 = 0x4
	OpCode OpCode
	Masked bool
	Mask   [4]byte
	Length int
}

// HeaderSize returns the size of the header AppendClient writes for a
// payload of n bytes (always masked).
func HeaderSize(n int) int {
	switch {
	case n < 126:
		return 2 + 4
	case n <= 0xffff:
		return 4 + 4
	default:
		return 10 + 4
	}
}

// AppendClient appends one final client frame carrying payload, masked with
// mask, to dst and returns the extended slice. payload is not modified.
//
// 0 allocations when dst has HeaderSize(len(payload))+len(payload) bytes
// of spare capacity.
func AppendClient(dst []byte, op OpCode, payload []byte, mask [4]byte) []byte {
	dst = AppendClientHeader(dst, op, len(payload), mask)
	start := len(dst)
	dst = append(dst, payload...)
	Mask(dst[start:], mask)
	return dst
}

// AppendClientHeader appends the header of a final masked client frame of
// n payload bytes; the caller appends the payload and masks it with Mask.
// It lets a caller write the payload in place (no copy).
func AppendClientHeader(dst []byte, op OpCode, n int, mask [4]byte) []byte {
	b0 := 0x80 | byte(op)&0xf
	switch {
	case n < 126:
		dst = append(dst, b0, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, b0, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, mask[:]...)
}

// Mask XORs p in place with mask, starting at key position 0. Masking and
// unmasking are the same operation.
func Mask(p []byte, mask [4]byte) {
	if len(p) >= 8 {
		m32 := binary.LittleEndian.Uint32(mask[:])
		m := uint64(m32) | uint64(m32)<<32
		for len(p) >= 8 {
			binary.LittleEndian.PutUint64(p, binary.LittleEndian.Uint64(p)^m)
			p = p[8:]
		}
	}
	for i := range p {
		p[i] ^= mask[i&3]
	}
}

// Decode parses one whole frame at the front of b. It returns the header,
// the payload (unmasked in place when the frame was masked; it aliases b)
// and the frame's total size. n == 0 with a nil error means b does not hold
// a whole frame yet: call again with more bytes.
func Decode(b []byte) (h Header, payload []byte, n int, err error) {
	return decode(b, false)
}

// DecodeDeflate is Decode for a connection that negotiated
// permessage-deflate: RSV1 (h.Rsv == 0x4, a compressed message) is allowed;
// the payload is returned as it is on the wire, still compressed.
func DecodeDeflate(b []byte) (h Header, payload []byte, n int, err error) {
	return decode(b, true)
}

func decode(b []byte, rsv1 bool) (h Header, payload []byte, n int, err error) {
	if len(b) < 2 {
		return h, nil, 0, nil
	}
	b0, b1 := b[0], b[1]
	hn := 2
	switch b1 & 0x7f {
	case 126:
		hn = 4
	case 127:
		hn = 10
	}
	lenEnd := hn
	if b1&0x80 != 0 {
		hn += 4
	}
	if len(b) < hn {
		return h, nil, 0, nil
	}
	var length uint64
	switch lenEnd {
	case 2:
		length = uint64(b1 & 0x7f)
	case 4:
		length = uint64(binary.BigEndian.Uint16(b[2:4]))
	default:
		length = binary.BigEndian.Uint64(b[2:10])
		if length>>63 != 0 || length > uint64(maxInt-hn) {
			return h, nil, 0, ErrLength
		}
	}
	h = Header{
		Fin:    b0&0x80 != 0,
		Rsv:    (b0 >> 4) & 7,
		OpCode: OpCode(b0 & 0xf),
		Masked: b1&0x80 != 0,
		Length: int(length),
	}
	if h.Rsv != 0 && !(rsv1 && h.Rsv == 0x4) {
		return h, nil, 0, ErrReservedBits
	}
	if h.Masked {
		copy(h.Mask[:], b[hn-4:hn])
	}
	end := hn + h.Length
	if len(b) < end {
		return h, nil, 0, nil
	}
	payload = b[hn:end]
	if h.Masked {
		Mask(payload, h.Mask)
	}
	return h, payload, end, nil
}

const maxInt = int(^uint(0) >> 1)

// NewKey returns a Sec-WebSocket-Key: 16 bytes from seed, base64.
func NewKey(seed uint64) string {
	var k [16]byte
	binary.LittleEndian.PutUint64(k[:8], seed)
	binary.LittleEndian.PutUint64(k[8:], bits.ReverseBytes64(seed)^0x9e3779b97f4a7c15)
	return base64.StdEncoding.EncodeToString(k[:])
}

// AcceptKey returns the Sec-WebSocket-Accept a server must answer key with.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// Request returns an HTTP/1.1 upgrade request for path on host.
func Request(host, path, key string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n")
}

// DeflateOffer is the permessage-deflate offer RequestDeflate makes: no
// context takeover either way (what wsloop always answers, and what the
// other servers are asked for, so that every server compresses each
// message on its own).
const DeflateOffer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// RequestDeflate is Request offering permessage-deflate (DeflateOffer).
func RequestDeflate(host, path, key string) []byte {
	r := Request(host, path, key)
	return append(r[:len(r)-2], "Sec-WebSocket-Extensions: "+DeflateOffer+"\r\n\r\n"...)
}

// Deflated reports whether a response head (as ParseResponse accepted it)
// accepts permessage-deflate.
func Deflated(head []byte) bool {
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Sec-WebSocket-Extensions")) && bytes.Contains(bytes.ToLower(v), []byte("permessage-deflate")) {
			return true
		}
	}
	return false
}

// ParseResponse looks for a complete HTTP response head at the front of b.
// It returns 0 and a nil error while the head is incomplete, the head's size
// once it is a "101" answer carrying Sec-WebSocket-Accept: accept, and
// ErrHandshake (with the head's size) for any other answer.
func ParseResponse(b []byte, accept string) (n int, err error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > 8<<10 {
			return 0, ErrResponseTooLarge
		}
		return 0, nil
	}
	n = end + 4
	head := b[:end]
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 101")) {
		return n, ErrHandshake
	}
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		k, v, ok := bytes.Cut(l, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Sec-WebSocket-Accept")) {
			if string(bytes.TrimSpace(v)) == accept {
				return n, nil
			}
			return n, ErrHandshake
		}
	}
	return n, ErrHandshake
}
