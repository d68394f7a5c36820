package protocol

// Exit reasons told in exit_room events (README "Rooms").
const (
	ReasonLeave      = "leave"
	ReasonDisconnect = "disconnect"
	ReasonTimeout    = "timeout"
	ReasonKick       = "kick"
)

// AppendMessage appends the push a room message reaches members as:
//
//	{"cmd":"message","data":{"room":"r1","from":"u1","payload":<payload>}}
//
// payload must be one JSON value and is copied verbatim. An empty room
// omits "room" (a message sent to a user rather than published to a room).
// Safe for concurrent use.
func AppendMessage(dst []byte, room, from string, payload []byte) []byte {
	dst = append(dst, `{"cmd":"message","data":{`...)
	if room != "" {
		dst = append(dst, `"room":`...)
		dst = AppendString(dst, room)
		dst = append(dst, ',')
	}
	dst = append(dst, `"from":`...)
	dst = AppendString(dst, from)
	dst = append(dst, `,"payload":`...)
	dst = appendValue(dst, payload)
	return append(dst, "}}"...)
}

// AppendEnter appends the enter_room event told to a room's other members
// when a user enters it:
//
//	{"cmd":"enter_room","data":{"room":"r1","user":"u1","meta":<meta>}}
//
// nil meta omits "meta". Safe for concurrent use.
func AppendEnter(dst []byte, room, user string, meta []byte) []byte {
	dst = append(dst, `{"cmd":"enter_room","data":{"room":`...)
	dst = AppendString(dst, room)
	dst = append(dst, `,"user":`...)
	dst = AppendString(dst, user)
	if meta != nil {
		dst = append(dst, `,"meta":`...)
		dst = append(dst, meta...)
	}
	return append(dst, "}}"...)
}

// AppendExit appends the exit_room event told to a room's remaining members
// when a user leaves it, with one of the Reason constants:
//
//	{"cmd":"exit_room","data":{"room":"r1","user":"u1","reason":"leave"}}
//
// Safe for concurrent use.
func AppendExit(dst []byte, room, user, reason string) []byte {
	dst = append(dst, `{"cmd":"exit_room","data":{"room":`...)
	dst = AppendString(dst, room)
	dst = append(dst, `,"user":`...)
	dst = AppendString(dst, user)
	dst = append(dst, `,"reason":`...)
	dst = AppendString(dst, reason)
	return append(dst, "}}"...)
}

// appendValue appends a raw JSON value, or null for an empty one.
func appendValue(dst, v []byte) []byte {
	if len(v) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, v...)
}
