// Command voiceroom is a voice-room application on wsloop: mic seats,
// topic messages, gifts to the room or to one person, 1:1 calls, and
// exit_room when someone's connection dies, with a web page to use it.
//
//	go run ./examples/voiceroom          # then open http://localhost:8000/
//
// It is built only on what the library exports: a server.Router with the
// voice-room commands, auth (connection tokens) for login, signed pings,
// and the server's publish calls. See README.md beside this file.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wsloop/wsloop/auth"
	"github.com/wsloop/wsloop/clock"
	"github.com/wsloop/wsloop/httpapi"
	"github.com/wsloop/wsloop/server"
)

// config is the application's settings; zero values mean the defaults of
// the voice-room protocol.
type config struct {
	Addr       string // WebSocket, default :8080
	WebAddr    string // web page and API, default :8000
	JWTSecret  []byte // signs login tokens; default random
	PingSecret []byte // signs heartbeats; default random
	// HeartbeatTimeout, PingInterval and Tick: 20 s, 15 s and the
	// server's default when zero.
	HeartbeatTimeout time.Duration
	PingInterval     time.Duration
	Tick             time.Duration
	TokenTTL         time.Duration // default 24 h
	Clock            clock.Clock
	Logger           *slog.Logger
}

// voiceroom is the running application.
type voiceroom struct {
	cfg   config
	app   *app
	srv   *server.Server
	web   *http.Server
	webLn net.Listener
	done  chan error
}

// start listens on both addresses and serves.
func start(cfg config) (*voiceroom, error) {
	if cfg.Addr == "" {
		cfg.Addr = ":8080"
	}
	if cfg.WebAddr == "" {
		cfg.WebAddr = ":8000"
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = 20 * time.Second
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 15 * time.Second
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = 24 * time.Hour
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for _, s := range []*[]byte{&cfg.JWTSecret, &cfg.PingSecret} {
		if len(*s) == 0 {
			*s = randomSecret()
		}
	}
	verifier, err := auth.New(auth.Config{Secret: cfg.JWTSecret, Require: true, Clock: cfg.Clock, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	router := server.NewRouter()
	a := &app{log: cfg.Logger}
	a.install(router)
	verifier.Install(router) // the refresh command
	srv, err := server.New(server.Config{
		Addr:  cfg.Addr,
		Clock: cfg.Clock,
		Heartbeat: server.Heartbeat{
			Timeout:      cfg.HeartbeatTimeout,
			PingInterval: cfg.PingInterval,
			Tick:         cfg.Tick,
			Secret:       cfg.PingSecret,
		},
		// Chat JSON compresses well; browsers offer permessage-deflate.
		Compression: server.Compression{Enabled: true},
		// The voice-room protocol has its own enter_room and exit_room
		// events: the library's are off.
		Policy: server.Policy{Default: server.Namespace{NoEvents: true}},
		Logger: cfg.Logger,
	}, verifier.Wrap(router))
	if err != nil {
		return nil, err
	}
	a.srv = srv
	plain, err := httpapi.PlainEndPoint(srv, "")
	if err != nil {
		return nil, err
	}
	srv.HandlePlain(plain)
	if err := srv.Listen(); err != nil {
		return nil, err
	}
	v := &voiceroom{cfg: cfg, app: a, srv: srv, done: make(chan error, 2)}
	handler, err := v.routes()
	if err != nil {
		return nil, err
	}
	if v.webLn, err = net.Listen("tcp", cfg.WebAddr); err != nil {
		_ = srv.Shutdown(context.Background())
		return nil, err
	}
	v.web = &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() { v.done <- srv.Serve() }()
	go func() { v.done <- v.web.Serve(v.webLn) }()
	<-srv.Ready()
	return v, nil
}

// shutdown stops the web server and the WebSocket server (clients get
// 1001).
func (v *voiceroom) shutdown(ctx context.Context) error {
	_ = v.web.Shutdown(ctx)
	return v.srv.Shutdown(ctx)
}

func randomSecret() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return []byte(hex.EncodeToString(b))
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("voiceroom", flag.ContinueOnError)
	fs.SetOutput(out)
	cfg := config{}
	fs.StringVar(&cfg.Addr, "addr", ":8080", "WebSocket listen address")
	fs.StringVar(&cfg.WebAddr, "web-addr", ":8000", "web page and API listen address")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg.JWTSecret = []byte(os.Getenv("VOICEROOM_JWT_SECRET"))
	cfg.PingSecret = []byte(os.Getenv("VOICEROOM_HEARTBEAT_SECRET"))
	cfg.Logger = slog.New(slog.NewTextHandler(out, nil))
	v, err := start(cfg)
	if err != nil {
		fmt.Fprintln(out, "voiceroom:", err)
		return 1
	}
	cfg.Logger.Info("voice room serving", "page", "http://"+hostPort(v.webLn.Addr())+"/", "websocket", v.srv.Addr().String())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-v.done:
		cfg.Logger.Error("stopped", "err", err)
		return 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = v.shutdown(sctx)
	return 0
}

// hostPort shows a listener address as something a browser can open.
func hostPort(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
