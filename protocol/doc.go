// Package protocol is wsloop's JSON application protocol (README
// "Protocol", docs/architecture.md): the envelope every request comes in,
// the replies, pushes and room events the server sends, the data of the
// built-in commands, the status codes, and the signed ping. It is the one
// place the wire format is written down in code; the server, the HTTP API
// and the benchmark suite's peer servers use it.
//
//	text or binary message (UTF-8, checked by the caller)
//	    │
//	    ▼
//	Envelope.Decode(p) ── cmd, seqno, data as slices of p, nothing copied
//	    │                  (ErrorText(err) is the 400 reply's msg)
//	    ▼  handler binds data (PublishData, JoinData, ...) with sonic
//	AppendReply(dst, cmd, seqno, status, msg, data)   → {"cmd","seqno","status","msg","data"}
//	AppendPush(dst, cmd, data)                        → {"cmd","data"}
//	AppendMessage / AppendEnter / AppendExit          → room events
//
// Keys are written in the order README gives, so clients may match
// prefixes. Strings are escaped by AppendString, which writes U+FFFD for
// bytes that are not UTF-8; raw JSON values (data, payload, meta) are
// copied as they are, so whoever hands them over checks them first
// (CheckJSON for values from code it does not control; the frame layer
// checks every message from a client).
//
// The decoder is a small validating scanner rather than a call into sonic:
// it runs for every message the server receives, and allocates nothing
// (see Envelope and its benchmarks). Encoders append to caller buffers and
// allocate nothing when the buffer has room.
//
// # Concurrency
//
// Every function is safe for concurrent use on distinct buffers. An
// Envelope's fields alias the decoded message and are valid only as long
// as it is.
package protocol
