// Command wsloop runs the wsloop WebSocket server.
//
//	go run ./cmd/wsloop                    # JSON protocol on :8080/ws
//	go run ./cmd/wsloop --echo             # echo mode, for conformance suites and benchmarks
//	wsloop --config wsloop.toml --log-level debug
//
// Settings come from built-in defaults, then the TOML file named by --config
// (or WSLOOP_CONFIG), then WSLOOP_* environment variables, then flags.
// The HTTP API (--http-addr, default :8081) serves end-point discovery,
// session leases, the server API (bearer --api-key), /metrics, /healthz and
// /readyz; see README "HTTP API".
// SIGINT or SIGTERM starts a graceful shutdown: every connection gets close
// 1001, and the process exits within --shutdown-timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wsloop/wsloop/httpapi"
	"github.com/wsloop/wsloop/lease"
	"github.com/wsloop/wsloop/server"
)

func main() {
	os.Exit(run(os.Args[1:], osEnv, os.Stderr))
}

func run(args []string, env func(string) (string, bool), out io.Writer) int {
	st, err := load(args, env, out)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(out, "wsloop:", err)
		return 2
	}
	log, err := st.logger(out)
	if err != nil {
		fmt.Fprintln(out, "wsloop:", err)
		return 2
	}
	var h server.Handler = server.NewRouter()
	if st.Echo {
		h = server.EchoHandler{}
	}
	cfg, err := st.serverConfig(log)
	if err != nil {
		fmt.Fprintln(out, "wsloop:", err)
		return 2
	}
	lcfg, err := st.leaseConfig(log, cfg.Heartbeat.Tick)
	if err != nil {
		fmt.Fprintln(out, "wsloop:", err)
		return 2
	}
	leases, err := lease.New(lcfg)
	if err != nil {
		fmt.Fprintln(out, "wsloop:", err)
		return 2
	}
	srv, err := server.New(cfg, leases.Wrap(h))
	if err != nil {
		fmt.Fprintln(out, "wsloop:", err)
		return 2
	}
	leases.Attach(srv)
	defer leases.Stop()
	acfg, err := st.apiConfig(srv, leases, log)
	if err != nil {
		fmt.Fprintln(out, "wsloop:", err)
		return 2
	}
	apiHandler, err := httpapi.New(acfg)
	if err != nil {
		fmt.Fprintln(out, "wsloop:", err)
		return 2
	}
	if err := srv.Listen(); err != nil {
		log.Error("cannot listen", "err", err)
		return 1
	}

	var api *http.Server
	if st.HTTPAddr != "" {
		ln, err := net.Listen("tcp", st.HTTPAddr)
		if err != nil {
			log.Error("cannot listen for the HTTP API", "err", err)
			return 1
		}
		api = &http.Server{
			Handler:           apiHandler,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			IdleTimeout:       2 * time.Minute,
		}
		go func() {
			if err := api.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("HTTP API stopped", "err", err)
			}
		}()
		log.Info("HTTP API serving", "addr", ln.Addr().String(), "api_key", st.APIKey != "")
		if st.APIKey == "" && !isLoopback(ln.Addr()) {
			log.Warn("HTTP API without --api-key on a non-loopback address: anyone who reaches it can publish, start leases and disconnect users", "addr", ln.Addr().String())
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()

	select {
	case err := <-served:
		if !errors.Is(err, server.ErrServerClosed) {
			log.Error("server failed", "err", err)
			return 1
		}
		return 0
	case <-ctx.Done():
	}
	stop()
	log.Info("shutting down", "timeout", st.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), st.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown deadline passed; remaining connections were closed", "err", err)
	}
	<-served
	if api != nil {
		actx, acancel := context.WithTimeout(context.Background(), time.Second)
		defer acancel()
		_ = api.Shutdown(actx)
	}
	return 0
}

// isLoopback reports whether a listener address only takes local clients.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
