// Package codec is the WebSocket frame layer of wsloop: RFC 6455 frames over
// []byte, for a server whose event loops hand it whatever bytes arrived.
//
// It parses frame headers (Header.Decode) and checks them against the
// protocol (Header.Check), unmasks payloads in place (Cipher), reassembles
// fragmented messages while validating text as UTF-8 (Decoder, UTF8), parses
// and builds close frames (ParseClose, AppendClose), and appends server frames
// to caller buffers (AppendFrame, AppendPong). A room message sent to many
// connections is framed once as a reference-counted PreparedFrame; common
// control frames are compiled at init (FramePing, FrameCloseGoingAway, ...).
// Every protocol violation is a CloseError value carrying the close code and
// reason to answer it with.
//
// Before the first frame, ParseRequest reads the HTTP upgrade request in
// place from the same inbound bytes (resuming while it is incomplete),
// Request.Check turns a bad one into a HandshakeError with the HTTP status
// to answer (400, 405, 426), and AppendAccept or AppendReject writes the
// response. What the messages carry is not this package's business:
// wsloop's JSON protocol is package protocol.
//
// The package works on byte slices only: it imports no network library and
// none of wsloop's packages, and it never reads or writes a connection.
//
// # Data flow
//
//	inbound bytes (peeked, not yet discarded)
//	    │
//	    ▼
//	Decoder.Decode(b) ──► n consumed ──► caller discards b[:n], keeps the rest
//	    │    Header.Decode + Check, Cipher in place,
//	    │    UTF8 for text, ParseClose for close,
//	    │    fragments copied into a pooled buffer
//	    ▼
//	Message{OpCode, Payload}  (Payload aliases b or the pooled buffer)
//	    │
//	    ▼  handler
//	AppendFrame / AppendPong / AppendClose (dst) ──► outbound buffer, one write
//	NewPreparedFrame ──► Bytes() written by many loops ──► Release each
//
// Hot paths allocate nothing: Header.Decode, Cipher, AppendFrame, UTF8.Write
// and Decoder.Decode (a partly received message borrows a pooled buffer).
//
// # Concurrency
//
// Functions without state (Header.Decode, Header.Check, Cipher, AppendFrame,
// AppendHeader, AppendClose, ParseClose) are safe for concurrent use on
// distinct buffers. A Decoder or UTF8 belongs to one connection and is not
// safe for concurrent use: in wsloop it must be called on the connection's
// event loop. PreparedFrame is safe for concurrent use; its bytes are
// read-only and live until the last Release. The precompiled frames are
// shared and must never be modified.
package codec
