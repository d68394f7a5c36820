package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/wsloop/wsloop/httpapi"
	"github.com/wsloop/wsloop/lease"
	"github.com/wsloop/wsloop/metrics"
	"github.com/wsloop/wsloop/server"
)

// settings is everything cmd/wsloop can be told. Each field is one flag; the
// same name, with '-' as '_', is its key in the config file and, upper-cased
// behind WSLOOP_, its environment variable.
type settings struct {
	Config           string
	Addr             string
	HTTPAddr         string
	APIKey           string
	EndPoint         string
	LeaseTimeout     time.Duration
	RequireLease     bool
	MaxAPIBody       int64
	Path             string
	Echo             bool
	Loops            int
	MaxConns         int
	MaxMessageSize   int64
	HandshakeTimeout time.Duration
	HeartbeatTimeout time.Duration
	PingInterval     time.Duration
	Heartbeats       string
	HeartbeatSecret  string
	SignWindow       time.Duration
	ServerPing       time.Duration
	MaxMissedPongs   int
	Tick             time.Duration
	QueueSize        int
	MaxOutbound      int
	SlowConsumer     string
	IOUring          bool
	PublishRate      float64
	PublishBurst     int
	RoomEventsMax    int
	MaxRooms         int
	ShutdownTimeout  time.Duration
	LogLevel         string
	LogFormat        string
}

func defaults() settings {
	return settings{
		Addr:             server.DefaultAddr,
		HTTPAddr:         ":8081",
		LeaseTimeout:     lease.DefaultTimeout,
		MaxAPIBody:       httpapi.DefaultMaxBodySize,
		Path:             server.DefaultPath,
		MaxMessageSize:   server.DefaultMaxMessageSize,
		HandshakeTimeout: server.DefaultHandshakeTimeout,
		HeartbeatTimeout: server.DefaultHeartbeatTimeout,
		PingInterval:     server.DefaultPingInterval,
		Heartbeats:       "empty,ping-frame,ping-cmd",
		SignWindow:       server.DefaultHeartbeatSignWindow,
		MaxMissedPongs:   server.DefaultMaxMissedPongs,
		Tick:             0, // heartbeat-timeout/8, within 10ms..1s
		QueueSize:        server.DefaultQueueSize,
		MaxOutbound:      server.DefaultMaxOutboundBytes,
		SlowConsumer:     "drop",
		IOUring:          true,
		PublishRate:      server.DefaultPublishRate,
		RoomEventsMax:    server.DefaultRoomEventsMaxMembers,
		MaxRooms:         server.DefaultMaxRoomsPerConn,
		ShutdownTimeout:  10 * time.Second,
		LogLevel:         "info",
		LogFormat:        "text",
	}
}

// flagSet declares every setting on a fresh FlagSet bound to st.
func flagSet(st *settings, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("wsloop", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&st.Config, "config", st.Config, "TOML config file (keys are the flag names with '_' for '-')")
	fs.StringVar(&st.Addr, "addr", st.Addr, "WebSocket listen address")
	fs.StringVar(&st.HTTPAddr, "http-addr", st.HTTPAddr, "address of the HTTP API: /api/..., /metrics, /healthz, /readyz (empty disables)")
	fs.StringVar(&st.APIKey, "api-key", st.APIKey, "bearer key every /api/ endpoint requires (Authorization: Bearer <key>); prefer WSLOOP_API_KEY, flags show in ps")
	fs.StringVar(&st.EndPoint, "end-point", st.EndPoint, "public WebSocket URL handed out by the HTTP API, e.g. wss://chat.example.com/ws (empty: derived from --addr)")
	fs.DurationVar(&st.LeaseTimeout, "lease-timeout", st.LeaseTimeout, "a session lease not heartbeated this long expires and closes its connections")
	fs.BoolVar(&st.RequireLease, "require-lease", st.RequireLease, "refuse WebSocket connections without the auth_body of a session lease (close 1008)")
	fs.Int64Var(&st.MaxAPIBody, "max-api-body-size", st.MaxAPIBody, "largest HTTP API request body in bytes (413 above it)")
	fs.StringVar(&st.Path, "path", st.Path, "WebSocket endpoint path")
	fs.BoolVar(&st.Echo, "echo", st.Echo, "echo mode: send every data message back verbatim, no JSON protocol")
	fs.IntVar(&st.Loops, "loops", st.Loops, "event loops (0 = one per CPU)")
	fs.IntVar(&st.MaxConns, "max-conns", st.MaxConns, "maximum connections held (0 = RLIMIT_NOFILE minus headroom)")
	fs.Int64Var(&st.MaxMessageSize, "max-message-size", st.MaxMessageSize, "maximum frame and message size in bytes (close 1009 above it)")
	fs.DurationVar(&st.HandshakeTimeout, "handshake-timeout", st.HandshakeTimeout, "close connections whose upgrade request is not complete in time")
	fs.DurationVar(&st.HeartbeatTimeout, "heartbeat-timeout", st.HeartbeatTimeout, "close connections silent for this long (negative disables)")
	fs.DurationVar(&st.PingInterval, "ping-interval", st.PingInterval, "ping interval clients are told to use")
	fs.StringVar(&st.Heartbeats, "heartbeats", st.Heartbeats, "heartbeat forms that refresh liveness: any of empty, ping-frame, ping-cmd, comma-separated, or none (echo mode never treats empty messages as heartbeats)")
	fs.StringVar(&st.HeartbeatSecret, "heartbeat-secret", st.HeartbeatSecret, "if set, the ping command must carry sign = hex(HMAC-SHA256(secret, online_token.timestamp))")
	fs.DurationVar(&st.SignWindow, "heartbeat-sign-window", st.SignWindow, "how far a signed ping's timestamp may be from the server clock")
	fs.DurationVar(&st.ServerPing, "server-ping-interval", st.ServerPing, "send Ping frames to clients silent this long (0 = off)")
	fs.IntVar(&st.MaxMissedPongs, "max-missed-pongs", st.MaxMissedPongs, "close after this many unanswered server Pings")
	fs.DurationVar(&st.Tick, "tick", st.Tick, "timing wheel resolution: timeouts fire within one tick after they are due (0 = heartbeat-timeout/8, within 10ms..1s)")
	fs.IntVar(&st.QueueSize, "queue-size", st.QueueSize, "capacity of each event loop's job ring (room fan-out, pushes); a full ring answers 503")
	fs.IntVar(&st.MaxOutbound, "max-outbound-bytes", st.MaxOutbound, "unsent bytes held per connection before the slow-consumer policy applies")
	fs.StringVar(&st.SlowConsumer, "slow-consumer", st.SlowConsumer, "policy at max-outbound-bytes: drop (room frames dropped and counted) or close (1013)")
	fs.BoolVar(&st.IOUring, "io-uring", st.IOUring, "send the output of many connections with one io_uring submission where the kernel allows it (false: one send per connection)")
	fs.Float64Var(&st.PublishRate, "publish-rate", st.PublishRate, "publish and send commands per second per connection, 429 above it (0 = no limit)")
	fs.IntVar(&st.PublishBurst, "publish-burst", st.PublishBurst, "publish and send commands a connection may issue at once (0 = twice the rate)")
	fs.IntVar(&st.RoomEventsMax, "room-events-max-members", st.RoomEventsMax, "send enter_room/exit_room only while a room has at most this many connections (0 = never)")
	fs.IntVar(&st.MaxRooms, "max-rooms-per-conn", st.MaxRooms, "rooms one connection may be in (403 above it)")
	fs.DurationVar(&st.ShutdownTimeout, "shutdown-timeout", st.ShutdownTimeout, "how long a graceful shutdown waits for clients to close")
	fs.StringVar(&st.LogLevel, "log-level", st.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&st.LogFormat, "log-format", st.LogFormat, "log format: text or json")
	return fs
}

// envName is the environment variable for a flag: WSLOOP_MAX_CONNS.
func envName(flagName string) string {
	return "WSLOOP_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// load resolves settings from, lowest precedence first: built-in defaults,
// the config file (--config or WSLOOP_CONFIG), WSLOOP_* environment
// variables, and command-line flags.
func load(args []string, env func(string) (string, bool), out io.Writer) (settings, error) {
	// First pass: which flags were given, and where the config file is.
	probe := defaults()
	fs := flagSet(&probe, out)
	if err := fs.Parse(args); err != nil {
		return settings{}, err
	}
	if fs.NArg() > 0 {
		return settings{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	explicit := map[string]string{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = f.Value.String() })

	st := defaults()
	final := flagSet(&st, out)
	path := probe.Config
	if _, ok := explicit["config"]; !ok {
		if v, ok := env(envName("config")); ok {
			path = v
		}
	}
	if path != "" {
		if err := applyFile(final, path); err != nil {
			return settings{}, err
		}
	}
	var errs []error
	final.VisitAll(func(f *flag.Flag) {
		if v, ok := env(envName(f.Name)); ok {
			if err := final.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", envName(f.Name), v, err))
			}
		}
	})
	if len(errs) > 0 {
		return settings{}, errors.Join(errs...)
	}
	for name, v := range explicit {
		if err := final.Set(name, v); err != nil {
			return settings{}, fmt.Errorf("-%s: %v", name, err)
		}
	}
	st.Config = path
	return st, nil
}

// applyFile sets flags from a TOML file; unknown keys are an error.
func applyFile(fs *flag.FlagSet, path string) error {
	var m map[string]any
	if _, err := toml.DecodeFile(path, &m); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := strings.ReplaceAll(k, "_", "-")
		if name == "config" || strings.Contains(k, "-") || fs.Lookup(name) == nil {
			return fmt.Errorf("config %s: unknown key %q", path, k)
		}
		switch v := m[k].(type) {
		case string, bool, int64, float64:
		default:
			return fmt.Errorf("config %s: %s: want a string, number or boolean, not %T", path, k, v)
		}
		if err := fs.Set(name, fmt.Sprint(m[k])); err != nil {
			return fmt.Errorf("config %s: %s: %v", path, k, err)
		}
	}
	return nil
}

func (st settings) logger(out io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(st.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", st.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch st.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(out, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(out, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", st.LogFormat)
}

// heartbeatForms parses --heartbeats.
func (st settings) heartbeatForms() (server.HeartbeatForm, error) {
	var f server.HeartbeatForm
	for _, name := range strings.Split(st.Heartbeats, ",") {
		switch strings.TrimSpace(name) {
		case "empty":
			f |= server.HeartbeatEmptyFrame
		case "ping-frame":
			f |= server.HeartbeatPingFrame
		case "ping-cmd":
			f |= server.HeartbeatPingCmd
		case "none", "":
		default:
			return 0, fmt.Errorf("heartbeats: unknown form %q (want empty, ping-frame, ping-cmd or none)", name)
		}
	}
	if st.Echo {
		f &^= server.HeartbeatEmptyFrame // echo mode sends every message back, empty ones too
	}
	if f == 0 {
		f = server.HeartbeatNone
	}
	return f, nil
}

func (st settings) serverConfig(log *slog.Logger) (server.Config, error) {
	forms, err := st.heartbeatForms()
	if err != nil {
		return server.Config{}, err
	}
	var secret []byte
	if st.HeartbeatSecret != "" {
		secret = []byte(st.HeartbeatSecret)
	}
	var slow server.SlowPolicy
	switch st.SlowConsumer {
	case "drop":
		slow = server.SlowDrop
	case "close":
		slow = server.SlowClose
	default:
		return server.Config{}, fmt.Errorf("slow-consumer %q: want drop or close", st.SlowConsumer)
	}
	// On the command line 0 means "off"; in server.Config 0 means "default"
	// and negative means off.
	off := func(v float64) float64 {
		if v == 0 {
			return -1
		}
		return v
	}
	if st.PublishRate < 0 || st.PublishBurst < 0 || st.RoomEventsMax < 0 || st.MaxRooms < 1 || st.QueueSize < 1 || st.MaxOutbound < 1 {
		return server.Config{}, errors.New("publish-rate, publish-burst and room-events-max-members must not be negative; max-rooms-per-conn, queue-size and max-outbound-bytes must be positive")
	}
	return server.Config{Addr: st.Addr, Path: st.Path, Logger: log, Tuning: server.Tuning{Loops: st.Loops, MaxConns: st.MaxConns, QueueSize: st.QueueSize, MaxOutboundBytes: st.MaxOutbound, SlowConsumer: slow, NoIOUring: !st.IOUring}, Limits: server.Limits{MaxMessageSize: st.MaxMessageSize, HandshakeTimeout: st.HandshakeTimeout}, Heartbeat: server.Heartbeat{Timeout: st.HeartbeatTimeout, PingInterval: st.PingInterval, Forms: forms, Secret: secret, SignWindow: st.SignWindow, ServerPingInterval: st.ServerPing, MaxMissedPongs: st.MaxMissedPongs, Tick: st.Tick}, Rooms: server.Rooms{PublishRate: off(st.PublishRate), PublishBurst: st.PublishBurst, EventsMaxMembers: int(off(float64(st.RoomEventsMax))), MaxPerConn: st.MaxRooms}}, nil
}

// leaseConfig is the lease table's configuration.
func (st settings) leaseConfig(log *slog.Logger, tick time.Duration) (lease.Config, error) {
	if st.LeaseTimeout <= 0 {
		return lease.Config{}, errors.New("lease-timeout must be positive")
	}
	return lease.Config{Timeout: st.LeaseTimeout, Tick: tick, Require: st.RequireLease, Logger: log}, nil
}

// apiConfig is the HTTP API's configuration.
func (st settings) apiConfig(srv *server.Server, leases *lease.Table, log *slog.Logger) (httpapi.Config, error) {
	if st.MaxAPIBody < 1 {
		return httpapi.Config{}, errors.New("max-api-body-size must be positive")
	}
	return httpapi.Config{
		Server:      srv,
		Leases:      leases,
		APIKey:      st.APIKey,
		EndPoint:    st.EndPoint,
		MaxBodySize: st.MaxAPIBody,
		Metrics:     metrics.Handler(srv, leases),
		Logger:      log,
	}, nil
}

func osEnv(k string) (string, bool) { return os.LookupEnv(k) }
