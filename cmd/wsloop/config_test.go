package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wsloop/wsloop/httpapi"
	"github.com/wsloop/wsloop/lease"
	"github.com/wsloop/wsloop/server"
)

// fileToken in a test case's args, env values or want.Config stands for the
// path of the config file the case writes.
const fileToken = "@FILE"

// mapEnv is an env lookup over a fixed map, so tests never see the real
// environment.
func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// loadCase describes one call of load: an optional config file (its
// contents), the environment and the command line.
type loadCase struct {
	name string
	file string // TOML written to a temporary file when non-empty
	env  map[string]string
	args []string
}

// run writes the case's file, substitutes its path for fileToken and calls
// load. It returns the file's path too ("" when the case has none).
func (c loadCase) run(t *testing.T, out io.Writer) (settings, string, error) {
	t.Helper()
	path := ""
	if c.file != "" {
		path = filepath.Join(t.TempDir(), "wsloop.toml")
		if err := os.WriteFile(path, []byte(c.file), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	subst := func(s string) string { return strings.ReplaceAll(s, fileToken, path) }
	env := make(map[string]string, len(c.env))
	for k, v := range c.env {
		env[k] = subst(v)
	}
	args := make([]string, len(c.args))
	for i, a := range c.args {
		args[i] = subst(a)
	}
	st, err := load(args, mapEnv(env), out)
	return st, path, err
}

func TestLoadDefaults(t *testing.T) {
	st, err := load(nil, mapEnv(nil), io.Discard)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if st != defaults() {
		t.Errorf("load() =\n%+v\nwant defaults()\n%+v", st, defaults())
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{name: "config", got: st.Config, want: ""},
		{name: "addr", got: st.Addr, want: server.DefaultAddr},
		{name: "path", got: st.Path, want: server.DefaultPath},
		{name: "echo", got: st.Echo, want: false},
		{name: "loops", got: st.Loops, want: 0},
		{name: "max-conns", got: st.MaxConns, want: 0},
		{name: "max-message-size", got: st.MaxMessageSize, want: int64(server.DefaultMaxMessageSize)},
		{name: "handshake-timeout", got: st.HandshakeTimeout, want: server.DefaultHandshakeTimeout},
		{name: "heartbeat-timeout", got: st.HeartbeatTimeout, want: server.DefaultHeartbeatTimeout},
		{name: "ping-interval", got: st.PingInterval, want: server.DefaultPingInterval},
		{name: "heartbeats", got: st.Heartbeats, want: "empty,ping-frame,ping-cmd"},
		{name: "heartbeat-secret", got: st.HeartbeatSecret, want: ""},
		{name: "heartbeat-sign-window", got: st.SignWindow, want: server.DefaultHeartbeatSignWindow},
		{name: "server-ping-interval", got: st.ServerPing, want: time.Duration(0)},
		{name: "max-missed-pongs", got: st.MaxMissedPongs, want: server.DefaultMaxMissedPongs},
		{name: "tick", got: st.Tick, want: time.Duration(0)},
		{name: "shutdown-timeout", got: st.ShutdownTimeout, want: 10 * time.Second},
		{name: "log-level", got: st.LogLevel, want: "info"},
		{name: "log-format", got: st.LogFormat, want: "text"},
		{name: "http-addr", got: st.HTTPAddr, want: ":8081"},
		{name: "api-key", got: st.APIKey, want: ""},
		{name: "end-point", got: st.EndPoint, want: ""},
		{name: "lease-timeout", got: st.LeaseTimeout, want: lease.DefaultTimeout},
		{name: "require-lease", got: st.RequireLease, want: false},
		{name: "max-api-body-size", got: st.MaxAPIBody, want: int64(httpapi.DefaultMaxBodySize)},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("default %s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		loadCase
		want func(st *settings) // applied to defaults()
	}{
		{
			loadCase: loadCase{name: "file only", args: []string{"--config", fileToken}, file: `
addr = "127.0.0.1:9000"
path = "/socket"
echo = true
loops = 3
max_conns = 500
max_message_size = 4096
handshake_timeout = "2s"
heartbeat_timeout = "-1s"
ping_interval = "7s"
heartbeats = "ping-frame,ping-cmd"
heartbeat_secret = "s3cret"
heartbeat_sign_window = "30s"
server_ping_interval = "10s"
max_missed_pongs = 4
tick = "250ms"
shutdown_timeout = "1m"
log_level = "debug"
log_format = "json"
http_addr = "127.0.0.1:9001"
api_key = "k3y"
end_point = "wss://chat.example.com/ws"
lease_timeout = "45s"
require_lease = true
max_api_body_size = 2048
`},
			want: func(st *settings) {
				st.Config = fileToken
				st.Addr = "127.0.0.1:9000"
				st.Path = "/socket"
				st.Echo = true
				st.Loops = 3
				st.MaxConns = 500
				st.MaxMessageSize = 4096
				st.HandshakeTimeout = 2 * time.Second
				st.HeartbeatTimeout = -time.Second
				st.PingInterval = 7 * time.Second
				st.Heartbeats = "ping-frame,ping-cmd"
				st.HeartbeatSecret = "s3cret"
				st.SignWindow = 30 * time.Second
				st.ServerPing = 10 * time.Second
				st.MaxMissedPongs = 4
				st.Tick = 250 * time.Millisecond
				st.ShutdownTimeout = time.Minute
				st.LogLevel = "debug"
				st.LogFormat = "json"
				st.HTTPAddr = "127.0.0.1:9001"
				st.APIKey = "k3y"
				st.EndPoint = "wss://chat.example.com/ws"
				st.LeaseTimeout = 45 * time.Second
				st.RequireLease = true
				st.MaxAPIBody = 2048
			},
		},
		{
			loadCase: loadCase{
				name: "env over file",
				file: "max_conns = 5\nloops = 3\ntick = \"2s\"\n",
				env:  map[string]string{"WSLOOP_MAX_CONNS": "7", "WSLOOP_TICK": "3s"},
				args: []string{"--config", fileToken},
			},
			want: func(st *settings) {
				st.Config = fileToken
				st.MaxConns = 7
				st.Loops = 3
				st.Tick = 3 * time.Second
			},
		},
		{
			loadCase: loadCase{
				name: "flag over env over file",
				file: "max_conns = 5\ntick = \"2s\"\npath = \"/file\"\nlog_level = \"warn\"\n",
				env:  map[string]string{"WSLOOP_MAX_CONNS": "7", "WSLOOP_TICK": "3s", "WSLOOP_LOG_LEVEL": "error"},
				args: []string{"--config", fileToken, "--max-conns", "9", "-log-level=debug"},
			},
			want: func(st *settings) {
				st.Config = fileToken
				st.MaxConns = 9
				st.Tick = 3 * time.Second
				st.Path = "/file"
				st.LogLevel = "debug"
			},
		},
		{
			loadCase: loadCase{
				name: "WSLOOP_CONFIG picks the file",
				file: "max_message_size = 123\n",
				env:  map[string]string{"WSLOOP_CONFIG": fileToken},
			},
			want: func(st *settings) {
				st.Config = fileToken
				st.MaxMessageSize = 123
			},
		},
		{
			loadCase: loadCase{
				name: "--config over WSLOOP_CONFIG",
				file: "max_message_size = 123\n",
				env:  map[string]string{"WSLOOP_CONFIG": "/nonexistent/wsloop.toml"},
				args: []string{"--config=" + fileToken},
			},
			want: func(st *settings) {
				st.Config = fileToken
				st.MaxMessageSize = 123
			},
		},
		{
			loadCase: loadCase{
				name: "explicit false flag over true env and file",
				file: "echo = true\n",
				env:  map[string]string{"WSLOOP_CONFIG": fileToken, "WSLOOP_ECHO": "true"},
				args: []string{"--echo=false"},
			},
			want: func(st *settings) {
				st.Config = fileToken
				st.Echo = false
			},
		},
		{
			loadCase: loadCase{
				name: "env only",
				env: map[string]string{
					"WSLOOP_ADDR":              "127.0.0.1:1",
					"WSLOOP_ECHO":              "1",
					"WSLOOP_MAX_MESSAGE_SIZE":  "1000",
					"WSLOOP_SHUTDOWN_TIMEOUT":  "1500ms",
					"WSLOOP_UNRELATED":         "ignored",
					"WSLOOP_API_KEY":           "from-env",
					"WSLOOP_LEASE_TIMEOUT":     "1m",
					"WSLOOP_REQUIRE_LEASE":     "true",
					"WSLOOP_MAX_API_BODY_SIZE": "512",
					"WSLOOP_END_POINT":         "ws://10.1.2.3:8080/ws",
				},
			},
			want: func(st *settings) {
				st.Addr = "127.0.0.1:1"
				st.Echo = true
				st.MaxMessageSize = 1000
				st.ShutdownTimeout = 1500 * time.Millisecond
				st.APIKey = "from-env"
				st.LeaseTimeout = time.Minute
				st.RequireLease = true
				st.MaxAPIBody = 512
				st.EndPoint = "ws://10.1.2.3:8080/ws"
			},
		},
		{
			loadCase: loadCase{
				name: "flags only, last one wins",
				args: []string{"--echo", "--addr", "a:1", "--addr", "b:2", "--heartbeat-timeout", "1m30s"},
			},
			want: func(st *settings) {
				st.Echo = true
				st.Addr = "b:2"
				st.HeartbeatTimeout = 90 * time.Second
			},
		},
		{
			loadCase: loadCase{
				name: "HTTP API flags over env",
				env:  map[string]string{"WSLOOP_API_KEY": "env-key", "WSLOOP_LEASE_TIMEOUT": "1m"},
				args: []string{"--api-key", "flag-key", "--lease-timeout", "10s", "--require-lease", "--max-api-body-size", "100", "--end-point", "wss://x/ws"},
			},
			want: func(st *settings) {
				st.APIKey = "flag-key"
				st.LeaseTimeout = 10 * time.Second
				st.RequireLease = true
				st.MaxAPIBody = 100
				st.EndPoint = "wss://x/ws"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, path, err := tt.run(t, io.Discard)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if want.Config == fileToken {
				want.Config = path
			}
			if st != want {
				t.Errorf("load() =\n%+v\nwant\n%+v", st, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		loadCase
		wantIs   error    // when non-nil, errors.Is(err, wantIs) must hold
		wantText []string // substrings of the error text
		wantOut  string   // substring of what load wrote to out
	}{
		{
			loadCase: loadCase{name: "unknown file key", file: "max_conns = 5\nbogus_key = 1\n", args: []string{"--config", fileToken}},
			wantText: []string{"unknown key", "bogus_key", fileToken},
		},
		{
			loadCase: loadCase{name: "config key in file", file: "config = \"other.toml\"\n", args: []string{"--config", fileToken}},
			wantText: []string{"unknown key", `"config"`},
		},
		{
			loadCase: loadCase{name: "hyphenated file key", file: "max-conns = 5\n", args: []string{"--config", fileToken}},
			wantText: []string{"unknown key", "max-conns"},
		},
		{
			loadCase: loadCase{name: "table in file", file: "[server]\naddr = \":1\"\n", args: []string{"--config", fileToken}},
			wantText: []string{"unknown key", "server"},
		},
		{
			loadCase: loadCase{name: "inline table value in file", file: "addr = {host = \"x\"}\n", args: []string{"--config", fileToken}},
			wantText: []string{"addr", "want a string, number or boolean"},
		},
		{
			loadCase: loadCase{name: "array value in file", file: "heartbeat_secret = [1, 2]\n", args: []string{"--config", fileToken}},
			wantText: []string{"heartbeat_secret", "want a string, number or boolean"},
		},
		{
			loadCase: loadCase{name: "date value in file", file: "path = 1979-05-27\n", args: []string{"--config", fileToken}},
			wantText: []string{"path", "want a string, number or boolean"},
		},
		{
			loadCase: loadCase{name: "bad value in file", file: "max_conns = \"many\"\n", args: []string{"--config", fileToken}},
			wantText: []string{"max_conns", fileToken},
		},
		{
			loadCase: loadCase{name: "bad duration in file", file: "tick = 5\n", args: []string{"--config", fileToken}},
			wantText: []string{"tick", fileToken},
		},
		{
			loadCase: loadCase{name: "malformed file", file: "addr = \n", env: map[string]string{"WSLOOP_CONFIG": fileToken}},
			wantText: []string{fileToken},
		},
		{
			loadCase: loadCase{name: "missing file", args: []string{"--config", "/nonexistent/wsloop.toml"}},
			wantIs:   os.ErrNotExist,
			wantText: []string{"/nonexistent/wsloop.toml"},
		},
		{
			loadCase: loadCase{name: "bad duration in env", env: map[string]string{"WSLOOP_TICK": "soon"}},
			wantText: []string{"WSLOOP_TICK", "soon"},
		},
		{
			loadCase: loadCase{name: "bad int in env", env: map[string]string{"WSLOOP_MAX_CONNS": "lots"}},
			wantText: []string{"WSLOOP_MAX_CONNS", "lots"},
		},
		{
			loadCase: loadCase{name: "bad bool in env", env: map[string]string{"WSLOOP_ECHO": "yes please"}},
			wantText: []string{"WSLOOP_ECHO"},
		},
		{
			loadCase: loadCase{name: "bad lease timeout in env", env: map[string]string{"WSLOOP_LEASE_TIMEOUT": "30"}},
			wantText: []string{"WSLOOP_LEASE_TIMEOUT"},
		},
		{
			loadCase: loadCase{name: "bad body size flag", args: []string{"--max-api-body-size", "64k"}},
			wantText: []string{"max-api-body-size", "64k"},
		},
		{
			loadCase: loadCase{
				name: "bad env value not hidden by a good flag",
				env:  map[string]string{"WSLOOP_HANDSHAKE_TIMEOUT": "x"},
				args: []string{"--handshake-timeout", "1s"},
			},
			wantText: []string{"WSLOOP_HANDSHAKE_TIMEOUT"},
		},
		{
			loadCase: loadCase{name: "bad flag value", args: []string{"--max-conns", "abc"}},
			wantText: []string{"max-conns", "abc"},
			wantOut:  "invalid value",
		},
		{
			loadCase: loadCase{name: "bad duration flag", args: []string{"--shutdown-timeout=later"}},
			wantText: []string{"shutdown-timeout"},
		},
		{
			loadCase: loadCase{name: "undefined flag", args: []string{"--no-such-flag"}},
			wantText: []string{"no-such-flag"},
			wantOut:  "flag provided but not defined",
		},
		{
			loadCase: loadCase{name: "--help", args: []string{"--help"}},
			wantIs:   flag.ErrHelp,
			wantOut:  "-max-message-size",
		},
		{
			loadCase: loadCase{name: "-h", args: []string{"-h"}},
			wantIs:   flag.ErrHelp,
			wantOut:  "-shutdown-timeout",
		},
		{
			loadCase: loadCase{name: "stray positional args", args: []string{"--echo", "extra", "--addr", ":1"}},
			wantText: []string{"unexpected arguments", "extra"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			st, path, err := tt.run(t, &out)
			if err == nil {
				t.Fatalf("load succeeded with %+v; want an error", st)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			for _, s := range tt.wantText {
				s = strings.ReplaceAll(s, fileToken, path)
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output %q does not contain %q", out.String(), tt.wantOut)
			}
			if st != (settings{}) {
				t.Errorf("load returned %+v with its error; want the zero settings", st)
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	tests := []struct {
		flag string
		want string
	}{
		{flag: "addr", want: "WSLOOP_ADDR"},
		{flag: "max-conns", want: "WSLOOP_MAX_CONNS"},
		{flag: "max-message-size", want: "WSLOOP_MAX_MESSAGE_SIZE"},
	}
	for _, tt := range tests {
		if got := envName(tt.flag); got != tt.want {
			t.Errorf("envName(%q) = %q, want %q", tt.flag, got, tt.want)
		}
	}
}

func TestLogger(t *testing.T) {
	tests := []struct {
		name      string
		level     string
		format    string
		wantErr   string // substring; "" means success
		wantLevel slog.Level
		wantJSON  bool
	}{
		{name: "debug text", level: "debug", format: "text", wantLevel: slog.LevelDebug},
		{name: "info json", level: "info", format: "json", wantLevel: slog.LevelInfo, wantJSON: true},
		{name: "warn", level: "warn", format: "text", wantLevel: slog.LevelWarn},
		{name: "error upper case", level: "ERROR", format: "text", wantLevel: slog.LevelError},
		{name: "bad level", level: "verbose", format: "text", wantErr: `log level "verbose"`},
		{name: "empty level", level: "", format: "text", wantErr: "log level"},
		{name: "bad format", level: "info", format: "xml", wantErr: `log format "xml"`},
		{name: "format is case sensitive", level: "info", format: "JSON", wantErr: "log format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := defaults()
			st.LogLevel, st.LogFormat = tt.level, tt.format
			var out bytes.Buffer
			log, err := st.logger(&out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("logger() error = %v, want one containing %q", err, tt.wantErr)
				}
				if log != nil {
					t.Errorf("logger() returned a logger with its error")
				}
				return
			}
			if err != nil {
				t.Fatalf("logger(): %v", err)
			}
			ctx := context.Background()
			if !log.Enabled(ctx, tt.wantLevel) || log.Enabled(ctx, tt.wantLevel-1) {
				t.Errorf("logger enabled at %v: %v, at %v: %v; want the level to be %v",
					tt.wantLevel, log.Enabled(ctx, tt.wantLevel), tt.wantLevel-1, log.Enabled(ctx, tt.wantLevel-1), tt.wantLevel)
			}
			log.Log(ctx, tt.wantLevel, "hello", "k", "v")
			if got := strings.HasPrefix(out.String(), "{"); got != tt.wantJSON {
				t.Errorf("output %q: JSON = %v, want %v", out.String(), got, tt.wantJSON)
			}
			if !strings.Contains(out.String(), "hello") {
				t.Errorf("output %q lacks the message", out.String())
			}
		})
	}
}

func TestServerConfig(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	base := settings{
		Config:           "/etc/wsloop.toml",
		Addr:             "127.0.0.1:9000",
		Path:             "/socket",
		Loops:            3,
		MaxConns:         42,
		MaxMessageSize:   4096,
		HandshakeTimeout: 2 * time.Second,
		HeartbeatTimeout: 3 * time.Second,
		PingInterval:     4 * time.Second,
		SignWindow:       5 * time.Second,
		ServerPing:       6 * time.Second,
		MaxMissedPongs:   7,
		Tick:             8 * time.Millisecond,
		ShutdownTimeout:  9 * time.Second,
		QueueSize:        10,
		MaxOutbound:      11,
		SlowConsumer:     "close",
		IOUring:          true,
		PublishRate:      0, // off
		PublishBurst:     12,
		RoomEventsMax:    13,
		MaxRooms:         14,
		LogLevel:         "debug",
		LogFormat:        "json",
		APIKey:           "key",
		EndPoint:         "wss://chat.example.com/ws",
		LeaseTimeout:     15 * time.Second,
		RequireLease:     true,
		MaxAPIBody:       16,
	}
	const (
		empty = server.HeartbeatEmptyFrame
		frame = server.HeartbeatPingFrame
		cmd   = server.HeartbeatPingCmd
	)
	tests := []struct {
		name       string
		echo       bool
		heartbeats string
		secret     string
		wantForms  server.HeartbeatForm
		wantSecret []byte
		slow       string
		rate       float64
		eventsOff  bool
		noIOUring  bool
		lease      time.Duration // replaces base.LeaseTimeout when non-zero
		body       int64         // replaces base.MaxAPIBody when non-zero
		wantErr    string        // substring; "" means success
	}{
		{name: "json protocol, default forms", heartbeats: "empty,ping-frame,ping-cmd", wantForms: empty | frame | cmd},
		{name: "echo mode drops the empty frame", echo: true, heartbeats: "empty,ping-frame,ping-cmd", wantForms: frame | cmd},
		{name: "echo mode with only empty is none", echo: true, heartbeats: "empty", wantForms: server.HeartbeatNone},
		{name: "spaces around names", heartbeats: " ping-cmd , empty ", wantForms: empty | cmd},
		{name: "none", heartbeats: "none", wantForms: server.HeartbeatNone},
		{name: "empty list is none", heartbeats: "", wantForms: server.HeartbeatNone},
		{name: "secret is copied as bytes", heartbeats: "ping-cmd", secret: "k", wantForms: cmd, wantSecret: []byte("k")},
		{name: "unknown form", heartbeats: "empty,pong", wantErr: `"pong"`},
		{name: "unknown slow-consumer policy", heartbeats: "none", slow: "block", wantErr: `"block"`},
		{name: "negative publish rate", heartbeats: "none", rate: -1, wantErr: "must not be negative"},
		{name: "room events off", heartbeats: "none", wantForms: server.HeartbeatNone, eventsOff: true},
		{name: "io_uring off", heartbeats: "none", wantForms: server.HeartbeatNone, noIOUring: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := base
			st.Echo = tt.echo
			st.Heartbeats = tt.heartbeats
			st.HeartbeatSecret = tt.secret
			if tt.slow != "" {
				st.SlowConsumer = tt.slow
			}
			if tt.rate != 0 {
				st.PublishRate = tt.rate
			}
			if tt.lease != 0 {
				st.LeaseTimeout = tt.lease
			}
			if tt.body != 0 {
				st.MaxAPIBody = tt.body
			}
			st.IOUring = !tt.noIOUring
			wantEvents := 13
			if tt.eventsOff {
				st.RoomEventsMax, wantEvents = 0, -1
			}
			got, err := st.serverConfig(log)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("serverConfig() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("serverConfig(): %v", err)
			}
			want := server.Config{Addr: "127.0.0.1:9000", Path: "/socket", Logger: log, Tuning: server.Tuning{Loops: 3, MaxConns: 42, QueueSize: 10, MaxOutboundBytes: 11, SlowConsumer: server.SlowClose, NoIOUring: tt.noIOUring}, Limits: server.Limits{MaxMessageSize: 4096, HandshakeTimeout: 2 * time.Second}, Heartbeat: server.Heartbeat{Timeout: 3 * time.Second, PingInterval: 4 * time.Second, Forms: tt.wantForms, Secret: tt.wantSecret, SignWindow: 5 * time.Second, ServerPingInterval: 6 * time.Second, MaxMissedPongs: 7, Tick: 8 * time.Millisecond}, Rooms: server.Rooms{PublishRate: -1, PublishBurst: 12, EventsMaxMembers: wantEvents, MaxPerConn: 14}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("serverConfig() =\n%+v\nwant\n%+v", got, want)
			}
			// The empty frame is a heartbeat exactly when not in echo mode
			// (and the form is asked for).
			if isHB := got.Heartbeat.Forms&empty != 0; isHB != (!tt.echo && strings.Contains(tt.heartbeats, "empty")) {
				t.Errorf("empty frame heartbeat = %v with echo = %v", isHB, tt.echo)
			}
		})
	}
}

// TestServerConfigZeroHTTPAPI: on the command line a zero lease timeout
// or body size is an error, not the server's default.
func TestServerConfigZeroHTTPAPI(t *testing.T) {
	st := defaults()
	st.LeaseTimeout = 0
	if _, err := st.leaseConfig(nil, time.Second); err == nil || !strings.Contains(err.Error(), "must be positive") {
		t.Errorf("leaseConfig(lease-timeout 0) error = %v, want must be positive", err)
	}
	st = defaults()
	st.MaxAPIBody = 0
	if _, err := st.apiConfig(nil, nil, nil); err == nil || !strings.Contains(err.Error(), "must be positive") {
		t.Errorf("apiConfig(max-api-body-size 0) error = %v, want must be positive", err)
	}
}

func TestDefaultsMakeAValidServer(t *testing.T) {
	st := defaults()
	log, err := st.logger(io.Discard)
	if err != nil {
		t.Fatalf("logger: %v", err)
	}
	cfg, err := st.serverConfig(log)
	if err != nil {
		t.Fatalf("serverConfig: %v", err)
	}
	if _, err := server.New(cfg, server.NewRouter()); err != nil {
		t.Fatalf("server.New(defaults): %v", err)
	}
}
