package codec

// FrameSize returns the size of an unmasked frame (as AppendFrame writes it)
// carrying payloadLen bytes, so callers can size buffers ahead.
func FrameSize(payloadLen int) int {
	return Header{Length: int64(payloadLen)}.Size() + payloadLen
}

// AppendFrame appends one server frame, unmasked and with no reserved bits,
// to dst and returns the extended slice. For a control opcode the caller must
// keep payload within 125 bytes and set fin.
//
// 0 allocations when dst has FrameSize(len(payload)) bytes of spare capacity.
// Safe for concurrent use on distinct buffers.
func AppendFrame(dst []byte, op OpCode, fin bool, payload []byte) []byte {
	dst = AppendHeader(dst, Header{Fin: fin, OpCode: op, Length: int64(len(payload))})
	return append(dst, payload...)
}

// AppendPong appends a pong frame echoing payload (the payload of the ping
// being answered, at most 125 bytes) to dst and returns the extended slice.
//
// 0 allocations when dst has FrameSize(len(payload)) bytes of spare capacity.
// Safe for concurrent use on distinct buffers.
func AppendPong(dst []byte, payload []byte) []byte {
	return AppendFrame(dst, OpPong, true, payload)
}
