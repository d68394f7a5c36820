package cluster

import (
	"encoding/binary"
	"errors"

	"github.com/wsloop/wsloop/rooms"
)

// The message that carries one event between nodes:
//
//	version 1 | kind 1 | op 1 | code 2 | session 8 | len(name) 2 | name | len(room) 2 | room | data
//
// data is the event's JSON as clients receive it (or a close reason), so a
// receiving node frames it as it is. Integers are big-endian.
const wireVersion = 1

const wireHeader = 1 + 1 + 1 + 2 + 8 + 2 + 2

var errBadMessage = errors.New("cluster: not an event message of this version")

func encode(dst []byte, ev rooms.Event) []byte {
	dst = append(dst, wireVersion, byte(ev.Kind), byte(ev.Op))
	dst = binary.BigEndian.AppendUint16(dst, ev.Code)
	dst = binary.BigEndian.AppendUint64(dst, ev.Session)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(ev.Name)))
	dst = append(dst, ev.Name...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(ev.Room)))
	dst = append(dst, ev.Room...)
	return append(dst, ev.Data...)
}

// decode reads a message; the event's Data aliases b.
func decode(b []byte) (rooms.Event, error) {
	var ev rooms.Event
	if len(b) < wireHeader || b[0] != wireVersion {
		return ev, errBadMessage
	}
	ev.Kind, ev.Op = rooms.Kind(b[1]), rooms.Op(b[2])
	ev.Code = binary.BigEndian.Uint16(b[3:])
	ev.Session = binary.BigEndian.Uint64(b[5:])
	b = b[13:]
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n+2 {
		return ev, errBadMessage
	}
	ev.Name = string(b[2 : 2+n])
	b = b[2+n:]
	n = int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return ev, errBadMessage
	}
	ev.Room = string(b[2 : 2+n])
	ev.Data = b[2+n:]
	if ev.Kind < rooms.ToRoom || ev.Kind > rooms.ToSession || ev.Op > rooms.Disconnect {
		return ev, errBadMessage
	}
	return ev, nil
}
