// Package httpapi is wsloop's HTTP API (README "HTTP API"): end-point
// discovery, session leases, the server API (publish, send, broadcast,
// disconnect, kick, presence), /healthz, /readyz, and /metrics when given
// one. It runs on net/http's goroutines, never on the event loops: it
// reaches connections only through the server's calls documented "Safe for
// concurrent use", which queue jobs on the loops' rings.
//
//	HTTP request ── API key (for /api/) ── http.ServeMux (method and path)
//	    ── body bounded, JSON checked (UTF-8, nesting, duplicate keys)
//	    ── server.Publish / SendUser / ... or lease.Table ── JSON envelope
//
// Every /api/ answer is JSON: {"code":0,"message":"ok","data":{…}} on
// success, {"code":<HTTP status>,"message":"…","data":null} on failure;
// the end point keeps the {error_code, error_reason, end_point,
// ping_interval} shape voice-room clients expect.
//
// # Concurrency
//
// The Handler that New returns is safe for concurrent use.
package httpapi
