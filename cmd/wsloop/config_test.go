package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wsloop/wsloop/httpapi"
	"github.com/wsloop/wsloop/lease"
	"github.com/wsloop/wsloop/server"
)

// fileToken in a test case's args, env values or wanted Config stands for
// the path of the config file the case writes.
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
func (lc loadCase) run(t *testing.T, out io.Writer) (conf, string, error) {
	t.Helper()
	path := ""
	if lc.file != "" {
		path = filepath.Join(t.TempDir(), "wsloop.toml")
		if err := os.WriteFile(path, []byte(lc.file), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	subst := func(s string) string { return strings.ReplaceAll(s, fileToken, path) }
	env := make(map[string]string, len(lc.env))
	for k, v := range lc.env {
		env[k] = subst(v)
	}
	args := make([]string, len(lc.args))
	for i, a := range lc.args {
		args[i] = subst(a)
	}
	c, err := load(args, mapEnv(env), out)
	return c, path, err
}

// TestDefaultsAreTheLibraries: with nothing set, the configs the binary
// hands over are the packages' zero values, so each setting's default is
// the one its package documents; normalized, they are those defaults.
func TestDefaultsAreTheLibraries(t *testing.T) {
	c, err := load(nil, mapEnv(nil), io.Discard)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !reflect.DeepEqual(c, defaults()) {
		t.Fatalf("load() =\n%+v\nwant defaults()\n%+v", c, defaults())
	}
	if !reflect.DeepEqual(c.Server, server.Config{}) || !reflect.DeepEqual(c.Lease, lease.Config{}) || !reflect.DeepEqual(c.API, httpapi.Config{}) {
		t.Fatalf("default configs are not the packages' zero values: %+v %+v %+v", c.Server, c.Lease, c.API)
	}
	if err := c.resolve(slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	srv, leases, _, err := c.build()
	if err != nil {
		t.Fatalf("build(defaults): %v", err)
	}
	defer leases.Stop()
	n := srv.Config()
	for _, tt := range []struct {
		name      string
		got, want any
	}{
		{"addr", n.Addr, server.DefaultAddr},
		{"path", n.Path, server.DefaultPath},
		{"max-message-size", n.Limits.MaxMessageSize, int64(server.DefaultMaxMessageSize)},
		{"handshake-timeout", n.Limits.HandshakeTimeout, server.DefaultHandshakeTimeout},
		{"heartbeat-timeout", n.Heartbeat.Timeout, server.DefaultHeartbeatTimeout},
		{"ping-interval", n.Heartbeat.PingInterval, server.DefaultPingInterval},
		{"heartbeats", n.Heartbeat.Forms, server.HeartbeatAll},
		{"heartbeat-sign-window", n.Heartbeat.SignWindow, server.DefaultHeartbeatSignWindow},
		{"server-ping-interval", n.Heartbeat.ServerPingInterval, time.Duration(0)},
		{"max-missed-pongs", n.Heartbeat.MaxMissedPongs, server.DefaultMaxMissedPongs},
		{"tick", n.Heartbeat.Tick, time.Second},
		{"queue-size", n.Tuning.QueueSize, server.DefaultQueueSize},
		{"max-outbound-bytes", n.Tuning.MaxOutboundBytes, server.DefaultMaxOutboundBytes},
		{"slow-consumer", n.Tuning.SlowConsumer, server.SlowDrop},
		{"io-uring", n.Tuning.NoIOUring, false},
		{"publish-rate", n.Rooms.PublishRate, float64(server.DefaultPublishRate)},
		{"publish-burst", n.Rooms.PublishBurst, 2 * server.DefaultPublishRate},
		{"room-events-max-members", n.Rooms.EventsMaxMembers, server.DefaultRoomEventsMaxMembers},
		{"max-rooms-per-conn", n.Rooms.MaxPerConn, server.DefaultMaxRoomsPerConn},
		{"lease-timeout", leases.Config().Timeout, lease.DefaultTimeout},
		{"require-lease", leases.Config().Require, false},
		{"http-addr", c.HTTPAddr, "127.0.0.1:8081"},
		{"shutdown-timeout", c.ShutdownTimeout, 10 * time.Second},
		{"log-level", c.LogLevel, "info"},
		{"log-format", c.LogFormat, "text"},
	} {
		if tt.got != tt.want {
			t.Errorf("default %s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

// sample returns a value for a setting's field, as flag text, that is not
// its default and that load accepts.
func sample(t *testing.T, s setting, c *conf) string {
	t.Helper()
	switch s.name {
	case "config":
		return ""
	case "slow-consumer":
		return "close"
	case "log-level":
		return "debug"
	case "log-format":
		return "json"
	case "heartbeats":
		return "ping-frame"
	}
	switch p := s.ptr(c).(type) {
	case *string:
		return "x-" + s.name
	case *bool:
		return fmt.Sprint(!*p)
	case *int, *int64:
		return "7"
	case *float64:
		return "2.5"
	case *time.Duration:
		return "3s"
	}
	t.Fatalf("%s: no sample for %T", s.name, s.ptr(c))
	return ""
}

// TestTableDrivesEverything: each row of the table is a flag, an
// environment variable and a config file key, all three setting the same
// field: a setting is declared once.
func TestTableDrivesEverything(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range table {
		if seen[s.name] {
			t.Fatalf("%s declared twice", s.name)
		}
		seen[s.name] = true
		d := defaults()
		v := sample(t, s, &d)
		if v == "" {
			continue
		}
		if err := flagSet(&d, io.Discard).Set(s.name, v); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		want := reflect.ValueOf(s.ptr(&d)).Elem().Interface()
		if def := defaults(); reflect.DeepEqual(want, reflect.ValueOf(s.ptr(&def)).Elem().Interface()) {
			t.Fatalf("%s: sample %q is the default", s.name, v)
		}
		quoted := v
		if _, isString := s.ptr(&d).(*string); isString {
			quoted = fmt.Sprintf("%q", v)
		} else if _, isDur := s.ptr(&d).(*time.Duration); isDur {
			quoted = fmt.Sprintf("%q", v)
		}
		for _, lc := range []loadCase{
			{name: "flag", args: []string{"--" + s.name + "=" + v}},
			{name: "env", env: map[string]string{envName(s.name): v}},
			{name: "file", args: []string{"--config", fileToken}, file: strings.ReplaceAll(s.name, "-", "_") + " = " + quoted + "\n"},
		} {
			c, _, err := lc.run(t, io.Discard)
			if err != nil {
				t.Fatalf("%s by %s: %v", s.name, lc.name, err)
			}
			if got := reflect.ValueOf(s.ptr(&c)).Elem().Interface(); !reflect.DeepEqual(got, want) {
				t.Errorf("%s by %s: field = %v, want %v", s.name, lc.name, got, want)
			}
		}
	}
}

// TestREADMEListsEverySetting: README's flag table has one row per setting,
// with its environment variable, and no other.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `--([a-z-]+)` \\| `(WSLOOP_[A-Z_]+)` \\|")
	var documented []string
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		if m[2] != envName(m[1]) {
			t.Errorf("README: --%s with %s, want %s", m[1], m[2], envName(m[1]))
		}
		documented = append(documented, m[1])
	}
	var declared []string
	for _, s := range table {
		declared = append(declared, s.name)
	}
	sort.Strings(documented)
	sort.Strings(declared)
	if strings.Join(documented, " ") != strings.Join(declared, " ") {
		t.Errorf("README lists\n%v\nthe table declares\n%v", documented, declared)
	}
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		loadCase
		want func(c *conf) // applied to defaults()
	}{
		{
			loadCase: loadCase{
				name: "env over file",
				file: "max_conns = 5\nloops = 3\ntick = \"2s\"\n",
				env:  map[string]string{"WSLOOP_MAX_CONNS": "7", "WSLOOP_TICK": "3s"},
				args: []string{"--config", fileToken},
			},
			want: func(c *conf) {
				c.Config = fileToken
				c.Server.Tuning.MaxConns = 7
				c.Server.Tuning.Loops = 3
				c.Server.Heartbeat.Tick = 3 * time.Second
			},
		},
		{
			loadCase: loadCase{
				name: "flag over env over file",
				file: "max_conns = 5\ntick = \"2s\"\npath = \"/file\"\nlog_level = \"warn\"\n",
				env:  map[string]string{"WSLOOP_MAX_CONNS": "7", "WSLOOP_TICK": "3s", "WSLOOP_LOG_LEVEL": "error"},
				args: []string{"--config", fileToken, "--max-conns", "9", "-log-level=debug"},
			},
			want: func(c *conf) {
				c.Config = fileToken
				c.Server.Tuning.MaxConns = 9
				c.Server.Heartbeat.Tick = 3 * time.Second
				c.Server.Path = "/file"
				c.LogLevel = "debug"
			},
		},
		{
			loadCase: loadCase{name: "WSLOOP_CONFIG picks the file", file: "max_message_size = 123\n", env: map[string]string{"WSLOOP_CONFIG": fileToken}},
			want: func(c *conf) {
				c.Config = fileToken
				c.Server.Limits.MaxMessageSize = 123
			},
		},
		{
			loadCase: loadCase{
				name: "--config over WSLOOP_CONFIG",
				file: "max_message_size = 123\n",
				env:  map[string]string{"WSLOOP_CONFIG": "/nonexistent/wsloop.toml"},
				args: []string{"--config=" + fileToken},
			},
			want: func(c *conf) {
				c.Config = fileToken
				c.Server.Limits.MaxMessageSize = 123
			},
		},
		{
			loadCase: loadCase{
				name: "explicit false flag over true env and file",
				file: "echo = true\n",
				env:  map[string]string{"WSLOOP_CONFIG": fileToken, "WSLOOP_ECHO": "true"},
				args: []string{"--echo=false"},
			},
			want: func(c *conf) { c.Config = fileToken },
		},
		{
			loadCase: loadCase{name: "flags only, last one wins", args: []string{"--echo", "--addr", "a:1", "--addr", "b:2", "--heartbeat-timeout", "1m30s"}},
			want: func(c *conf) {
				c.Echo = true
				c.Server.Addr = "b:2"
				c.Server.Heartbeat.Timeout = 90 * time.Second
			},
		},
		{
			loadCase: loadCase{name: "negative means off where the library says so", args: []string{"--heartbeat-timeout=-1s", "--publish-rate=-1", "--room-events-max-members=-1"}},
			want: func(c *conf) {
				c.Server.Heartbeat.Timeout = -time.Second
				c.Server.Rooms.PublishRate = -1
				c.Server.Rooms.EventsMaxMembers = -1
			},
		},
		{
			loadCase: loadCase{name: "unrelated variables ignored", env: map[string]string{"WSLOOP_UNRELATED": "x", "WSLOOP_API_KEY": "from-env"}},
			want:     func(c *conf) { c.API.APIKey = "from-env" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, path, err := tt.run(t, io.Discard)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if want.Config == fileToken {
				want.Config = path
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("load() =\n%+v\nwant\n%+v", c, want)
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
		{loadCase: loadCase{name: "unknown file key", file: "max_conns = 5\nbogus_key = 1\n", args: []string{"--config", fileToken}}, wantText: []string{"unknown key", "bogus_key", fileToken}},
		{loadCase: loadCase{name: "config key in file", file: "config = \"other.toml\"\n", args: []string{"--config", fileToken}}, wantText: []string{"unknown key", `"config"`}},
		{loadCase: loadCase{name: "hyphenated file key", file: "max-conns = 5\n", args: []string{"--config", fileToken}}, wantText: []string{"unknown key", "max-conns"}},
		{loadCase: loadCase{name: "table in file", file: "[server]\naddr = \":1\"\n", args: []string{"--config", fileToken}}, wantText: []string{"unknown key", "server"}},
		{loadCase: loadCase{name: "inline table value in file", file: "addr = {host = \"x\"}\n", args: []string{"--config", fileToken}}, wantText: []string{"addr", "want a string, number or boolean"}},
		{loadCase: loadCase{name: "array value in file", file: "heartbeat_secret = [1, 2]\n", args: []string{"--config", fileToken}}, wantText: []string{"heartbeat_secret", "want a string, number or boolean"}},
		{loadCase: loadCase{name: "date value in file", file: "path = 1979-05-27\n", args: []string{"--config", fileToken}}, wantText: []string{"path", "want a string, number or boolean"}},
		{loadCase: loadCase{name: "bad value in file", file: "max_conns = \"many\"\n", args: []string{"--config", fileToken}}, wantText: []string{"max_conns", fileToken}},
		{loadCase: loadCase{name: "bad duration in file", file: "tick = 5\n", args: []string{"--config", fileToken}}, wantText: []string{"tick", fileToken}},
		{loadCase: loadCase{name: "malformed file", file: "addr = \n", env: map[string]string{"WSLOOP_CONFIG": fileToken}}, wantText: []string{fileToken}},
		{loadCase: loadCase{name: "missing file", args: []string{"--config", "/nonexistent/wsloop.toml"}}, wantIs: os.ErrNotExist, wantText: []string{"/nonexistent/wsloop.toml"}},
		{loadCase: loadCase{name: "bad duration in env", env: map[string]string{"WSLOOP_TICK": "soon"}}, wantText: []string{"WSLOOP_TICK", "soon"}},
		{loadCase: loadCase{name: "bad int in env", env: map[string]string{"WSLOOP_MAX_CONNS": "lots"}}, wantText: []string{"WSLOOP_MAX_CONNS", "lots"}},
		{loadCase: loadCase{name: "bad bool in env", env: map[string]string{"WSLOOP_ECHO": "yes please"}}, wantText: []string{"WSLOOP_ECHO"}},
		{loadCase: loadCase{name: "bad lease timeout in env", env: map[string]string{"WSLOOP_LEASE_TIMEOUT": "30"}}, wantText: []string{"WSLOOP_LEASE_TIMEOUT"}},
		{loadCase: loadCase{name: "bad body size flag", args: []string{"--max-api-body-size", "64k"}}, wantText: []string{"max-api-body-size", "64k"}},
		{loadCase: loadCase{name: "negative where it is not off", args: []string{"--queue-size=-1", "--lease-timeout=-1s"}}, wantText: []string{"queue-size: -1 must not be negative", "lease-timeout: -1s must not be negative"}},
		{loadCase: loadCase{name: "negative in the file", file: "max_outbound_bytes = -5\n", args: []string{"--config", fileToken}}, wantText: []string{"max-outbound-bytes: -5 must not be negative"}},
		{
			loadCase: loadCase{name: "bad env value not hidden by a good flag", env: map[string]string{"WSLOOP_HANDSHAKE_TIMEOUT": "x"}, args: []string{"--handshake-timeout", "1s"}},
			wantText: []string{"WSLOOP_HANDSHAKE_TIMEOUT"},
		},
		{loadCase: loadCase{name: "bad flag value", args: []string{"--max-conns", "abc"}}, wantText: []string{"max-conns", "abc"}, wantOut: "invalid value"},
		{loadCase: loadCase{name: "bad duration flag", args: []string{"--shutdown-timeout=later"}}, wantText: []string{"shutdown-timeout"}},
		{loadCase: loadCase{name: "undefined flag", args: []string{"--no-such-flag"}}, wantText: []string{"no-such-flag"}, wantOut: "flag provided but not defined"},
		{loadCase: loadCase{name: "--help", args: []string{"--help"}}, wantIs: flag.ErrHelp, wantOut: "-max-message-size"},
		{loadCase: loadCase{name: "-h", args: []string{"-h"}}, wantIs: flag.ErrHelp, wantOut: "-shutdown-timeout"},
		{loadCase: loadCase{name: "stray positional args", args: []string{"--echo", "extra", "--addr", ":1"}}, wantText: []string{"unexpected arguments", "extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			c, path, err := tt.run(t, &out)
			if err == nil {
				t.Fatalf("load succeeded with %+v; want an error", c)
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
			if !reflect.DeepEqual(c, conf{}) {
				t.Errorf("load returned %+v with its error; want the zero conf", c)
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{"addr": "WSLOOP_ADDR", "max-conns": "WSLOOP_MAX_CONNS", "max-message-size": "WSLOOP_MAX_MESSAGE_SIZE"} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
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
			c := defaults()
			c.LogLevel, c.LogFormat = tt.level, tt.format
			var out bytes.Buffer
			log, err := c.logger(&out)
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

// TestResolve: the settings the binary turns into config values.
func TestResolve(t *testing.T) {
	const (
		empty = server.HeartbeatEmptyFrame
		frame = server.HeartbeatPingFrame
		cmd   = server.HeartbeatPingCmd
	)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name       string
		echo       bool
		heartbeats string
		secret     string
		slow       string
		ioURing    bool
		wantForms  server.HeartbeatForm
		wantSecret []byte
		wantSlow   server.SlowPolicy
		wantErr    string // substring; "" means success
	}{
		{name: "json protocol, default forms", heartbeats: "empty,ping-frame,ping-cmd", slow: "drop", ioURing: true, wantForms: empty | frame | cmd},
		{name: "echo mode drops the empty frame", echo: true, heartbeats: "empty,ping-frame,ping-cmd", slow: "drop", wantForms: frame | cmd},
		{name: "echo mode with only empty is none", echo: true, heartbeats: "empty", slow: "drop", wantForms: server.HeartbeatNone},
		{name: "spaces around names", heartbeats: " ping-cmd , empty ", slow: "drop", wantForms: empty | cmd},
		{name: "none", heartbeats: "none", slow: "close", wantForms: server.HeartbeatNone, wantSlow: server.SlowClose},
		{name: "empty list is none", heartbeats: "", slow: "drop", wantForms: server.HeartbeatNone},
		{name: "secret is copied as bytes", heartbeats: "ping-cmd", secret: "k", slow: "drop", wantForms: cmd, wantSecret: []byte("k")},
		{name: "unknown form", heartbeats: "empty,pong", slow: "drop", wantErr: `"pong"`},
		{name: "unknown slow-consumer policy", heartbeats: "none", slow: "block", wantErr: `"block"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaults()
			c.Echo, c.Heartbeats, c.HeartbeatSecret, c.SlowConsumer, c.IOUring = tt.echo, tt.heartbeats, tt.secret, tt.slow, tt.ioURing
			err := c.resolve(log)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolve() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			h := c.Server.Heartbeat
			if h.Forms != tt.wantForms || !bytes.Equal(h.Secret, tt.wantSecret) || c.Server.Tuning.SlowConsumer != tt.wantSlow ||
				c.Server.Tuning.NoIOUring == tt.ioURing || c.Server.Logger != log || c.Lease.Logger != log || c.API.Logger != log {
				t.Errorf("resolve() = %+v %+v", c.Server.Heartbeat, c.Server.Tuning)
			}
		})
	}
}
