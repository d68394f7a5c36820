package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/wsloop/wsloop/codec"
)

// events adapts gnet's callbacks to the loop. Every method runs on the
// connection's event loop.
type events struct {
	gnet.BuiltinEventEngine
	srv *Server
}

func (e *events) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	srv := e.srv
	l := srv.loopOf(gc.EventLoop())
	s := &Session{gc: gc, loop: l}
	s.id = newSID(l.idx, srv.cfg.NodeID, srv.seq.Add(1), l.put(s))
	s.tag = l.newTag()
	srv.conns.Add(1)
	tok, _ := gc.Context().(*enrollToken)
	if tok != nil {
		tok.opened = true // see Server.enroller
		srv.enrolling.Add(-1)
	}
	gc.SetContext(s)
	l.stats.conns.Add(1)
	l.stats.accepted.Add(1)
	l.now = srv.clock()
	s.lastSeen = l.now
	l.schedule(s, int64(srv.cfg.Limits.HandshakeTimeout))
	if srv.state.Load() >= stShuttingDown {
		// Enrolled after Shutdown closed the loops' connections.
		s.setReason(CauseShutdown, codec.StatusAbnormalClosure, "server shutting down")
		return nil, gnet.Close
	}
	if tok != nil && tok.proxied {
		s.flags |= sfProxied
		if tok.src.IsValid() {
			s.x().remote = net.TCPAddrFromAddrPort(tok.src)
		}
	}
	if tok != nil && tok.tls != nil {
		l.active = true
		l.openTLS(s, tok.tls)
		if l.endWakeup(s) {
			return nil, gnet.Close
		}
	}
	return nil, gnet.None
}

func (e *events) OnTraffic(gc gnet.Conn) gnet.Action {
	s, _ := gc.Context().(*Session)
	if s == nil {
		return gnet.Close
	}
	l := s.loop
	l.active = true
	b, _ := gc.Peek(-1)
	l.now = l.srv.clock()
	var n int
	if s.flags&sfTLS != 0 {
		n = l.tlsTraffic(s, b)
	} else if s.state == stateHandshake {
		n = l.handshake(s, b)
	} else {
		n = l.frames(s, b)
	}
	if n > 0 {
		_, _ = gc.Discard(n)
	}
	if l.endWakeup(s) {
		return gnet.Close
	}
	return gnet.None
}

func (e *events) OnClose(gc gnet.Conn, err error) gnet.Action {
	s, _ := gc.Context().(*Session)
	if s == nil {
		return gnet.None
	}
	l := s.loop
	srv := e.srv
	wasOpen := s.state == stateOpen || s.state == stateClosing
	if s.cause == 0 && s.state == stateOpen {
		l.lastWords(s, gc)
	}
	if s.cause == 0 {
		text := "connection closed"
		if err != nil {
			text = err.Error()
		}
		s.setReason(CauseDisconnect, codec.StatusAbnormalClosure, text)
	}
	s.state = stateClosed
	l.wheel.Remove(s)
	l.release(s)
	s.dec.Reset()
	if s.flags&sfIPCounted != 0 {
		if ip, ok := remoteIP(s.RemoteAddr()); ok { // the address it was counted under
			srv.ipGuard.release(ip, srv.clock())
		}
		s.flags &^= sfIPCounted
	}
	srv.conns.Add(-1)
	l.stats.conns.Add(-1)
	if srv.log.Enabled(context.Background(), slog.LevelDebug) {
		srv.log.Debug("close", "sid", s.id, "code", int(s.code), "reason", s.reasonText(), "cause", s.cause.String())
	}
	if wasOpen {
		l.stats.closed[CloseSlot(s.code)].Add(1)
	}
	if s.opened {
		func() {
			defer l.recoverHandler(s, "OnClose")
			srv.handler.OnClose(s, s.closeReason())
		}()
	}
	if s.ext != nil {
		l.leaveAll(s, s.cause) // exit_room to the rooms it was in
		l.shard.Bind(s, "")
	}
	if !l.active {
		// gnet closed it on its own (EOF, reset): send the exit_room events
		// now. Inside a wakeup, the wakeup's own flush sends them.
		l.endWakeup(nil)
	}
	return gnet.None
}

// lastWordsMax bounds what lastWords reads from a closed connection.
const lastWordsMax = 64 << 10

// lastWords looks for a close frame that the client sent just before its
// connection went. gnet closes a connection as soon as a write to it fails
// or the kernel reports a reset, before reading what arrived ahead of the
// reset: a client that sends its close frame and closes its socket at once
// (with unread input, which makes the kernel answer with a reset) could
// otherwise be counted as gone without a close frame (1006). The socket is
// still open here; lastWords reads what it holds, without blocking and at
// most lastWordsMax bytes, and records the code of the first close frame
// in it. Data messages found on the way are not dispatched: there is no
// one left to answer. Runs on the loop, only for a connection that ended
// without a known cause.
func (l *loop) lastWords(s *Session, gc gnet.Conn) {
	b, _ := gc.Peek(-1)
	read := func(p []byte) int {
		n, err := unix.Read(gc.Fd(), p)
		if err != nil {
			return 0
		}
		return n
	}
	// buf holds what was read; on a TLS session those are records, opened
	// into plain (behind the plaintext the session had not consumed).
	tls := s.flags&sfTLS != 0
	buf := l.tailBuf[:0]
	var plain []byte
	if tls {
		buf = append(buf, s.ext.tls.pending...)
		plain = append(plain, s.ext.tls.in...)
	}
	buf = append(buf, b...)
	defer func() { l.tailBuf = buf[:0] }()
	total := 0
	for {
		frames := &buf
		if tls {
			var ok bool
			if buf, plain, ok = openRecords(s.ext.tls.st, buf, plain); !ok {
				return
			}
			frames = &plain
		}
		used, done := l.closeFrameIn(s, *frames)
		if done {
			return
		}
		*frames = (*frames)[:copy(*frames, (*frames)[used:])] // an incomplete header or control frame
		if total >= lastWordsMax {
			return
		}
		if cap(buf)-len(buf) < 4<<10 {
			buf = slices.Grow(buf, 4<<10)
		}
		n := read(buf[len(buf):cap(buf)])
		if n <= 0 {
			return
		}
		buf = buf[:len(buf)+n]
		total += n
	}
}

// closeFrameIn decodes the frames in b looking for a close frame (see
// lastWords): it records the first one's code and reports done, or
// returns how many bytes of whole frames it went past. done is also true
// when b is not a valid stream.
func (l *loop) closeFrameIn(s *Session, b []byte) (used int, done bool) {
	for {
		n, m, err := s.dec.Decode(b[used:])
		used += n
		if err != nil {
			return used, true
		}
		if m.OpCode == 0 {
			return used, false
		}
		if m.OpCode == codec.OpClose {
			code, reason, _ := codec.ParseClose(m.Payload) // validated by the decoder
			s.setReason(CauseClient, code, string(reason))
			return used, true
		}
	}
}

// gnetLogger routes gnet's own logs into slog (gnet's info chatter at debug).
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(format string, args ...any) { g.l.Debug(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Infof(format string, args ...any)  { g.l.Debug(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Warnf(format string, args ...any)  { g.l.Warn(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Errorf(format string, args ...any) { g.l.Error(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Fatalf(format string, args ...any) { g.l.Error(fmt.Sprintf(format, args...)) }
