package codec

import "errors"

// Errors of the HTTP upgrade (upgrade.go) and of the JSON envelope
// (envelope.go). The lead merges this file into errors.go.

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

// Errors returned by Envelope.Decode. The connection stays open: the server
// answers with a reply carrying status 400 and a short msg, echoing the
// message's cmd and seqno when Decode could read them.
var (
	// ErrBadJSON is returned by Envelope.Decode when the message is not one
	// valid JSON object (whitespace allowed around it). It takes precedence
	// over ErrMissingCmd, ErrBadCmd, ErrBadSeqno and ErrDuplicateKey. Reply
	// msg: "malformed JSON".
	ErrBadJSON = errors.New("codec: malformed JSON")
	// ErrJSONTooDeep is returned by Envelope.Decode when arrays and objects
	// are nested more than 64 deep, counting the envelope itself; the rest of
	// the message is not read. Reply msg: "malformed JSON".
	ErrJSONTooDeep = errors.New("codec: JSON nested too deep")
	// ErrMissingCmd is returned by Envelope.Decode when a valid object has no
	// "cmd" key, or its value is the empty string. Reply msg: "missing cmd".
	ErrMissingCmd = errors.New("codec: missing cmd")
	// ErrBadCmd is returned by Envelope.Decode when "cmd" is not a JSON
	// string, contains a backslash escape, or is not valid UTF-8. Reply
	// msg: "invalid cmd".
	ErrBadCmd = errors.New("codec: invalid cmd")
	// ErrBadSeqno is returned by Envelope.Decode when "seqno" is neither a
	// JSON string nor a JSON number (null included), or is a string that is
	// not valid UTF-8. Reply msg: "invalid seqno".
	ErrBadSeqno = errors.New("codec: invalid seqno")
	// ErrDuplicateKey is returned by Envelope.Decode when "cmd", "seqno" or
	// "data" occurs more than once in the envelope. Reply msg:
	// "duplicate key".
	ErrDuplicateKey = errors.New("codec: duplicate key")
)
