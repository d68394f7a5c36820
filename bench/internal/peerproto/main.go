package peerproto

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Main is every peer's main: it parses the common flags (Flags, with
// --loops when loops is true), runs serve until SIGINT or SIGTERM, and
// exits 1 with the error, prefixed by name, if serve fails.
func Main(name string, loops bool, serve func(context.Context, *Config) error) {
	cfg := Flags(flag.CommandLine, loops)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg); err != nil {
		log.Printf("%s: %v", name, err)
		os.Exit(1)
	}
}

// ServeHTTP serves h on cfg.Addr with net/http until ctx is done, for the
// peers built on net/http (their WebSocket connections are hijacked, and
// end when their clients go); over TLS (crypto/tls, its defaults) when
// cfg.TLSCert is set.
func ServeHTTP(ctx context.Context, name string, cfg *Config, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Printf("%s: serving", name)
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	serve := srv.Serve
	if cfg.TLSCert != "" {
		serve = func(ln net.Listener) error { return srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey) }
	}
	if err := serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
