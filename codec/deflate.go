package codec

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// Compression: the permessage-deflate extension (RFC 7692), negotiated with
// no context takeover in either direction, so that each message is
// compressed and inflated on its own and no connection holds a compression
// window (32 KiB and more) while it is idle. The deflate code is
// github.com/klauspost/compress/flate, measured against the standard
// library's in BenchmarkDeflate (faster at every level for chat JSON).

// DeflateResponse is the Sec-WebSocket-Extensions line the server sends
// when it accepts permessage-deflate.
const DeflateResponse = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"

// NegotiateDeflate reports whether the upgrade request offers
// permessage-deflate with parameters the server can honour: among its
// offers (in order of preference), one whose parameters are each at most
// once among server_no_context_takeover, client_no_context_takeover,
// client_max_window_bits (any value: the server's answer asks for no
// context takeover, so the client's window does not matter), and
// server_max_window_bits=15 (the server compresses with a 32 KiB window;
// a smaller one is declined, as the RFC allows). An offer with any other
// parameter is declined; the connection then goes uncompressed.
//
// Safe for concurrent use; it allocates nothing.
func NegotiateDeflate(r *Request) bool {
	ok := false
	r.ForEachHeader(func(name, value []byte) bool {
		if !asciiEqualFold(name, "sec-websocket-extensions") {
			return true
		}
		for len(value) > 0 && !ok {
			var offer []byte
			offer, value = cutByte(value, ',')
			ok = acceptableDeflate(offer)
		}
		return !ok
	})
	return ok
}

// acceptableDeflate reports whether one extension offer is a
// permessage-deflate the server accepts.
func acceptableDeflate(offer []byte) bool {
	name, params := cutByte(offer, ';')
	if !asciiEqualFold(bytes.TrimSpace(name), "permessage-deflate") {
		return false
	}
	var seen uint8
	for len(params) > 0 {
		var p []byte
		p, params = cutByte(params, ';')
		k, v, _ := bytes.Cut(bytes.TrimSpace(p), []byte{'='})
		k = bytes.TrimSpace(k)
		v = bytes.Trim(bytes.TrimSpace(v), `"`)
		var bit uint8
		switch {
		case asciiEqualFold(k, "server_no_context_takeover") && len(v) == 0:
			bit = 1
		case asciiEqualFold(k, "client_no_context_takeover") && len(v) == 0:
			bit = 2
		case asciiEqualFold(k, "client_max_window_bits") && (len(v) == 0 || validWindowBits(v)):
			bit = 4
		case asciiEqualFold(k, "server_max_window_bits") && string(v) == "15":
			bit = 8
		case len(k) == 0:
			continue // "permessage-deflate;" with an empty parameter
		default:
			return false
		}
		if seen&bit != 0 {
			return false // a parameter twice: the RFC says decline
		}
		seen |= bit
	}
	return true
}

func validWindowBits(v []byte) bool {
	switch string(v) {
	case "8", "9", "10", "11", "12", "13", "14", "15":
		return true
	}
	return false
}

func cutByte(b []byte, sep byte) (before, after []byte) {
	if i := bytes.IndexByte(b, sep); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// AppendAcceptDeflate is AppendAccept with DeflateResponse: the answer to
// an upgrade request whose permessage-deflate offer was accepted.
func AppendAcceptDeflate(dst, key []byte) []byte {
	dst = append(dst, acceptHead...)
	dst = AppendAcceptKey(dst, key)
	dst = append(dst, "\r\n"...)
	dst = append(dst, DeflateResponse...)
	return append(dst, "\r\n"...)
}

// deflateTail is the end of every compressed message: the sync flush
// marker the sender removed (RFC 7692, 7.2.2), then an empty final stored
// block, so that the inflater ends with io.EOF.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// Deflater compresses messages for permessage-deflate frames. It keeps its
// compressor and buffer between messages (no context is carried from one
// message to the next: the compressor is reset). Not safe for concurrent
// use: one per event loop, or take one from a pool.
type Deflater struct {
	level int
	w     *flate.Writer
	out   bytes.Buffer
}

// NewDeflater returns a Deflater at level: flate.HuffmanOnly (-2),
// 1 (fastest) … 9 (smallest), or -1 for the default (6).
func NewDeflater(level int) (*Deflater, error) {
	d := &Deflater{level: level}
	w, err := flate.NewWriter(&d.out, level)
	if err != nil {
		return nil, err
	}
	d.w = w
	return d, nil
}

// Compress returns the compressed form of p as a permessage-deflate frame
// carries it (the final sync flush marker removed). The result aliases the
// Deflater's buffer: it is valid until the next call.
func (d *Deflater) Compress(p []byte) []byte {
	d.out.Reset()
	d.w.Reset(&d.out)
	_, _ = d.w.Write(p) // a bytes.Buffer does not fail
	_ = d.w.Flush()
	b := d.out.Bytes()
	if n := len(b); n >= 4 && b[n-4] == 0 && b[n-3] == 0 && b[n-2] == 0xff && b[n-1] == 0xff {
		b = b[:n-4]
	}
	return b
}

// AppendFrame appends one final, unmasked frame carrying p with opcode op
// (OpText or OpBinary) to dst: compressed (RSV1 set), or as it is when
// compressing does not make it smaller (short messages at the fastest
// levels come out as stored blocks: sending them plain spares the client
// an inflate).
func (d *Deflater) AppendFrame(dst []byte, op OpCode, p []byte) []byte {
	c := d.Compress(p)
	if len(c) >= len(p) {
		return AppendFrame(dst, op, true, p)
	}
	dst = AppendHeader(dst, Header{Fin: true, Rsv: rsv1, OpCode: op, Length: int64(len(c))})
	return append(dst, c...)
}

// rsv1 is the Header.Rsv bit of a compressed message's first frame.
const rsv1 = 0x4

// deflaters are pooled by level, for PreparedFrame.Deflated.
var deflaters sync.Map // level → *sync.Pool

func deflaterPool(level int) *sync.Pool {
	if p, ok := deflaters.Load(level); ok {
		return p.(*sync.Pool)
	}
	p, _ := deflaters.LoadOrStore(level, &sync.Pool{New: func() any {
		d, err := NewDeflater(level)
		if err != nil {
			return err
		}
		return d
	}})
	return p.(*sync.Pool)
}

// ErrBadCompressedData closes a connection whose compressed message does
// not inflate (RFC 7692: fail the connection).
var ErrBadCompressedData = CloseError{StatusProtocolError, "invalid compressed data"}

// inflater is a pooled decompressor with the reader it reads from.
type inflater struct {
	r   io.ReadCloser
	src inflateSource
}

// inflateSource reads a compressed message and then deflateTail, without
// allocating a MultiReader per message.
type inflateSource struct {
	parts [2][]byte
}

func (s *inflateSource) Read(p []byte) (int, error) {
	for i := range s.parts {
		if len(s.parts[i]) > 0 {
			n := copy(p, s.parts[i])
			s.parts[i] = s.parts[i][n:]
			return n, nil
		}
	}
	return 0, io.EOF
}

// ReadByte lets the flate reader read without its own buffering.
func (s *inflateSource) ReadByte() (byte, error) {
	for i := range s.parts {
		if len(s.parts[i]) > 0 {
			c := s.parts[i][0]
			s.parts[i] = s.parts[i][1:]
			return c, nil
		}
	}
	return 0, io.EOF
}

var inflaters = sync.Pool{New: func() any {
	in := &inflater{}
	in.r = flate.NewReader(&in.src)
	return in
}}

// inflate returns, in a buffer from the pool, the inflated form of the
// compressed message src, refusing (ErrMessageTooBig) as soon as it would
// pass limit bytes (limit <= 0: none): a small frame that inflates to
// gigabytes costs at most limit bytes of memory. The caller owns the
// buffer (bufPut when done).
func inflate(src []byte, limit int64) (*[]byte, error) {
	in := inflaters.Get().(*inflater)
	defer inflaters.Put(in)
	in.src.parts = [2][]byte{src, deflateTail}
	if err := in.r.(flate.Resetter).Reset(&in.src, nil); err != nil {
		return nil, ErrBadCompressedData
	}
	size := 4 * len(src) // chat JSON inflates 3–10×: one growth at most, usually
	if limit > 0 {
		size = int(min(int64(size), limit+1))
	}
	buf := bufGet(max(size, 512))
	for {
		b := *buf
		if len(b) == cap(b) {
			if limit > 0 && int64(len(b)) > limit {
				bufPut(buf)
				return nil, ErrMessageTooBig
			}
			grown := bufGet(2 * cap(b))
			*grown = append(*grown, b...)
			bufPut(buf)
			buf, b = grown, *grown
		}
		n, err := in.r.Read(b[len(b):cap(b)])
		*buf = b[:len(b)+n]
		if limit > 0 && int64(len(*buf)) > limit {
			bufPut(buf)
			return nil, ErrMessageTooBig
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			bufPut(buf)
			return nil, ErrBadCompressedData
		}
	}
}
