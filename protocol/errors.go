package protocol

import "errors"

// Errors returned by Envelope.Decode. The connection stays open: the server
// answers with a reply carrying status 400 and a short msg, echoing the
// message's cmd and seqno when Decode could read them.
var (
	// ErrBadJSON is returned by Envelope.Decode when the message is not one
	// valid JSON object (whitespace allowed around it). It takes precedence
	// over ErrMissingCmd, ErrBadCmd, ErrBadSeqno and ErrDuplicateKey. Reply
	// msg: "malformed JSON".
	ErrBadJSON = errors.New("protocol: malformed JSON")
	// ErrJSONTooDeep is returned by Envelope.Decode when arrays and objects
	// are nested more than 64 deep, counting the envelope itself; the rest of
	// the message is not read, but the cmd and seqno read before the deep
	// value are kept. Reply msg: "too deeply nested".
	ErrJSONTooDeep = errors.New("protocol: JSON nested too deep")
	// ErrMissingCmd is returned by Envelope.Decode when a valid object has no
	// "cmd" key, or its value is the empty string. Reply msg: "missing cmd".
	ErrMissingCmd = errors.New("protocol: missing cmd")
	// ErrBadCmd is returned by Envelope.Decode when "cmd" is not a JSON
	// string, contains a backslash escape, or is not valid UTF-8. Reply
	// msg: "invalid cmd".
	ErrBadCmd = errors.New("protocol: invalid cmd")
	// ErrBadSeqno is returned by Envelope.Decode when "seqno" is neither a
	// JSON string nor a JSON number (null included), or is a string that is
	// not valid UTF-8. Reply msg: "invalid seqno".
	ErrBadSeqno = errors.New("protocol: invalid seqno")
	// ErrDuplicateKey is returned by Envelope.Decode when "cmd", "seqno" or
	// "data" occurs more than once in the envelope. Reply msg:
	// "duplicate key".
	ErrDuplicateKey = errors.New("protocol: duplicate key")
)

// ErrInvalidUTF8 is returned by CheckJSON when the bytes are not valid
// UTF-8.
var ErrInvalidUTF8 = errors.New("protocol: not valid UTF-8")
