package httpapi

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bytedance/sonic"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/lease"
	"github.com/wsloop/wsloop/protocol"
	"github.com/wsloop/wsloop/server"
)

// apiErr is a failed API call: the HTTP status and a message for people.
type apiErr struct {
	status int
	msg    string
}

func (e *apiErr) Error() string { return strconv.Itoa(e.status) + " " + e.msg }

func badRequest(format string, args ...any) *apiErr {
	return &apiErr{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// apiResponse is the envelope of every answer but the end point's.
type apiResponse struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

// endPointResponse answers GET /api/websocket/end_point.
type endPointResponse struct {
	ErrorCode    int    `json:"error_code"`
	ErrorReason  string `json:"error_reason"`
	EndPoint     string `json:"end_point"`
	PingInterval int64  `json:"ping_interval"` // seconds, as in the welcome event
}

// endPointError is the end point's failure: {error_code, error_reason}.
type endPointError struct {
	ErrorCode   int    `json:"error_code"`
	ErrorReason string `json:"error_reason"`
}

// apiFunc handles one call; body is the request body (nil for GET). It
// returns the response's data, or the failure.
type apiFunc func(r *http.Request, body []byte) (any, *apiErr)

// Defaults for the zero values of Config fields.
const DefaultMaxBodySize = 64 << 10

// Config configures the HTTP API. Server is required; every other field's
// doc says what zero means.
type Config struct {
	// Server is the WebSocket server the API publishes to and reports on.
	Server *server.Server

	// Leases is the lease table behind /api/session/*. Zero means no
	// leases: those endpoints answer 404.
	Leases *lease.Table

	// APIKey, when set, is the bearer key every /api/ endpoint requires
	// ("Authorization: Bearer <key>", or Centrifugo's "apikey <key>");
	// /metrics, /healthz and /readyz stay open. Zero means no key: keep
	// the API on a private address.
	APIKey string

	// EndPoint is the public WebSocket URL clients connect to
	// ("wss://chat.example.com/ws"), as the API hands it out: the end-point
	// API and the wss_link of a session lease. Zero means it is derived
	// from the server's listener: ws://<host>:<port><path>, where host is
	// the listener's IP, or, when it listens on all addresses, the host the
	// API request was sent to. Set it behind a proxy or TLS terminator.
	EndPoint string

	// MaxBodySize bounds the body of a request, in bytes; larger gets 413.
	// Zero means 64 KiB.
	MaxBodySize int64

	// Metrics is served at GET /metrics, without the key. Zero means no
	// /metrics (metrics.Handler is the one wsloop serves).
	Metrics http.Handler

	// Logger receives the API's logs. Zero means slog.Default().
	Logger *slog.Logger
}

// api serves the HTTP API. Safe for concurrent use.
type api struct {
	cfg   Config
	srv   *server.Server
	log   *slog.Logger
	key   [sha256.Size]byte // SHA-256 of Config.APIKey: compared in constant time, length included
	keyed bool
	mux   *http.ServeMux
}

// New returns the HTTP API, to be served by net/http on its own port
// (never on the event loops):
//
//	GET  /metrics                        Config.Metrics, when set
//	GET  /healthz                        200 while the process runs
//	GET  /readyz                         200 while the server serves, 503 before and while shutting down
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
// Request and response shapes, status codes and errors are in README
// ("HTTP API"). Routing is net/http's ServeMux: a wrong method gets 405
// with Allow, an unknown path 404, both in the API's JSON envelope.
func New(cfg Config) (http.Handler, error) {
	if cfg.Server == nil {
		return nil, errors.New("httpapi: Config.Server is nil")
	}
	if err := checkEndPoint(cfg.EndPoint); err != nil {
		return nil, err
	}
	if cfg.MaxBodySize == 0 {
		cfg.MaxBodySize = DefaultMaxBodySize
	}
	if cfg.MaxBodySize < 0 {
		return nil, fmt.Errorf("httpapi: MaxBodySize %d is negative", cfg.MaxBodySize)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &api{cfg: cfg, srv: cfg.Server, log: cfg.Logger, keyed: cfg.APIKey != "", mux: http.NewServeMux()}
	if a.keyed {
		a.key = sha256.Sum256([]byte(cfg.APIKey))
	}
	if cfg.Metrics != nil {
		a.mux.Handle("GET /metrics", cfg.Metrics)
	}
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok") })
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.route("GET "+endPointPath, a.endPoint, true) // clients ask it: no key
	if cfg.Leases != nil {
		a.route("POST /api/session/start", a.sessionStart, false)
		a.route("POST /api/session/heartbeat", a.sessionHeartbeat, false)
		a.route("POST /api/session/batch-heartbeat", a.sessionBatchHeartbeat, false)
		a.route("POST /api/session/end", a.sessionEnd, false)
	}
	a.route("POST /api/publish", a.publish, false)
	a.route("POST /api/send", a.send, false)
	a.route("POST /api/broadcast", a.broadcast, false)
	a.route("POST /api/disconnect", a.disconnect, false)
	a.route("POST /api/kick", a.kick, false)
	a.route("GET /api/online", a.online, false)
	a.route("POST /api/members", a.members, false)
	// Any room name, slashes included (percent-encode what a path cannot
	// hold): the pattern takes the rest of the path, which must end in
	// /members.
	a.route("GET /api/rooms/{rest...}", a.roomMembers, false)
	return a, nil
}

// readyz answers 200 "ready" while the server serves, 503 before and while
// it shuts down.
func (a *api) readyz(w http.ResponseWriter, _ *http.Request) {
	switch err := a.srv.Serving(); {
	case err == nil:
		writeText(w, http.StatusOK, "ready")
	case errors.Is(err, server.ErrNotServing):
		writeText(w, http.StatusServiceUnavailable, "not serving yet")
	default:
		writeText(w, http.StatusServiceUnavailable, "shutting down")
	}
}

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text + "\n"))
}

// route registers one API call: the body (for POST) is read and bounded,
// fn runs, and its data or failure is written in the API's envelope (bare:
// in the end point's own shape).
func (a *api) route(pattern string, fn apiFunc, bare bool) {
	post := strings.HasPrefix(pattern, http.MethodPost+" ")
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		var fail *apiErr
		if post {
			body, fail = a.readBody(w, r)
		}
		var data any
		if fail == nil {
			data, fail = fn(r, body)
		}
		a.answer(w, r, data, fail, bare)
	})
}

// ServeHTTP checks the API key of /api/ requests before anything else (a
// request without it learns nothing, not even whether a path exists), then
// routes. The mux's own 404 and 405 answers are rewritten into the API's
// envelope for /api/ paths.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		a.mux.ServeHTTP(w, r)
		return
	}
	if r.URL.Path != endPointPath && !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wsloop"`)
		a.answer(w, r, nil, &apiErr{http.StatusUnauthorized, "missing or invalid API key (Authorization: Bearer <key>)"}, false)
		return
	}
	h, pattern := a.mux.Handler(r)
	if pattern != "" {
		a.mux.ServeHTTP(w, r) // (again) so that the request gets its path values
		return
	}
	// No route: ask the mux what it would answer (404, or 405 with Allow).
	probe := &statusProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if allow := probe.header.Get("Allow"); probe.status == http.StatusMethodNotAllowed && allow != "" {
		w.Header().Set("Allow", allow)
		a.answer(w, r, nil, &apiErr{http.StatusMethodNotAllowed, r.URL.Path + " takes " + allow}, false)
		return
	}
	a.answer(w, r, nil, &apiErr{http.StatusNotFound, "no API endpoint " + r.URL.Path}, false)
}

// statusProbe is a ResponseWriter that keeps only the status and headers.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(status int)      { p.status = status }

// answer writes a call's data, or its failure, in the envelope.
func (a *api) answer(w http.ResponseWriter, r *http.Request, data any, fail *apiErr, bare bool) {
	if fail != nil {
		if fail.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		if fail.status >= 500 {
			a.log.Warn("HTTP API call failed", "method", r.Method, "path", r.URL.Path, "status", fail.status, "err", fail.msg)
		} else {
			a.log.Debug("HTTP API call refused", "method", r.Method, "path", r.URL.Path, "status", fail.status, "err", fail.msg)
		}
		if bare {
			writeJSON(w, fail.status, endPointError{ErrorCode: fail.status, ErrorReason: fail.msg})
		} else {
			writeJSON(w, fail.status, apiResponse{Code: fail.status, Message: fail.msg})
		}
		return
	}
	if bare {
		writeJSON(w, http.StatusOK, data)
		return
	}
	if data == nil {
		data = struct{}{}
	}
	writeJSON(w, http.StatusOK, apiResponse{Code: 0, Message: "ok", Data: data})
}

// authorized reports whether r carries the API key, when one is set:
// "Authorization: Bearer <key>" (or Centrifugo's "apikey <key>"). The
// comparison is of SHA-256 digests in constant time, so neither the key's
// bytes nor its length leak through timing.
func (a *api) authorized(r *http.Request) bool {
	if !a.keyed {
		return true
	}
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !(strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "apikey")) {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(key)))
	return subtle.ConstantTimeCompare(got[:], a.key[:]) == 1
}

// readBody reads a request body of at most Config.MaxBodySize bytes.
func (a *api) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiErr) {
	limit := a.cfg.MaxBodySize
	tooLarge := &apiErr{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", limit)}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		a.log.Debug("HTTP API body unreadable", "method", r.Method, "path", r.URL.Path, "err", err)
		return nil, badRequest("cannot read the request body")
	}
	return body, nil
}

// decode unmarshals a JSON object body into v. An empty body is an empty
// object when optional is set. The body is held to the rules of a WebSocket
// message: valid UTF-8, valid JSON nested at most 64 deep, no key twice
// (keys equal but for case count as the same key, since the fields are
// matched without regard to case). A refusal says which field and what is
// wrong with it, in words of its own; the parser's detail goes to the
// debug log.
//
// encoding/json rather than sonic: the admin API is not a hot path, and its
// errors name the field and the type that was expected.
func (a *api) decode(body []byte, v any, optional bool) *apiErr {
	body = bytes.TrimSpace(body)
	if len(body) == 0 && optional {
		return nil
	}
	if len(body) == 0 || body[0] != '{' {
		return badRequest("the request body must be a JSON object")
	}
	var fail *apiErr
	var detail error
	switch err := protocol.CheckJSON(body); {
	case err == protocol.ErrInvalidUTF8:
		fail = badRequest("the request body is not valid UTF-8")
	case err == protocol.ErrJSONTooDeep:
		fail = badRequest("the request body is nested too deeply (64 levels at most)")
	case err != nil:
		fail, detail = badRequest("malformed JSON"), err
	default:
		if key, dup := duplicateKey(body); dup {
			fail = badRequest("duplicate key %q", shortKey(key))
		} else if err := json.Unmarshal(body, v); err != nil {
			fail, detail = badRequest("%s", jsonProblem(err)), err
		}
	}
	if fail != nil && detail != nil {
		a.log.Debug("HTTP API body refused", "msg", fail.msg, "err", detail)
	}
	return fail
}

// duplicateKey returns the first top-level key of the JSON object body
// that repeats an earlier one, case aside (foldKey); body is valid JSON.
func duplicateKey(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	seen := make(map[string]bool, 8)
	var skip json.RawMessage
	for dec.More() {
		t, err := dec.Token()
		key, ok := t.(string)
		if err != nil || !ok {
			return "", false
		}
		folded := foldKey(key)
		if seen[folded] {
			return key, true
		}
		seen[folded] = true
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

// foldKey maps key to one spelling of all the keys equal to it under
// Unicode simple case folding (the way encoding/json matches a key to a
// field, so "uſer" is "user"): each rune becomes the smallest of its
// folding orbit.
func foldKey(key string) string {
	var b strings.Builder
	for _, r := range key {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// shortKey cuts a key quoted back to the client to 64 bytes.
func shortKey(k string) string {
	if len(k) <= 64 {
		return k
	}
	i := 64
	for i > 0 && !utf8.RuneStart(k[i]) {
		i--
	}
	return k[:i] + "…"
}

// jsonProblem describes an unmarshalling error in the API's own words:
// the field and what was wrong with it.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		got, _, _ := strings.Cut(te.Value, " ")
		return fmt.Sprintf("%s: %s where %s was expected", shortKey(te.Field), jsonKind(got), typeKind(te.Type))
	}
	return "the request body does not fit this endpoint"
}

// jsonKind names a JSON value kind as encoding/json reports it ("number").
func jsonKind(k string) string {
	switch k {
	case "string", "number":
		return "a " + k
	case "array", "object":
		return "an " + k
	case "bool":
		return "true or false"
	}
	return k
}

// typeKind names the JSON kind a Go type is read from.
func typeKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// writeJSON writes v, marshalled with sonic, with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := sonic.ConfigStd.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"code":500,"message":"cannot encode the response","data":null}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// fromServer maps the server's errors to API failures.
func fromServer(err error) *apiErr {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, server.ErrQueueFull):
		return &apiErr{http.StatusServiceUnavailable, "server busy (an event loop's queue is full); try again"}
	case errors.Is(err, server.ErrNotServing):
		return &apiErr{http.StatusServiceUnavailable, "server not serving yet"}
	case errors.Is(err, server.ErrServerClosed):
		return &apiErr{http.StatusServiceUnavailable, "server shutting down"}
	case errors.Is(err, server.ErrNoSession):
		return &apiErr{http.StatusNotFound, "no such session"}
	case errors.Is(err, lease.ErrStore):
		return &apiErr{http.StatusServiceUnavailable, "lease store unavailable; try again"}
	case errors.Is(err, lease.ErrUnknown):
		return &apiErr{http.StatusNotFound, "unknown or expired conn_id"}
	case errors.Is(err, server.ErrInvalidUTF8):
		return badRequest("text is not valid UTF-8")
	case errors.Is(err, server.ErrInvalidJSON):
		return badRequest("not one valid JSON value")
	}
	return &apiErr{http.StatusInternalServerError, err.Error()}
}

// checkName checks a room or user name from a request.
func (a *api) checkName(field, name string) *apiErr {
	if name == "" {
		return badRequest("%s required", field)
	}
	if max := a.srv.Config().Rooms.MaxNameSize; len(name) > max {
		return badRequest("%s longer than %d bytes", field, max)
	}
	return nil
}

// membersListed is how many users a members answer lists by default, as
// the WebSocket members command does.
const membersListed = 1000

// ---- end point ----

// checkEndPoint validates Config.EndPoint: empty, or a ws:// or wss:// URL
// with a host.
func checkEndPoint(ep string) error {
	if ep == "" {
		return nil
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("httpapi: EndPoint %q must be a ws:// or wss:// URL with a host", ep)
	}
	return nil
}

// endPointFor returns the WebSocket URL clients are told to connect to:
// Config.EndPoint, or one derived from the listener. A listener on all
// addresses is reached at the host the HTTP request r named.
func (a *api) endPointFor(r *http.Request) string {
	host := ""
	if r != nil {
		host = r.Host
	}
	return endPointURL(a.srv, a.cfg.EndPoint, host)
}

// endPointURL is the WebSocket URL clients are told: endPoint when set,
// else ws:// (wss:// with TLS) the server's address and path, with the host the client
// asked (requestHost) when the server listens on every interface.
func endPointURL(srv *server.Server, endPoint, requestHost string) string {
	if endPoint != "" {
		return endPoint
	}
	cfg := srv.Config()
	addr := cfg.Addr
	if la := srv.Addr(); la != nil {
		addr = la.String()
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
		if requestHost != "" {
			host = requestHost
			if h, _, err := net.SplitHostPort(requestHost); err == nil {
				host = h
			}
			host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		}
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	}
	scheme := "ws://"
	if cfg.TLS.Enabled() {
		scheme = "wss://"
	}
	return scheme + host + cfg.Path
}

// endPointPath is where clients ask where to connect: on the HTTP API's
// port and on the WebSocket port, never behind the API key.
const endPointPath = "/api/websocket/end_point"

// GET /api/websocket/end_point → {error_code, error_reason, end_point, ping_interval}.
func (a *api) endPoint(r *http.Request, _ []byte) (any, *apiErr) {
	return endPointResponse{
		EndPoint:     a.endPointFor(r),
		PingInterval: int64(a.srv.Config().Heartbeat.PingInterval / time.Second),
	}, nil
}

// EndPointHandler answers a GET with the end point, exactly as the HTTP
// API's /api/websocket/end_point does (no key), for an application's own
// web server to mount where its clients look for it; endPoint is as in
// Config.EndPoint.
func EndPointHandler(srv *server.Server, endPoint string) (http.Handler, error) {
	if srv == nil {
		return nil, errors.New("httpapi: nil server")
	}
	if err := checkEndPoint(endPoint); err != nil {
		return nil, err
	}
	a := &api{cfg: Config{Server: srv, EndPoint: endPoint}, srv: srv, log: slog.Default()}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			a.answer(w, r, nil, &apiErr{http.StatusMethodNotAllowed, "takes GET"}, true)
			return
		}
		data, fail := a.endPoint(r, nil)
		a.answer(w, r, data, fail, true)
	}), nil
}

// PlainEndPoint answers GET /api/websocket/end_point on the WebSocket port
// (give it to Server.HandlePlain), exactly as the HTTP API does, so that
// clients need only the public port; endPoint is Config.EndPoint (empty:
// the server's own address). Every other plain request is refused as
// before.
func PlainEndPoint(srv *server.Server, endPoint string) (server.PlainFunc, error) {
	if err := checkEndPoint(endPoint); err != nil {
		return nil, err
	}
	return func(r *codec.Request) (int, string, []byte) {
		if string(r.Path) != endPointPath {
			return 0, "", nil
		}
		body, _ := sonic.ConfigStd.Marshal(endPointResponse{
			EndPoint:     endPointURL(srv, endPoint, string(r.Host)),
			PingInterval: int64(srv.Config().Heartbeat.PingInterval / time.Second),
		})
		return http.StatusOK, "application/json; charset=utf-8", append(body, '\n')
	}, nil
}

// ---- session leases ----

type sessionStartRequest struct {
	User string `json:"user"`
}

type websocketInfo struct {
	AuthBody string   `json:"auth_body"`
	WSSLink  []string `json:"wss_link"`
}

type sessionStartData struct {
	ConnID        string        `json:"conn_id"`
	WebsocketInfo websocketInfo `json:"websocket_info"`
	Timeout       float64       `json:"timeout"` // seconds a lease lives without a heartbeat
}

type connIDRequest struct {
	ConnID string `json:"conn_id"`
}

type connIDsRequest struct {
	ConnIDs []string `json:"conn_ids"`
}

type batchHeartbeatData struct {
	FailedConnIDs []string `json:"failed_conn_ids"`
}

type sessionEndData struct {
	Closed int `json:"closed"` // connections told to close
}

// POST /api/session/start {user?} → {conn_id, websocket_info:{auth_body, wss_link}, timeout}.
func (a *api) sessionStart(r *http.Request, body []byte) (any, *apiErr) {
	var req sessionStartRequest
	if e := a.decode(body, &req, true); e != nil {
		return nil, e
	}
	if req.User != "" {
		if e := a.checkName("user", req.User); e != nil {
			return nil, e
		}
	}
	if e := fromServer(a.srv.Serving()); e != nil {
		return nil, e
	}
	le, err := a.cfg.Leases.Start(req.User)
	if err != nil {
		if errors.Is(err, lease.ErrStore) {
			return nil, fromServer(err)
		}
		return nil, &apiErr{http.StatusInternalServerError, "cannot make a token: " + err.Error()}
	}
	id, auth := le.ID, le.Auth
	ep := a.endPointFor(r)
	sep := "?"
	if strings.Contains(ep, "?") {
		sep = "&"
	}
	return sessionStartData{
		ConnID:        id,
		WebsocketInfo: websocketInfo{AuthBody: auth, WSSLink: []string{ep + sep + "auth_body=" + auth}},
		Timeout:       a.cfg.Leases.Config().Timeout.Seconds(),
	}, nil
}

// POST /api/session/heartbeat {conn_id} → {}; 404 for an unknown or expired one.
func (a *api) sessionHeartbeat(_ *http.Request, body []byte) (any, *apiErr) {
	var req connIDRequest
	if e := a.decode(body, &req, false); e != nil {
		return nil, e
	}
	if req.ConnID == "" {
		return nil, badRequest("conn_id required")
	}
	failed, err := a.cfg.Leases.Heartbeat(req.ConnID)
	if err != nil {
		return nil, fromServer(err)
	}
	if len(failed) > 0 {
		return nil, fromServer(lease.ErrUnknown)
	}
	return nil, nil
}

// POST /api/session/batch-heartbeat {conn_ids} → {failed_conn_ids}.
func (a *api) sessionBatchHeartbeat(_ *http.Request, body []byte) (any, *apiErr) {
	var req connIDsRequest
	if e := a.decode(body, &req, false); e != nil {
		return nil, e
	}
	if req.ConnIDs == nil {
		return nil, badRequest("conn_ids required (an array of conn_id)")
	}
	failed, err := a.cfg.Leases.Heartbeat(req.ConnIDs...)
	if err != nil {
		return nil, fromServer(err)
	}
	if failed == nil {
		failed = []string{}
	}
	return batchHeartbeatData{FailedConnIDs: failed}, nil
}

// POST /api/session/end {conn_id} → {closed}; the lease's connections get close 1000 "lease ended".
func (a *api) sessionEnd(_ *http.Request, body []byte) (any, *apiErr) {
	var req connIDRequest
	if e := a.decode(body, &req, false); e != nil {
		return nil, e
	}
	if req.ConnID == "" {
		return nil, badRequest("conn_id required")
	}
	n, err := a.cfg.Leases.End(req.ConnID)
	if err != nil {
		return nil, fromServer(err)
	}
	return sessionEndData{Closed: n}, nil
}

// ---- server API ----

type publishRequest struct {
	Room    string          `json:"room"`
	User    string          `json:"user"`
	Payload json.RawMessage `json:"payload"`
	From    string          `json:"from"`
	Cmd     string          `json:"cmd"`
}

type broadcastRequest struct {
	Cmd  string          `json:"cmd"`
	Data json.RawMessage `json:"data"`
}

type disconnectRequest struct {
	User   string  `json:"user"`
	SID    string  `json:"sid"`
	Code   *int    `json:"code"`
	Reason *string `json:"reason"`
}

type kickRequest struct {
	Room string `json:"room"`
	User string `json:"user"`
}

type membersRequest struct {
	Room  string `json:"room"`
	Limit int    `json:"limit"`
}

type roomSent struct {
	Room  string `json:"room"`
	Conns int    `json:"conns"` // member connections when the message was queued
}

type userSent struct {
	User  string `json:"user"`
	Conns int    `json:"conns"` // the user's connections when the message was queued
}

type onlineData struct {
	Users   int      `json:"users"`
	Conns   int      `json:"conns"`
	Rooms   int      `json:"rooms"`
	Leases  int64    `json:"leases"`
	Partial bool     `json:"partial,omitempty"` // some node did not answer in time
	Missing []string `json:"missing,omitempty"` // which
}

// POST /api/publish {room, payload, from?, cmd?}: without cmd, members get
// {"cmd":"message","data":{"room","from","payload"}} (what the publish
// command sends); with cmd, the event {"cmd":cmd,"data":payload}.
func (a *api) publish(_ *http.Request, body []byte) (any, *apiErr) {
	var req publishRequest
	if e := a.decode(body, &req, false); e != nil {
		return nil, e
	}
	if e := a.checkName("room", req.Room); e != nil {
		return nil, e
	}
	if len(req.Payload) == 0 {
		return nil, badRequest("payload required")
	}
	conns := a.srv.RoomConns(req.Room)
	var err error
	if req.Cmd != "" {
		err = a.srv.Publish(req.Room, req.Cmd, server.RawJSON(req.Payload))
	} else {
		err = a.srv.PublishMessage(req.Room, req.From, server.RawJSON(req.Payload))
	}
	if e := fromServer(err); e != nil {
		return nil, e
	}
	return roomSent{Room: req.Room, Conns: conns}, nil
}

// POST /api/send {user, payload, from?, cmd?}: without cmd, the user's
// connections get {"cmd":"message","data":{"from","payload"}}; with cmd,
// the event {"cmd":cmd,"data":payload}.
func (a *api) send(_ *http.Request, body []byte) (any, *apiErr) {
	var req publishRequest
	if e := a.decode(body, &req, false); e != nil {
		return nil, e
	}
	if e := a.checkName("user", req.User); e != nil {
		return nil, e
	}
	if len(req.Payload) == 0 {
		return nil, badRequest("payload required")
	}
	conns := a.srv.UserConns(req.User)
	var err error
	if req.Cmd != "" {
		err = a.srv.SendUser(req.User, req.Cmd, server.RawJSON(req.Payload))
	} else {
		err = a.srv.SendMessage(req.User, req.From, server.RawJSON(req.Payload))
	}
	if e := fromServer(err); e != nil {
		return nil, e
	}
	return userSent{User: req.User, Conns: conns}, nil
}

// POST /api/broadcast {cmd?, data}: every connection gets
// {"cmd":cmd,"data":data}; cmd defaults to "broadcast".
func (a *api) broadcast(_ *http.Request, body []byte) (any, *apiErr) {
	var req broadcastRequest
	if e := a.decode(body, &req, false); e != nil {
		return nil, e
	}
	if len(req.Data) == 0 {
		return nil, badRequest("data required")
	}
	if req.Cmd == "" {
		req.Cmd = "broadcast"
	}
	conns := a.srv.Count()
	if e := fromServer(a.srv.Broadcast(req.Cmd, server.RawJSON(req.Data))); e != nil {
		return nil, e
	}
	return struct {
		Conns int `json:"conns"`
	}{conns}, nil
}

// POST /api/disconnect {user | sid, code?, reason?}: closes every
// connection of the user, or one session, with code (default 1000) and
// reason (default "disconnected by server").
func (a *api) disconnect(_ *http.Request, body []byte) (any, *apiErr) {
	var req disconnectRequest
	if e := a.decode(body, &req, false); e != nil {
		return nil, e
	}
	if (req.User == "") == (req.SID == "") {
		return nil, badRequest("give one of user and sid")
	}
	code := codec.StatusNormalClosure
	if req.Code != nil {
		code = codec.StatusCode(*req.Code)
		if *req.Code < 0 || *req.Code > 0xFFFF || !code.ValidOnWire() {
			return nil, badRequest("code %d is not a close code that may be sent (1000-1003, 1007-1014, 3000-4999)", *req.Code)
		}
	}
	reason := "disconnected by server"
	if req.Reason != nil {
		reason = *req.Reason
	}
	if len(reason) > 123 {
		return nil, badRequest("reason longer than 123 bytes")
	}
	var err error
	if req.User != "" {
		err = a.srv.DisconnectUser(req.User, code, reason)
	} else {
		sid, _, perr := server.ParseSID(req.SID)
		if perr != nil {
			return nil, badRequest("sid %q is not a session id", req.SID)
		}
		err = a.srv.Disconnect(sid, code, reason)
	}
	if e := fromServer(err); e != nil {
		return nil, e
	}
	return nil, nil
}

// POST /api/kick {room, user}: the user's connections leave the room (they
// stay open); they and the room get exit_room with reason "kick".
func (a *api) kick(_ *http.Request, body []byte) (any, *apiErr) {
	var req kickRequest
	if e := a.decode(body, &req, false); e != nil {
		return nil, e
	}
	if e := a.checkName("room", req.Room); e != nil {
		return nil, e
	}
	if e := a.checkName("user", req.User); e != nil {
		return nil, e
	}
	if e := fromServer(a.srv.Kick(req.Room, req.User)); e != nil {
		return nil, e
	}
	return nil, nil
}

// GET /api/online → {users, conns, rooms, leases}: the whole cluster's
// when the server has a cluster broker.
func (a *api) online(*http.Request, []byte) (any, *apiErr) {
	var leases int64
	if a.cfg.Leases != nil {
		leases = a.cfg.Leases.Stats().Active
	}
	t := a.srv.Totals()
	return onlineData{Users: t.Users, Conns: t.Conns, Rooms: t.Rooms, Leases: leases, Partial: t.Partial, Missing: t.Missing}, nil
}

// POST /api/members {room, limit?} → RoomInfo.
func (a *api) members(_ *http.Request, body []byte) (any, *apiErr) {
	var req membersRequest
	if e := a.decode(body, &req, false); e != nil {
		return nil, e
	}
	return a.roomInfo(req.Room, req.Limit)
}

// GET /api/rooms/{room}/members?limit=N → RoomInfo.
func (a *api) roomMembers(r *http.Request, _ []byte) (any, *apiErr) {
	room, ok := strings.CutSuffix(r.PathValue("rest"), "/members")
	if !ok || room == "" {
		return nil, &apiErr{http.StatusNotFound, "no API endpoint " + r.URL.Path}
	}
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, badRequest("limit %q is not a number", v)
		}
		limit = n
	}
	return a.roomInfo(room, limit)
}

// roomInfo lists up to limit users of room (0: 1000).
func (a *api) roomInfo(room string, limit int) (any, *apiErr) {
	if e := a.checkName("room", room); e != nil {
		return nil, e
	}
	if limit < 0 {
		return nil, badRequest("limit must not be negative")
	}
	if limit == 0 {
		limit = membersListed
	}
	return a.srv.RoomMembers(room, limit), nil
}
