package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"github.com/wsloop/wsloop/protocol"
)

// The HTTP API under /api/ (DESIGN §4, README "HTTP API"): end-point
// discovery, session leases and the server API. It runs on net/http's
// goroutines, never on the event loops; it reaches connections only through
// the calls documented "Safe for concurrent use".
//
// Every response is JSON. The lease and server endpoints answer
//
//	{"code":0,"message":"ok","data":{...}}
//
// with code 0 on success and code = the HTTP status on failure (data null);
// the end-point endpoint answers {"error_code","error_reason","end_point",
// "ping_interval"} in the shape voice-room clients expect.

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

type apiRoute struct {
	method string
	fn     apiFunc
	bare   bool // answers in its own shape (the end point), not the envelope
}

// api serves /api/. Safe for concurrent use.
type api struct {
	srv    *Server
	key    [sha256.Size]byte // SHA-256 of Config.APIKey: compared in constant time, length included
	keyed  bool
	routes map[string]apiRoute
}

// roomsPrefix and membersSuffix frame GET /api/rooms/{room}/members.
const (
	roomsPrefix   = "/api/rooms/"
	membersSuffix = "/members"
)

func (s *Server) api() *api {
	a := &api{srv: s, keyed: s.cfg.APIKey != ""}
	if a.keyed {
		a.key = sha256.Sum256([]byte(s.cfg.APIKey))
	}
	a.routes = map[string]apiRoute{
		"/api/websocket/end_point":             {method: http.MethodGet, fn: a.endPoint, bare: true},
		"/api/session/start":                   {method: http.MethodPost, fn: a.sessionStart},
		"/api/session/heartbeat":               {method: http.MethodPost, fn: a.sessionHeartbeat},
		"/api/session/batch-heartbeat":         {method: http.MethodPost, fn: a.sessionBatchHeartbeat},
		"/api/session/end":                     {method: http.MethodPost, fn: a.sessionEnd},
		"/api/publish":                         {method: http.MethodPost, fn: a.publish},
		"/api/send":                            {method: http.MethodPost, fn: a.send},
		"/api/broadcast":                       {method: http.MethodPost, fn: a.broadcast},
		"/api/disconnect":                      {method: http.MethodPost, fn: a.disconnect},
		"/api/kick":                            {method: http.MethodPost, fn: a.kick},
		"/api/online":                          {method: http.MethodGet, fn: a.online},
		"/api/members":                         {method: http.MethodPost, fn: a.members},
		roomsPrefix + "{room}" + membersSuffix: {method: http.MethodGet, fn: a.roomMembers},
	}
	return a
}

// route finds the route of a path; GET /api/rooms/{room}/members takes any
// room name, slashes included (percent-encode what a URL path cannot hold).
func (a *api) route(path string) (apiRoute, bool) {
	if rt, ok := a.routes[path]; ok {
		return rt, true
	}
	if room, ok := roomOfPath(path); ok && room != "" {
		return a.routes[roomsPrefix+"{room}"+membersSuffix], true
	}
	return apiRoute{}, false
}

func roomOfPath(path string) (string, bool) {
	if !strings.HasPrefix(path, roomsPrefix) || !strings.HasSuffix(path, membersSuffix) || len(path) < len(roomsPrefix)+len(membersSuffix) {
		return "", false
	}
	return path[len(roomsPrefix) : len(path)-len(membersSuffix)], true
}

// ServeHTTP checks the key, the path, the method and the body size, in that
// order, then runs the call.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, found := a.route(r.URL.Path)
	var data any
	var fail *apiErr
	switch {
	case !a.authorized(r):
		w.Header().Set("WWW-Authenticate", `Bearer realm="wsloop"`)
		fail = &apiErr{http.StatusUnauthorized, "missing or invalid API key (Authorization: Bearer <key>)"}
	case !found:
		fail = &apiErr{http.StatusNotFound, "no API endpoint " + r.URL.Path}
	case r.Method != rt.method && !(rt.method == http.MethodGet && r.Method == http.MethodHead):
		w.Header().Set("Allow", rt.method)
		fail = &apiErr{http.StatusMethodNotAllowed, r.URL.Path + " takes " + rt.method}
	default:
		var body []byte
		if rt.method == http.MethodPost {
			body, fail = a.readBody(w, r)
		}
		if fail == nil {
			data, fail = rt.fn(r, body)
		}
	}
	if fail != nil {
		if fail.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		if fail.status >= 500 {
			a.srv.log.Warn("HTTP API call failed", "method", r.Method, "path", r.URL.Path, "status", fail.status, "err", fail.msg)
		} else {
			a.srv.log.Debug("HTTP API call refused", "method", r.Method, "path", r.URL.Path, "status", fail.status, "err", fail.msg)
		}
		if rt.bare {
			writeJSON(w, fail.status, endPointError{ErrorCode: fail.status, ErrorReason: fail.msg})
		} else {
			writeJSON(w, fail.status, apiResponse{Code: fail.status, Message: fail.msg})
		}
		return
	}
	if rt.bare {
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

// readBody reads a request body of at most Config.MaxAPIBodySize bytes.
func (a *api) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiErr) {
	limit := a.srv.cfg.MaxAPIBodySize
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
		a.srv.log.Debug("HTTP API body unreadable", "method", r.Method, "path", r.URL.Path, "err", err)
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
		a.srv.log.Debug("HTTP API body refused", "msg", fail.msg, "err", detail)
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
	case errors.Is(err, ErrQueueFull):
		return &apiErr{http.StatusServiceUnavailable, "server busy (an event loop's queue is full); try again"}
	case errors.Is(err, ErrNotServing):
		return &apiErr{http.StatusServiceUnavailable, "server not serving yet"}
	case errors.Is(err, ErrServerClosed):
		return &apiErr{http.StatusServiceUnavailable, "server shutting down"}
	case errors.Is(err, ErrNoSession):
		return &apiErr{http.StatusNotFound, "no such session"}
	case errors.Is(err, ErrUnknownLease):
		return &apiErr{http.StatusNotFound, "unknown or expired conn_id"}
	case errors.Is(err, ErrInvalidUTF8):
		return badRequest("text is not valid UTF-8")
	case errors.Is(err, ErrInvalidJSON):
		return badRequest("not one valid JSON value")
	}
	return &apiErr{http.StatusInternalServerError, err.Error()}
}

// checkName checks a room or user name from a request.
func (a *api) checkName(field, name string) *apiErr {
	if name == "" {
		return badRequest("%s required", field)
	}
	if len(name) > a.srv.cfg.MaxRoomNameSize {
		return badRequest("%s longer than %d bytes", field, a.srv.cfg.MaxRoomNameSize)
	}
	return nil
}

// ---- end point ----

// checkEndPoint validates Config.EndPoint: empty, or a ws:// or wss:// URL
// with a host.
func checkEndPoint(ep string) error {
	if ep == "" {
		return nil
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("server: EndPoint %q must be a ws:// or wss:// URL with a host", ep)
	}
	return nil
}

// endPointFor returns the WebSocket URL clients are told to connect to:
// Config.EndPoint, or one derived from the listener. A listener on all
// addresses is reached at the host the HTTP request r named.
func (s *Server) endPointFor(r *http.Request) string {
	if s.cfg.EndPoint != "" {
		return s.cfg.EndPoint
	}
	addr := s.cfg.Addr
	if a := s.Addr(); a != nil {
		addr = a.String()
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
		if r != nil && r.Host != "" {
			host = r.Host
			if h, _, err := net.SplitHostPort(r.Host); err == nil {
				host = h
			}
			host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		}
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	}
	return "ws://" + host + s.cfg.Path
}

// GET /api/websocket/end_point → {error_code, error_reason, end_point, ping_interval}.
func (a *api) endPoint(r *http.Request, _ []byte) (any, *apiErr) {
	return endPointResponse{
		EndPoint:     a.srv.endPointFor(r),
		PingInterval: int64(a.srv.cfg.PingInterval / time.Second),
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
	if e := fromServer(a.srv.serving()); e != nil {
		return nil, e
	}
	id, auth, err := a.srv.leases.start(req.User)
	if err != nil {
		return nil, &apiErr{http.StatusInternalServerError, "cannot make a token: " + err.Error()}
	}
	ep := a.srv.endPointFor(r)
	sep := "?"
	if strings.Contains(ep, "?") {
		sep = "&"
	}
	return sessionStartData{
		ConnID:        id,
		WebsocketInfo: websocketInfo{AuthBody: auth, WSSLink: []string{ep + sep + "auth_body=" + auth}},
		Timeout:       a.srv.cfg.LeaseTimeout.Seconds(),
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
	if failed := a.srv.leases.heartbeat(req.ConnID); len(failed) > 0 {
		return nil, fromServer(ErrUnknownLease)
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
	failed := a.srv.leases.heartbeat(req.ConnIDs...)
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
	n, err := a.srv.leases.end(req.ConnID)
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
	Users  int   `json:"users"`
	Conns  int   `json:"conns"`
	Rooms  int   `json:"rooms"`
	Leases int64 `json:"leases"`
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
	conns := 0
	if g := a.srv.reg.Room(req.Room); g != nil {
		conns = g.Len()
	}
	var err error
	if req.Cmd != "" {
		err = a.srv.Publish(req.Room, req.Cmd, RawJSON(req.Payload))
	} else {
		err = a.srv.PublishMessage(req.Room, req.From, RawJSON(req.Payload))
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
	conns := 0
	if u := a.srv.reg.User(req.User); u != nil {
		conns = u.Len()
	}
	var err error
	if req.Cmd != "" {
		err = a.srv.SendUser(req.User, req.Cmd, RawJSON(req.Payload))
	} else {
		err = a.srv.SendMessage(req.User, req.From, RawJSON(req.Payload))
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
	if e := fromServer(a.srv.Broadcast(req.Cmd, RawJSON(req.Data))); e != nil {
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
		sid, perr := ParseSID(req.SID)
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

// GET /api/online → {users, conns, rooms, leases}.
func (a *api) online(*http.Request, []byte) (any, *apiErr) {
	s := a.srv
	return onlineData{Users: s.Online(), Conns: s.Count(), Rooms: s.Rooms(), Leases: s.leases.active.Load()}, nil
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
	room, _ := roomOfPath(r.URL.Path)
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
