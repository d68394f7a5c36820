package server

import (
	"errors"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/internal/sock"
	"github.com/wsloop/wsloop/internal/uring"
)

// The cork (docs/architecture.md, "The one rule"). Everything a loop writes to a connection during one
// wakeup is queued and leaves in one write (or one writev) at the end of the
// wakeup. The queue is a chain of segments per session, over two kinds of
// bytes:
//
//   - bytes the loop encodes itself (replies, pongs, close frames, the
//     handshake response) are appended to the loop's arena, one buffer for
//     all sessions; a session's consecutive arena bytes form one segment;
//   - shared frames (a room message, a broadcast) are not copied at all: the
//     segment points at the prepared frame, which the loop holds (one
//     reference) until the flush.
//
// A connection that got one room message writes that frame straight from
// the shared buffer; one that got several writes them with one writev.
// Nothing is allocated per message once the arena and the segment table
// have grown to the loop's working size.

// seg is one piece of a session's queued output.
type seg struct {
	b      []byte // shared bytes, valid until the flush; nil: arena bytes
	off, n int32  // arena bytes: l.arena[off : off+n]
	next   int32  // the session's next segment; 0: none
}

// iovMax is the most buffers one writev takes on Linux (UIO_MAXIOV).
const iovMax = sock.IOVMax

// arenaKeep is the largest arena kept between wakeups; one burst of large
// messages does not pin its memory.
const arenaKeep = 1 << 20

// mark returns the position where the next bytes for the cork go: append
// them to l.arena, then call commit(s, mark).
func (l *loop) mark() int { return len(l.arena) }

// commit queues l.arena[mark:] as s's output.
func (l *loop) commit(s *Session, mark int) {
	n := int32(len(l.arena) - mark)
	if n <= 0 {
		return
	}
	s.outLen += n
	if s.tail != 0 {
		if t := &l.segs[s.tail]; t.b == nil && int(t.off+t.n) == mark {
			t.n += n // contiguous with the session's last segment
			return
		}
	}
	l.addSeg(s, seg{off: int32(mark), n: n})
}

// share queues b, which must stay valid until the flush (a frame the loop
// holds, or a compiled frame), as s's output without copying it.
func (l *loop) share(s *Session, b []byte) {
	s.outLen += int32(len(b))
	l.addSeg(s, seg{b: b})
}

func (l *loop) addSeg(s *Session, sg seg) {
	l.segs = append(l.segs, sg)
	i := int32(len(l.segs) - 1)
	if s.tail == 0 {
		s.head = i
	} else {
		l.segs[s.tail].next = i
	}
	s.tail = i
	l.markDirty(s)
}

// markDirty puts s on the list of sessions flushed at the end of the
// wakeup (a TLS session may have records to send with no output queued:
// a KeyUpdate, close_notify).
func (l *loop) markDirty(s *Session) {
	if !s.dirty {
		s.dirty = true
		l.dirty = append(l.dirty, s)
	}
}

// appendFrame queues one frame for s, encoded into the arena: a data
// message compressed when s negotiated permessage-deflate and it reaches
// Compression.MinSize.
func (l *loop) appendFrame(s *Session, op codec.OpCode, p []byte) {
	m := l.mark()
	if s.deflating() && op.IsData() && len(p) >= l.srv.cfg.Compression.MinSize {
		if l.deflater == nil {
			l.deflater, _ = codec.NewDeflater(l.srv.cfg.Compression.Level) // the level was checked by New
		}
		l.arena = l.deflater.AppendFrame(l.arena, op, p)
	} else {
		l.arena = codec.AppendFrame(l.arena, op, true, p)
	}
	l.commit(s, m)
}

// hold keeps a reference to f until the end of the wakeup, so that segments
// may point into it.
func (l *loop) hold(f *codec.PreparedFrame) {
	f.Retain()
	l.held = append(l.held, f)
}

// discard drops s's queued output (a connection being closed as too slow).
func (l *loop) discard(s *Session) {
	s.head, s.tail, s.outLen = 0, 0, 0
}

// backlog is what s has not sent yet: gnet's outbound buffer plus this
// wakeup's cork.
func (s *Session) backlog() int {
	return s.gc.OutboundBuffered() + int(s.outLen)
}

func (l *loop) segBytes(sg *seg) []byte {
	if sg.b != nil {
		return sg.b
	}
	return l.arena[sg.off : sg.off+sg.n]
}

// write sends s's queued output: one write, or one writev per iovMax
// segments. When gnet holds nothing for the connection, the loop writes to
// the socket itself (internal/sock: a raw system call, see there why) and
// hands gnet only what the socket did not take; gnet keeps that (copying
// it) and finishes it when the socket is writable. Otherwise everything
// goes behind gnet's queue. A write error is left to gnet, which closes the
// connection (OnClose runs inside the call).
//
// It reports whether the socket took everything (gnet holds nothing).
func (l *loop) write(s *Session) (sent bool) {
	first := &l.segs[s.head]
	l.stats.bytesOut.Add(uint64(s.outLen))
	direct := !l.srv.noDirect && s.gc.OutboundBuffered() == 0
	if first.next == 0 {
		b := l.segBytes(first)
		if direct {
			n, err := sock.Write(s.gc.Fd(), b)
			if err == nil && n == len(b) {
				return true
			}
			b = b[n:]
		}
		_, _ = s.gc.Write(b)
		return false
	}
	iov := l.iov[:0]
	for i := s.head; i != 0; i = l.segs[i].next {
		iov = append(iov, l.segBytes(&l.segs[i]))
		if len(iov) == iovMax {
			l.writev(s, iov, direct)
			direct = false // what follows goes behind what gnet may now hold
			iov = iov[:0]
			if s.state == stateClosed {
				break
			}
		}
	}
	if len(iov) > 0 && s.state != stateClosed {
		sent = l.writev(s, iov, direct)
	}
	clear(iov[:cap(iov)])
	l.iov = iov[:0]
	return sent
}

// writev writes bs to s, directly first if direct (see write); it reports
// whether the socket took everything.
func (l *loop) writev(s *Session, bs [][]byte, direct bool) bool {
	if direct {
		n, iovecs, err := sock.Writev(s.gc.Fd(), bs, l.iovecs)
		l.iovecs = iovecs
		if err == nil {
			for len(bs) > 0 && n >= len(bs[0]) {
				n -= len(bs[0])
				bs = bs[1:]
			}
			if len(bs) == 0 {
				return true
			}
			bs[0] = bs[0][n:]
		}
	}
	_, _ = s.gc.Writev(bs)
	return false
}

// endWakeup writes every session's corked output, one write each, then
// closes what must be closed. It returns true when cur itself must be
// closed: the caller (OnTraffic) returns gnet.Close for it instead.
//
// Writes and closes may run OnClose for other sessions, which may queue
// more output (exit_room events) or more closes: both lists are walked by
// index until they are empty. A nested call (from OnClose) returns at once;
// the outer one finishes the work.
func (l *loop) endWakeup(cur *Session) (closeCur bool) {
	if l.flushing {
		return false
	}
	l.flushing = true
	for len(l.dirty) > 0 || len(l.closeList) > 0 {
		for i := 0; i < len(l.dirty); {
			if l.ring != nil && len(l.dirty)-i >= minBatch {
				i = l.flushBatch(i)
				continue
			}
			s := l.dirty[i]
			l.dirty[i] = nil
			i++
			l.flushOne(s)
		}
		l.dirty = l.dirty[:0]
		for i := 0; i < len(l.closeList); i++ {
			s := l.closeList[i]
			l.closeList[i] = nil
			if s.state == stateClosed {
				continue
			}
			if s == cur {
				closeCur = true
				continue
			}
			_ = l.el.Close(s.gc)
		}
		l.closeList = l.closeList[:0]
	}
	if cap(l.arena) > arenaKeep || l.dropArena {
		l.arena, l.dropArena = nil, false
	}
	l.arena = l.arena[:0]
	l.segs = l.segs[:1]
	for i, f := range l.held {
		f.Release()
		l.held[i] = nil
	}
	l.held = l.held[:0]
	l.flushing, l.active = false, false
	return closeCur
}

// flushOne writes s's queued output with its own system call (or hands it
// to gnet), then checks what gnet holds for s.
func (l *loop) flushOne(s *Session) {
	l.seal(s)
	l.flushSealed(s)
}

// seal turns a TLS session's queued output into its records (server/tls.go);
// it runs once per session per flush.
func (l *loop) seal(s *Session) {
	if s.flags&sfTLS != 0 && s.state != stateClosed {
		l.sealOutput(s)
	}
}

// flushSealed is flushOne after seal.
func (l *loop) flushSealed(s *Session) {
	s.dirty = false
	sent := false // all of s's output went straight to the socket
	if s.head != 0 {
		if s.state != stateClosed {
			sent = l.write(s)
		}
		l.discard(s)
	}
	l.afterFlush(s, sent)
}

// afterFlush enforces the outbound bound on what gnet holds for s after a
// flush, and half-closes s once its close frame has left.
func (l *loop) afterFlush(s *Session, sent bool) {
	if s.state == stateClosed || (sent && !s.shutWR) {
		return // nothing held for s: no bound to check
	}
	if ob := s.gc.OutboundBuffered(); ob > l.srv.cfg.Tuning.MaxOutboundBytes &&
		(l.srv.cfg.Tuning.SlowConsumer == SlowClose || ob >= 2*l.srv.cfg.Tuning.MaxOutboundBytes) {
		l.slow(s)
	}
	if s.shutWR && s.state == stateClosing {
		if s.gc.OutboundBuffered() == 0 {
			l.halfClose(s) // the close frame has left
		} else {
			// gnet finishes the write on its own, without telling us:
			// look again at the next tick.
			l.schedule(s, min(s.lastSeen-l.now, int64(l.srv.cfg.Heartbeat.Tick)))
		}
	}
}

// minBatch is the fewest sessions with output worth one io_uring
// submission; a single session is cheaper with its own send.
const minBatch = 2

// batched is a session whose output is in the ring's current submission.
type batched struct {
	s    *Session
	head int32 // its chain, still valid in l.segs until the end of the wakeup
	n    int32 // bytes queued
	slot int   // the ring entry
}

// flushBatch writes the output of l.dirty[i:] with one io_uring submission
// (internal/uring: one system call instead of one per connection; see
// there why). It takes the sessions that were on the list when it started,
// as many as the ring holds; one that the ring cannot take (gnet already
// holds output for it, or its chain is longer than one sendmsg) is flushed
// on its own as before. What a socket does not take goes to gnet, exactly
// as after a direct write. It returns the index after the last session it
// handled.
//
// A session's chain is detached when it joins the submission: anything
// queued for it meanwhile (an exit_room event from a connection closed by
// a failed gnet write) forms a new chain and is flushed after this
// submission, so its bytes keep their order.
func (l *loop) flushBatch(i int) int {
	r := l.ring
	end := len(l.dirty)
	b := l.batch[:0]
	for ; i < end && !r.Full(); i++ {
		s := l.dirty[i]
		l.dirty[i] = nil
		l.seal(s)
		if s.head == 0 || s.state == stateClosed || s.gc.OutboundBuffered() != 0 {
			l.flushSealed(s)
			continue
		}
		slot, ok := l.queue(s)
		if !ok {
			l.flushSealed(s)
			continue
		}
		s.dirty = false
		l.stats.bytesOut.Add(uint64(s.outLen))
		b = append(b, batched{s: s, head: s.head, n: s.outLen, slot: slot})
		l.discard(s)
	}
	// Counted before the kernel sends: whoever sees the bytes arrive sees
	// the counters moved.
	if len(b) > 0 {
		l.stats.uringSubmits.Add(1)
		l.stats.uringSends.Add(uint64(len(b)))
	}
	err := r.Submit()
	if err != nil {
		if len(b) > 0 { // the submission failed: it does not count
			l.stats.uringSubmits.Add(^uint64(0))
			l.stats.uringSends.Add(^uint64(len(b) - 1))
		}
		// Entries the kernel did not take report 0 bytes: their sessions'
		// output goes to gnet below. Later wakeups send without the ring.
		l.srv.log.Warn("io_uring submission failed; sending one system call per connection from now on", "loop", l.idx, "err", err)
		l.ring = nil
		l.abandon(r)
	}
	for k := range b {
		e := &b[k]
		n, err := r.Result(e.slot)
		switch {
		case err == nil && n == int(e.n):
			l.afterFlush(e.s, true)
		case errors.Is(err, uring.ErrLost):
			// How much left is unknown: the stream cannot go on.
			l.closeSoon(e.s)
		default:
			// What the socket did not take (all of it after an error,
			// which gnet then meets and closes the connection on).
			if e.s.state != stateClosed {
				l.rest(e.s, e.head, n)
			}
			l.afterFlush(e.s, false)
		}
		e.s = nil
	}
	if err == nil {
		r.Reset()
	}
	l.batch = b[:0]
	return i
}

// abandon keeps everything a broken ring's entries point at out of reuse,
// for good: an entry whose outcome was lost might still be read by the
// kernel. The ring (with the buffers it holds) is kept and never closed,
// the frames this wakeup holds are never released, and the arena is
// dropped instead of reused. It happens at most once per loop.
func (l *loop) abandon(r *uring.Ring) {
	l.brokenRing = r
	for _, f := range l.held {
		f.Retain()
	}
	l.dropArena = true
}

// queue puts s's chain into the ring: one send for one segment, one sendmsg
// for several. It reports false when the ring cannot take it.
func (l *loop) queue(s *Session) (int, bool) {
	first := &l.segs[s.head]
	if first.next == 0 {
		return l.ring.Send(s.gc.Fd(), l.segBytes(first))
	}
	iov := l.iov[:0]
	ok := true
	for j := s.head; j != 0; j = l.segs[j].next {
		if len(iov) == iovMax {
			ok = false
			break
		}
		iov = append(iov, l.segBytes(&l.segs[j]))
	}
	slot := 0
	if ok {
		slot, ok = l.ring.Sendmsg(s.gc.Fd(), iov)
	}
	clear(iov)
	l.iov = iov[:0]
	return slot, ok
}

// rest hands gnet the bytes of the chain at head after the first n, which
// the socket took.
func (l *loop) rest(s *Session, head int32, n int) {
	iov := l.iov[:0]
	for j := head; j != 0; j = l.segs[j].next {
		b := l.segBytes(&l.segs[j])
		if n >= len(b) {
			n -= len(b)
			continue
		}
		iov = append(iov, b[n:])
		n = 0
	}
	switch len(iov) {
	case 0:
	case 1:
		_, _ = s.gc.Write(iov[0])
	default:
		_, _ = s.gc.Writev(iov)
	}
	clear(iov)
	l.iov = iov[:0]
}

// slow closes a connection that stopped reading: its unsent bytes passed
// the bound. What this wakeup queued for it is dropped, nothing more is
// queued for it (it is closing), and the close frame (1013 "client too
// slow") goes next: right behind the bytes already handed to the socket
// layer (the kernel's buffer and gnet's), which cannot be taken back
// without cutting a frame in two, and behind the output of s that this
// wakeup's io_uring submission may still be handing over. Then the usual
// closing handshake: a half-close once the frame has left, the socket
// closed when the client answers or after CloseTimeout. A client that
// reads again therefore sees the close frame with its code and reason, and
// the memory held for it stays bounded (at most the bound plus one wakeup's
// output, for at most CloseTimeout).
func (l *loop) slow(s *Session) {
	if s.state != stateOpen {
		return
	}
	l.stats.slow.Add(1)
	l.discard(s)
	l.closeWith(s, codec.StatusTryAgainLater, "client too slow", CauseSlow)
}
