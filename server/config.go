package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/wsloop/wsloop/clock"
	"github.com/wsloop/wsloop/rooms"
)

// Defaults for the zero values of Config fields.
const (
	DefaultAddr             = ":8080"
	DefaultPath             = "/ws"
	DefaultMaxMessageSize   = 64 << 10
	DefaultMaxHeaderSize    = 8 << 10
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultCloseTimeout     = 3 * time.Second
	DefaultHeartbeatTimeout = 20 * time.Second
	DefaultPingInterval     = 15 * time.Second
	DefaultTick             = time.Second
	DefaultQueueSize        = 8192
	DefaultReadBufferSize   = 64 << 10
	DefaultMaxOutboundBytes = 4 << 20

	DefaultHeartbeatSignWindow = time.Minute
	DefaultMaxMissedPongs      = 2

	DefaultPublishRate          = 50
	DefaultRoomEventsMaxMembers = 1000
	DefaultMaxRoomsPerConn      = 64
	DefaultMaxRoomNameSize      = 256
	DefaultMaxMetaSize          = 2 << 10

	// connHeadroom is how many descriptors the default MaxConns leaves for
	// everything that is not a client connection: listeners, the HTTP API,
	// epoll and eventfd descriptors, log files, cluster links.
	connHeadroom = 100
)

// HeartbeatForm is a set of heartbeat forms (README "Heartbeats").
type HeartbeatForm uint8

// Heartbeat forms, combined with |.
const (
	// HeartbeatEmptyFrame: an empty data message is a heartbeat; it is not
	// answered and not passed to the Handler.
	HeartbeatEmptyFrame HeartbeatForm = 1 << iota
	// HeartbeatPingFrame: a WebSocket Ping frame refreshes liveness (it is
	// answered with a Pong either way).
	HeartbeatPingFrame
	// HeartbeatPingCmd: the Router's ping command ({"cmd":"ping"}) is
	// registered and answered with pong; when Heartbeat.Secret is set it
	// must be signed.
	HeartbeatPingCmd
	// HeartbeatNone accepts none of the forms: only data messages and Pongs
	// refresh liveness.
	HeartbeatNone HeartbeatForm = 1 << 7

	// HeartbeatAll is every form; it is what the zero value means.
	HeartbeatAll = HeartbeatEmptyFrame | HeartbeatPingFrame | HeartbeatPingCmd
)

// SlowPolicy says what happens to a connection that does not read fast
// enough to keep its unsent bytes under Tuning.MaxOutboundBytes.
type SlowPolicy uint8

const (
	// SlowDrop drops the server-initiated frames (room messages, events,
	// pushes, broadcasts) that would take the connection past the bound, and
	// counts them; replies to the client's own requests are never dropped. A
	// connection whose unsent bytes still reach twice the bound (a client
	// that keeps sending requests without reading the replies) is closed
	// with 1013. It is what the zero value means.
	SlowDrop SlowPolicy = iota
	// SlowClose closes the connection with 1013 (try again later) as soon as
	// its unsent bytes pass the bound.
	SlowClose
)

// String returns "drop" or "close".
func (p SlowPolicy) String() string {
	if p == SlowClose {
		return "close"
	}
	return "drop"
}

// Config configures a Server. The zero value is valid: every field's doc
// says what zero means, and negative means "off" where a setting can be
// off. New normalizes a copy; the caller's value is never modified. The
// settings come in four groups: Tuning (the loops and their memory),
// Limits (what one connection may send and how long its handshakes may
// take), Heartbeat (liveness) and Rooms.
type Config struct {
	// Addr is the TCP address to listen on. Zero means ":8080".
	Addr string

	// Path is the WebSocket endpoint; an upgrade request for any other path
	// gets 404. Zero means "/ws".
	Path string

	Tuning    Tuning
	Limits    Limits
	Heartbeat Heartbeat
	Rooms     Rooms
	// Compression is permessage-deflate (RFC 7692).
	Compression Compression
	// Proxies is how the server learns clients' addresses behind load
	// balancers.
	Proxies Proxies
	// TLS serves wss:// on Addr (server/tls.go).
	TLS TLS
	// Policy limits what clients may do with the Router's built-in
	// commands, per room namespace (server/policy.go).
	Policy Policy

	// NodeID tells this node's sessions from those of the other nodes of a
	// cluster: it is part of every session id (Session.ID), so an event for
	// a session reaches the node that holds it. Zero for a single node; the
	// cluster picks a unique one (cluster.Node.ID).
	NodeID uint16

	// Clock is what the loops, their timing wheels, the rate limits and the
	// signed-ping window read the time from (clock.Fake in tests). Zero
	// means clock.System().
	Clock clock.Clock

	// Broker carries room, user and broadcast events to the other nodes of
	// a cluster (rooms.Broker). Zero means rooms.Local{}: a single node.
	Broker rooms.Broker

	// Logger receives the server's logs. Zero means slog.Default().
	Logger *slog.Logger
}

// Tuning is how the event loops run and what they hold per connection.
type Tuning struct {
	// Loops is the number of event loops. Zero means runtime.NumCPU().
	Loops int

	// MaxConns bounds the connections held at once; past it new connections
	// get "503 Service Unavailable" and are closed, while every held
	// connection keeps working. Zero means RLIMIT_NOFILE minus a headroom of
	// 100 descriptors.
	MaxConns int

	// QueueSize is the capacity of each loop's job ring (pushes from other
	// goroutines). A full ring makes Push return ErrQueueFull. Zero means 8192.
	QueueSize int

	// ReadBufferSize is each loop's read buffer (one per loop, not per
	// connection). Zero means 64 KiB.
	ReadBufferSize int

	// MaxOutboundBytes bounds what the server holds for one connection that
	// does not read fast enough (its unsent bytes); SlowConsumer says what
	// happens at the bound. Zero means 4 MiB.
	MaxOutboundBytes int

	// SlowConsumer is the policy at MaxOutboundBytes: SlowDrop (the zero
	// value) or SlowClose.
	SlowConsumer SlowPolicy

	// NoIOUring makes every connection's output leave with its own send
	// system call. By default, when one wakeup of a loop has output for
	// several connections (a room message to the loop's members, a
	// broadcast, heartbeat pings), the loop hands all those sends to the
	// kernel with one io_uring submission, wherever the kernel allows
	// io_uring (it may be disabled by sysctl or blocked by a container's
	// seccomp policy: then wsloop logs it and sends one by one).
	NoIOUring bool
}

// Limits bound what one connection may send, and how long it may take to
// open and to close.
type Limits struct {
	// MaxMessageSize bounds a frame and a reassembled message, in bytes; a
	// client that announces more is closed with 1009 before its payload is
	// buffered. Zero means 64 KiB.
	MaxMessageSize int64

	// MaxHeaderSize bounds the HTTP upgrade request head. Zero means 8 KiB.
	MaxHeaderSize int

	// HandshakeTimeout closes a connection whose upgrade request has not
	// completed in time. Zero means 5 s.
	HandshakeTimeout time.Duration

	// CloseTimeout is how long a connection may take to answer the server's
	// close frame before its socket is closed. Zero means 3 s.
	CloseTimeout time.Duration

	// AllowedOrigins, when not empty, are the origins browsers may connect
	// from: exact ("https://app.example.com", with its port if it has
	// one) or with a first label wildcard ("https://*.example.com": any
	// subdomain). An upgrade request with another Origin gets HTTP 403; one
	// without Origin (not a browser) is allowed.
	AllowedOrigins []string

	// MaxConnsPerIP bounds the WebSocket connections held for one client IP
	// address; past it, the handshake gets HTTP 429 with Retry-After. With
	// TLS it also bounds the TLS handshakes one address has in progress
	// (more are closed at accept). Zero means no bound.
	MaxConnsPerIP int

	// HandshakeRatePerIP bounds the upgrade requests per second from one
	// client IP address, a token bucket of HandshakeBurstPerIP; past it,
	// HTTP 429 with Retry-After. Zero means no bound.
	HandshakeRatePerIP float64

	// HandshakeBurstPerIP is how many handshakes one address may make at
	// once before HandshakeRatePerIP applies. Zero means 2 × the rate (at
	// least 1).
	HandshakeBurstPerIP int
}

// Proxies is how the server learns a client's address behind load
// balancers: Session.RemoteAddr, the logs and the per-address limits then
// use it.
type Proxies struct {
	// Protocol: every connection on Addr starts with a PROXY protocol
	// header (version 1 or 2: HAProxy's send-proxy, nginx's
	// proxy_protocol, AWS NLB) that gives the client's address. A
	// connection without one, with a malformed one, or from an address
	// not in Trusted is closed. Requires Trusted.
	Protocol bool
	// Trusted are the proxies whose word is taken: the senders of PROXY
	// headers, and the peers whose X-Forwarded-For (the rightmost address
	// that is not itself a trusted proxy) or X-Real-IP on the upgrade
	// request names the client.
	Trusted []netip.Prefix
}

// TLS serves wss:// on Addr: TLS 1.2 and 1.3 with AEAD cipher suites. The
// handshake runs on a goroutine of its own (crypto/tls), bounded by
// Limits.HandshakeTimeout; then the connection joins an event loop like a
// plain one, which opens and seals its records itself: no goroutine and no
// buffer is held per idle TLS connection (docs/architecture.md, "TLS").
// TLS is on when CertFile or Config is set.
type TLS struct {
	// CertFile and KeyFile are PEM files: the certificate (with its chain)
	// and its private key. Server.ReloadCertificate reads them again (the
	// wsloop command does on SIGHUP); connections already open keep
	// working.
	CertFile, KeyFile string
	// Config, when not nil, is the base configuration: its certificates
	// (Certificates, GetCertificate: an ACME client, say), NextProtos,
	// client authentication and curve preferences are used as they are.
	// Its cipher suites are narrowed to the AEAD ones, TLS 1.2 is the
	// least version, and session tickets are off (internal/tlsrec says
	// why). With CertFile set as well, the file's certificate is served.
	// GetConfigForClient is refused: the config it returns would replace
	// the one the record layer needs.
	Config *tls.Config
	// MaxHandshakes bounds the TLS handshakes in progress at once (each
	// holds a goroutine and its buffers until it ends or times out); a
	// connection past it is closed at once and counted as refused. Zero
	// means 4096.
	MaxHandshakes int
}

// Enabled reports whether t turns TLS on.
func (t *TLS) Enabled() bool { return t.CertFile != "" || t.Config != nil }

// DefaultMaxHandshakes is the default TLS.MaxHandshakes.
const DefaultMaxHandshakes = 4096

// Compression is permessage-deflate (RFC 7692): negotiated per connection
// when the client offers it, always with no context takeover in either
// direction, so no connection holds a compression window while idle.
// Room messages are compressed once, for every member that negotiated it.
type Compression struct {
	// Enabled accepts a client's permessage-deflate offer. Off by default.
	Enabled bool
	// MinSize: messages shorter than this many bytes go uncompressed (a
	// message that would not come out smaller goes uncompressed anyway).
	// Zero means 128.
	MinSize int
	// Level is the deflate level: 1 (fastest) to 9 (smallest), -1 for 6,
	// -2 for Huffman only. Zero means 3 (levels 1 and 2 store messages of
	// a few hundred bytes uncompressed).
	Level int
}

// Heartbeat is how the server tells live connections from dead ones
// (README "Heartbeats").
type Heartbeat struct {
	// Timeout closes a connection that has sent nothing for this long, with
	// reason "heartbeat timeout". Zero means 20 s; negative disables expiry.
	Timeout time.Duration

	// PingInterval is what clients are told (in the welcome event and the
	// end-point API) to ping at. Zero means 15 s.
	PingInterval time.Duration

	// Tick is the resolution of the per-loop timing wheel that runs
	// heartbeat, handshake and close timeouts: each fires within one Tick
	// after it is due. Zero means Timeout/8, within 10 ms .. 1 s (1 s for
	// the default 20 s timeout).
	Tick time.Duration

	// Forms selects the heartbeat forms that refresh a connection's
	// liveness. Zero means HeartbeatAll. Data messages and Pong frames
	// always count; a disabled empty frame is delivered to the Handler like
	// any message, a disabled Ping frame is still answered.
	Forms HeartbeatForm

	// Secret, when set, makes the ping command require
	// data.sign = hex(HMAC-SHA256(secret, online_token + "." + sid + "." +
	// timestamp)), with the online_token and sid of the connection's
	// welcome event and timestamp in Unix seconds, greater than the last
	// accepted one (SignPing). A bad or missing sign, another connection's
	// online_token, a stale or replayed timestamp get status 401 and do not
	// count as a heartbeat; three in a row close the connection with 1008.
	Secret []byte

	// SignWindow is how far a signed ping's timestamp may be from the
	// server's clock. Zero means 60 s.
	SignWindow time.Duration

	// ServerPingInterval, when positive, makes the server send a Ping frame
	// to a connection that has been silent this long, and again each
	// interval, for clients that only answer Pings (browsers). Zero disables.
	ServerPingInterval time.Duration

	// MaxMissedPongs closes a connection (reason "heartbeat timeout") after
	// this many server Pings in a row went unanswered. Zero means 2.
	MaxMissedPongs int
}

// Rooms bounds what connections may do with rooms (README "Rooms").
type Rooms struct {
	// PublishRate limits the publish and send commands of one connection,
	// per second; past it (and past PublishBurst) they get status 429. Zero
	// means 50; negative means no limit.
	PublishRate float64

	// PublishBurst is how many publish or send commands a connection may
	// issue at once before PublishRate applies. Zero means 2 × PublishRate
	// (at least 1).
	PublishBurst int

	// EventsMaxMembers: enter_room and exit_room events are sent only while
	// a room has at most this many member connections, so that a join
	// storm into a big room is not O(N²) work; presence stays queryable
	// with the members command. Zero means 1000; negative disables room
	// events.
	EventsMaxMembers int

	// MaxPerConn bounds the rooms one connection may be in; a join past it
	// gets status 403. Zero means 64.
	MaxPerConn int

	// MaxNameSize bounds a room name (and a user id in send and ptp), in
	// bytes; longer ones get status 400. Zero means 256.
	MaxNameSize int

	// MaxMetaSize bounds the meta of a join, in bytes of JSON; larger gets
	// status 413. Zero means 2 KiB.
	MaxMetaSize int
}

// normalize returns a copy of c with defaults filled in, or an error for
// values that cannot work.
func (c Config) normalize() (Config, error) {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if !strings.HasPrefix(c.Path, "/") {
		return c, fmt.Errorf("server: Path %q must start with /", c.Path)
	}
	if c.Tuning.Loops == 0 {
		c.Tuning.Loops = runtime.NumCPU()
	}
	if c.Tuning.Loops < 0 || c.Tuning.Loops > 255 {
		return c, fmt.Errorf("server: Tuning.Loops %d out of range 1..255", c.Tuning.Loops)
	}
	if c.Heartbeat.Timeout == 0 { // negative: no heartbeat timeout
		c.Heartbeat.Timeout = DefaultHeartbeatTimeout
	}
	if c.Heartbeat.Tick == 0 {
		// Timeouts fire within one tick after they are due: an eighth of the
		// heartbeat timeout keeps expiry within 12.5 % of it.
		c.Heartbeat.Tick = DefaultTick
		if c.Heartbeat.Timeout > 0 {
			c.Heartbeat.Tick = min(DefaultTick, max(10*time.Millisecond, c.Heartbeat.Timeout/8))
		}
	}
	if c.Rooms.PublishRate == 0 { // negative: no limit
		c.Rooms.PublishRate = DefaultPublishRate
	}
	if c.Rooms.EventsMaxMembers == 0 { // negative: no room events
		c.Rooms.EventsMaxMembers = DefaultRoomEventsMaxMembers
	}
	if c.Heartbeat.Forms == 0 {
		c.Heartbeat.Forms = HeartbeatAll
	}
	// Zero means the default; negative is an error.
	err := errors.Join(
		orDefault(&c.Tuning.MaxConns, defaultMaxConns(), "Tuning.MaxConns"),
		orDefault(&c.Limits.MaxMessageSize, DefaultMaxMessageSize, "Limits.MaxMessageSize"),
		orDefault(&c.Limits.MaxHeaderSize, DefaultMaxHeaderSize, "Limits.MaxHeaderSize"),
		orDefault(&c.Limits.HandshakeTimeout, DefaultHandshakeTimeout, "Limits.HandshakeTimeout"),
		orDefault(&c.Limits.CloseTimeout, DefaultCloseTimeout, "Limits.CloseTimeout"),
		orDefault(&c.Heartbeat.PingInterval, DefaultPingInterval, "Heartbeat.PingInterval"),
		orDefault(&c.Heartbeat.Tick, DefaultTick, "Heartbeat.Tick"),
		orDefault(&c.Tuning.QueueSize, DefaultQueueSize, "Tuning.QueueSize"),
		orDefault(&c.Tuning.MaxOutboundBytes, DefaultMaxOutboundBytes, "Tuning.MaxOutboundBytes"),
		orDefault(&c.Rooms.PublishBurst, max(1, int(2*c.Rooms.PublishRate)), "Rooms.PublishBurst"),
		orDefault(&c.Rooms.MaxPerConn, DefaultMaxRoomsPerConn, "Rooms.MaxPerConn"),
		orDefault(&c.Rooms.MaxNameSize, DefaultMaxRoomNameSize, "Rooms.MaxNameSize"),
		orDefault(&c.Rooms.MaxMetaSize, DefaultMaxMetaSize, "Rooms.MaxMetaSize"),
		orDefault(&c.Tuning.ReadBufferSize, DefaultReadBufferSize, "Tuning.ReadBufferSize"),
		orDefault(&c.Heartbeat.ServerPingInterval, 0, "Heartbeat.ServerPingInterval"), // zero: off
		orDefault(&c.Heartbeat.SignWindow, DefaultHeartbeatSignWindow, "Heartbeat.SignWindow"),
		orDefault(&c.Heartbeat.MaxMissedPongs, DefaultMaxMissedPongs, "Heartbeat.MaxMissedPongs"),
	)
	if err != nil {
		return c, err
	}
	if c.Limits.MaxHeaderSize < 256 {
		return c, fmt.Errorf("server: Limits.MaxHeaderSize %d is below 256", c.Limits.MaxHeaderSize)
	}
	if c.Heartbeat.Tick < time.Millisecond {
		return c, fmt.Errorf("server: Heartbeat.Tick %v is below 1ms", c.Heartbeat.Tick)
	}
	if c.Tuning.SlowConsumer > SlowClose {
		return c, fmt.Errorf("server: unknown Tuning.SlowConsumer policy %d", c.Tuning.SlowConsumer)
	}
	if c.Heartbeat.Secret != nil {
		c.Heartbeat.Secret = append([]byte(nil), c.Heartbeat.Secret...)
	}
	if c.Compression.MinSize == 0 {
		c.Compression.MinSize = 128
	}
	if c.Compression.Level == 0 {
		c.Compression.Level = 3
	}
	if c.Compression.MinSize < 0 || c.Compression.Level < -2 || c.Compression.Level > 9 {
		return c, fmt.Errorf("server: Compression.MinSize %d must not be negative and Compression.Level %d must be -2..9", c.Compression.MinSize, c.Compression.Level)
	}
	if c.Proxies.Protocol && len(c.Proxies.Trusted) == 0 {
		return c, errors.New("server: Proxies.Protocol needs Proxies.Trusted: the addresses of the proxies that send the PROXY header")
	}
	c.Proxies.Trusted = append([]netip.Prefix(nil), c.Proxies.Trusted...)
	if err := orDefault(&c.TLS.MaxHandshakes, DefaultMaxHandshakes, "TLS.MaxHandshakes"); err != nil {
		return c, err
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return c, errors.New("server: TLS.CertFile and TLS.KeyFile go together")
	}
	if c.TLS.Config != nil {
		c.TLS.Config = c.TLS.Config.Clone()
		if c.TLS.Config.GetConfigForClient != nil {
			// The config it returns would replace the one the record layer
			// needs (its key log, AEAD suites, no session tickets).
			return c, errors.New("server: TLS.Config.GetConfigForClient is not supported: choose certificates with GetCertificate")
		}
		if c.TLS.CertFile == "" && len(c.TLS.Config.Certificates) == 0 && c.TLS.Config.GetCertificate == nil {
			return c, errors.New("server: TLS.Config has no certificate (Certificates or GetCertificate) and TLS.CertFile is not set")
		}
	}
	if err := c.Policy.validate(); err != nil {
		return c, err
	}
	if _, err := compileOrigins(c.Limits.AllowedOrigins); err != nil {
		return c, err
	}
	c.Limits.AllowedOrigins = append([]string(nil), c.Limits.AllowedOrigins...)
	if c.Limits.MaxConnsPerIP < 0 || c.Limits.HandshakeRatePerIP < 0 || c.Limits.HandshakeBurstPerIP < 0 || math.IsNaN(c.Limits.HandshakeRatePerIP) {
		return c, fmt.Errorf("server: Limits.MaxConnsPerIP, HandshakeRatePerIP and HandshakeBurstPerIP must not be negative")
	}
	if c.Limits.HandshakeRatePerIP > 0 && c.Limits.HandshakeBurstPerIP == 0 {
		c.Limits.HandshakeBurstPerIP = max(1, int(2*c.Limits.HandshakeRatePerIP))
	}
	c.Policy = c.Policy.clone()
	if c.wheelSlots() > maxWheelSlots {
		return c, fmt.Errorf("server: timeouts over %d ticks of %v; raise Heartbeat.Tick", maxWheelSlots-3, c.Heartbeat.Tick)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = clock.System()
	}
	return c, nil
}

// orDefault sets *v to def when it is zero; a negative *v is an error
// naming the field.
func orDefault[T ~int | ~int64](v *T, def T, name string) error {
	if *v == 0 {
		*v = def
	}
	if *v < 0 {
		return fmt.Errorf("server: %s %v is negative", name, *v)
	}
	return nil
}

// wheelSlots sizes each loop's timing wheel so that one revolution covers
// the longest timeout plus two ticks of margin (at least 16384 slots, 8
// bytes each).
func (c *Config) wheelSlots() int {
	longest := max(c.Limits.HandshakeTimeout, c.Limits.CloseTimeout, c.Heartbeat.Timeout, c.Heartbeat.ServerPingInterval*time.Duration(c.Heartbeat.MaxMissedPongs+1))
	return max(16384, int(longest/c.Heartbeat.Tick)+3)
}

// maxWheelSlots bounds the wheel (timingwheel's own limit).
const maxWheelSlots = 1 << 24

// defaultMaxConns is RLIMIT_NOFILE (soft) minus headroom, at least 1.
func defaultMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 20
	}
	n := int(rl.Cur) - connHeadroom
	if n < 1 {
		n = 1
	}
	return n
}
