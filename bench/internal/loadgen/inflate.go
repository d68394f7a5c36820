package loadgen

import (
	"bytes"
	"io"

	"github.com/klauspost/compress/flate"
)

// inflater inflates the compressed messages of one client loop
// (permessage-deflate, no context takeover: each message on its own).
type inflater struct {
	src bytes.Reader
	r   io.ReadCloser
	out []byte
}

// tail ends every compressed message: the sync-flush marker the sender
// removed, then an empty final block, so that the reader ends cleanly.
var tail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// inflate returns the inflated form of p, valid until the next call on the
// same loop.
func (s *loopStats) inflate(p []byte) ([]byte, error) {
	in := s.inflater
	if in == nil {
		in = &inflater{}
		in.r = flate.NewReader(&in.src)
		s.inflater = in
	}
	msg := append(append(in.out[:0], p...), tail...) // the compressed bytes, then the tail
	in.src.Reset(msg)
	if err := in.r.(flate.Resetter).Reset(&in.src, nil); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 4*len(p)+64)
	var buf [16 << 10]byte
	for {
		k, err := in.r.Read(buf[:])
		out = append(out, buf[:k]...)
		if err == io.EOF {
			in.out = msg
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
