package protocol

import "errors"

// Status codes of replies (README "Protocol"): 0 is success; the others
// borrow the meaning of the HTTP status of the same number.
const (
	StatusOK              = 0
	StatusBadRequest      = 400 // malformed JSON, missing or invalid fields
	StatusUnauthenticated = 401
	StatusForbidden       = 403
	StatusNotFound        = 404 // unknown cmd
	StatusTooLarge        = 413
	StatusRateLimited     = 429
	StatusInternal        = 500 // the handler failed (a panic, data it could not send)
	StatusUnavailable     = 503 // a loop's queue was full: try again
)

// ErrorText is the reply msg for an error of Envelope.Decode: "malformed
// JSON", "too deeply nested", "missing cmd", "invalid cmd", "invalid seqno"
// or "duplicate key".
func ErrorText(err error) string {
	switch {
	case errors.Is(err, ErrJSONTooDeep):
		return "too deeply nested"
	case errors.Is(err, ErrMissingCmd):
		return "missing cmd"
	case errors.Is(err, ErrBadCmd):
		return "invalid cmd"
	case errors.Is(err, ErrBadSeqno):
		return "invalid seqno"
	case errors.Is(err, ErrDuplicateKey):
		return "duplicate key"
	}
	return "malformed JSON"
}
