package protocol

import (
	"strconv"

	"github.com/bytedance/sonic"
)

// The data of the built-in requests (README "Rooms"), bound with sonic or
// encoding/json. Raw JSON fields keep the bytes as sent, without a copy
// (they alias the message being handled): they are copied into the events
// other clients receive.
type (
	// JoinData is the data of join: {"room":"r1","meta":{…}}.
	JoinData struct {
		Room string                 `json:"room"`
		Meta sonic.NoCopyRawMessage `json:"meta"`
	}
	// RoomData is the data of leave and members: {"room":"r1"}.
	RoomData struct {
		Room string `json:"room"`
	}
	// PublishData is the data of publish:
	// {"room":"r1","payload":…,"notify_type":"bc"|"ptp","to":"u2"}.
	PublishData struct {
		Room       string                 `json:"room"`
		Payload    sonic.NoCopyRawMessage `json:"payload"`
		NotifyType string                 `json:"notify_type"`
		To         string                 `json:"to"`
	}
	// SendData is the data of send: {"to":"u2","payload":…}.
	SendData struct {
		To      string                 `json:"to"`
		Payload sonic.NoCopyRawMessage `json:"payload"`
	}
)

// Notify types of a publish.
const (
	NotifyBroadcast = "bc"  // every member of the room
	NotifyPtp       = "ptp" // only the connections of user To in the room
)

// CheckName checks a room name or user id from a request against the
// length limit max: it returns "" when name is fine, else the reply msg
// ("room required", "to too long").
func CheckName(field, name string, max int) string {
	if name == "" {
		return field + " required"
	}
	if len(name) > max {
		return field + " too long"
	}
	return ""
}

// AppendRoomReply appends the data of a join reply: {"room":room,"count":n}.
// Safe for concurrent use.
func AppendRoomReply(dst []byte, room string, n int) []byte {
	dst = append(dst, `{"room":`...)
	dst = AppendString(dst, room)
	dst = append(dst, `,"count":`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '}')
}

// AppendWelcome appends the data of the welcome event a connection gets on
// open: {"sid":"<sid>","ping_interval":<seconds>}, with
// ,"online_token":"<token>" when onlineToken is not empty (signed pings).
// Safe for concurrent use.
func AppendWelcome(dst []byte, sid []byte, pingInterval int64, onlineToken string) []byte {
	dst = append(dst, `{"sid":"`...)
	dst = append(dst, sid...) // hex digits: nothing to escape
	dst = append(dst, `","ping_interval":`...)
	dst = strconv.AppendInt(dst, pingInterval, 10)
	if onlineToken != "" {
		dst = append(dst, `,"online_token":"`...)
		dst = append(dst, onlineToken...) // hex digits
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// AppendPong appends the data of the pong reply: {"timestamp":<ms>}.
// Safe for concurrent use.
func AppendPong(dst []byte, unixMilli int64) []byte {
	dst = append(dst, `{"timestamp":`...)
	dst = strconv.AppendInt(dst, unixMilli, 10)
	return append(dst, '}')
}
