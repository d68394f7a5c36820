// Package srvtest starts wsloop servers for the tests of the packages
// built on package server (lease, httpapi, metrics, the binary): a server
// on a free loopback port, stopped when the test ends, and a Handler that
// records how connections closed.
package srvtest

import (
	"context"
	"testing"
	"time"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/internal/wstest"
	"github.com/wsloop/wsloop/server"
)

// Start runs a server with h on a free loopback port (two loops unless cfg
// says otherwise) until the test ends, and returns it with its ws:// URL.
func Start(t testing.TB, cfg server.Config, h server.Handler) (*server.Server, string) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = wstest.Logger(t)
	}
	if cfg.Tuning.Loops == 0 {
		cfg.Tuning.Loops = 2
	}
	srv, err := server.New(cfg, h)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-served:
		t.Fatalf("Serve: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-served; err != server.ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, "ws://" + srv.Addr().String() + srv.Config().Path
}

// UserRouter is a Router whose connections are bound to the user named by
// the "user" query parameter (the binding applications do from a token).
func UserRouter() *server.Router {
	r := server.NewRouter()
	r.HandleOpen(func(s *server.Session, req *codec.Request) error {
		if u := req.QueryValue("user"); u != nil {
			s.SetUserID(string(u))
		}
		return nil
	})
	return r
}

// CloseRecorder is a Handler that records the CloseReason of every
// connection h saw close.
type CloseRecorder struct {
	server.Handler
	closed chan server.CloseReason
}

// NewCloseRecorder wraps h.
func NewCloseRecorder(h server.Handler) *CloseRecorder {
	return &CloseRecorder{Handler: h, closed: make(chan server.CloseReason, 1<<14)}
}

// OnClose implements server.Handler.
func (r *CloseRecorder) OnClose(s *server.Session, reason server.CloseReason) {
	r.Handler.OnClose(s, reason)
	r.closed <- reason
}

// Next returns the next recorded reason, waiting up to 5 s.
func (r *CloseRecorder) Next(t testing.TB) server.CloseReason {
	t.Helper()
	select {
	case reason := <-r.closed:
		return reason
	case <-time.After(5 * time.Second):
		t.Fatal("OnClose was not called")
		return server.CloseReason{}
	}
}
