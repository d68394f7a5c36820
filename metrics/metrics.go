package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wsloop/wsloop/lease"
	"github.com/wsloop/wsloop/server"
)

// metric is one row of the table: its name (after "wsloop_"), help, type,
// and where its value comes from.
type metric struct {
	name, help string
	kind       prometheus.ValueType
	server     func(*server.Stats) float64 // nil: a lease metric
	lease      func(*lease.Stats) float64
}

func counter(name, help string, f func(*server.Stats) uint64) metric {
	return metric{name: name, help: help, kind: prometheus.CounterValue, server: func(s *server.Stats) float64 { return float64(f(s)) }}
}

func gauge(name, help string, f func(*server.Stats) float64) metric {
	return metric{name: name, help: help, kind: prometheus.GaugeValue, server: f}
}

func leaseMetric(name, help string, kind prometheus.ValueType, f func(*lease.Stats) float64) metric {
	return metric{name: name, help: help, kind: kind, lease: f}
}

// table is every plain metric, declared once: a new one is one line here
// (and its counter in server.Stats or lease.Stats).
var table = []metric{
	gauge("connections", "Open connections, handshakes in progress included.", func(s *server.Stats) float64 { return float64(s.Conns) }),
	counter("connections_accepted_total", "Connections accepted and handed to an event loop.", func(s *server.Stats) uint64 { return s.Accepted }),
	counter("connections_refused_total", "Connections refused at accept: max_conns reached or descriptors exhausted.", func(s *server.Stats) uint64 { return s.Refused }),
	counter("messages_in_total", "Data messages received (heartbeats not counted).", func(s *server.Stats) uint64 { return s.MessagesIn }),
	counter("messages_out_total", "Messages queued to clients: replies, pushes, broadcast deliveries.", func(s *server.Stats) uint64 { return s.MessagesOut }),
	counter("message_bytes_in_total", "Payload bytes of the data messages received.", func(s *server.Stats) uint64 { return s.MessageBytesIn }),
	counter("bytes_out_total", "Bytes written to client sockets, framing included.", func(s *server.Stats) uint64 { return s.BytesOut }),
	counter("heartbeat_expired_total", "Connections closed for heartbeat timeout.", func(s *server.Stats) uint64 { return s.HeartbeatExpired }),
	counter("ring_full_total", "Cross-goroutine jobs refused because a loop's ring was full.", func(s *server.Stats) uint64 { return s.RingFull }),
	counter("handshake_failures_total", "Upgrade requests rejected or timed out.", func(s *server.Stats) uint64 { return s.HandshakeFailures }),
	counter("slow_consumer_closed_total", "Connections closed with 1013 because they did not read.", func(s *server.Stats) uint64 { return s.SlowClosed }),
	counter("slow_consumer_dropped_total", "Server frames (room messages, events, pushes) dropped for connections past max_outbound_bytes.", func(s *server.Stats) uint64 { return s.SlowDropped }),
	counter("room_deliveries_total", "Room and user messages queued to a member connection.", func(s *server.Stats) uint64 { return s.RoomDeliveries }),
	counter("io_uring_submits_total", "io_uring submissions: one system call for the output of several connections.", func(s *server.Stats) uint64 { return s.IOUringSubmits }),
	counter("io_uring_sends_total", "Connection writes made through io_uring submissions.", func(s *server.Stats) uint64 { return s.IOUringSends }),
	gauge("rooms", "Rooms with at least one member.", func(s *server.Stats) float64 { return float64(s.Rooms) }),
	gauge("users_online", "Distinct users with at least one connection.", func(s *server.Stats) float64 { return float64(s.Users) }),
	leaseMetric("leases", "Session leases alive (HTTP API).", prometheus.GaugeValue, func(s *lease.Stats) float64 { return float64(s.Active) }),
	leaseMetric("leases_started_total", "Session leases started (POST /api/session/start).", prometheus.CounterValue, func(s *lease.Stats) float64 { return float64(s.Started) }),
	leaseMetric("leases_expired_total", "Session leases expired for want of a heartbeat; their connections were closed with 1008.", prometheus.CounterValue, func(s *lease.Stats) float64 { return float64(s.Expired) }),
	leaseMetric("lease_refused_total", "WebSocket connections refused (1008) for a bad or expired auth_body, or none when a lease is required.", prometheus.CounterValue, func(s *lease.Stats) float64 { return float64(s.Refused) }),
}

// Collector exposes a server's counters (server.Stats) and its lease
// table's (lease.Stats) to Prometheus. It reads them at scrape time:
// counting adds no lock and no allocation to the event loops. Safe for
// concurrent use.
type Collector struct {
	srv    *server.Server
	leases *lease.Table // nil: no lease metrics
	descs  []*prometheus.Desc
	closed *prometheus.Desc
	loops  *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns a collector of srv's metrics, and of leases' when not nil.
func New(srv *server.Server, leases *lease.Table) *Collector {
	c := &Collector{srv: srv, leases: leases}
	for _, m := range table {
		c.descs = append(c.descs, prometheus.NewDesc("wsloop_"+m.name, m.help, nil, nil))
	}
	c.closed = prometheus.NewDesc("wsloop_connections_closed_total", "Connections closed after the handshake, by close code sent or received (1006: no close frame).", []string{"code"}, nil)
	c.loops = prometheus.NewDesc("wsloop_loop_connections", "Open connections per event loop.", []string{"loop"}, nil)
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for i, d := range c.descs {
		if table[i].server != nil || c.leases != nil {
			ch <- d
		}
	}
	ch <- c.closed
	ch <- c.loops
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	var ls lease.Stats
	if c.leases != nil {
		ls = c.leases.Stats()
	}
	for i, m := range table {
		switch {
		case m.server != nil:
			ch <- prometheus.MustNewConstMetric(c.descs[i], m.kind, m.server(&st))
		case c.leases != nil:
			ch <- prometheus.MustNewConstMetric(c.descs[i], m.kind, m.lease(&ls))
		}
	}
	for i, n := range st.Closed {
		if n > 0 {
			ch <- prometheus.MustNewConstMetric(c.closed, prometheus.CounterValue, float64(n), server.CloseSlotLabel(i))
		}
	}
	for i, n := range st.LoopConns {
		ch <- prometheus.MustNewConstMetric(c.loops, prometheus.GaugeValue, float64(n), strconv.Itoa(i))
	}
}

// Handler serves the Prometheus text format: the collector of srv (and
// leases, when not nil), plus the Go runtime's and the process's metrics.
// Safe for concurrent use.
func Handler(srv *server.Server, leases *lease.Table) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(srv, leases), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
