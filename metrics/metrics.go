package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wsloop/wsloop/auth"
	"github.com/wsloop/wsloop/cluster"
	"github.com/wsloop/wsloop/lease"
	"github.com/wsloop/wsloop/server"
)

// Sources is what a Collector reads. Server is required; Leases, Cluster
// and Auth are optional (nil: their metrics are not exported).
type Sources struct {
	Server  *server.Server
	Leases  *lease.Table
	Cluster *cluster.Node
	Auth    *auth.Verifier
}

// snapshot is one scrape's reading of the sources.
type snapshot struct {
	srv     server.Stats
	leases  lease.Stats
	cluster cluster.Stats
	auth    auth.Stats
}

// metric is one row of the table: its name (after "wsloop_"), help, type,
// which source it needs, and where its value comes from.
type metric struct {
	name, help string
	kind       prometheus.ValueType
	needs      source
	value      func(*snapshot) float64
}

type source uint8

const (
	fromServer source = iota
	fromLeases
	fromCluster
	fromAuth
)

func counter(name, help string, f func(*server.Stats) uint64) metric {
	return metric{name, help, prometheus.CounterValue, fromServer, func(s *snapshot) float64 { return float64(f(&s.srv)) }}
}

func gauge(name, help string, f func(*server.Stats) float64) metric {
	return metric{name, help, prometheus.GaugeValue, fromServer, func(s *snapshot) float64 { return f(&s.srv) }}
}

func leaseMetric(name, help string, kind prometheus.ValueType, f func(*lease.Stats) float64) metric {
	return metric{name, help, kind, fromLeases, func(s *snapshot) float64 { return f(&s.leases) }}
}

func clusterMetric(name, help string, kind prometheus.ValueType, f func(*cluster.Stats) float64) metric {
	return metric{name, help, kind, fromCluster, func(s *snapshot) float64 { return f(&s.cluster) }}
}

func authCounter(name, help string, f func(*auth.Stats) uint64) metric {
	return metric{name, help, prometheus.CounterValue, fromAuth, func(s *snapshot) float64 { return float64(f(&s.auth)) }}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// table is every plain metric, declared once: a new one is one line here
// (and its counter in server.Stats, lease.Stats or cluster.Stats).
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
	counter("deflate_connections_total", "Connections that negotiated permessage-deflate (--compression on).", func(s *server.Stats) uint64 { return s.DeflateConns }),
	counter("tls_handshakes_total", "TLS handshakes completed (--tls-cert).", func(s *server.Stats) uint64 { return s.TLSHandshakes }),
	counter("tls_handshake_failures_total", "TLS handshakes that failed or did not complete within handshake_timeout.", func(s *server.Stats) uint64 { return s.TLSHandshakeFailures }),
	gauge("tls_handshaking", "TLS handshakes in progress (bounded by --tls-max-handshakes).", func(s *server.Stats) float64 { return float64(s.TLSHandshaking) }),
	counter("proxy_refused_total", "Connections closed for their PROXY protocol header: missing, malformed, or from an untrusted address.", func(s *server.Stats) uint64 { return s.ProxyRefused }),
	counter("origin_refused_total", "Upgrade requests refused for their Origin (--allowed-origins, 403).", func(s *server.Stats) uint64 { return s.OriginRefused }),
	counter("handshake_rate_limited_total", "Upgrade requests refused by the per-address handshake rate (429).", func(s *server.Stats) uint64 { return s.HandshakeRateLimited }),
	counter("ip_conns_refused_total", "Upgrade requests refused by the per-address connection bound (429).", func(s *server.Stats) uint64 { return s.IPConnsRefused }),
	counter("slow_consumer_closed_total", "Connections closed with 1013 because they did not read.", func(s *server.Stats) uint64 { return s.SlowClosed }),
	counter("slow_consumer_dropped_total", "Server frames (room messages, events, pushes) dropped for connections past max_outbound_bytes.", func(s *server.Stats) uint64 { return s.SlowDropped }),
	counter("room_deliveries_total", "Room and user messages queued to a member connection.", func(s *server.Stats) uint64 { return s.RoomDeliveries }),
	counter("io_uring_submits_total", "io_uring submissions: one system call for the output of several connections.", func(s *server.Stats) uint64 { return s.IOUringSubmits }),
	counter("io_uring_sends_total", "Connection writes made through io_uring submissions.", func(s *server.Stats) uint64 { return s.IOUringSends }),
	gauge("rooms", "Rooms with at least one member on this node.", func(s *server.Stats) float64 { return float64(s.Rooms) }),
	gauge("users_online", "Distinct users with at least one connection on this node.", func(s *server.Stats) float64 { return float64(s.Users) }),
	leaseMetric("leases", "Session leases alive (this node's view of them).", prometheus.GaugeValue, func(s *lease.Stats) float64 { return float64(s.Active) }),
	leaseMetric("leases_started_total", "Session leases started on this node (POST /api/session/start).", prometheus.CounterValue, func(s *lease.Stats) float64 { return float64(s.Started) }),
	leaseMetric("leases_expired_total", "Session leases expired for want of a heartbeat; their connections were closed with 1008.", prometheus.CounterValue, func(s *lease.Stats) float64 { return float64(s.Expired) }),
	leaseMetric("lease_refused_total", "WebSocket connections refused (1008) for a bad or expired auth_body, or none when a lease is required.", prometheus.CounterValue, func(s *lease.Stats) float64 { return float64(s.Refused) }),
	authCounter("auth_accepted_total", "Connections that presented a valid token.", func(s *auth.Stats) uint64 { return s.Accepted }),
	authCounter("auth_refused_total", "Connections refused for their token: none where one is required, or an invalid or expired one (1008).", func(s *auth.Stats) uint64 { return s.Refused }),
	authCounter("auth_expired_total", "Connections closed when their token expired (1008 token expired).", func(s *auth.Stats) uint64 { return s.Expired }),
	authCounter("auth_refreshed_total", "Tokens refreshed on open connections.", func(s *auth.Stats) uint64 { return s.Refreshed }),
	clusterMetric("cluster_connected", "1 while the node is connected to NATS, 0 while it is cut off from the cluster.", prometheus.GaugeValue, func(s *cluster.Stats) float64 { return boolValue(s.Connected) }),
	clusterMetric("cluster_nodes", "Live nodes of the cluster this node knows of, itself included.", prometheus.GaugeValue, func(s *cluster.Stats) float64 { return float64(s.Nodes) }),
	clusterMetric("cluster_published_total", "Events sent to the other nodes (one NATS message each).", prometheus.CounterValue, func(s *cluster.Stats) float64 { return float64(s.Published) }),
	clusterMetric("cluster_publish_errors_total", "Events that could not be sent to the other nodes (cut off from NATS): lost for them.", prometheus.CounterValue, func(s *cluster.Stats) float64 { return float64(s.PublishErrors) }),
	clusterMetric("cluster_received_total", "Events received from the other nodes.", prometheus.CounterValue, func(s *cluster.Stats) float64 { return float64(s.Received) }),
	clusterMetric("cluster_bad_messages_total", "Messages from other nodes that could not be read (another wsloop version, or not wsloop's): dropped.", prometheus.CounterValue, func(s *cluster.Stats) float64 { return float64(s.BadMessages) }),
	clusterMetric("cluster_reconnects_total", "Reconnections to NATS.", prometheus.CounterValue, func(s *cluster.Stats) float64 { return float64(s.Reconnects) }),
}

// Collector exposes a server's counters (server.Stats), its lease table's
// (lease.Stats) and its cluster node's (cluster.Stats) to Prometheus. It
// reads them at scrape time: counting adds no lock and no allocation to
// the event loops. Safe for concurrent use.
type Collector struct {
	src    Sources
	descs  []*prometheus.Desc
	closed *prometheus.Desc
	loops  *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns a collector of the sources' metrics.
func New(src Sources) *Collector {
	c := &Collector{src: src}
	for _, m := range table {
		c.descs = append(c.descs, prometheus.NewDesc("wsloop_"+m.name, m.help, nil, nil))
	}
	c.closed = prometheus.NewDesc("wsloop_connections_closed_total", "Connections closed after the handshake, by close code sent or received (1006: no close frame).", []string{"code"}, nil)
	c.loops = prometheus.NewDesc("wsloop_loop_connections", "Open connections per event loop.", []string{"loop"}, nil)
	return c
}

func (c *Collector) has(s source) bool {
	switch s {
	case fromLeases:
		return c.src.Leases != nil
	case fromCluster:
		return c.src.Cluster != nil
	case fromAuth:
		return c.src.Auth != nil
	}
	return true
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for i, d := range c.descs {
		if c.has(table[i].needs) {
			ch <- d
		}
	}
	ch <- c.closed
	ch <- c.loops
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	snap := snapshot{srv: c.src.Server.Stats()}
	if c.src.Leases != nil {
		snap.leases = c.src.Leases.Stats()
	}
	if c.src.Cluster != nil {
		snap.cluster = c.src.Cluster.Stats()
	}
	if c.src.Auth != nil {
		snap.auth = c.src.Auth.Stats()
	}
	for i, m := range table {
		if c.has(m.needs) {
			ch <- prometheus.MustNewConstMetric(c.descs[i], m.kind, m.value(&snap))
		}
	}
	for i, n := range snap.srv.Closed {
		if n > 0 {
			ch <- prometheus.MustNewConstMetric(c.closed, prometheus.CounterValue, float64(n), server.CloseSlotLabel(i))
		}
	}
	for i, n := range snap.srv.LoopConns {
		ch <- prometheus.MustNewConstMetric(c.loops, prometheus.GaugeValue, float64(n), strconv.Itoa(i))
	}
}

// Handler serves the Prometheus text format: the collector of src, plus the
// Go runtime's and the process's metrics. Safe for concurrent use.
func Handler(src Sources) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(src), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
