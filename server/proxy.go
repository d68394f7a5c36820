package server

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/internal/proxyproto"
)

// trusted reports whether ip is one of Proxies.Trusted.
func (srv *Server) trusted(ip netip.Addr) bool {
	for _, p := range srv.cfg.Proxies.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// proxyHeader reads the PROXY protocol header at the start of b: how many
// bytes it took (0: it has not all arrived), and false when the
// connection was refused (closed: no header, a malformed one, or one from
// an address that is not a trusted proxy).
func (l *loop) proxyHeader(s *Session, b []byte) (int, bool) {
	n, src, err := proxyproto.Parse(b)
	if err == nil && n == 0 {
		return 0, true
	}
	peer, _ := remoteIP(s.gc.RemoteAddr())
	why := ""
	switch {
	case err != nil:
		why = err.Error()
	case !l.srv.trusted(peer):
		why = "a PROXY header from an address that is not a trusted proxy"
	}
	if why != "" {
		l.stats.handshakeErr.Add(1)
		l.stats.proxyRefused.Add(1)
		s.setReason(CauseProtocol, codec.StatusAbnormalClosure, why)
		l.srv.log.Warn("connection refused", "remote", s.gc.RemoteAddr().String(), "reason", why)
		l.closeSoon(s) // nothing is written: the other end is a proxy, not a browser
		return len(b), false
	}
	s.flags |= sfProxied
	if src.IsValid() {
		s.x().remote = net.TCPAddrFromAddrPort(src)
	}
	return n, true
}

// forwardedFor takes the client's address from the upgrade request's
// X-Forwarded-For (or X-Real-IP) when the request comes from a trusted
// proxy: the rightmost address of X-Forwarded-For that is not itself a
// trusted proxy (the addresses left of it were written by whoever the
// client is, and prove nothing).
func (l *loop) forwardedFor(s *Session, r *codec.Request) {
	peer, ok := remoteIP(s.RemoteAddr())
	if !ok || !l.srv.trusted(peer) {
		return
	}
	var client netip.Addr
	found := false
	r.ForEachHeader(func(name, value []byte) bool {
		if len(name) != len("x-forwarded-for") || !bytes.EqualFold(name, []byte("x-forwarded-for")) {
			return true
		}
		found = true
		// Headers repeat in order; within one, the last hop is rightmost.
		for len(value) > 0 {
			var hop []byte
			if i := bytes.IndexByte(value, ','); i >= 0 {
				hop, value = value[:i], value[i+1:]
			} else {
				hop, value = value, nil
			}
			ip, err := netip.ParseAddr(string(bytes.TrimSpace(hop)))
			if err != nil {
				client = netip.Addr{} // a hop that is not an address: believe nothing left of it
				continue
			}
			ip = ip.Unmap()
			if !l.srv.trusted(ip) {
				client = ip // the rightmost untrusted one wins (later hops overwrite)
			} else if !client.IsValid() {
				client = ip // all trusted so far: the leftmost
			}
		}
		return true
	})
	if !found {
		if v := r.HeaderValue("X-Real-IP"); v != nil {
			if ip, err := netip.ParseAddr(string(bytes.TrimSpace(v))); err == nil {
				client = ip.Unmap()
			}
		}
	}
	if client.IsValid() {
		s.x().remote = &net.TCPAddr{IP: client.AsSlice()}
	}
}
