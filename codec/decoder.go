package codec

import "unicode/utf8"

// Message is what Decoder.Decode returns: one whole data message or one
// control frame, unmasked. The zero Message (OpCode 0) means "no message".
type Message struct {
	// OpCode is OpText or OpBinary for a data message (never
	// OpContinuation), OpClose, OpPing or OpPong for a control frame, and
	// 0 when there is no message.
	OpCode OpCode
	// Payload is the unmasked payload; it may be empty. It aliases either
	// the input of Decode or the Decoder's pooled buffer: Payload is valid
	// only until the next call to Decode or Reset.
	Payload []byte
}

// Decoder reassembles the messages of one client connection from the bytes
// that arrive on it, in whatever pieces they arrive. The zero value is ready
// to use once MaxMessageSize is set (or left 0: no limit). The Decoder holds no buffer while no
// message is partly received; it is 32 bytes on 64-bit platforms.
//
// Must be called on the connection's event loop (a Decoder is not safe for
// concurrent use).
type Decoder struct {
	// MaxMessageSize limits the payload of a data message, summed over its
	// fragments; 0 means no limit. A frame header that would exceed it
	// gives ErrMessageTooBig before any of its payload is buffered.
	// Control frames are limited to 125 bytes by the protocol instead.
	MaxMessageSize int64

	buf       *[]byte // message being reassembled (pooled); nil when none
	remaining int64   // payload bytes of the current data frame still to come
	mask      [4]byte // masking key of the current data frame
	maskPos   uint8   // key position of the next payload byte
	op        OpCode  // opcode of the message in progress; 0 when none
	flags     uint8
	text      UTF8 // validator of the text message in progress
}

const (
	decFin        uint8 = 1 << iota // the current data frame is the message's last
	decRelease                      // buf holds a delivered message: return it first
	decCompressed                   // the message in progress is compressed (RSV1)
	decDeflate                      // the connection negotiated permessage-deflate (SetDeflate)
)

// SetDeflate tells the Decoder whether its connection negotiated
// permessage-deflate (NegotiateDeflate): with it, a data message whose
// first frame has RSV1 set is compressed, and is inflated (MaxMessageSize
// then bounds the inflated size) and returned inflated; without it, RSV1
// is a protocol error. Reset keeps it. (A flag bit, not a field: the
// Decoder stays 32 bytes.)
func (d *Decoder) SetDeflate(on bool) {
	if on {
		d.flags |= decDeflate
	} else {
		d.flags &^= decDeflate
	}
}

// Deflate reports whether SetDeflate(true) was called.
func (d *Decoder) Deflate() bool { return d.flags&decDeflate != 0 }

// Decode consumes client frames from the front of b and returns how many
// bytes it consumed and at most one message. The caller discards b[:n]; the
// unconsumed rest must be passed again, followed by newly arrived bytes, on
// the next call:
//
//	for {
//		n, m, err := d.Decode(b)
//		b = b[n:]
//		if err != nil {
//			ce := err.(codec.CloseError) // always a CloseError
//			// send AppendClose(dst, ce.Code, ce.Reason), close
//		}
//		if m.OpCode == 0 {
//			break // need more input; keep b
//		}
//		handle(m)
//	}
//
// m.OpCode == 0 with a nil error means more input is needed. An incomplete
// header, or a control frame whose payload has not all arrived, is left
// unconsumed. The header and available payload of an incomplete data frame
// are consumed and their payload kept in the Decoder.
//
// A whole unfragmented data frame or a whole control frame found in b is
// unmasked in place and m.Payload aliases b (no copy); a fragmented or
// partly received message is unmasked into a pooled buffer and m.Payload
// aliases that. Either way m.Payload is valid only until the next call to
// Decode or Reset (and, when it aliases b, only while the caller keeps b's
// bytes, for gnet until Discard). Decode writes to b (unmasking) but keeps
// no reference to it.
//
// Control frames may come between the fragments of a data message and are
// returned as they come. Protocol violations are returned as CloseError
// values (see errors.go): the Header.Check rules, continuation errors,
// ErrMessageTooBig, ErrInvalidUTF8 for text (checked as the payload arrives,
// failing on the first bad byte even across fragments) and the ParseClose
// errors for close frames. When err is non-nil, n counts the bytes consumed
// before the violation was found, m is empty, the Decoder is reset, and the
// connection must be closed.
//
// 0 allocations, except that reassembling a fragmented or partly received
// message takes a buffer from the pool (which allocates only when the pool is
// empty). Must be called on the connection's event loop.
func (d *Decoder) Decode(b []byte) (n int, m Message, err error) {
	if d.flags&decRelease != 0 {
		d.flags &^= decRelease
		d.release()
	}
	for {
		if d.remaining > 0 {
			// Inside the payload of a data frame: take what has arrived.
			k := len(b) - n
			if k == 0 {
				return n, Message{}, nil
			}
			if int64(k) > d.remaining {
				k = int(d.remaining)
			}
			if err := d.appendPayload(b[n : n+k]); err != nil {
				return n, Message{}, d.fail(err)
			}
			n += k
			d.remaining -= int64(k)
			if d.remaining > 0 {
				return n, Message{}, nil
			}
			if m, err := d.endFrame(); err != nil || m.OpCode != 0 {
				return n, m, err
			}
			continue
		}

		var h Header
		hn, err := h.Decode(b[n:])
		if err != nil {
			if err == ErrShortHeader {
				return n, Message{}, nil
			}
			return n, Message{}, d.fail(err)
		}
		compressed := false
		if h.Rsv == rsv1 && d.flags&decDeflate != 0 && h.OpCode.IsData() && h.OpCode != OpContinuation {
			compressed, h.Rsv = true, 0 // RSV1 elsewhere stays an error for Check
		}
		if err := h.Check(); err != nil {
			return n, Message{}, d.fail(err)
		}

		if h.OpCode.IsControl() {
			end := n + hn + int(h.Length) // Length <= 125 after Check
			if end > len(b) {
				return n, Message{}, nil // wait for the whole frame
			}
			p := b[n+hn : end]
			Cipher(p, h.Mask, 0)
			if h.OpCode == OpClose {
				if _, _, err := ParseClose(p); err != nil {
					return n, Message{}, d.fail(err)
				}
			}
			return end, Message{OpCode: h.OpCode, Payload: p}, nil
		}

		if h.OpCode == OpContinuation {
			if d.op == 0 {
				return n, Message{}, d.fail(ErrUnexpectedContinuation)
			}
		} else if d.op != 0 {
			return n, Message{}, d.fail(ErrExpectedContinuation)
		}
		if d.MaxMessageSize > 0 && h.Length > d.MaxMessageSize-d.buffered() {
			return n, Message{}, d.fail(ErrMessageTooBig)
		}

		if d.op == 0 && h.Fin && h.Length <= int64(len(b)-n-hn) {
			// Zero-copy: the whole message is this frame, in b.
			end := n + hn + int(h.Length)
			p := b[n+hn : end]
			Cipher(p, h.Mask, 0)
			if compressed {
				buf, err := inflate(p, d.MaxMessageSize)
				if err != nil {
					return n, Message{}, d.fail(err)
				}
				d.buf = buf
				d.flags |= decRelease // given back at the next Decode
				p = *buf
			}
			if h.OpCode == OpText && !utf8.Valid(p) {
				return n, Message{}, d.fail(ErrInvalidUTF8)
			}
			return end, Message{OpCode: h.OpCode, Payload: p}, nil
		}

		n += hn
		if d.op == 0 {
			d.op = h.OpCode
			d.text.Reset()
			if compressed {
				d.flags |= decCompressed
			}
		}
		d.remaining = h.Length
		d.mask = h.Mask
		d.maskPos = 0
		if h.Fin {
			d.flags |= decFin
		}
		if d.remaining == 0 {
			if m, err := d.endFrame(); err != nil || m.OpCode != 0 {
				return n, m, err
			}
		}
	}
}

// Reset drops any partly received message and gives its buffer back to the
// pool, making d ready for a new connection; MaxMessageSize is kept. Call it
// when the connection closes. Must be called on the connection's event loop.
func (d *Decoder) Reset() {
	d.release()
	*d = Decoder{MaxMessageSize: d.MaxMessageSize, flags: d.flags & decDeflate}
}

// buffered returns the payload bytes of the message in progress so far.
func (d *Decoder) buffered() int64 {
	if d.buf == nil {
		return 0
	}
	return int64(len(*d.buf))
}

// release gives the message buffer back to the pool.
func (d *Decoder) release() {
	if d.buf != nil {
		bufPut(d.buf)
		d.buf = nil
	}
}

// fail resets d and returns err.
func (d *Decoder) fail(err error) error {
	d.Reset()
	return err
}

// appendPayload unmasks p into the message buffer and, for text, validates
// it. p is part of the current frame (len(p) <= d.remaining).
func (d *Decoder) appendPayload(p []byte) error {
	d.grow(len(p))
	buf := *d.buf
	start := len(buf)
	buf = append(buf, p...)
	q := buf[start:]
	d.maskPos = uint8(Cipher(q, d.mask, int(d.maskPos)))
	*d.buf = buf
	if d.op == OpText && d.flags&decCompressed == 0 && !d.text.Write(q) {
		return ErrInvalidUTF8 // (a compressed text is checked once inflated)
	}
	return nil
}

// grow makes room for k more bytes of the current frame. The buffer grows
// with the bytes that actually arrive (doubling, capped at the end of the
// current frame), never with the length a header merely announces, so a peer
// cannot make the server reserve memory it does not send.
func (d *Decoder) grow(k int) {
	var have, capacity int
	if d.buf != nil {
		have, capacity = len(*d.buf), cap(*d.buf)
	}
	need := have + k
	if need <= capacity {
		return
	}
	want := max(need, 2*capacity)
	if frameEnd := int64(have) + d.remaining; int64(want) > frameEnd {
		want = int(frameEnd) // >= need
	}
	nb := bufGet(want)
	if d.buf != nil {
		*nb = append(*nb, *d.buf...)
		bufPut(d.buf)
	}
	d.buf = nb
}

// endFrame finishes the current data frame and, if it was the last of its
// message, returns the message.
func (d *Decoder) endFrame() (Message, error) {
	if d.flags&decFin == 0 {
		return Message{}, nil
	}
	if d.flags&decCompressed != 0 {
		var src []byte
		if d.buf != nil {
			src = *d.buf
		}
		buf, err := inflate(src, d.MaxMessageSize)
		if err != nil {
			return Message{}, d.fail(err)
		}
		d.release()
		d.buf = buf
		if d.op == OpText && !utf8.Valid(*buf) {
			return Message{}, d.fail(ErrInvalidUTF8)
		}
	} else if d.op == OpText && !d.text.Complete() {
		return Message{}, d.fail(ErrInvalidUTF8)
	}
	m := Message{OpCode: d.op}
	if d.buf != nil {
		m.Payload = *d.buf
		d.flags |= decRelease
	}
	d.op = 0
	d.flags &^= decFin | decCompressed
	return m, nil
}
