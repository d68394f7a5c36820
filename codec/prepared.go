package codec

import (
	"sync"
	"sync/atomic"
)

// PreparedFrame is a server frame built once and written to many
// connections, such as a room message fanned out to every member: encode
// once, reference counted. Each holder of a reference calls Release once
// when done with it; the buffer goes back to the pool after the last Release.
type PreparedFrame struct {
	buf  *[]byte
	refs atomic.Int32
	op   OpCode
	off  int32 // where the payload starts in *buf

	// The compressed variant (Deflated), made by the first loop that needs
	// it and shared by every member that negotiated permessage-deflate.
	dmu      sync.Mutex
	deflated atomic.Pointer[[]byte]
}

// NewPreparedFrame frames payload as one final, unmasked frame with opcode op,
// in a buffer from the pool, and returns it with a reference count of 1.
// payload is copied and may be reused when NewPreparedFrame returns.
//
// Safe for concurrent use. 1 allocation (the PreparedFrame), plus the buffer
// when the pool is empty.
func NewPreparedFrame(op OpCode, payload []byte) *PreparedFrame {
	b := bufGet(FrameSize(len(payload)))
	*b = AppendFrame(*b, op, true, payload)
	f := &PreparedFrame{buf: b, op: op, off: int32(len(*b) - len(payload))}
	f.refs.Store(1)
	return f
}

// Bytes returns the whole frame, header and payload. The bytes are shared by
// every holder and must not be modified; they are valid only until the
// caller's reference is released.
//
// Safe for concurrent use.
func (f *PreparedFrame) Bytes() []byte {
	b := *f.buf
	return b[:len(b):len(b)]
}

// PayloadLen returns the length of the frame's payload, uncompressed.
//
// Safe for concurrent use.
func (f *PreparedFrame) PayloadLen() int { return len(*f.buf) - int(f.off) }

// Deflated returns the frame compressed for permessage-deflate (RSV1 set,
// the payload deflated at level with no context takeover): compressed once,
// by the first caller, and shared like Bytes by every caller after it. The
// bytes are valid until the caller's reference is released.
//
// Safe for concurrent use; callers wait while the first one compresses.
func (f *PreparedFrame) Deflated(level int) []byte {
	if d := f.deflated.Load(); d != nil {
		return (*d)[:len(*d):len(*d)]
	}
	f.dmu.Lock()
	defer f.dmu.Unlock()
	if d := f.deflated.Load(); d != nil {
		return (*d)[:len(*d):len(*d)]
	}
	pool := deflaterPool(level)
	var out *[]byte
	switch d := pool.Get().(type) {
	case *Deflater:
		c := d.Compress((*f.buf)[f.off:])
		if len(c) < f.PayloadLen() {
			out = bufGet(FrameSize(len(c)))
			*out = AppendHeader(*out, Header{Fin: true, Rsv: rsv1, OpCode: f.op, Length: int64(len(c))})
			*out = append(*out, c...)
		}
		pool.Put(d)
	}
	if out == nil {
		// Not smaller (or a level flate refuses): the plain frame, which is
		// always valid (RSV1 unset), in a copy owned like a compressed one.
		out = bufGet(len(*f.buf))
		*out = append(*out, *f.buf...)
	}
	f.deflated.Store(out)
	return (*out)[:len(*out):len(*out)]
}

// Retain adds a reference, for a new holder (another event loop, a write
// queue). The caller must itself hold a reference.
//
// Safe for concurrent use.
func (f *PreparedFrame) Retain() {
	if f.refs.Add(1) <= 1 {
		panic("codec: PreparedFrame.Retain after the last Release")
	}
}

// Release drops a reference; after the last one the buffer goes back to the
// pool and Bytes must no longer be used. Releasing more times than
// NewPreparedFrame plus Retain panics.
//
// Safe for concurrent use.
func (f *PreparedFrame) Release() {
	switch n := f.refs.Add(-1); {
	case n == 0:
		b := f.buf
		f.buf = nil
		bufPut(b)
		if d := f.deflated.Swap(nil); d != nil {
			bufPut(d)
		}
	case n < 0:
		panic("codec: PreparedFrame released too many times")
	}
}

// Frames compiled at init, for the control frames a server sends most. They
// are shared and must not be modified (their capacity equals their length,
// so append copies).
var (
	// FramePing is a ping frame with an empty payload.
	FramePing = compile(AppendFrame(nil, OpPing, true, nil))
	// FramePongEmpty is a pong frame with an empty payload (the answer to
	// an empty ping; use AppendPong to echo a payload).
	FramePongEmpty = compile(AppendPong(nil, nil))
	// FrameCloseNormal is a close frame with status 1000 and no reason.
	FrameCloseNormal = compile(AppendClose(nil, StatusNormalClosure, ""))
	// FrameCloseGoingAway is a close frame with status 1001 and no reason,
	// sent to every client on shutdown.
	FrameCloseGoingAway = compile(AppendClose(nil, StatusGoingAway, ""))
)

func compile(b []byte) []byte {
	return b[:len(b):len(b)]
}
