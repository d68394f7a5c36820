// Package tlsrec runs a TLS server connection's record layer without
// crypto/tls's connection: the handshake is crypto/tls's (on a goroutine,
// once per connection), then the application data records are sealed and
// opened here, from byte slices, by whoever owns the socket (an event
// loop), with no goroutine and no buffer per connection beyond the keys.
//
// Only AEAD cipher suites are supported: TLS 1.3 (AES-128-GCM,
// AES-256-GCM, ChaCha20-Poly1305) and TLS 1.2 with ECDHE and AES-GCM or
// ChaCha20-Poly1305 (Config restricts a tls.Config to them). The traffic
// secrets come from the handshake through tls.Config.KeyLogWriter, in
// memory only; for TLS 1.2 the server random is read from the
// ServerHello the handshake writes. Session tickets are disabled, so the
// server sends nothing after its Finished and both directions' sequence
// numbers are known.
package tlsrec

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Record content types.
const (
	typeChangeCipherSpec = 20
	typeAlert            = 21
	typeHandshake        = 22
	typeApplicationData  = 23
)

// MaxPlaintext is the most plaintext one record carries.
const MaxPlaintext = 16384

// HeaderSize is a record header's size.
const HeaderSize = 5

// Errors of Open.
var (
	ErrBadRecord    = errors.New("tlsrec: bad record")
	ErrDecrypt      = errors.New("tlsrec: bad record MAC")
	ErrCloseNotify  = errors.New("tlsrec: the peer closed the connection (close_notify)")
	ErrAlert        = errors.New("tlsrec: the peer sent an alert")
	ErrUnexpected   = errors.New("tlsrec: unexpected record after the handshake")
	ErrUnsupported  = errors.New("tlsrec: the negotiated cipher suite is not an AEAD suite tlsrec runs")
	ErrRecordTooBig = errors.New("tlsrec: record over the protocol's limit")
)

// Config returns a copy of c fit for Handshake: TLS 1.2 and 1.3, TLS 1.2
// restricted to ECDHE with AEAD suites, and session tickets off (nothing
// is sent after the handshake).
func Config(c *tls.Config) *tls.Config {
	c = c.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	c.CipherSuites = []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
	c.SessionTicketsDisabled = true
	c.Renegotiation = tls.RenegotiateNever
	return c
}

// direction is one direction's keys and sequence number.
type direction struct {
	aead   cipher.AEAD
	iv     [12]byte // TLS 1.3 and ChaCha20: XORed with the sequence number; GCM in 1.2: the 4-byte salt
	seq    uint64
	secret []byte // TLS 1.3: for KeyUpdate
	// nonce and ad are scratch space: a slice of a local array handed to
	// cipher.AEAD (an interface) would escape and allocate per record.
	nonce [12]byte
	ad    [13]byte
}

// State is one connection's record layer after the handshake. It is not
// safe for concurrent use: its owner (one event loop) seals and opens.
type State struct {
	version uint16
	suite   uint16
	hash    func() hash.Hash
	in, out direction
	// Leftover holds bytes the handshake read past its last record: the
	// first application records. Open them before what the socket brings.
	Leftover []byte
	// ConnectionState is the handshake's outcome (peer certificates, ALPN).
	// A pointer, so that its owner can drop it (nil) once read: a State
	// lives as long as its connection.
	ConnectionState *tls.ConnectionState
	// pendingKeyUpdate: the client asked for a KeyUpdate; the next Seal
	// sends ours first.
	pendingKeyUpdate bool
	// client: the client's side (Client); it accepts the server's
	// NewSessionTicket messages (and ignores them).
	client bool
	// The peer's KeyUpdates so far, and the application data opened since
	// the last one (KeyUpdateSpacing).
	keyUpdates     uint32
	sinceKeyUpdate uint64
}

// KeyUpdateSpacing is the application data a peer must send between two
// of its KeyUpdates after the first: each costs a key derivation and a new
// cipher, so a record of a few bytes could otherwise make the owner's
// event loop derive keys thousands of times per read. Implementations
// update keys after gigabytes, not kilobytes.
const KeyUpdateSpacing = 16 << 10

// ErrKeyUpdateFlood: a KeyUpdate came less than KeyUpdateSpacing bytes of
// data after the previous one.
var ErrKeyUpdateFlood = fmt.Errorf("%w: KeyUpdates too close together", ErrUnexpected)

// Peer returns the other end's view of s: the same keys with the two
// directions swapped, which seals what the client would send and opens
// what s seals. It is for tests and load generators that drive a server's
// record layer without a client stack.
func (s *State) Peer() *State {
	p := *s
	p.in, p.out = s.out, s.in
	p.Leftover, p.pendingKeyUpdate = nil, false
	return &p
}

// Version returns the negotiated TLS version.
func (s *State) Version() uint16 { return s.version }

// recorder is the net.Conn the handshake runs on: it hands crypto/tls at
// most one record at a time, so that crypto/tls never buffers the bytes
// after the client's Finished (they stay in buf for the record layer), and
// it keeps what the server wrote first (its ServerHello) for TLS 1.2's
// key expansion.
type recorder struct {
	net.Conn
	buf       []byte // read from the socket, not yet given to crypto/tls
	left      int    // bytes of the current record crypto/tls may still read
	firstOut  []byte // the first bytes written: the ServerHello record
	firstIn   []byte // the first record read (a client's: the ServerHello)
	inHead    []byte // what was read until firstIn was whole
	keyLog    bytes.Buffer
	keyLogMu  sync.Mutex
	readError error
}

func (r *recorder) Read(p []byte) (int, error) {
	for {
		if r.left == 0 && len(r.buf) >= HeaderSize {
			r.left = HeaderSize + int(binary.BigEndian.Uint16(r.buf[3:5]))
		}
		if r.left > 0 && len(r.buf) > 0 {
			n := copy(p, r.buf[:min(len(r.buf), r.left)])
			r.buf = r.buf[n:]
			r.left -= n
			return n, nil
		}
		if r.readError != nil {
			return 0, r.readError
		}
		var tmp [4096]byte
		n, err := r.Conn.Read(tmp[:])
		r.buf = append(r.buf, tmp[:n]...)
		if r.firstIn == nil {
			// The first record read, whole, however the reads split it.
			r.inHead = append(r.inHead, tmp[:n]...)
			if len(r.inHead) >= HeaderSize {
				if end := HeaderSize + int(binary.BigEndian.Uint16(r.inHead[3:5])); len(r.inHead) >= end {
					r.firstIn, r.inHead = r.inHead[:end], nil
				}
			}
		}
		if err != nil {
			r.readError = err
		}
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.firstOut == nil {
		r.firstOut = append([]byte(nil), p...)
	}
	return r.Conn.Write(p)
}

// keyLogWriter collects the NSS key log lines of one handshake.
type keyLogWriter struct{ r *recorder }

func (w keyLogWriter) Write(p []byte) (int, error) {
	w.r.keyLogMu.Lock()
	defer w.r.keyLogMu.Unlock()
	return w.r.keyLog.Write(p)
}

// Handshake runs the server side of a TLS handshake on conn with cfg (as
// Config returns it) and returns the record layer's state. It blocks: run
// it on its own goroutine, with a deadline on conn. conn's bytes after
// the handshake are in State.Leftover or still in the socket; nothing else
// is read or written afterwards.
func Handshake(conn net.Conn, cfg *tls.Config, timeout time.Duration) (*State, error) {
	return handshake(conn, cfg, timeout, false)
}

// Client runs the client side of a TLS handshake on conn with cfg (its
// cipher suites limited to those Config allows) and returns the client's
// record layer, for load generators that drive many connections from
// event loops. The server must send nothing after its Finished but
// NewSessionTicket messages, which Open skips.
func Client(conn net.Conn, cfg *tls.Config, timeout time.Duration) (*State, error) {
	return handshake(conn, cfg, timeout, true)
}

func handshake(conn net.Conn, cfg *tls.Config, timeout time.Duration, client bool) (*State, error) {
	rec := &recorder{Conn: conn}
	c := cfg.Clone()
	c.KeyLogWriter = keyLogWriter{rec}
	tc := tls.Server(rec, c)
	serverHello := &rec.firstOut
	if client {
		c.CipherSuites = Config(&tls.Config{}).CipherSuites
		tc, serverHello = tls.Client(rec, c), &rec.firstIn
	}
	if timeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(timeout))
		defer func() { _ = conn.SetDeadline(time.Time{}) }()
	}
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	cs := tc.ConnectionState()
	s := &State{version: cs.Version, suite: cs.CipherSuite, ConnectionState: &cs}
	if rec.left != 0 {
		return nil, fmt.Errorf("%w: the handshake ended inside a record", ErrBadRecord)
	}
	secrets, err := parseKeyLog(rec.keyLog.Bytes())
	if err != nil {
		return nil, err
	}
	switch cs.Version {
	case tls.VersionTLS13:
		err = s.keys13(secrets)
	case tls.VersionTLS12:
		err = s.keys12(secrets, *serverHello)
	default:
		err = ErrUnsupported
	}
	if err != nil {
		return nil, err
	}
	if client {
		s = s.Peer()
		s.client, s.ConnectionState = true, &cs
	}
	s.Leftover = rec.buf
	return s, nil
}

// parseKeyLog reads "LABEL <client random> <secret>" lines.
func parseKeyLog(b []byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) != 3 {
			continue
		}
		secret, err := hex.DecodeString(string(f[2]))
		if err != nil {
			return nil, fmt.Errorf("tlsrec: key log: %w", err)
		}
		out[string(f[0])] = secret
		out["random"], _ = hex.DecodeString(string(f[1]))
	}
	return out, nil
}

// suite13 returns the AEAD key length and hash of a TLS 1.3 suite.
func suite13(id uint16) (keyLen int, h func() hash.Hash, chacha bool, err error) {
	switch id {
	case tls.TLS_AES_128_GCM_SHA256:
		return 16, sha256.New, false, nil
	case tls.TLS_AES_256_GCM_SHA384:
		return 32, sha512.New384, false, nil
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		return 32, sha256.New, true, nil
	}
	return 0, nil, false, ErrUnsupported
}

// expandLabel is TLS 1.3's HKDF-Expand-Label (RFC 8446, 7.1).
func expandLabel(h func() hash.Hash, secret []byte, label string, length int) []byte {
	info := make([]byte, 0, 4+len(label)+6)
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(6+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0) // empty context
	out, err := hkdf.Expand(h, secret, string(info), length)
	if err != nil {
		panic(err) // lengths here are always within HKDF's bound
	}
	return out
}

func newAEAD(key []byte, chacha bool) (cipher.AEAD, error) {
	if chacha {
		return chacha20poly1305.New(key)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// set13 sets one direction's keys from a TLS 1.3 traffic secret.
func (s *State) set13(d *direction, secret []byte) error {
	keyLen, h, chacha, err := suite13(s.suite)
	if err != nil {
		return err
	}
	s.hash = h
	aead, err := newAEAD(expandLabel(h, secret, "key", keyLen), chacha)
	if err != nil {
		return err
	}
	d.aead, d.seq, d.secret = aead, 0, secret
	copy(d.iv[:], expandLabel(h, secret, "iv", 12))
	return nil
}

func (s *State) keys13(secrets map[string][]byte) error {
	c, sv := secrets["CLIENT_TRAFFIC_SECRET_0"], secrets["SERVER_TRAFFIC_SECRET_0"]
	if c == nil || sv == nil {
		return errors.New("tlsrec: the handshake logged no TLS 1.3 traffic secrets")
	}
	if err := s.set13(&s.in, c); err != nil {
		return err
	}
	return s.set13(&s.out, sv)
}

// prf12 is TLS 1.2's PRF with hash h (RFC 5246, 5).
func prf12(h func() hash.Hash, secret []byte, label string, seed []byte, length int) []byte {
	labelSeed := append([]byte(label), seed...)
	out := make([]byte, 0, length)
	mac := hmac.New(h, secret)
	mac.Write(labelSeed)
	a := mac.Sum(nil)
	for len(out) < length {
		mac.Reset()
		mac.Write(a)
		mac.Write(labelSeed)
		out = mac.Sum(out)
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
	return out[:length]
}

func (s *State) keys12(secrets map[string][]byte, serverHello []byte) error {
	master, clientRandom := secrets["CLIENT_RANDOM"], secrets["random"]
	if master == nil || len(clientRandom) != 32 {
		return errors.New("tlsrec: the handshake logged no TLS 1.2 master secret")
	}
	// The ServerHello record: header (5), handshake type and length (4),
	// version (2), then the 32-byte random.
	if len(serverHello) < HeaderSize+4+2+32 || serverHello[0] != typeHandshake || serverHello[HeaderSize] != 2 {
		return errors.New("tlsrec: the server's first record is not a ServerHello")
	}
	serverRandom := serverHello[HeaderSize+6 : HeaderSize+6+32]
	var keyLen, ivLen int
	var chacha bool
	s.hash = sha256.New
	switch s.suite {
	case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:
		keyLen, ivLen = 16, 4
	case tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		keyLen, ivLen, s.hash = 32, 4, sha512.New384
	case tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		keyLen, ivLen, chacha = 32, 12, true
	default:
		return ErrUnsupported
	}
	kb := prf12(s.hash, master, "key expansion", append(append([]byte(nil), serverRandom...), clientRandom...), 2*keyLen+2*ivLen)
	clientKey, serverKey := kb[:keyLen], kb[keyLen:2*keyLen]
	clientIV, serverIV := kb[2*keyLen:2*keyLen+ivLen], kb[2*keyLen+ivLen:]
	var err error
	if s.in.aead, err = newAEAD(clientKey, chacha); err != nil {
		return err
	}
	if s.out.aead, err = newAEAD(serverKey, chacha); err != nil {
		return err
	}
	copy(s.in.iv[:], clientIV)
	copy(s.out.iv[:], serverIV)
	// Each side's Finished was the first record under these keys.
	s.in.seq, s.out.seq = 1, 1
	return nil
}

// explicitNonce reports whether records carry an 8-byte explicit nonce
// (TLS 1.2 with AES-GCM).
func (s *State) explicitNonce() bool {
	if s.version != tls.VersionTLS12 {
		return false
	}
	switch s.suite {
	case tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return false
	}
	return true
}

// nonce returns d's nonce for sequence number seq (TLS 1.3 and ChaCha20:
// iv XOR seq; TLS 1.2 GCM: salt and the explicit 8 bytes).
func (s *State) nonce(d *direction, seq uint64, explicit []byte) []byte {
	n := &d.nonce
	if s.explicitNonce() {
		copy(n[:4], d.iv[:4])
		copy(n[4:], explicit)
		return n[:]
	}
	*n = d.iv
	for i := 0; i < 8; i++ {
		n[4+i] ^= byte(seq >> (56 - 8*i))
	}
	return n[:]
}

// Seal appends to dst the application data records carrying p (split at
// MaxPlaintext) and returns the extended slice, led by the KeyUpdate the
// client asked for, if one is due. An empty p appends no record but that
// KeyUpdate: after an Open that returned no data, Seal(dst, nil) gives
// what must be sent now (often nothing). Empty application data records
// are never sent: some stacks read one as the end of the stream.
// 0 allocations when dst has room.
func (s *State) Seal(dst, p []byte) []byte {
	if s.pendingKeyUpdate {
		dst = s.sealRecord(dst, typeHandshake, []byte{24, 0, 0, 1, 0}) // KeyUpdate, update_not_requested
		if err := s.set13(&s.out, expandLabel(s.hash, s.out.secret, "traffic upd", len(s.out.secret))); err != nil {
			panic(err) // the suite was accepted at the handshake
		}
		s.pendingKeyUpdate = false
	}
	for len(p) > 0 {
		n := min(len(p), MaxPlaintext)
		dst = s.sealRecord(dst, typeApplicationData, p[:n])
		p = p[n:]
	}
	return dst
}

func (s *State) sealRecord(dst []byte, typ byte, p []byte) []byte {
	d := &s.out
	seq := d.seq
	d.seq++
	start := len(dst)
	var explicit [8]byte
	binary.BigEndian.PutUint64(explicit[:], seq)
	dst = slices.Grow(dst, HeaderSize+8+len(p)+1+d.aead.Overhead()) // the record is sealed in place
	if s.version == tls.VersionTLS13 {
		length := len(p) + 1 + d.aead.Overhead()
		dst = append(dst, typeApplicationData, 3, 3, byte(length>>8), byte(length))
		hdr := dst[start : start+HeaderSize]
		body := append(dst[len(dst):], p...)
		body = append(body, typ)
		sealed := d.aead.Seal(body[:0], s.nonce(d, seq, nil), body, hdr)
		return dst[:len(dst)+len(sealed)]
	}
	ex := 0
	if s.explicitNonce() {
		ex = 8
	}
	length := ex + len(p) + d.aead.Overhead()
	dst = append(dst, typ, 3, 3, byte(length>>8), byte(length))
	if ex > 0 {
		dst = append(dst, explicit[:]...)
	}
	ad := &d.ad
	binary.BigEndian.PutUint64(ad[:8], seq)
	ad[8], ad[9], ad[10] = typ, 3, 3
	binary.BigEndian.PutUint16(ad[11:], uint16(len(p)))
	sealed := d.aead.Seal(dst[len(dst):len(dst)], s.nonce(d, seq, explicit[:]), p, ad[:])
	return dst[:len(dst)+len(sealed)]
}

// CloseNotify appends a close_notify alert record to dst.
func (s *State) CloseNotify(dst []byte) []byte {
	return s.sealRecord(dst, typeAlert, []byte{1, 0}) // warning, close_notify
}

// MaxRecordSize is the largest record a peer may send (RFC 8446 5.2: the
// plaintext limit plus 256 bytes of expansion in TLS 1.3, 2048 in 1.2).
const MaxRecordSize = HeaderSize + MaxPlaintext + 2048

// Next returns the length of the whole record at the front of b once b
// holds all of it, 0 while it does not; an error when its header cannot
// start a record (a content type TLS does not have, a version that is not
// 3.x) or announces more than MaxRecordSize, so that a connection sending
// garbage is refused at its first five bytes.
func Next(b []byte) (int, error) {
	if len(b) < HeaderSize {
		return 0, nil
	}
	if b[0] < typeChangeCipherSpec || b[0] > typeApplicationData || b[1] != 3 {
		return 0, ErrBadRecord
	}
	n := RecordLen(b)
	if n > MaxRecordSize {
		return 0, ErrRecordTooBig
	}
	if len(b) < n {
		return 0, nil
	}
	return n, nil
}

// KeyUpdatePending reports whether the client asked for a KeyUpdate that
// the next Seal sends: flush the connection even with no data for it.
func (s *State) KeyUpdatePending() bool { return s.pendingKeyUpdate }

// Alert descriptions the record layer's errors map to (RFC 8446 6.2).
const (
	AlertUnexpectedMessage = 10
	AlertBadRecordMAC      = 20
	AlertRecordOverflow    = 22
	AlertDecodeError       = 50
)

// AlertFor returns the alert that answers err from Open or Next (0 for
// ErrCloseNotify and the peer's own alerts: answer those with close_notify
// or nothing).
func AlertFor(err error) uint8 {
	switch {
	case errors.Is(err, ErrDecrypt):
		return AlertBadRecordMAC
	case errors.Is(err, ErrRecordTooBig):
		return AlertRecordOverflow
	case errors.Is(err, ErrUnexpected):
		return AlertUnexpectedMessage
	case errors.Is(err, ErrBadRecord):
		return AlertDecodeError
	}
	return 0
}

// Alert appends a fatal alert record with description desc to dst.
func (s *State) Alert(dst []byte, desc uint8) []byte {
	return s.sealRecord(dst, typeAlert, []byte{2, desc})
}

// RecordLen returns the length of the whole record at the front of b, or 0
// when b does not hold its header yet.
func RecordLen(b []byte) int {
	if len(b) < HeaderSize {
		return 0
	}
	return HeaderSize + int(binary.BigEndian.Uint16(b[3:5]))
}

// Open decrypts the one whole record rec (RecordLen(rec) == len(rec)) in
// place and returns its application data (aliasing rec). A record with no
// application data (a TLS 1.3 KeyUpdate, which Open applies) returns an
// empty payload and no error. close_notify gives ErrCloseNotify; any
// other alert, a record that does not authenticate, or one that is not
// expected after the handshake gives an error: close the connection.
// 0 allocations, except for a KeyUpdate.
func (s *State) Open(rec []byte) ([]byte, error) {
	if len(rec) < HeaderSize || RecordLen(rec) != len(rec) {
		return nil, ErrBadRecord
	}
	if len(rec) > MaxRecordSize {
		return nil, ErrRecordTooBig
	}
	d := &s.in
	seq := d.seq
	typ := rec[0]
	body := rec[HeaderSize:]
	var p []byte
	if s.version == tls.VersionTLS13 {
		if typ != typeApplicationData {
			return nil, ErrUnexpected // (a late ChangeCipherSpec included)
		}
		if len(body) > MaxPlaintext+256 { // RFC 8446 5.2: TLS 1.3's own bound
			return nil, ErrRecordTooBig
		}
		out, err := d.aead.Open(body[:0], s.nonce(d, seq, nil), body, rec[:HeaderSize])
		if err != nil {
			return nil, ErrDecrypt
		}
		d.seq++
		i := len(out) - 1
		for i >= 0 && out[i] == 0 {
			i--
		}
		if i < 0 {
			return nil, ErrBadRecord
		}
		if i > MaxPlaintext {
			return nil, ErrRecordTooBig
		}
		typ, p = out[i], out[:i]
		switch typ {
		case typeApplicationData:
			s.sinceKeyUpdate += uint64(len(p))
			return p, nil
		case typeHandshake:
			return nil, s.handshakeMessage(p)
		case typeAlert:
			return nil, alert(p)
		}
		return nil, ErrUnexpected
	}
	var explicit []byte
	if s.explicitNonce() {
		if len(body) < 8 {
			return nil, ErrBadRecord
		}
		explicit, body = body[:8], body[8:]
	}
	if len(body) < d.aead.Overhead() {
		return nil, ErrBadRecord
	}
	ad := &d.ad
	binary.BigEndian.PutUint64(ad[:8], seq)
	ad[8], ad[9], ad[10] = typ, rec[1], rec[2]
	binary.BigEndian.PutUint16(ad[11:], uint16(len(body)-d.aead.Overhead()))
	out, err := d.aead.Open(body[:0], s.nonce(d, seq, explicit), body, ad[:])
	if err != nil {
		return nil, ErrDecrypt
	}
	d.seq++
	switch typ {
	case typeApplicationData:
		return out, nil
	case typeAlert:
		return nil, alert(out)
	}
	return nil, ErrUnexpected // a renegotiation request included: refused
}

func alert(p []byte) error {
	if len(p) == 2 && p[1] == 0 {
		return ErrCloseNotify
	}
	if len(p) == 2 {
		return fmt.Errorf("%w %d", ErrAlert, p[1])
	}
	return ErrBadRecord
}

// handshakeMessage handles the post-handshake messages of a TLS 1.3
// record: a KeyUpdate moves the peer's keys on (and, when the peer asks,
// ours: the next Seal announces it); a client skips NewSessionTicket.
// Anything else is refused.
func (s *State) handshakeMessage(p []byte) error {
	if len(p) == 0 {
		return ErrUnexpected
	}
	for len(p) > 0 {
		if len(p) < 4 {
			return ErrUnexpected
		}
		n := 4 + (int(p[1])<<16 | int(p[2])<<8 | int(p[3]))
		if len(p) < n {
			return ErrUnexpected // a message across records: none of ours is
		}
		switch {
		case p[0] == 24 && n == 5:
			if len(p) != n || p[4] > 1 {
				// Not the record's last message (what follows would be
				// under the old keys), or an update_requested out of range.
				return ErrUnexpected
			}
			if s.keyUpdates > 0 && s.sinceKeyUpdate < KeyUpdateSpacing {
				return ErrKeyUpdateFlood
			}
			s.keyUpdates++
			s.sinceKeyUpdate = 0
			next := expandLabel(s.hash, s.in.secret, "traffic upd", len(s.in.secret))
			if err := s.set13(&s.in, next); err != nil {
				return err
			}
			if p[4] == 1 { // update_requested: answer with our own KeyUpdate
				s.pendingKeyUpdate = true
			}
		case p[0] == 4 && s.client: // NewSessionTicket: no resumption here
		default:
			return ErrUnexpected
		}
		p = p[n:]
	}
	return nil
}
