package codec

import (
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// StatusCode is the status code of a close frame (RFC 6455, section 7.4).
type StatusCode uint16

// Status codes registered for close frames.
const (
	StatusNormalClosure      StatusCode = 1000 // purpose fulfilled
	StatusGoingAway          StatusCode = 1001 // server shutting down, or page left
	StatusProtocolError      StatusCode = 1002 // protocol violation
	StatusUnsupportedData    StatusCode = 1003 // data type not accepted
	StatusNoStatusRcvd       StatusCode = 1005 // no code in the close frame; never sent
	StatusAbnormalClosure    StatusCode = 1006 // closed without a close frame; never sent
	StatusInvalidPayload     StatusCode = 1007 // payload inconsistent with its type (bad UTF-8)
	StatusPolicyViolation    StatusCode = 1008 // policy (auth, origin)
	StatusMessageTooBig      StatusCode = 1009 // message too big to process
	StatusMandatoryExtension StatusCode = 1010 // client expected an extension
	StatusInternalError      StatusCode = 1011 // unexpected condition on the server
	StatusServiceRestart     StatusCode = 1012 // server restarting
	StatusTryAgainLater      StatusCode = 1013 // overloaded, try later
	StatusBadGateway         StatusCode = 1014 // gateway got a bad upstream response
	StatusTLSHandshake       StatusCode = 1015 // TLS handshake failed; never sent
)

// ValidOnWire reports whether c may appear in a close frame received from a
// peer: 1000-1003, 1007-1014 and 3000-4999. Everything else (0-999, 1004,
// the never-sent 1005, 1006 and 1015, the unassigned 1016-2999, and 5000 and
// up) is a protocol error.
func (c StatusCode) ValidOnWire() bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// maxCloseReason is the room left for a reason in a close frame's payload.
const maxCloseReason = MaxControlPayload - 2

// AppendClose appends a whole close frame (server side, unmasked) carrying
// code and reason to dst and returns the extended slice. A reason longer than
// 123 bytes is cut to fit, at a UTF-8 sequence boundary. A reason that is not
// valid UTF-8 has each run of invalid bytes replaced by U+FFFD first, so the frame
// never carries a reason a client must refuse (RFC 6455 §8.1). Code 0 or
// StatusNoStatusRcvd gives a close frame with an empty payload and reason is
// ignored.
//
// 0 allocations when dst has FrameSize(125) bytes of spare capacity and
// reason is valid UTF-8. Safe for concurrent use on distinct buffers.
func AppendClose(dst []byte, code StatusCode, reason string) []byte {
	if code == 0 || code == StatusNoStatusRcvd {
		return AppendFrame(dst, OpClose, true, nil)
	}
	if !utf8.ValidString(reason) {
		reason = strings.ToValidUTF8(reason, "\uFFFD")
	}
	if len(reason) > maxCloseReason {
		i := maxCloseReason
		// reason[i] is the first byte cut off; if it continues a
		// sequence, cut that whole sequence too.
		for i > 0 && reason[i]&0xc0 == 0x80 {
			i--
		}
		reason = reason[:i]
	}
	dst = AppendHeader(dst, Header{Fin: true, OpCode: OpClose, Length: int64(2 + len(reason))})
	dst = append(dst, byte(code>>8), byte(code))
	return append(dst, reason...)
}

// ParseClose parses the (unmasked) payload of a received close frame. An
// empty payload gives StatusNoStatusRcvd and no error. Otherwise it returns
// ErrInvalidClosePayload for a 1-byte payload, ErrInvalidCloseCode when the
// code is not ValidOnWire, and ErrInvalidCloseReason when the reason is not
// valid UTF-8; on error code is 0 and reason nil. reason aliases p.
//
// 0 allocations. Safe for concurrent use.
func ParseClose(p []byte) (code StatusCode, reason []byte, err error) {
	switch len(p) {
	case 0:
		return StatusNoStatusRcvd, nil, nil
	case 1:
		return 0, nil, ErrInvalidClosePayload
	}
	code = StatusCode(binary.BigEndian.Uint16(p))
	if !code.ValidOnWire() {
		return 0, nil, ErrInvalidCloseCode
	}
	reason = p[2:]
	if !utf8.Valid(reason) {
		return 0, nil, ErrInvalidCloseReason
	}
	return code, reason, nil
}
