package codec

// OpCode is the 4-bit frame opcode (RFC 6455, section 5.2).
//
// Every value that fits in 4 bits is exactly one of data (IsData), control
// (IsControl) or reserved (IsReserved).
type OpCode byte

// Opcodes defined by RFC 6455.
const (
	OpContinuation OpCode = 0x0 // continuation of a fragmented data message
	OpText         OpCode = 0x1 // text data, UTF-8
	OpBinary       OpCode = 0x2 // binary data
	OpClose        OpCode = 0x8 // close control frame
	OpPing         OpCode = 0x9 // ping control frame
	OpPong         OpCode = 0xA // pong control frame
)

// IsControl reports whether o is a defined control opcode: close, ping or
// pong. Control frames must be final and carry at most 125 bytes.
func (o OpCode) IsControl() bool {
	return o == OpClose || o == OpPing || o == OpPong
}

// IsData reports whether o is a defined data opcode: text, binary or
// continuation.
func (o OpCode) IsData() bool {
	return o <= OpBinary
}

// IsReserved reports whether o is one of the opcodes RFC 6455 reserves for
// future use: 0x3-0x7 (data) and 0xB-0xF (control). A peer that sends one is
// closed with 1002.
func (o OpCode) IsReserved() bool {
	return (o >= 0x3 && o <= 0x7) || (o >= 0xB && o <= 0xF)
}

// String returns the opcode's lower-case name ("text", "ping", ...), or
// "reserved" or "invalid" for the others. It allocates nothing.
func (o OpCode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	if o.IsReserved() {
		return "reserved"
	}
	return "invalid"
}
