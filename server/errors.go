package server

import "errors"

var (
	// ErrServerClosed is returned by Serve after Shutdown, and by calls made
	// on a server that is shutting down.
	ErrServerClosed = errors.New("server: closed")

	// ErrQueueFull is returned by Push, Broadcast, Disconnect and the other
	// cross-goroutine calls when the target loop's job ring is full; map it
	// to 429 or 503 at the edges. Nothing was queued.
	ErrQueueFull = errors.New("server: loop queue full")

	// ErrNoSession is returned when a session id does not name a loop of
	// this server (malformed id). A well-formed id of a session that has
	// since closed is not an error: the job is dropped on the loop.
	ErrNoSession = errors.New("server: no such session")

	// ErrNotServing is returned by Addr and the push calls before Serve or
	// Listen has bound the listener.
	ErrNotServing = errors.New("server: not serving")

	// ErrTooManyRooms is returned by Session.Join when the session is
	// already in Config.Rooms.MaxPerConn rooms.
	ErrTooManyRooms = errors.New("server: too many rooms")

	// ErrClosed is returned by on-loop writes to a session that is closing
	// or closed.
	ErrClosed = errors.New("server: session closed")

	// ErrInvalidUTF8 is returned by the calls that send text (Push,
	// Publish, Broadcast, SendUser, Session.WriteMessage with codec.OpText,
	// Context.OKRaw, Session.Close, ...) when what they were handed is not
	// valid UTF-8. Nothing was sent: a text frame that is not UTF-8 makes
	// browsers and other conforming clients fail the connection.
	ErrInvalidUTF8 = errors.New("server: text is not valid UTF-8")

	// ErrOpcode is returned by Session.WriteMessage for an opcode other
	// than codec.OpText and codec.OpBinary: close, ping and pong frames are
	// the server's to send (Session.Close closes).
	ErrOpcode = errors.New("server: WriteMessage takes a text or binary opcode")

	// ErrInvalidJSON is returned by the calls that send raw JSON (values
	// wrapped by RawJSON, Context.OKRaw, Session.Join's meta) when it is not
	// one valid JSON value nested at most 64 deep. Nothing was sent. The
	// error wraps protocol.ErrBadJSON or protocol.ErrJSONTooDeep.
	ErrInvalidJSON = errors.New("server: not one valid JSON value")
)
