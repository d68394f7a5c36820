package server

import (
	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/protocol"
)

// Handler receives a connection's events. Every method runs on the
// connection's event loop, one at a time per loop, and must not block: a
// blocked handler stalls every connection of that loop. Hand slow work to
// another goroutine and answer with Session.Push.
//
// A panic in a Handler method is recovered and logged with its stack; the
// loop and the connection survive (Router also answers status 500).
type Handler interface {
	// OnOpen runs once the WebSocket handshake has completed. r is the
	// upgrade request; r is valid only until OnOpen returns. Returning a
	// non-nil error refuses the connection: it is closed with that error's
	// code if it is a codec.CloseError, else with 1008 and the error text.
	OnOpen(s *Session, r *codec.Request) error

	// OnMessage runs for every complete data message (text or binary,
	// reassembled from fragments). p is valid only until the callback
	// returns; copy it to keep it.
	OnMessage(s *Session, op codec.OpCode, p []byte)

	// OnClose runs once when the connection is gone, whatever the cause,
	// for every connection whose OnOpen returned nil: not for one whose
	// handshake never completed, nor for one OnOpen refused.
	OnClose(s *Session, reason CloseReason)
}

// BuiltinHandler is an embeddable Handler whose methods do nothing.
type BuiltinHandler struct{}

// OnOpen accepts every connection.
func (BuiltinHandler) OnOpen(*Session, *codec.Request) error { return nil }

// OnMessage ignores the message.
func (BuiltinHandler) OnMessage(*Session, codec.OpCode, []byte) {}

// OnClose does nothing.
func (BuiltinHandler) OnClose(*Session, CloseReason) {}

var _ Handler = BuiltinHandler{}

// EchoHandler sends every data message back verbatim with its opcode: no
// JSON at all. It is wsloop's echo mode, for protocol conformance suites and
// frame-layer benchmarks.
type EchoHandler struct{ BuiltinHandler }

// OnMessage writes p back as one frame of the same opcode. A text message
// is valid UTF-8 here: the frame layer closed the connection (1007) if not.
func (EchoHandler) OnMessage(s *Session, op codec.OpCode, p []byte) {
	if s.state == stateOpen {
		s.writeFrame(op, p)
	}
}

var _ Handler = EchoHandler{}

// Cause says why a connection ended.
type Cause uint8

// Causes of a close, as reported in CloseReason.
const (
	// CauseClient: the client sent a close frame.
	CauseClient Cause = iota + 1
	// CauseDisconnect: the TCP connection ended without a close frame
	// (reset, EOF, write error).
	CauseDisconnect
	// CauseProtocol: the client broke the protocol (1002, 1007, 1009).
	CauseProtocol
	// CauseTimeout: heartbeat or handshake timeout.
	CauseTimeout
	// CauseServer: the application closed it (Session.Close, Server.Disconnect).
	CauseServer
	// CauseShutdown: the server is shutting down (1001).
	CauseShutdown
	// CauseKick: the application removed the user (room kick, lease expiry).
	CauseKick
	// CauseSlow: the client did not read fast enough (1013).
	CauseSlow
)

var causeNames = [...]string{"", "client", "disconnect", "protocol", "timeout", "server", "shutdown", "kick", "slow"}

// String returns the cause's name as used in logs.
func (c Cause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return "unknown"
}

// ExitReason maps the cause to the reason room members are told in
// exit_room: "timeout", "kick" or "disconnect".
func (c Cause) ExitReason() string {
	switch c {
	case CauseTimeout:
		return protocol.ReasonTimeout
	case CauseKick:
		return protocol.ReasonKick
	default:
		return protocol.ReasonDisconnect
	}
}

// CloseReason describes how a connection ended.
type CloseReason struct {
	Cause Cause
	// Code is the close code sent or received; codec.StatusAbnormalClosure
	// (1006) when no close frame was exchanged.
	Code codec.StatusCode
	// Text is the close reason sent or received, or a description.
	Text string
}
