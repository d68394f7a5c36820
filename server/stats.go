package server

import (
	"strconv"

	"github.com/wsloop/wsloop/codec"
)

// Close codes are counted in CloseSlots slots: 1000–1015 each, then the
// application codes 3000–4999 together, then anything else.
const (
	closeSlotApp   = 16
	closeSlotOther = 17
	// CloseSlots is the length of Stats.Closed.
	CloseSlots = 18
)

// CloseSlot returns the slot of Stats.Closed that counts code.
func CloseSlot(code codec.StatusCode) int {
	switch {
	case code >= 1000 && code <= 1015:
		return int(code - 1000)
	case code >= 3000 && code <= 4999:
		return closeSlotApp
	}
	return closeSlotOther
}

// CloseSlotLabel names slot i of Stats.Closed: "1000" .. "1015",
// "3000-4999" or "other".
func CloseSlotLabel(i int) string {
	switch i {
	case closeSlotApp:
		return "3000-4999"
	case closeSlotOther:
		return "other"
	}
	return strconv.Itoa(1000 + i)
}

// Stats is a snapshot of a server's counters, summed over its loops. The
// loops count without a lock or a shared cache line (each its own atomic
// counters); Stats reads them, so the sums are each exact but not taken at
// one instant.
type Stats struct {
	Conns     int64   // open connections, handshakes in progress included
	LoopConns []int64 // open connections per event loop

	Accepted          uint64 // connections accepted and handed to a loop
	Refused           uint64 // refused at accept: MaxConns reached or descriptors exhausted
	HandshakeFailures uint64 // upgrade requests rejected or timed out
	// Closed counts connections closed after the handshake by the close
	// code sent or received (CloseSlot; 1006: no close frame).
	Closed           [CloseSlots]uint64
	HeartbeatExpired uint64 // closed for heartbeat timeout

	MessagesIn     uint64 // data messages received (heartbeats not counted)
	MessageBytesIn uint64 // their payload bytes
	MessagesOut    uint64 // messages queued to clients: replies, pushes, deliveries
	BytesOut       uint64 // bytes written to sockets, framing included

	RoomDeliveries uint64 // room and user messages queued to a member connection
	RingFull       uint64 // jobs refused because a loop's ring was full
	SlowClosed     uint64 // connections closed with 1013 as too slow
	SlowDropped    uint64 // server frames dropped for connections past MaxOutboundBytes
	IOUringSubmits uint64 // io_uring submissions
	IOUringSends   uint64 // connection writes in them
	BrokerErrors   uint64 // publishes the broker refused (cross-node delivery lost)

	DeflateConns         uint64 // connections that negotiated permessage-deflate (Compression)
	ProxyRefused         uint64 // connections closed for their PROXY header: missing, malformed, untrusted
	OriginRefused        uint64 // handshakes refused for their Origin (Limits.AllowedOrigins)
	HandshakeRateLimited uint64 // handshakes refused by Limits.HandshakeRatePerIP
	IPConnsRefused       uint64 // handshakes refused by Limits.MaxConnsPerIP (429; over TLS, connections closed for their address's TLS handshakes in progress)

	TLSHandshakes        uint64 // TLS handshakes completed
	TLSHandshakeFailures uint64 // TLS handshakes that failed or did not complete within Limits.HandshakeTimeout
	TLSHandshaking       int64  // TLS handshakes in progress

	Rooms int // rooms with at least one member
	Users int // users with at least one connection
}

// ClosedWith returns how many connections closed with code.
func (st *Stats) ClosedWith(code codec.StatusCode) uint64 { return st.Closed[CloseSlot(code)] }

// Stats returns the server's counters. Safe for concurrent use.
func (s *Server) Stats() Stats {
	st := Stats{Conns: s.conns.Load(), Refused: s.refused.Load(), Rooms: s.reg.Rooms(), Users: s.reg.Users(), BrokerErrors: s.brokerErrors.Load(),
		TLSHandshakes: s.tlsHandshakes.Load(), TLSHandshakeFailures: s.tlsFailures.Load(), TLSHandshaking: s.handshakes.Load(), ProxyRefused: s.proxyRefused.Load(), IPConnsRefused: s.tlsIPRefused.Load()}
	for _, l := range *s.loops.Load() {
		c := &l.stats
		st.LoopConns = append(st.LoopConns, c.conns.Load())
		st.Accepted += c.accepted.Load()
		st.HandshakeFailures += c.handshakeErr.Load()
		st.OriginRefused += c.originRefused.Load()
		st.DeflateConns += c.deflateConns.Load()
		st.ProxyRefused += c.proxyRefused.Load()
		st.HandshakeRateLimited += c.rateLimited.Load()
		st.IPConnsRefused += c.ipConnsRefused.Load()
		for i := range st.Closed {
			st.Closed[i] += c.closed[i].Load()
		}
		st.HeartbeatExpired += c.expired.Load()
		st.MessagesIn += c.msgsIn.Load()
		st.MessageBytesIn += c.bytesIn.Load()
		st.MessagesOut += c.msgsOut.Load()
		st.BytesOut += c.bytesOut.Load()
		st.RoomDeliveries += c.deliveries.Load()
		st.RingFull += c.ringFull.Load()
		st.SlowClosed += c.slow.Load()
		st.SlowDropped += c.dropped.Load()
		st.IOUringSubmits += c.uringSubmits.Load()
		st.IOUringSends += c.uringSends.Load()
	}
	return st
}
