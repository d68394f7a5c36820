package server

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsloop/wsloop/codec"
)

// closeCodeSlots maps close codes to per-loop counters: 1000–1015 each,
// then application codes 3000–4999 together, then anything else.
const (
	closeSlotApp   = 16
	closeSlotOther = 17
	closeSlots     = 18
)

func closeSlot(c codec.StatusCode) int {
	switch {
	case c >= 1000 && c <= 1015:
		return int(c - 1000)
	case c >= 3000 && c <= 4999:
		return closeSlotApp
	}
	return closeSlotOther
}

func closeSlotLabel(i int) string {
	switch i {
	case closeSlotApp:
		return "3000-4999"
	case closeSlotOther:
		return "other"
	}
	return strconv.Itoa(1000 + i)
}

// Collector exposes the server's counters to Prometheus. It reads the
// per-loop counters at scrape time: counting adds no lock and no allocation
// to the event loops. Register it with a prometheus.Registerer, or use
// Server.MetricsHandler. Safe for concurrent use.
type Collector struct {
	srv *Server

	conns, loopConns, accepted, refused, closed, msgsIn, msgsOut, bytesIn,
	bytesOut, expired, ringFull, handshakeErr, slow, dropped, deliveries,
	uringSubmits, uringSends, rooms, users, leases, leasesStarted, leasesExpired, leaseRefused *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// Collector returns a Prometheus collector for s.
func (s *Server) Collector() *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("wsloop_"+name, help, labels, nil)
	}
	return &Collector{
		srv:          s,
		conns:        d("connections", "Open connections, handshakes in progress included."),
		loopConns:    d("loop_connections", "Open connections per event loop.", "loop"),
		accepted:     d("connections_accepted_total", "Connections accepted and handed to an event loop."),
		refused:      d("connections_refused_total", "Connections refused at accept: max_conns reached or descriptors exhausted."),
		closed:       d("connections_closed_total", "Connections closed after the handshake, by close code sent or received (1006: no close frame).", "code"),
		msgsIn:       d("messages_in_total", "Data messages received (heartbeats not counted)."),
		msgsOut:      d("messages_out_total", "Messages queued to clients: replies, pushes, broadcast deliveries."),
		bytesIn:      d("message_bytes_in_total", "Payload bytes of the data messages received."),
		bytesOut:     d("bytes_out_total", "Bytes written to client sockets, framing included."),
		expired:      d("heartbeat_expired_total", "Connections closed for heartbeat timeout."),
		ringFull:     d("ring_full_total", "Cross-goroutine jobs refused because a loop's ring was full."),
		handshakeErr: d("handshake_failures_total", "Upgrade requests rejected or timed out."),
		slow:         d("slow_consumer_closed_total", "Connections closed with 1013 because they did not read."),
		dropped:      d("slow_consumer_dropped_total", "Server frames (room messages, events, pushes) dropped for connections past max_outbound_bytes."),
		deliveries:   d("room_deliveries_total", "Room and user messages queued to a member connection."),
		uringSubmits: d("io_uring_submits_total", "io_uring submissions: one system call for the output of several connections."),
		uringSends:   d("io_uring_sends_total", "Connection writes made through io_uring submissions."),
		rooms:        d("rooms", "Rooms with at least one member."),
		users:        d("users_online", "Distinct users with at least one connection."),

		leases:        d("leases", "Session leases alive (HTTP API)."),
		leasesStarted: d("leases_started_total", "Session leases started (POST /api/session/start)."),
		leasesExpired: d("leases_expired_total", "Session leases expired for want of a heartbeat; their connections were closed with 1008."),
		leaseRefused:  d("lease_refused_total", "WebSocket connections refused (1008) for a bad or expired auth_body, or none when a lease is required."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.loopConns, c.accepted, c.refused, c.closed, c.msgsIn,
		c.msgsOut, c.bytesIn, c.bytesOut, c.expired, c.ringFull, c.handshakeErr, c.slow, c.dropped,
		c.deliveries, c.uringSubmits, c.uringSends, c.rooms, c.users, c.leases, c.leasesStarted, c.leasesExpired, c.leaseRefused} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	var accepted, msgsIn, msgsOut, bytesIn, bytesOut, expired, ringFull, handshakeErr, slow, dropped, deliveries, uringSubmits, uringSends uint64
	var closed [closeSlots]uint64
	for _, l := range *c.srv.loops.Load() {
		st := &l.stats
		ch <- prometheus.MustNewConstMetric(c.loopConns, prometheus.GaugeValue, float64(st.conns.Load()), strconv.Itoa(l.idx))
		accepted += st.accepted.Load()
		msgsIn += st.msgsIn.Load()
		msgsOut += st.msgsOut.Load()
		bytesIn += st.bytesIn.Load()
		bytesOut += st.bytesOut.Load()
		expired += st.expired.Load()
		ringFull += st.ringFull.Load()
		handshakeErr += st.handshakeErr.Load()
		slow += st.slow.Load()
		dropped += st.dropped.Load()
		deliveries += st.deliveries.Load()
		uringSubmits += st.uringSubmits.Load()
		uringSends += st.uringSends.Load()
		for i := range closed {
			closed[i] += st.closed[i].Load()
		}
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(c.srv.conns.Load()))
	counter(c.accepted, accepted)
	counter(c.refused, c.srv.refused.Load())
	counter(c.msgsIn, msgsIn)
	counter(c.msgsOut, msgsOut)
	counter(c.bytesIn, bytesIn)
	counter(c.bytesOut, bytesOut)
	counter(c.expired, expired)
	counter(c.ringFull, ringFull)
	counter(c.handshakeErr, handshakeErr)
	counter(c.slow, slow)
	counter(c.dropped, dropped)
	counter(c.deliveries, deliveries)
	counter(c.uringSubmits, uringSubmits)
	counter(c.uringSends, uringSends)
	ch <- prometheus.MustNewConstMetric(c.rooms, prometheus.GaugeValue, float64(c.srv.reg.Rooms()))
	ch <- prometheus.MustNewConstMetric(c.users, prometheus.GaugeValue, float64(c.srv.reg.Users()))
	lt := c.srv.leases
	ch <- prometheus.MustNewConstMetric(c.leases, prometheus.GaugeValue, float64(lt.active.Load()))
	counter(c.leasesStarted, lt.started.Load())
	counter(c.leasesExpired, lt.expired.Load())
	counter(c.leaseRefused, lt.refused.Load())
	for i, v := range closed {
		if v > 0 {
			ch <- prometheus.MustNewConstMetric(c.closed, prometheus.CounterValue, float64(v), closeSlotLabel(i))
		}
	}
}
