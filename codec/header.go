package codec

import "encoding/binary"

// MaxControlPayload is the largest payload a control frame may carry.
const MaxControlPayload = 125

// MaxHeaderSize is the largest encoded frame header: 2 bytes, an 8-byte
// extended length and a 4-byte masking key.
const MaxHeaderSize = 14

// Header is a frame header (RFC 6455, section 5.2):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-------+-+-------------+-------------------------------+
//	|F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//	|I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//	|N|V|V|V|       |S|             |   (if payload len==126/127)   |
//	| |1|2|3|       |K|             |                               |
//	+-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//	|     Extended payload length continued, if payload len == 127  |
//	+ - - - - - - - - - - - - - - - +-------------------------------+
//	|                               |Masking-key, if MASK set to 1  |
//	+-------------------------------+-------------------------------+
//
// It is a plain value; Decode parses it and Check validates it.
type Header struct {
	// Fin is set on the last frame of a message.
	Fin bool
	// Rsv holds the three reserved bits in its low bits: RSV1 is 0x4,
	// RSV2 is 0x2, RSV3 is 0x1.
	Rsv byte
	// OpCode is the frame's opcode.
	OpCode OpCode
	// Masked is set when the frame carries a masking key (every client
	// frame must).
	Masked bool
	// Mask is the masking key; meaningful only when Masked is set.
	Mask [4]byte
	// Length is the payload length; never negative.
	Length int64
}

// Decode parses the header at the front of b into h and returns its size in
// bytes. When b does not yet hold the whole header it returns 0 and
// ErrShortHeader and leaves h unchanged; call again with more bytes. A 64-bit
// length with its most significant bit set gives ErrInvalidLength. Decode
// checks nothing else: use Check for the protocol rules. Lengths that are not
// minimally encoded are accepted.
//
// 0 allocations. Safe for concurrent use on distinct headers.
func (h *Header) Decode(b []byte) (n int, err error) {
	if len(b) < 2 {
		return 0, ErrShortHeader
	}
	b0, b1 := b[0], b[1]
	n = 2
	switch b1 & 0x7f {
	case 126:
		n = 4
	case 127:
		n = 10
	}
	lengthEnd := n
	masked := b1&0x80 != 0
	if masked {
		n += 4
	}
	if len(b) < n {
		return 0, ErrShortHeader
	}
	var length int64
	switch lengthEnd {
	case 2:
		length = int64(b1 & 0x7f)
	case 4:
		length = int64(binary.BigEndian.Uint16(b[2:4]))
	default:
		u := binary.BigEndian.Uint64(b[2:10])
		if u>>63 != 0 {
			return 0, ErrInvalidLength
		}
		length = int64(u)
	}
	*h = Header{
		Fin:    b0&0x80 != 0,
		Rsv:    (b0 >> 4) & 0x7,
		OpCode: OpCode(b0 & 0xf),
		Masked: masked,
		Length: length,
	}
	if masked {
		copy(h.Mask[:], b[n-4:n])
	}
	return n, nil
}

// Check applies the RFC 6455 rules for a frame sent by a client to a server
// with no extension negotiated, and returns the first violation found, in this
// order: ErrReservedBits, ErrReservedOpcode, ErrUnmasked,
// ErrControlFragmented, ErrControlTooLong. It returns nil for a valid
// header.
//
// 0 allocations. Safe for concurrent use.
func (h Header) Check() error {
	switch {
	case h.Rsv != 0:
		return ErrReservedBits
	case !h.OpCode.IsData() && !h.OpCode.IsControl():
		return ErrReservedOpcode
	case !h.Masked:
		return ErrUnmasked
	case h.OpCode.IsControl() && !h.Fin:
		return ErrControlFragmented
	case h.OpCode.IsControl() && h.Length > MaxControlPayload:
		return ErrControlTooLong
	}
	return nil
}

// Size returns the number of bytes AppendHeader writes for h.
func (h Header) Size() int {
	n := 2
	switch {
	case h.Length < 126:
	case h.Length <= 0xffff:
		n += 2
	default:
		n += 8
	}
	if h.Masked {
		n += 4
	}
	return n
}

// AppendHeader appends h, encoded with the shortest length form, to dst and
// returns the extended slice. Only the low 3 bits of h.Rsv and the low 4 bits
// of h.OpCode are written; h.Length must not be negative.
//
// 0 allocations when dst has h.Size() bytes of spare capacity. Safe for
// concurrent use on distinct buffers.
func AppendHeader(dst []byte, h Header) []byte {
	b0 := (h.Rsv&0x7)<<4 | byte(h.OpCode)&0xf
	if h.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	switch {
	case h.Length < 126:
		dst = append(dst, b0, b1|byte(h.Length))
	case h.Length <= 0xffff:
		dst = append(dst, b0, b1|126, byte(h.Length>>8), byte(h.Length))
	default:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(h.Length))
	}
	if h.Masked {
		dst = append(dst, h.Mask[:]...)
	}
	return dst
}
