package codec

import (
	"errors"
	"strconv"
)

// CloseError is how the codec reports a protocol violation by the peer: the
// connection must be closed with a close frame carrying Code and Reason
// (AppendClose(dst, e.Code, e.Reason)). It is a comparable value, so the
// sentinels below can be matched with == or errors.Is.
type CloseError struct {
	// Code is the status code to send in the close frame.
	Code StatusCode
	// Reason is short human-readable text for the close frame (at most
	// 123 bytes of UTF-8).
	Reason string
}

// Error returns "codec: <reason> (<code>)".
func (e CloseError) Error() string {
	return "codec: " + e.Reason + " (" + strconv.Itoa(int(e.Code)) + ")"
}

// Protocol violations by a client. Each is returned by Header.Decode,
// Header.Check, ParseClose or Decoder.Decode, as documented there.
var (
	// ErrUnmasked occurs when a client frame has no masking key.
	ErrUnmasked = CloseError{StatusProtocolError, "frame not masked"}
	// ErrReservedBits occurs when a frame sets RSV1, RSV2 or RSV3 (no
	// extension is negotiated).
	ErrReservedBits = CloseError{StatusProtocolError, "reserved bits set"}
	// ErrReservedOpcode occurs when a frame uses an opcode reserved by
	// RFC 6455 (0x3-0x7, 0xB-0xF).
	ErrReservedOpcode = CloseError{StatusProtocolError, "reserved opcode"}
	// ErrControlFragmented occurs when a control frame does not have FIN set.
	ErrControlFragmented = CloseError{StatusProtocolError, "fragmented control frame"}
	// ErrControlTooLong occurs when a control frame carries more than 125
	// bytes.
	ErrControlTooLong = CloseError{StatusProtocolError, "control frame too long"}
	// ErrInvalidLength occurs when a 64-bit payload length has its most
	// significant bit set.
	ErrInvalidLength = CloseError{StatusProtocolError, "invalid payload length"}
	// ErrUnexpectedContinuation occurs when a continuation frame arrives and
	// no fragmented message is in progress.
	ErrUnexpectedContinuation = CloseError{StatusProtocolError, "unexpected continuation frame"}
	// ErrExpectedContinuation occurs when a text or binary frame arrives
	// while a fragmented message is still in progress.
	ErrExpectedContinuation = CloseError{StatusProtocolError, "expected continuation frame"}
	// ErrInvalidUTF8 occurs when a text message is not valid UTF-8, including
	// a final fragment that ends in the middle of a sequence.
	ErrInvalidUTF8 = CloseError{StatusInvalidPayload, "invalid UTF-8 in text message"}
	// ErrInvalidCloseCode occurs when a close frame carries a status code
	// that may not appear on the wire (see StatusCode.ValidOnWire).
	ErrInvalidCloseCode = CloseError{StatusProtocolError, "invalid close code"}
	// ErrInvalidClosePayload occurs when a close frame carries exactly one
	// byte of payload.
	ErrInvalidClosePayload = CloseError{StatusProtocolError, "invalid close payload"}
	// ErrInvalidCloseReason occurs when a close frame's reason is not valid
	// UTF-8.
	ErrInvalidCloseReason = CloseError{StatusInvalidPayload, "invalid UTF-8 in close reason"}
	// ErrMessageTooBig occurs when a data frame, or the message it belongs
	// to, is longer than Decoder.MaxMessageSize. It is reported on the
	// frame header, before any of that frame's payload is buffered.
	ErrMessageTooBig = CloseError{StatusMessageTooBig, "message too big"}
)

// ErrShortHeader is returned by Header.Decode, with n == 0, when b does not
// yet hold the whole header. It is not a protocol error: call again once more
// bytes have arrived.
var ErrShortHeader = errors.New("codec: short header")

// Errors returned by ParseRequest. Both mean the bytes can never become a
// valid upgrade request: answer with AppendReject and close.
var (
	// ErrRequestTooLarge is returned by ParseRequest when maxSize bytes have
	// arrived and they do not hold a complete request head.
	// The server answers 431 (Request Header Fields Too Large).
	ErrRequestTooLarge = errors.New("codec: request head too large")
	// ErrMalformedRequest is returned by ParseRequest when the request line
	// or a header line is not valid HTTP/1.x syntax: a bad method, a control
	// character, a line not ended by CRLF, a folded or nameless header line.
	// It is reported as soon as the request line is complete, before the
	// rest of the head arrives. The server answers 400 (Bad Request).
	ErrMalformedRequest = errors.New("codec: malformed HTTP request")
)
