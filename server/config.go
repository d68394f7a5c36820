package server

import (
	"errors"
	"fmt"
	"log/slog"
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

// HeartbeatForm is a set of heartbeat forms (DESIGN §3).
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
	// registered and answered with pong; when HeartbeatSecret is set it must
	// be signed.
	HeartbeatPingCmd
	// HeartbeatNone accepts none of the forms: only data messages and Pongs
	// refresh liveness.
	HeartbeatNone HeartbeatForm = 1 << 7

	// HeartbeatAll is every form; it is what the zero value means.
	HeartbeatAll = HeartbeatEmptyFrame | HeartbeatPingFrame | HeartbeatPingCmd
)

// SlowPolicy says what happens to a connection that does not read fast
// enough to keep its unsent bytes under Config.MaxOutboundBytes.
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
// says what zero means. New normalizes a copy; the caller's value is never
// modified.
type Config struct {
	// Addr is the TCP address to listen on. Zero means ":8080".
	Addr string

	// Path is the WebSocket endpoint; an upgrade request for any other path
	// gets 404. Zero means "/ws".
	Path string

	// Loops is the number of event loops. Zero means runtime.NumCPU().
	Loops int

	// MaxConns bounds the connections held at once; past it new connections
	// get "503 Service Unavailable" and are closed, while every held
	// connection keeps working. Zero means RLIMIT_NOFILE minus a headroom of
	// 100 descriptors.
	MaxConns int

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

	// HeartbeatTimeout closes a connection that has sent nothing for this
	// long, with reason "heartbeat timeout". Zero means 20 s; negative
	// disables expiry.
	HeartbeatTimeout time.Duration

	// PingInterval is what clients are told (in the welcome event and the
	// end-point API) to ping at. Zero means 15 s.
	PingInterval time.Duration

	// Tick is the resolution of the per-loop timing wheel that runs
	// heartbeat, handshake and close timeouts: each fires within one Tick
	// after it is due. Zero means HeartbeatTimeout/8, within 10 ms .. 1 s
	// (1 s for the default 20 s timeout).
	Tick time.Duration

	// QueueSize is the capacity of each loop's job ring (pushes from other
	// goroutines). A full ring makes Push return ErrQueueFull. Zero means 8192.
	QueueSize int

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

	// PublishRate limits the publish and send commands of one connection,
	// per second; past it (and past PublishBurst) they get status 429. Zero
	// means 50; negative means no limit.
	PublishRate float64

	// PublishBurst is how many publish or send commands a connection may
	// issue at once before PublishRate applies. Zero means 2 × PublishRate
	// (at least 1).
	PublishBurst int

	// RoomEventsMaxMembers: enter_room and exit_room events are sent only
	// while a room has at most this many member connections, so that a join
	// storm into a big room is not O(N²) work; presence stays queryable with
	// the members command. Zero means 1000; negative disables room events.
	RoomEventsMaxMembers int

	// MaxRoomsPerConn bounds the rooms one connection may be in; a join past
	// it gets status 403. Zero means 64.
	MaxRoomsPerConn int

	// MaxRoomNameSize bounds a room name (and a user id in send and ptp), in
	// bytes; longer ones get status 400. Zero means 256.
	MaxRoomNameSize int

	// MaxMetaSize bounds the meta of a join, in bytes of JSON; larger gets
	// status 413. Zero means 2 KiB.
	MaxMetaSize int

	// ReadBufferSize is each loop's read buffer (one per loop, not per
	// connection). Zero means 64 KiB.
	ReadBufferSize int

	// Heartbeats selects the heartbeat forms that refresh a connection's
	// liveness (DESIGN §3). Zero means HeartbeatAll. Data messages and Pong
	// frames always count; a disabled empty frame is delivered to the Handler
	// like any message, a disabled Ping frame is still answered.
	Heartbeats HeartbeatForm

	// HeartbeatSecret, when set, makes the ping command require
	// data.sign = hex(HMAC-SHA256(secret, online_token + "." + timestamp)),
	// with timestamp in Unix seconds. A bad or missing sign or a stale
	// timestamp gets status 401 and does not count as a heartbeat; three in a
	// row close the connection with 1008.
	HeartbeatSecret []byte

	// HeartbeatSignWindow is how far a signed ping's timestamp may be from
	// the server's clock. Zero means 60 s.
	HeartbeatSignWindow time.Duration

	// ServerPingInterval, when positive, makes the server send a Ping frame
	// to a connection that has been silent this long, and again each
	// interval, for clients that only answer Pings (browsers). Zero disables.
	ServerPingInterval time.Duration

	// MaxMissedPongs closes a connection (reason "heartbeat timeout") after
	// this many server Pings in a row went unanswered. Zero means 2.
	MaxMissedPongs int

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
	if c.Loops == 0 {
		c.Loops = runtime.NumCPU()
	}
	if c.Loops < 0 || c.Loops > 255 {
		return c, fmt.Errorf("server: Loops %d out of range 1..255", c.Loops)
	}
	if c.HeartbeatTimeout == 0 { // negative: no heartbeat timeout
		c.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if c.Tick == 0 {
		// Timeouts fire within one tick after they are due: an eighth of the
		// heartbeat timeout keeps expiry within 12.5 % of it.
		c.Tick = DefaultTick
		if c.HeartbeatTimeout > 0 {
			c.Tick = min(DefaultTick, max(10*time.Millisecond, c.HeartbeatTimeout/8))
		}
	}
	if c.PublishRate == 0 { // negative: no limit
		c.PublishRate = DefaultPublishRate
	}
	if c.RoomEventsMaxMembers == 0 { // negative: no room events
		c.RoomEventsMaxMembers = DefaultRoomEventsMaxMembers
	}
	if c.Heartbeats == 0 {
		c.Heartbeats = HeartbeatAll
	}
	// Zero means the default; negative is an error.
	err := errors.Join(
		orDefault(&c.MaxConns, defaultMaxConns(), "MaxConns"),
		orDefault(&c.MaxMessageSize, DefaultMaxMessageSize, "MaxMessageSize"),
		orDefault(&c.MaxHeaderSize, DefaultMaxHeaderSize, "MaxHeaderSize"),
		orDefault(&c.HandshakeTimeout, DefaultHandshakeTimeout, "HandshakeTimeout"),
		orDefault(&c.CloseTimeout, DefaultCloseTimeout, "CloseTimeout"),
		orDefault(&c.PingInterval, DefaultPingInterval, "PingInterval"),
		orDefault(&c.Tick, DefaultTick, "Tick"),
		orDefault(&c.QueueSize, DefaultQueueSize, "QueueSize"),
		orDefault(&c.MaxOutboundBytes, DefaultMaxOutboundBytes, "MaxOutboundBytes"),
		orDefault(&c.PublishBurst, max(1, int(2*c.PublishRate)), "PublishBurst"),
		orDefault(&c.MaxRoomsPerConn, DefaultMaxRoomsPerConn, "MaxRoomsPerConn"),
		orDefault(&c.MaxRoomNameSize, DefaultMaxRoomNameSize, "MaxRoomNameSize"),
		orDefault(&c.MaxMetaSize, DefaultMaxMetaSize, "MaxMetaSize"),
		orDefault(&c.ReadBufferSize, DefaultReadBufferSize, "ReadBufferSize"),
		orDefault(&c.ServerPingInterval, 0, "ServerPingInterval"), // zero: off
		orDefault(&c.HeartbeatSignWindow, DefaultHeartbeatSignWindow, "HeartbeatSignWindow"),
		orDefault(&c.MaxMissedPongs, DefaultMaxMissedPongs, "MaxMissedPongs"),
	)
	if err != nil {
		return c, err
	}
	if c.MaxHeaderSize < 256 {
		return c, fmt.Errorf("server: MaxHeaderSize %d is below 256", c.MaxHeaderSize)
	}
	if c.Tick < time.Millisecond {
		return c, fmt.Errorf("server: Tick %v is below 1ms", c.Tick)
	}
	if c.SlowConsumer > SlowClose {
		return c, fmt.Errorf("server: unknown SlowConsumer policy %d", c.SlowConsumer)
	}
	if c.HeartbeatSecret != nil {
		c.HeartbeatSecret = append([]byte(nil), c.HeartbeatSecret...)
	}
	if c.wheelSlots() > maxWheelSlots {
		return c, fmt.Errorf("server: timeouts over %d ticks of %v; raise Tick", maxWheelSlots-3, c.Tick)
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
	longest := max(c.HandshakeTimeout, c.CloseTimeout, c.HeartbeatTimeout, c.ServerPingInterval*time.Duration(c.MaxMissedPongs+1))
	return max(16384, int(longest/c.Tick)+3)
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
