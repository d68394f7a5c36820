package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/internal/proxyproto"
	"github.com/wsloop/wsloop/internal/tlsrec"
)

// TLS (docs/architecture.md, "TLS"). A TLS connection is accepted like a
// plain one; its handshake then runs on a goroutine of its own with
// crypto/tls (bounded by TLS.MaxHandshakes and Limits.HandshakeTimeout),
// and once it is done the socket joins an event loop with the record
// layer's keys (internal/tlsrec). From then on the loop opens the records
// it reads before the upgrade request and the frames see them, and seals
// each connection's corked output at the flush: one write still carries a
// wakeup's output, and a room message is encoded once and sealed per
// connection. A connection holds its keys and, only while a frame is split
// across reads, the plaintext that has arrived of it.

// tlsConn is a TLS session's record layer and what the loop keeps for it.
type tlsConn struct {
	st *tlsrec.State
	// in holds plaintext opened but not yet consumed (a frame or an
	// upgrade request split across reads); empty while idle.
	in []byte
	// alert is the fatal alert to send after the pending output (0: none,
	// close_notify when the connection ends); ended: close_notify or an
	// alert was sealed, nothing may follow it (the client's records are
	// still read: its answer to our close frame comes after our
	// close_notify); broken: the client's input ended (close_notify) or
	// failed, nothing more of it is read.
	alert  uint8
	ended  bool
	broken bool
	// pending holds the start of a record that arrived with the
	// handshake's last one, until gnet reads the rest (rare).
	pending []byte
}

// tlsInKeep is the largest plaintext carry-over buffer kept once empty.
const tlsInKeep = 16 << 10

// tlsSetup builds the server's TLS configuration (New).
func (s *Server) tlsSetup() error {
	t := &s.cfg.TLS
	base := t.Config
	if base == nil {
		base = &tls.Config{}
	}
	base = base.Clone()
	if t.CertFile != "" {
		if err := s.ReloadCertificate(); err != nil {
			return err
		}
		base.Certificates = nil
		base.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.tlsCert.Load(), nil }
	}
	// WebSocket runs over HTTP/1.1: a client that offers h2 as well must
	// not be told to speak it.
	base.NextProtos = slices.DeleteFunc(slices.Clone(base.NextProtos), func(p string) bool { return p == "h2" })
	if len(base.NextProtos) == 0 {
		base.NextProtos = []string{"http/1.1"}
	}
	s.tlsCfg = tlsrec.Config(base)
	return nil
}

// ReloadCertificate reads TLS.CertFile and TLS.KeyFile again and serves
// the certificate to every handshake from now on; connections already open
// are not touched. On an error (a missing or unreadable file, a key that
// does not match) the certificate in use stays. Safe for concurrent use.
func (s *Server) ReloadCertificate() error {
	t := &s.cfg.TLS
	if t.CertFile == "" {
		return errors.New("server: no certificate to reload: TLS.CertFile is not set")
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return fmt.Errorf("server: TLS certificate: %w", err)
	}
	s.tlsCert.Store(&cert)
	if s.tlsCfg != nil { // not the first load
		s.log.Info("TLS certificate reloaded", "cert", t.CertFile, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	}
	return nil
}

// startTLS runs the TLS handshake of an accepted socket on its own
// goroutine, or refuses it when TLS.MaxHandshakes are in progress. The
// socket counts as enrolling until a loop opens it or it is dropped.
func (s *Server) startTLS(c net.Conn) {
	if s.handshakes.Add(1) > int64(s.cfg.TLS.MaxHandshakes) {
		s.handshakes.Add(-1)
		s.enrolling.Add(-1)
		s.refused.Add(1)
		_ = c.Close()
		if now := time.Now(); now.Sub(s.lastHSWarn) > 5*time.Second { // the accept loop's goroutine only
			s.lastHSWarn = now
			s.log.Warn("TLS handshakes at their bound; connections refused", "max_handshakes", s.cfg.TLS.MaxHandshakes)
		}
		return
	}
	ip, ok := s.holdHandshakeSlot(c)
	if !ok {
		s.handshakes.Add(-1)
		s.enrolling.Add(-1)
		s.tlsIPRefused.Add(1)
		_ = c.Close()
		return
	}
	go s.tlsHandshake(c, ip)
}

// holdHandshakeSlot counts a TLS handshake against its client address
// under Limits.MaxConnsPerIP, so that one address cannot fill
// TLS.MaxHandshakes with handshakes that never finish; ok is false when
// the address has that many in progress already. Behind the PROXY
// protocol the peer is the proxy: the client's address is checked at the
// upgrade instead. ip is invalid when nothing was counted.
func (s *Server) holdHandshakeSlot(c net.Conn) (ip netip.Addr, ok bool) {
	limit := s.cfg.Limits.MaxConnsPerIP
	ta, isTCP := c.RemoteAddr().(*net.TCPAddr)
	if limit <= 0 || s.cfg.Proxies.Protocol || !isTCP {
		return netip.Addr{}, true
	}
	ip = ta.AddrPort().Addr().Unmap()
	s.hsMu.Lock()
	defer s.hsMu.Unlock()
	if s.hsPerIP[ip] >= limit {
		return netip.Addr{}, false
	}
	if s.hsPerIP == nil {
		s.hsPerIP = map[netip.Addr]int{}
	}
	s.hsPerIP[ip]++
	return ip, true
}

// releaseHandshakeSlot ends what holdHandshakeSlot counted.
func (s *Server) releaseHandshakeSlot(ip netip.Addr) {
	if !ip.IsValid() {
		return
	}
	s.hsMu.Lock()
	defer s.hsMu.Unlock()
	if s.hsPerIP[ip]--; s.hsPerIP[ip] <= 0 {
		delete(s.hsPerIP, ip)
	}
}

// tlsHandshake reads the PROXY header if one is expected, runs the TLS
// handshake, and hands the socket to an event loop with its keys. A
// handshake still running after Limits.HandshakeTimeout (on the server's
// clock) is cut off: its socket's deadline is moved to the past.
func (s *Server) tlsHandshake(c net.Conn, ip netip.Addr) {
	var timedOut atomic.Bool
	timer := s.clk.AfterFunc(s.cfg.Limits.HandshakeTimeout, func() {
		timedOut.Store(true)
		_ = c.SetDeadline(time.Unix(1, 0))
	})
	s.trackHandshake(c, true)
	tok := &enrollToken{}
	st, err := s.tlsServe(c, tok)
	timer.Stop()
	s.trackHandshake(c, false)
	s.handshakes.Add(-1) // done: what follows is not bounded by MaxHandshakes
	s.releaseHandshakeSlot(ip)
	if err == nil && s.state.Load() >= stShuttingDown {
		err = ErrServerClosed
	}
	if err != nil {
		s.enrolling.Add(-1)
		var rhe tls.RecordHeaderError
		switch {
		case s.state.Load() >= stShuttingDown, errors.Is(err, errProxyRefused):
			// Not the handshake's failure: Shutdown cut it, or the PROXY
			// header was refused (counted as ProxyRefused).
		case timedOut.Load():
			s.tlsFailures.Add(1)
			err = fmt.Errorf("no TLS handshake within %v", s.cfg.Limits.HandshakeTimeout)
		case errors.As(err, &rhe) && rhe.Conn != nil && looksLikeHTTP(rhe.RecordHeader[:]):
			// Plain HTTP on the TLS port (a ws:// URL for a wss:// server):
			// say so, as net/http does.
			s.tlsFailures.Add(1)
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			const body = "Client sent an HTTP request to a TLS (wss://) server.\n"
			_, _ = io.WriteString(c, "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"+body)
		default:
			s.tlsFailures.Add(1)
		}
		_ = c.Close()
		s.log.Debug("TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	s.tlsHandshakes.Add(1)
	st.ConnectionState = nil // the loop needs the keys only
	tok.tls = st
	_, err = s.cli.EnrollContext(c, tok) // closes c in every case; returns after OnOpen
	if !tok.opened {
		s.enrolling.Add(-1)
	}
	if err != nil {
		s.refused.Add(1)
		s.log.Warn("connection refused", "err", err, "conns", s.conns.Load())
	}
}

// looksLikeHTTP reports whether a connection's first five bytes are
// those of an HTTP request.
func looksLikeHTTP(b []byte) bool {
	switch string(b) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// errProxyRefused: the PROXY header was missing, malformed or untrusted
// (counted as ProxyRefused, not as a TLS failure).
var errProxyRefused = errors.New("PROXY header refused")

// tlsServe reads the PROXY header (Proxies.Protocol) into tok, then runs
// the handshake.
func (s *Server) tlsServe(c net.Conn, tok *enrollToken) (*tlsrec.State, error) {
	conn := c
	if s.cfg.Proxies.Protocol {
		rest, src, err := s.readProxyHeader(c)
		if err != nil {
			return nil, err
		}
		tok.proxied, tok.src = true, src
		conn = &prefixConn{Conn: c, pre: rest}
	}
	return tlsrec.Handshake(conn, s.tlsCfg, 0)
}

// readProxyHeader reads the PROXY protocol header in front of the TLS
// handshake; it returns the bytes read past it and the client's address.
func (s *Server) readProxyHeader(c net.Conn) ([]byte, netip.AddrPort, error) {
	peer, _ := remoteIP(c.RemoteAddr())
	refuse := func(why string) ([]byte, netip.AddrPort, error) {
		s.proxyRefused.Add(1)
		s.log.Warn("connection refused", "remote", c.RemoteAddr().String(), "reason", why)
		return nil, netip.AddrPort{}, fmt.Errorf("%w: %s", errProxyRefused, why)
	}
	if !s.trusted(peer) {
		return refuse("a PROXY header from an address that is not a trusted proxy")
	}
	var buf [proxyproto.MaxV2]byte
	have := 0
	for {
		n, err := c.Read(buf[have:])
		have += n
		if n > 0 {
			hn, src, perr := proxyproto.Parse(buf[:have])
			if perr != nil {
				return refuse(perr.Error())
			}
			if hn > 0 {
				return append([]byte(nil), buf[hn:have]...), src, nil
			}
			if have == len(buf) {
				return refuse("PROXY header too long")
			}
		}
		if err != nil {
			return nil, netip.AddrPort{}, err
		}
	}
}

// prefixConn reads pre before what its Conn brings.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// trackHandshake keeps the sockets whose handshake is in progress, so
// that Shutdown can cut them off.
func (s *Server) trackHandshake(c net.Conn, on bool) {
	s.hsMu.Lock()
	defer s.hsMu.Unlock()
	if on {
		if s.hsConns == nil {
			s.hsConns = map[net.Conn]struct{}{}
		}
		s.hsConns[c] = struct{}{}
		if s.state.Load() >= stShuttingDown {
			_ = c.SetDeadline(time.Unix(1, 0))
		}
		return
	}
	delete(s.hsConns, c)
}

// cutHandshakes ends every TLS handshake in progress (Shutdown).
func (s *Server) cutHandshakes() {
	s.hsMu.Lock()
	defer s.hsMu.Unlock()
	for c := range s.hsConns {
		_ = c.SetDeadline(time.Unix(1, 0))
	}
}

// openTLS takes a loop's new TLS session's keys, and the records that
// arrived with the handshake's last ones (OnOpen).
func (l *loop) openTLS(s *Session, st *tlsrec.State) {
	s.flags |= sfTLS
	s.x().tls = &tlsConn{st: st}
	if left := st.Leftover; len(left) > 0 {
		st.Leftover = nil
		if n := l.tlsInput(s, left); n < len(left) {
			// A partial record: keep it as what the next read continues.
			s.ext.tls.pending = append([]byte(nil), left[n:]...)
		}
	}
}

// tlsTraffic is OnTraffic for a TLS session: it opens the whole records
// gnet holds and hands their plaintext on.
func (l *loop) tlsTraffic(s *Session, b []byte) int {
	t := s.ext.tls
	if len(t.pending) > 0 {
		// The rest of a record that came with the handshake (rare).
		t.pending = append(t.pending, b...)
		n := l.tlsInput(s, t.pending)
		t.pending = t.pending[:copy(t.pending, t.pending[n:])]
		if len(t.pending) == 0 {
			t.pending = nil
		}
		return len(b)
	}
	return l.tlsInput(s, b)
}

// tlsInput opens the whole records at the front of b, in place: each
// record's plaintext is moved down to the end of the one before, so b
// begins with all of it, then handed to the handshake or the frames
// (behind any plaintext left from before). It returns how many bytes of
// records it took. A record that does not open (or is not a record) ends
// the connection with the matching alert.
func (l *loop) tlsInput(s *Session, b []byte) int {
	t := s.ext.tls
	w, off := 0, 0
	var rerr error
	for !t.broken && s.state != stateClosed {
		n, err := tlsrec.Next(b[off:])
		if err == nil && n == 0 {
			break
		}
		var p []byte
		if err == nil {
			p, err = t.st.Open(b[off : off+n])
		}
		if err != nil {
			rerr = err
			off = len(b)
			break
		}
		w += copy(b[w:], p)
		off += n
	}
	if t.st.KeyUpdatePending() {
		l.markDirty(s)
	}
	plain := b[:w]
	if len(t.in) > 0 {
		t.in = append(t.in, plain...)
		plain = t.in
	}
	if len(plain) > 0 && s.state != stateClosed {
		var used int
		if s.state == stateHandshake {
			used = l.handshake(s, plain)
		} else {
			used = l.frames(s, plain)
		}
		rest := plain[used:]
		switch {
		case len(rest) == 0 && cap(t.in) > tlsInKeep:
			t.in = nil
		case len(rest) == 0:
			t.in = t.in[:0]
		case len(t.in) > 0: // plain is t.in
			t.in = t.in[:copy(t.in, rest)]
		default:
			t.in = append(t.in[:0], rest...)
		}
	}
	if rerr != nil {
		l.tlsFail(s, rerr)
	}
	return off
}

// tlsFail ends a TLS session whose input broke off: the client's
// close_notify is answered with ours; a record that does not open, with
// the matching fatal alert. Either follows the output already queued.
func (l *loop) tlsFail(s *Session, err error) {
	t := s.ext.tls
	t.alert, t.broken = tlsrec.AlertFor(err), true
	if s.cause == 0 {
		if errors.Is(err, tlsrec.ErrCloseNotify) {
			s.setReason(CauseDisconnect, codec.StatusAbnormalClosure, "TLS close_notify without a close frame")
		} else {
			s.setReason(CauseProtocol, codec.StatusAbnormalClosure, err.Error())
		}
	}
	if s.state == stateHandshake && !s.closing { // a rejected upgrade was counted already
		l.stats.handshakeErr.Add(1)
	}
	l.markDirty(s)
	l.closeSoon(s)
}

// sealOutput replaces s's queued output with the records that carry it,
// in the arena, followed by close_notify (or the pending alert) when the
// session is ending. Runs at the flush, so one wakeup's output for s is
// sealed at once, in as few records as 16 KiB allows.
func (l *loop) sealOutput(s *Session) {
	t := s.ext.tls
	if t.ended {
		l.discard(s) // nothing may follow close_notify
		return
	}
	end := s.closing || s.state == stateClosing
	if s.head == 0 && !end && !t.st.KeyUpdatePending() {
		return
	}
	var p []byte
	if s.head != 0 {
		if first := &l.segs[s.head]; first.next == 0 {
			p = l.segBytes(first)
		} else {
			p = l.tlsPlain[:0]
			for i := s.head; i != 0; i = l.segs[i].next {
				p = append(p, l.segBytes(&l.segs[i])...)
			}
			l.tlsPlain = p[:0]
			if cap(p) > arenaKeep {
				l.tlsPlain = nil
			}
		}
	}
	m := l.mark()
	l.arena = t.st.Seal(l.arena, p)
	if end {
		if t.alert != 0 {
			l.arena = t.st.Alert(l.arena, t.alert)
		} else {
			l.arena = t.st.CloseNotify(l.arena)
		}
		t.ended = true
	}
	l.discard(s)
	l.commit(s, m)
}

// openRecords opens the whole records at the front of buf with st,
// appends their plaintext to plain, and returns the rest of buf (a partial
// record) moved to its front; ok is false when a record does not open.
// For lastWords, off the hot path.
func openRecords(st *tlsrec.State, buf, plain []byte) (rest, out []byte, ok bool) {
	off := 0
	for {
		n, err := tlsrec.Next(buf[off:])
		if err != nil {
			return buf, plain, false
		}
		if n == 0 {
			break
		}
		p, err := st.Open(buf[off : off+n])
		if err != nil {
			return buf, plain, false
		}
		plain = append(plain, p...)
		off += n
	}
	return buf[:copy(buf, buf[off:])], plain, true
}
