package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/wsloop/wsloop/auth"
	"github.com/wsloop/wsloop/cluster"
	"github.com/wsloop/wsloop/httpapi"
	"github.com/wsloop/wsloop/lease"
	"github.com/wsloop/wsloop/server"
)

// conf is everything the binary can be told: the packages' configs, which
// the table fills in directly, and the few settings that are the binary's
// own (or that it turns into a config value: heartbeat forms, the
// slow-consumer policy by name, io_uring as a positive switch).
type conf struct {
	Server  server.Config
	Lease   lease.Config
	API     httpapi.Config
	Cluster cluster.Config
	Auth    auth.Config

	Config          string // the TOML file
	HTTPAddr        string
	APIInsecure     bool
	Echo            bool
	Heartbeats      string
	HeartbeatSecret string
	JWTSecret       string
	JWTPublicKey    string // a PEM file
	ClientSend      string // any, auth or none
	AllowedOrigins  string // comma-separated
	Compression     string // off or on
	TrustedProxies  string // comma-separated CIDRs or addresses
	SIDAddressing   bool
	SlowConsumer    string
	IOUring         bool
	ShutdownTimeout time.Duration
	LogLevel        string
	LogFormat       string
}

// setting is one row of the table: the flag --name, the environment
// variable WSLOOP_NAME (envName) and the config file key name_with_underscores
// all set the field that ptr returns. The flag's type is the field's.
// Zero means what it means in the package that owns the field (its
// documented default); negative means "off" exactly where that package
// says so (off), and is refused elsewhere.
type setting struct {
	name  string
	usage string
	ptr   func(c *conf) any
	off   bool // a negative value is allowed: off, or a value the library gives (compression-level -1, -2)
}

// table is every setting, declared once. README's flag table lists the
// same rows (TestREADMEListsEverySetting).
var table = []setting{
	{"config", "TOML config file (keys are the flag names with '_' for '-')", func(c *conf) any { return &c.Config }, false},
	{"addr", "WebSocket listen address (0: :8080)", func(c *conf) any { return &c.Server.Addr }, false},
	{"path", "WebSocket endpoint path (0: /ws)", func(c *conf) any { return &c.Server.Path }, false},
	{"http-addr", "address of the HTTP API: /api/..., /metrics, /healthz, /readyz (empty disables); a non-loopback address needs --api-key", func(c *conf) any { return &c.HTTPAddr }, false},
	{"api-key", "bearer key every /api/ endpoint but the end point requires (Authorization: Bearer <key>); prefer WSLOOP_API_KEY, flags show in ps", func(c *conf) any { return &c.API.APIKey }, false},
	{"api-insecure", "serve the HTTP API on a non-loopback --http-addr without --api-key: anyone who reaches it may publish, start leases and disconnect users", func(c *conf) any { return &c.APIInsecure }, false},
	{"end-point", "public WebSocket URL handed out by the HTTP API, e.g. wss://chat.example.com/ws (empty: derived from --addr)", func(c *conf) any { return &c.API.EndPoint }, false},
	{"lease-timeout", "a session lease not heartbeated this long expires and closes its connections (0: 30s)", func(c *conf) any { return &c.Lease.Timeout }, false},
	{"require-lease", "refuse WebSocket connections without the auth_body of a session lease (close 1008)", func(c *conf) any { return &c.Lease.Require }, false},
	{"jwt-secret", "HS256 secret of connection tokens (JWT); prefer WSLOOP_JWT_SECRET, flags show in ps", func(c *conf) any { return &c.JWTSecret }, false},
	{"jwt-public-key", "PEM file of the public key of connection tokens: RSA (RS256), ECDSA P-256 (ES256) or Ed25519 (EdDSA)", func(c *conf) any { return &c.JWTPublicKey }, false},
	{"jwt-issuer", "if set, a token's iss must be this", func(c *conf) any { return &c.Auth.Issuer }, false},
	{"jwt-audience", "if set, a token's aud must include this", func(c *conf) any { return &c.Auth.Audience }, false},
	{"require-auth", "refuse WebSocket connections without a valid token (close 1008)", func(c *conf) any { return &c.Auth.Require }, false},
	{"max-api-body-size", "largest HTTP API request body in bytes, 413 above it (0: 65536)", func(c *conf) any { return &c.API.MaxBodySize }, false},
	{"nats-url", "NATS server(s) joining this node to a cluster, e.g. nats://10.0.0.1:4222 (empty: a single node)", func(c *conf) any { return &c.Cluster.URL }, false},
	{"node-name", "this node's name in the cluster, unique (empty: host name and --addr's port)", func(c *conf) any { return &c.Cluster.Name }, false},
	{"cluster-prefix", "first token of the cluster's NATS subjects and of its lease bucket, equal on every node (empty: wsloop)", func(c *conf) any { return &c.Cluster.Prefix }, false},
	{"presence-timeout", "how long a cluster-wide presence query waits for the other nodes (0: 200ms)", func(c *conf) any { return &c.Cluster.PresenceTimeout }, false},
	{"echo", "echo mode: send every data message back verbatim, no JSON protocol", func(c *conf) any { return &c.Echo }, false},
	{"loops", "event loops (0: one per CPU)", func(c *conf) any { return &c.Server.Tuning.Loops }, false},
	{"max-conns", "maximum connections held (0: RLIMIT_NOFILE minus 100)", func(c *conf) any { return &c.Server.Tuning.MaxConns }, false},
	{"max-message-size", "maximum frame and message size in bytes, close 1009 above it (0: 65536)", func(c *conf) any { return &c.Server.Limits.MaxMessageSize }, false},
	{"handshake-timeout", "close connections whose upgrade request is not complete in time (0: 5s)", func(c *conf) any { return &c.Server.Limits.HandshakeTimeout }, false},
	{"heartbeat-timeout", "close connections silent for this long (0: 20s; negative: never)", func(c *conf) any { return &c.Server.Heartbeat.Timeout }, true},
	{"ping-interval", "ping interval clients are told to use (0: 15s)", func(c *conf) any { return &c.Server.Heartbeat.PingInterval }, false},
	{"heartbeats", "heartbeat forms that refresh liveness: any of empty, ping-frame, ping-cmd, comma-separated, or none (echo mode never treats empty messages as heartbeats)", func(c *conf) any { return &c.Heartbeats }, false},
	{"heartbeat-secret", "if set, welcome carries an online_token and the ping command must carry sign = hex(HMAC-SHA256(secret, online_token.sid.timestamp)) with a timestamp newer than the last", func(c *conf) any { return &c.HeartbeatSecret }, false},
	{"heartbeat-sign-window", "how far a signed ping's timestamp may be from the server clock (0: 60s)", func(c *conf) any { return &c.Server.Heartbeat.SignWindow }, false},
	{"server-ping-interval", "send Ping frames to clients silent this long (0: off)", func(c *conf) any { return &c.Server.Heartbeat.ServerPingInterval }, false},
	{"max-missed-pongs", "close after this many unanswered server Pings (0: 2)", func(c *conf) any { return &c.Server.Heartbeat.MaxMissedPongs }, false},
	{"tick", "timing wheel resolution: timeouts fire within one tick after they are due (0: heartbeat-timeout/8, within 10ms..1s)", func(c *conf) any { return &c.Server.Heartbeat.Tick }, false},
	{"queue-size", "capacity of each event loop's job ring (room fan-out, pushes); a full ring answers 503 (0: 8192)", func(c *conf) any { return &c.Server.Tuning.QueueSize }, false},
	{"max-outbound-bytes", "unsent bytes held per connection before the slow-consumer policy applies (0: 4194304)", func(c *conf) any { return &c.Server.Tuning.MaxOutboundBytes }, false},
	{"slow-consumer", "policy at max-outbound-bytes: drop (room frames dropped and counted) or close (1013)", func(c *conf) any { return &c.SlowConsumer }, false},
	{"io-uring", "send the output of many connections with one io_uring submission where the kernel allows it (false: one send per connection)", func(c *conf) any { return &c.IOUring }, false},
	{"publish-rate", "publish and send commands per second per connection, 429 above it (0: 50; negative: no limit)", func(c *conf) any { return &c.Server.Rooms.PublishRate }, true},
	{"publish-burst", "publish and send commands a connection may issue at once (0: twice the rate)", func(c *conf) any { return &c.Server.Rooms.PublishBurst }, false},
	{"room-events-max-members", "send enter_room/exit_room only while a room has at most this many connections (0: 1000; negative: never)", func(c *conf) any { return &c.Server.Rooms.EventsMaxMembers }, true},
	{"client-send", "who may use the send command: any, auth (authenticated connections) or none; per-namespace rules are in the config file (README \"Permissions\")", func(c *conf) any { return &c.ClientSend }, false},
	{"sid-addressing", "clients may address a session by its session id in send and ptp (false: only users)", func(c *conf) any { return &c.SIDAddressing }, false},
	{"compression", "permessage-deflate: off or on (negotiated with clients that offer it, no context takeover)", func(c *conf) any { return &c.Compression }, false},
	{"compression-min-size", "messages shorter than this many bytes go uncompressed (0: 128)", func(c *conf) any { return &c.Server.Compression.MinSize }, false},
	{"compression-level", "deflate level: 1 (fastest) to 9 (smallest), -1 for 6, -2 Huffman only (0: 3)", func(c *conf) any { return &c.Server.Compression.Level }, true},
	{"tls-cert", "PEM certificate chain: serve wss:// on --addr (TLS 1.2 and 1.3); re-read with --tls-key on SIGHUP, open connections kept", func(c *conf) any { return &c.Server.TLS.CertFile }, false},
	{"tls-key", "PEM private key of --tls-cert", func(c *conf) any { return &c.Server.TLS.KeyFile }, false},
	{"tls-max-handshakes", "TLS handshakes in progress at once; connections past it are closed at accept (0: 4096)", func(c *conf) any { return &c.Server.TLS.MaxHandshakes }, false},
	{"proxy-protocol", "every connection on --addr starts with a PROXY protocol header (v1 or v2) from one of --trusted-proxies, giving the client's address", func(c *conf) any { return &c.Server.Proxies.Protocol }, false},
	{"trusted-proxies", "proxies believed, comma-separated CIDRs or addresses: senders of PROXY headers, and X-Forwarded-For / X-Real-IP on upgrade requests from them", func(c *conf) any { return &c.TrustedProxies }, false},
	{"allowed-origins", "origins browsers may connect from, comma-separated: https://app.example.com or https://*.example.com (empty: any); another Origin gets 403", func(c *conf) any { return &c.AllowedOrigins }, false},
	{"max-conns-per-ip", "WebSocket connections held per client IP address, 429 above it (0: no bound)", func(c *conf) any { return &c.Server.Limits.MaxConnsPerIP }, false},
	{"handshake-rate-per-ip", "upgrade requests per second per client IP address (bursts of twice that), 429 with Retry-After above it (0: no bound)", func(c *conf) any { return &c.Server.Limits.HandshakeRatePerIP }, false},
	{"max-rooms-per-conn", "rooms one connection may be in, 403 above it (0: 64)", func(c *conf) any { return &c.Server.Rooms.MaxPerConn }, false},
	{"shutdown-timeout", "how long a graceful shutdown waits for clients to close", func(c *conf) any { return &c.ShutdownTimeout }, false},
	{"log-level", "log level: debug, info, warn or error", func(c *conf) any { return &c.LogLevel }, false},
	{"log-format", "log format: text or json", func(c *conf) any { return &c.LogFormat }, false},
}

// defaults is where loading starts: the packages' zero configs (their
// documented defaults) and the binary's own defaults.
func defaults() conf {
	return conf{
		HTTPAddr:        "127.0.0.1:8081",
		Heartbeats:      "empty,ping-frame,ping-cmd",
		SlowConsumer:    "drop",
		IOUring:         true,
		ClientSend:      "any",
		Compression:     "off",
		SIDAddressing:   true,
		ShutdownTimeout: 10 * time.Second,
		LogLevel:        "info",
		LogFormat:       "text",
	}
}

// flagSet declares every row of the table on a fresh FlagSet bound to c.
func flagSet(c *conf, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("wsloop", flag.ContinueOnError)
	fs.SetOutput(out)
	for _, s := range table {
		switch p := s.ptr(c).(type) {
		case *string:
			fs.StringVar(p, s.name, *p, s.usage)
		case *bool:
			fs.BoolVar(p, s.name, *p, s.usage)
		case *int:
			fs.IntVar(p, s.name, *p, s.usage)
		case *int64:
			fs.Int64Var(p, s.name, *p, s.usage)
		case *float64:
			fs.Float64Var(p, s.name, *p, s.usage)
		case *time.Duration:
			fs.DurationVar(p, s.name, *p, s.usage)
		default:
			panic(fmt.Sprintf("setting %s: field of type %T", s.name, p))
		}
	}
	return fs
}

// envName is the environment variable for a flag: WSLOOP_MAX_CONNS.
func envName(flagName string) string {
	return "WSLOOP_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// load resolves the settings from, lowest precedence first: built-in
// defaults, the config file (--config or WSLOOP_CONFIG), WSLOOP_*
// environment variables, and command-line flags.
func load(args []string, env func(string) (string, bool), out io.Writer) (conf, error) {
	// First pass: which flags were given, and where the config file is.
	probe := defaults()
	fs := flagSet(&probe, out)
	if err := fs.Parse(args); err != nil {
		return conf{}, err
	}
	if fs.NArg() > 0 {
		return conf{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	explicit := map[string]string{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = f.Value.String() })

	c := defaults()
	final := flagSet(&c, out)
	path := probe.Config
	if _, ok := explicit["config"]; !ok {
		if v, ok := env(envName("config")); ok {
			path = v
		}
	}
	if path != "" {
		if err := applyFile(&c, final, path); err != nil {
			return conf{}, err
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
		return conf{}, errors.Join(errs...)
	}
	for name, v := range explicit {
		if err := final.Set(name, v); err != nil {
			return conf{}, fmt.Errorf("-%s: %v", name, err)
		}
	}
	c.Config = path
	if err := c.checkNegatives(); err != nil {
		return conf{}, err
	}
	return c, nil
}

// checkNegatives refuses a negative number where it does not mean "off".
func (c *conf) checkNegatives() error {
	var errs []error
	for _, s := range table {
		v := reflect.ValueOf(s.ptr(c)).Elem()
		negative := false
		switch v.Kind() {
		case reflect.Int, reflect.Int64:
			negative = v.Int() < 0
		case reflect.Float64:
			negative = v.Float() < 0
		}
		if negative && !s.off {
			errs = append(errs, fmt.Errorf("%s: %v must not be negative", s.name, v.Interface()))
		}
	}
	return errors.Join(errs...)
}

// applyFile sets flags from a TOML file, and the namespaces (tables
// [default_namespace] and [namespaces.<name>], which only the file can
// hold); unknown keys are an error.
func applyFile(c *conf, fs *flag.FlagSet, path string) error {
	var m map[string]any
	if _, err := toml.DecodeFile(path, &m); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.namespacesFrom(path); err != nil {
		return err
	}
	delete(m, "namespaces")
	delete(m, "default_namespace")
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

// namespaceFile is one namespace's table in the config file.
type namespaceFile struct {
	Join       string `toml:"join"`
	Publish    string `toml:"publish"`
	Members    string `toml:"members"`
	RoomEvents *bool  `toml:"room_events"`
	ShowSIDs   bool   `toml:"show_sids"`
}

// namespacesFrom reads [default_namespace] and [namespaces.<name>] into
// c.Server.Policy.
func (c *conf) namespacesFrom(path string) error {
	var f struct {
		Default    *namespaceFile           `toml:"default_namespace"`
		Namespaces map[string]namespaceFile `toml:"namespaces"`
	}
	md, err := toml.DecodeFile(path, &f)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	for _, k := range md.Undecoded() {
		if top := k[0]; (top == "namespaces" || top == "default_namespace") && len(k) > 1 {
			field := k[len(k)-1]
			switch field {
			case "join", "publish", "members", "room_events", "show_sids":
			default:
				return fmt.Errorf("config %s: %s: unknown key %q (want join, publish, members, room_events, show_sids)", path, k.String(), field)
			}
		}
	}
	convert := func(where string, nf namespaceFile) (server.Namespace, error) {
		var n server.Namespace
		var err error
		for _, r := range []struct {
			name string
			text string
			dst  *server.Access
		}{{"join", nf.Join, &n.Join}, {"publish", nf.Publish, &n.Publish}, {"members", nf.Members, &n.Members}} {
			if r.text == "" {
				continue
			}
			if *r.dst, err = server.ParseAccess(r.text); err != nil {
				return n, fmt.Errorf("config %s: %s.%s: %v", path, where, r.name, err)
			}
		}
		n.NoEvents = nf.RoomEvents != nil && !*nf.RoomEvents
		n.ShowSIDs = nf.ShowSIDs
		return n, nil
	}
	if f.Default != nil {
		n, err := convert("default_namespace", *f.Default)
		if err != nil {
			return err
		}
		c.Server.Policy.Default = n
	}
	if len(f.Namespaces) > 0 {
		c.Server.Policy.Namespaces = make(map[string]server.Namespace, len(f.Namespaces))
		for name, nf := range f.Namespaces {
			n, err := convert("namespaces."+name, nf)
			if err != nil {
				return err
			}
			c.Server.Policy.Namespaces[name] = n
		}
	}
	return nil
}

func (c *conf) logger(out io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(out, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(out, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", c.LogFormat)
}

// heartbeatForms parses --heartbeats.
func (c *conf) heartbeatForms() (server.HeartbeatForm, error) {
	var f server.HeartbeatForm
	for _, name := range strings.Split(c.Heartbeats, ",") {
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
	if c.Echo {
		f &^= server.HeartbeatEmptyFrame // echo mode sends every message back, empty ones too
	}
	if f == 0 {
		f = server.HeartbeatNone
	}
	return f, nil
}

// resolve fills in the config values the binary derives from its own
// settings (heartbeat forms, the secret, the slow-consumer policy,
// io_uring) and the logger of every package.
func (c *conf) resolve(log *slog.Logger) error {
	forms, err := c.heartbeatForms()
	if err != nil {
		return err
	}
	c.Server.Heartbeat.Forms = forms
	c.Server.Heartbeat.Secret = nil
	if c.HeartbeatSecret != "" {
		c.Server.Heartbeat.Secret = []byte(c.HeartbeatSecret)
	}
	switch c.SlowConsumer {
	case "drop":
		c.Server.Tuning.SlowConsumer = server.SlowDrop
	case "close":
		c.Server.Tuning.SlowConsumer = server.SlowClose
	default:
		return fmt.Errorf("slow-consumer %q: want drop or close", c.SlowConsumer)
	}
	c.Server.Tuning.NoIOUring = !c.IOUring
	if c.HTTPAddr != "" && c.API.APIKey == "" && !c.APIInsecure && !loopbackOnly(c.HTTPAddr) {
		return fmt.Errorf("http-addr %q takes connections from other machines and there is no --api-key: anyone who reaches it could publish, start leases and disconnect users. Set --api-key (WSLOOP_API_KEY), listen on a loopback address (127.0.0.1:8081), or pass --api-insecure", c.HTTPAddr)
	}
	c.Server.Logger, c.Lease.Logger, c.API.Logger, c.Cluster.Logger, c.Auth.Logger = log, log, log, log, log
	c.Auth.Secret, c.Auth.PublicKey = nil, nil
	if c.JWTSecret != "" {
		c.Auth.Secret = []byte(c.JWTSecret)
	}
	if c.JWTPublicKey != "" {
		b, err := os.ReadFile(c.JWTPublicKey)
		if err != nil {
			return fmt.Errorf("jwt-public-key: %w", err)
		}
		if c.Auth.PublicKey, err = auth.ParsePublicKey(b); err != nil {
			return fmt.Errorf("jwt-public-key %s: %w", c.JWTPublicKey, err)
		}
	}
	send, err := server.ParseAccess(c.ClientSend)
	if err != nil || (send != server.AccessAny && send != server.AccessAuth && send != server.AccessNone) {
		return fmt.Errorf("client-send %q: want any, auth or none", c.ClientSend)
	}
	c.Server.Policy.Send = send
	switch c.Compression {
	case "off":
		c.Server.Compression.Enabled = false
	case "on":
		c.Server.Compression.Enabled = true
	default:
		return fmt.Errorf("compression %q: want off or on", c.Compression)
	}
	c.Server.Proxies.Trusted = nil
	for _, p := range strings.Split(c.TrustedProxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return fmt.Errorf("trusted-proxies %q: want CIDRs or addresses, e.g. 10.0.0.0/8,192.0.2.7", p)
			}
			prefix = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}
		c.Server.Proxies.Trusted = append(c.Server.Proxies.Trusted, prefix.Masked())
	}
	c.Server.Limits.AllowedOrigins = nil
	for _, o := range strings.Split(c.AllowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.Server.Limits.AllowedOrigins = append(c.Server.Limits.AllowedOrigins, o)
		}
	}
	c.Server.Policy.NoSIDAddress = !c.SIDAddressing
	if c.Auth.Require && !c.tokens() {
		return errors.New("require-auth needs --jwt-secret or --jwt-public-key to check tokens with")
	}
	if c.Cluster.URL != "" && c.Cluster.Name == "" {
		c.Cluster.Name = defaultNodeName(c.Server.Addr)
	}
	return nil
}

// posture logs, at start, who may connect and do what: the settings that
// make a server safe to expose, and a warning for what is open to anyone.
func (c *conf) posture(log *slog.Logger) {
	tokens := "off"
	switch {
	case c.Auth.Secret != nil && c.Auth.PublicKey != nil:
		tokens = "secret and public key"
	case c.Auth.Secret != nil:
		tokens = "secret (HS256)"
	case c.Auth.PublicKey != nil:
		tokens = "public key"
	}
	pol := &c.Server.Policy
	var open []string // namespaces where any client may join and publish
	if pol.Default.Join == server.AccessAny && pol.Default.Publish == server.AccessAny {
		open = append(open, "(default)")
	}
	names := make([]string, 0, len(pol.Namespaces))
	for name := range pol.Namespaces {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if n := pol.Namespaces[name]; n.Join == server.AccessAny && n.Publish == server.AccessAny {
			open = append(open, name)
		}
	}
	log.Info("security posture", "tokens", tokens, "require_auth", c.Auth.Require, "require_lease", c.Lease.Require,
		"api_key", c.API.APIKey != "", "http_addr", c.HTTPAddr, "client_send", c.ClientSend, "sid_addressing", c.SIDAddressing,
		"namespaces", len(names), "open_namespaces", strings.Join(open, ","))
	if !c.Auth.Require && !c.Lease.Require && len(open) > 0 {
		log.Warn("any client may connect, and join and publish in these namespaces: see README \"Production checklist\"", "open_namespaces", strings.Join(open, ","))
	}
}

// tokens reports whether connection tokens are configured.
func (c *conf) tokens() bool { return c.Auth.Secret != nil || c.Auth.PublicKey != nil }

// loopbackOnly reports whether a listen address takes only local
// connections: a loopback IP, or a name all of whose addresses are
// loopback ("localhost"). An empty host (":8081") means every interface.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}

// defaultNodeName is the host name and the port of addr: unique as long as
// no two nodes on one host listen on the same port.
func defaultNodeName(addr string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "wsloop"
	}
	if addr == "" {
		addr = server.DefaultAddr
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		port = "8080"
	}
	return host + ":" + port
}

func osEnv(k string) (string, bool) { return os.LookupEnv(k) }
