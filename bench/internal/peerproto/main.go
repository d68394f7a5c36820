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

// ServeHTTP serves h on addr with net/http until ctx is done, for the peers
// built on net/http (their WebSocket connections are hijacked, and end when
// their clients go).
func ServeHTTP(ctx context.Context, name, addr string, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	log.Printf("%s: serving", name)
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
