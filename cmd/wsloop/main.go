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
	"runtime"
	"syscall"
	"time"

	"github.com/wsloop/wsloop/auth"
	"github.com/wsloop/wsloop/cluster"
	"github.com/wsloop/wsloop/httpapi"
	"github.com/wsloop/wsloop/lease"
	"github.com/wsloop/wsloop/metrics"
	"github.com/wsloop/wsloop/server"
)

func main() {
	os.Exit(run(os.Args[1:], osEnv, os.Stderr))
}

func run(args []string, env func(string) (string, bool), out io.Writer) int {
	c, err := load(args, env, out)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(out, "wsloop:", err)
		return 2
	}
	log, err := c.logger(out)
	if err == nil {
		err = c.resolve(log)
	}
	if err != nil {
		fmt.Fprintln(out, "wsloop:", err)
		return 2
	}
	srv, leases, apiHandler, err := c.build()
	if err != nil {
		fmt.Fprintln(out, "wsloop:", err)
		return 2
	}
	if _, set := env("GOMAXPROCS"); !set {
		spareProc(srv.Config().Tuning.Loops)
	}
	c.posture(log)
	defer leases.Stop()
	if err := srv.Listen(); err != nil {
		log.Error("cannot listen", "err", err)
		return 1
	}

	var api *http.Server
	if c.HTTPAddr != "" {
		ln, err := net.Listen("tcp", c.HTTPAddr)
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
		log.Info("HTTP API serving", "addr", ln.Addr().String(), "api_key", c.API.APIKey != "")
		if c.API.APIKey == "" && !isLoopback(ln.Addr()) {
			log.Warn("HTTP API without --api-key on a non-loopback address (--api-insecure): anyone who reaches it can publish, start leases and disconnect users", "addr", ln.Addr().String())
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()

	// SIGHUP re-reads the TLS certificate and key; handled always, so that
	// a stray one never ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case err := <-served:
			if !errors.Is(err, server.ErrServerClosed) {
				log.Error("server failed", "err", err)
				return 1
			}
			return 0
		case <-hup:
			switch {
			case c.Server.TLS.CertFile == "":
				log.Info("SIGHUP: nothing to reload (no --tls-cert)")
			default:
				if err := srv.ReloadCertificate(); err != nil {
					log.Error("SIGHUP: certificate not reloaded, the one in use stays", "err", err)
				}
			}
		case <-ctx.Done():
			break wait
		}
	}
	stop()
	log.Info("shutting down", "timeout", c.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
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

// build wires the packages: the Router (or echo mode) behind the lease
// table, the server, the lease table's expiry through the server, and the
// HTTP API with the metrics.
func (c *conf) build() (*server.Server, *lease.Table, http.Handler, error) {
	router := server.NewRouter()
	var h server.Handler = router
	if c.Echo {
		h = server.EchoHandler{}
	}
	var verifier *auth.Verifier
	if c.tokens() {
		var err error
		if verifier, err = auth.New(c.Auth); err != nil {
			return nil, nil, nil, err
		}
		if !c.Echo {
			verifier.Install(router)
		}
		h = verifier.Wrap(h)
	}
	var node *cluster.Node
	if c.Cluster.URL != "" {
		var err error
		if node, err = cluster.New(c.Cluster); err != nil {
			return nil, nil, nil, err
		}
		c.Server.Broker, c.Server.NodeID = node, node.ID()
		c.Lease.Shared = cluster.NewLeaseStore(node, c.Lease.Timeout)
	}
	leases, err := lease.New(c.Lease)
	if err != nil {
		return nil, nil, nil, err
	}
	srv, err := server.New(c.Server, leases.Wrap(h))
	if err != nil {
		return nil, nil, nil, err
	}
	if node != nil {
		node.Attach(srv)
	}
	if err := leases.Attach(srv); err != nil {
		return nil, nil, nil, err
	}
	c.API.Server, c.API.Leases = srv, leases
	c.API.Metrics = metrics.Handler(metrics.Sources{Server: srv, Leases: leases, Cluster: node, Auth: verifier})
	api, err := httpapi.New(c.API)
	if err != nil {
		leases.Stop()
		return nil, nil, nil, err
	}
	// Clients may ask where to connect on the WebSocket port itself.
	plain, err := httpapi.PlainEndPoint(srv, c.API.EndPoint)
	if err != nil {
		leases.Stop()
		return nil, nil, nil, err
	}
	srv.HandlePlain(plain)
	return srv, leases, api, nil
}

// isLoopback reports whether a listener address only takes local clients.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// spareProc gives the Go scheduler one P more than there are event loops
// (unless GOMAXPROCS says otherwise). gnet's loops wait in epoll_wait as
// system calls, each holding its P; with no P to spare, the runtime's
// monitor takes the loops' Ps away from them every 20 µs while they wait
// and hands them back when they wake, and it stays awake to do so. With
// one P idle it leaves them alone: a connection storm costs about 15 %
// less server CPU per connection (bench connect scenario, 5 alternating
// rounds: 33.9 against 40.0 µs), echo and room fan-out the same.
func spareProc(loops int) {
	if want := loops + 1; runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
}
