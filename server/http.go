package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTPHandler returns the HTTP API, to be served by net/http on its own
// port (never on the event loops):
//
//	GET  /metrics                        Prometheus text format: the Collector plus Go runtime and process metrics
//	GET  /healthz                        200 while the process runs
//	GET  /readyz                         200 once the listener is up and serving, 503 before and while shutting down
//	GET  /api/websocket/end_point        where clients connect, and how often they ping
//	POST /api/session/start              session leases: start, heartbeat, batch-heartbeat, end
//	POST /api/session/heartbeat
//	POST /api/session/batch-heartbeat
//	POST /api/session/end
//	POST /api/publish                    server API: publish to a room, send to a user,
//	POST /api/send                       broadcast, disconnect a user or a session,
//	POST /api/broadcast                  kick a user from a room, online counts,
//	POST /api/disconnect                 room members
//	POST /api/kick
//	GET  /api/online
//	POST /api/members
//	GET  /api/rooms/{room}/members
//
// Every /api/ endpoint requires Config.APIKey as a bearer key when one is
// set; /metrics, /healthz and /readyz are always open. Request and response
// shapes, status codes and errors are in README ("HTTP API") and api.go.
// Safe for concurrent use.
func (s *Server) HTTPHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		switch s.state.Load() {
		case stServing:
			_, _ = w.Write([]byte("ready\n"))
		case stNew:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not serving yet\n"))
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("shutting down\n"))
		}
	})
	mux.Handle("/api/", s.api())
	return mux
}
