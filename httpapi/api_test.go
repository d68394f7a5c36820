package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsloop/wsloop/clock"
	"github.com/wsloop/wsloop/internal/srvtest"
	"github.com/wsloop/wsloop/internal/wstest"
	"github.com/wsloop/wsloop/lease"
	"github.com/wsloop/wsloop/server"
)

// apiClient calls a server's HTTP API over a real socket.
type apiClient struct {
	t    testing.TB
	base string // http://host:port
	key  string // sent as a bearer key when set
}

// rig is one server with its lease table and HTTP API.
type rig struct {
	srv    *server.Server
	leases *lease.Table
	url    string // the WebSocket URL
}

// startAPI runs a server with h, wrapped by a lease table, and its HTTP
// API on loopback ports; ac's Server and Leases are filled in.
func startAPI(t testing.TB, sc server.Config, lc lease.Config, ac Config, h server.Handler) (*rig, *apiClient) {
	t.Helper()
	if lc.Logger == nil {
		lc.Logger = wstest.Logger(t)
	}
	leases, err := lease.New(lc)
	if err != nil {
		t.Fatal(err)
	}
	srv, url := srvtest.Start(t, sc, leases.Wrap(h))
	if err := leases.Attach(srv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(leases.Stop)
	ac.Server, ac.Leases = srv, leases
	if ac.Logger == nil {
		ac.Logger = wstest.Logger(t)
	}
	api, err := New(ac)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(api)
	t.Cleanup(hs.Close)
	return &rig{srv: srv, leases: leases, url: url}, &apiClient{t: t, base: hs.URL, key: ac.APIKey}
}

// apiResult is a decoded answer.
type apiResult struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (c *apiClient) do(method, path, body string) apiResult {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	return c.send(req)
}

func (c *apiClient) send(req *http.Request) apiResult {
	c.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	res := apiResult{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		c.t.Fatalf("%s %s: Content-Type %q, body %q", req.Method, req.URL.Path, ct, raw)
	}
	if err := json.Unmarshal(raw, &res.body); err != nil {
		c.t.Fatalf("%s %s: bad JSON %q: %v", req.Method, req.URL.Path, raw, err)
	}
	return res
}

// ok calls and checks HTTP 200 with code 0 and message "ok"; it returns data.
func (c *apiClient) ok(method, path, body string) map[string]any {
	c.t.Helper()
	res := c.do(method, path, body)
	if res.status != 200 || res.body["code"] != 0.0 || res.body["message"] != "ok" {
		c.t.Fatalf("%s %s %s: %d %s", method, path, body, res.status, res.raw)
	}
	data, _ := res.body["data"].(map[string]any)
	if data == nil {
		c.t.Fatalf("%s %s: data is not an object: %s", method, path, res.raw)
	}
	return data
}

// fail calls and checks the status, the envelope and a message substring.
func (c *apiClient) fail(method, path, body string, status int, msg string) apiResult {
	c.t.Helper()
	res := c.do(method, path, body)
	if res.status != status || res.body["code"] != float64(status) || res.body["data"] != nil {
		c.t.Fatalf("%s %s %.60q: %d %s, want %d with code %d and data null", method, path, body, res.status, res.raw, status, status)
	}
	if m, _ := res.body["message"].(string); !strings.Contains(m, msg) {
		c.t.Fatalf("%s %s: message %q lacks %q", method, path, m, msg)
	}
	return res
}

// lease is what /api/session/start returned.
type testLease struct {
	id, auth, link string
}

func (c *apiClient) startLease(body string) testLease {
	c.t.Helper()
	data := c.ok("POST", "/api/session/start", body)
	info, _ := data["websocket_info"].(map[string]any)
	links, _ := info["wss_link"].([]any)
	l := testLease{id: str(data["conn_id"]), auth: str(info["auth_body"])}
	if l.id == "" || l.auth == "" || len(links) != 1 {
		c.t.Fatalf("session/start data %v", data)
	}
	l.link = str(links[0])
	return l
}

func str(v any) string { s, _ := v.(string); return s }

// dialHeader dials with extra request headers; it does not read anything.
func dialHeader(t testing.TB, url string, h http.Header) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial(url, h)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectRefused checks a connection closed with 1008 and reason right
// after its handshake, with no welcome before.
func expectRefused(t testing.TB, c *websocket.Conn, reason string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, p, err := c.ReadMessage()
	ce, ok := err.(*websocket.CloseError)
	if !ok || ce.Code != 1008 || ce.Text != reason {
		t.Fatalf("read %q, %v; want close 1008 %q", p, err, reason)
	}
}

func TestAPIEndPoint(t *testing.T) {
	r, api := startAPI(t, server.Config{Heartbeat: server.Heartbeat{PingInterval: 7 * time.Second}}, lease.Config{}, Config{}, server.NewRouter())
	url := r.url
	res := api.do("GET", "/api/websocket/end_point", "")
	want := map[string]any{"error_code": 0.0, "error_reason": "", "end_point": url, "ping_interval": 7.0}
	if res.status != 200 || !jsonEqual(res.body, want) {
		t.Fatalf("end_point: %d %s, want %v", res.status, res.raw, want)
	}
	if !strings.HasPrefix(res.raw, `{"error_code":0,"error_reason":"","end_point":"ws://`) {
		t.Errorf("key order: %s", res.raw)
	}

	// Configured: handed out as it is.
	_, api2 := startAPI(t, server.Config{}, lease.Config{}, Config{EndPoint: "wss://chat.example.com/ws"}, server.NewRouter())
	if got := api2.do("GET", "/api/websocket/end_point", "").body["end_point"]; got != "wss://chat.example.com/ws" {
		t.Errorf("configured end_point: %v", got)
	}

	// Clients ask it: never behind the API key, which every other call
	// still needs.
	r3, api3 := startAPI(t, server.Config{}, lease.Config{}, Config{APIKey: "k"}, server.NewRouter())
	api3.key = ""
	res = api3.do("GET", "/api/websocket/end_point", "")
	if res.status != 200 || res.body["end_point"] != r3.url {
		t.Errorf("end_point without the key: %d %s", res.status, res.raw)
	}
	if res = api3.do("GET", "/api/online", ""); res.status != 401 {
		t.Errorf("online without the key: %d %s", res.status, res.raw)
	}

	// On the WebSocket port too, as plain HTTP, once the server is told;
	// other plain requests are refused as before.
	fn, err := PlainEndPoint(r.srv, "")
	if err != nil {
		t.Fatal(err)
	}
	wsHTTP := "http://" + strings.TrimPrefix(strings.TrimSuffix(url, "/ws"), "ws://")
	get := func(path string) (int, string) {
		resp, err := http.Get(wsHTTP + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/api/websocket/end_point"); code != 400 {
		t.Errorf("end point on the WebSocket port before HandlePlain: %d, want 400", code)
	}
	r.srv.HandlePlain(fn)
	code, body := get("/api/websocket/end_point")
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 || !jsonEqual(got, want) {
		t.Errorf("end point on the WebSocket port: %d %s, want %v", code, body, want)
	}
	if code, _ := get("/api/online"); code != 400 {
		t.Errorf("another plain request on the WebSocket port: %d, want 400", code)
	}
	if _, err := PlainEndPoint(r.srv, "http://nope"); err == nil {
		t.Error("PlainEndPoint accepted a bad end point")
	}
}

// TestEndPointDerived: a listener on every address is reached at the host
// the API request named.
func TestEndPointDerived(t *testing.T) {
	srv, err := server.New(server.Config{Addr: ":9000", Path: "/chat", Logger: wstest.Logger(t)}, server.NewRouter())
	if err != nil {
		t.Fatal(err)
	}
	a := &api{cfg: Config{Server: srv}, srv: srv}
	for host, want := range map[string]string{
		"api.example.com:8081": "ws://api.example.com:9000/chat",
		"api.example.com":      "ws://api.example.com:9000/chat",
		"[::1]:8081":           "ws://[::1]:9000/chat",
		"10.0.0.7":             "ws://10.0.0.7:9000/chat",
		"":                     "ws://localhost:9000/chat",
	} {
		r := httptest.NewRequest("GET", "/api/websocket/end_point", nil)
		r.Host = host
		if got := a.endPointFor(r); got != want {
			t.Errorf("Host %q: end point %q, want %q", host, got, want)
		}
	}
	for _, bad := range []string{"http://x/ws", "ws://", "chat.example.com/ws", "ws://x/ws#frag"} {
		if _, err := New(Config{Server: srv, EndPoint: bad}); err == nil {
			t.Errorf("EndPoint %q accepted", bad)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestLeaseLifecycle: start → connect with auth_body (query or header) →
// heartbeat → batch heartbeat → end closes the bound connections with 1000.
func TestLeaseLifecycle(t *testing.T) {
	r, api := startAPI(t, server.Config{}, lease.Config{Timeout: 5 * time.Second}, Config{}, server.NewRouter())
	url := r.url
	res := api.do("POST", "/api/session/start", `{"user":"alice"}`)
	if !strings.HasPrefix(res.raw, `{"code":0,"message":"ok","data":{"conn_id":"`) {
		t.Fatalf("session/start: %s", res.raw)
	}
	data := res.body["data"].(map[string]any)
	if data["timeout"] != 5.0 {
		t.Errorf("timeout %v, want 5", data["timeout"])
	}
	info := data["websocket_info"].(map[string]any)
	l := testLease{id: str(data["conn_id"]), auth: str(info["auth_body"]), link: str(info["wss_link"].([]any)[0])}
	if l.link != url+"?auth_body="+l.auth {
		t.Fatalf("wss_link %q, want %q", l.link, url+"?auth_body="+l.auth)
	}

	// The lease's user is the connections' user: send reaches both.
	a := wstest.NewClient(t, l.link)
	c := dialHeader(t, url, http.Header{"X-Auth-Body": {l.auth}})
	b := wstest.Attach(t, c, "")
	b.Push("welcome")
	if got := api.ok("POST", "/api/send", `{"user":"alice","payload":{"hi":1}}`); got["conns"] != 2.0 {
		t.Errorf("send data %v, want conns 2", got)
	}
	for _, cl := range []*wstest.Client{a, b} {
		if m := cl.Push("message"); !jsonEqual(m["data"], map[string]any{"from": "", "payload": map[string]any{"hi": 1}}) {
			t.Errorf("message %v", m)
		}
	}

	if got := api.ok("POST", "/api/session/heartbeat", `{"conn_id":"`+l.id+`"}`); len(got) != 0 {
		t.Errorf("heartbeat data %v, want {}", got)
	}
	other := api.startLease("")
	got := api.ok("POST", "/api/session/batch-heartbeat", `{"conn_ids":["`+l.id+`","nope","`+other.id+`"]}`)
	if !jsonEqual(got, map[string]any{"failed_conn_ids": []string{"nope"}}) {
		t.Errorf("batch-heartbeat data %v, want failed [nope]", got)
	}
	if got := api.ok("GET", "/api/online", ""); got["leases"] != 2.0 || got["users"] != 1.0 || got["conns"] != 2.0 {
		t.Errorf("online %v", got)
	}

	if got := api.ok("POST", "/api/session/end", `{"conn_id":"`+l.id+`"}`); got["closed"] != 2.0 {
		t.Errorf("end data %v, want closed 2", got)
	}
	for _, cl := range []*wstest.Client{a, b} {
		<-cl.Done
		if ce, ok := cl.Err.Load().(*websocket.CloseError); !ok || ce.Code != 1000 || ce.Text != "lease ended" {
			t.Errorf("bound connection ended with %v, want close 1000 lease ended", cl.Err.Load())
		}
	}
	api.fail("POST", "/api/session/heartbeat", `{"conn_id":"`+l.id+`"}`, 404, "unknown or expired conn_id")
	api.fail("POST", "/api/session/end", `{"conn_id":"`+l.id+`"}`, 404, "unknown or expired conn_id")
	got = api.ok("POST", "/api/session/batch-heartbeat", `{"conn_ids":["`+other.id+`","`+l.id+`"]}`)
	if !jsonEqual(got, map[string]any{"failed_conn_ids": []string{l.id}}) {
		t.Errorf("batch-heartbeat after end: %v", got)
	}
	expectRefused(t, wstest.Dial(t, l.link), "unknown or expired auth_body")
}

// TestLeaseExpiryClosesConnections: heartbeats keep a lease alive past its
// timeout; once they stop, its connection is closed with 1008 "lease
// expired" no earlier than the timeout after the last heartbeat and within
// a tick after it (the lease table on a fake clock).
func TestLeaseExpiryClosesConnections(t *testing.T) {
	const timeout, tick = 800 * time.Millisecond, 20 * time.Millisecond
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	rec := srvtest.NewCloseRecorder(server.NewRouter())
	r, api := startAPI(t, server.Config{}, lease.Config{Timeout: timeout, Tick: tick, Clock: clk}, Config{}, rec)
	l := api.startLease(`{"user":"bob"}`)
	c, _ := wstest.DialRouter(t, l.link)
	for i := 0; i < 5; i++ { // 5 × 200 ms: past one timeout
		clk.Advance(200 * time.Millisecond)
		api.ok("POST", "/api/session/heartbeat", `{"conn_id":"`+l.id+`"}`)
	}
	clk.Advance(timeout - time.Millisecond)
	if st := r.leases.Stats(); st.Expired != 0 || st.Active != 1 {
		t.Fatalf("before the deadline: %+v", st)
	}
	clk.Advance(time.Millisecond + tick)
	if ce := wstest.ExpectClose(t, c, 1008); ce.Text != "lease expired" {
		t.Errorf("close reason %q, want lease expired", ce.Text)
	}
	if r := rec.Next(t); r.Cause != server.CauseKick || r.Code != 1008 || r.Text != "lease expired" {
		t.Errorf("OnClose reason %+v, want kick 1008 lease expired", r)
	}
	got := api.ok("POST", "/api/session/batch-heartbeat", `{"conn_ids":["`+l.id+`"]}`)
	if !jsonEqual(got, map[string]any{"failed_conn_ids": []string{l.id}}) {
		t.Errorf("batch-heartbeat of an expired lease: %v", got)
	}
	api.fail("POST", "/api/session/heartbeat", `{"conn_id":"`+l.id+`"}`, 404, "unknown or expired")
	expectRefused(t, wstest.Dial(t, l.link), "unknown or expired auth_body")
}

// TestLeaseRefusals: a bad auth_body is refused with 1008 whether or not
// leases are required; no auth_body is refused only when they are.
func TestLeaseRefusals(t *testing.T) {
	for _, require := range []bool{false, true} {
		t.Run("RequireLease="+strconv.FormatBool(require), func(t *testing.T) {
			r, api := startAPI(t, server.Config{}, lease.Config{Require: require}, Config{}, server.NewRouter())
			url := r.url
			if require {
				expectRefused(t, wstest.Dial(t, url), "auth_body required")
			} else {
				wstest.DialRouter(t, url) // welcome: accepted as before
			}
			expectRefused(t, wstest.Dial(t, url+"?auth_body=bogus"), "unknown or expired auth_body")
			expectRefused(t, wstest.Dial(t, url+"?auth_body="), "unknown or expired auth_body")
			expectRefused(t, dialHeader(t, url, http.Header{"X-Auth-Body": {"bogus"}}), "unknown or expired auth_body")
			l := api.startLease("")
			wstest.DialRouter(t, l.link)
			// Escaped the way a cautious client might: still the same token.
			wstest.DialRouter(t, url+"?x=1&auth_body="+strings.ReplaceAll(l.auth, "-", "%2D"))
		})
	}
}

// TestAPIServer: the server API reaches real clients.
func TestAPIServer(t *testing.T) {
	r, api := startAPI(t, server.Config{}, lease.Config{}, Config{}, srvtest.UserRouter())
	url := r.url
	a1 := wstest.NewClient(t, url+"?user=alice")
	a2 := wstest.NewClient(t, url+"?user=alice")
	bob := wstest.NewClient(t, url+"?user=bob")
	for _, cl := range []*wstest.Client{a1, a2, bob} {
		cl.OK("join", map[string]any{"room": "r1", "meta": map[string]any{"n": cl.SID}})
	}
	a1.Quiet(50*time.Millisecond, "enter_room")

	// publish: the message shape, and an event with cmd.
	if got := api.ok("POST", "/api/publish", `{"room":"r1","payload":{"x":1},"from":"ops"}`); !jsonEqual(got, map[string]any{"room": "r1", "conns": 3}) {
		t.Errorf("publish data %v", got)
	}
	for _, cl := range []*wstest.Client{a1, a2, bob} {
		m := cl.Push("message")
		if !jsonEqual(m["data"], map[string]any{"room": "r1", "from": "ops", "payload": map[string]any{"x": 1}}) {
			t.Errorf("room message %v", m)
		}
	}
	api.ok("POST", "/api/publish", `{"room":"r1","cmd":"notice","payload":[1,2]}`)
	for _, cl := range []*wstest.Client{a1, a2, bob} {
		if m := cl.Push("notice"); !jsonEqual(m["data"], []any{1, 2}) {
			t.Errorf("notice %v", m)
		}
	}
	if got := api.ok("POST", "/api/publish", `{"room":"empty","payload":1}`); got["conns"] != 0.0 {
		t.Errorf("publish to an empty room: %v", got)
	}

	// send: the user's connections only.
	api.ok("POST", "/api/send", `{"user":"bob","payload":"hey"}`)
	if m := bob.Push("message"); !jsonEqual(m["data"], map[string]any{"from": "", "payload": "hey"}) {
		t.Errorf("user message %v", m)
	}
	api.ok("POST", "/api/send", `{"user":"bob","cmd":"ding","payload":{"n":2}}`)
	if m := bob.Push("ding"); !jsonEqual(m["data"], map[string]any{"n": 2}) {
		t.Errorf("user event %v", m)
	}
	a1.Quiet(50 * time.Millisecond)

	// broadcast: everyone.
	if got := api.ok("POST", "/api/broadcast", `{"data":{"v":3}}`); got["conns"] != 3.0 {
		t.Errorf("broadcast data %v", got)
	}
	for _, cl := range []*wstest.Client{a1, a2, bob} {
		if m := cl.Push("broadcast"); !jsonEqual(m["data"], map[string]any{"v": 3}) {
			t.Errorf("broadcast %v", m)
		}
	}

	// online and members.
	if got := api.ok("GET", "/api/online", ""); !jsonEqual(got, map[string]any{"users": 2, "conns": 3, "rooms": 1, "leases": 0}) {
		t.Errorf("online %v", got)
	}
	got := api.ok("POST", "/api/members", `{"room":"r1"}`)
	if got["room"] != "r1" || got["count"] != 2.0 || got["conns"] != 3.0 || len(got["members"].([]any)) != 2 {
		t.Errorf("members %v", got)
	}
	got = api.ok("GET", "/api/rooms/r1/members?limit=1", "")
	if got["count"] != 2.0 || len(got["members"].([]any)) != 1 {
		t.Errorf("GET members limit 1: %v", got)
	}
	if got := api.ok("GET", "/api/rooms/no%2Fsuch/members", ""); got["room"] != "no/such" || got["count"] != 0.0 {
		t.Errorf("members of an empty room with a slash: %v", got)
	}

	// kick: bob leaves the room, stays connected.
	api.ok("POST", "/api/kick", `{"room":"r1","user":"bob"}`)
	if m := bob.Push("exit_room"); !jsonEqual(m["data"], map[string]any{"room": "r1", "user": "bob", "reason": "kick"}) {
		t.Errorf("kick event %v", m)
	}
	if got := api.ok("POST", "/api/members", `{"room":"r1"}`); got["count"] != 1.0 {
		t.Errorf("members after kick: %v", got)
	}

	// disconnect one session, then a user.
	api.ok("POST", "/api/disconnect", `{"sid":"`+a2.SID+`"}`)
	<-a2.Done
	if ce, ok := a2.Err.Load().(*websocket.CloseError); !ok || ce.Code != 1000 || ce.Text != "disconnected by server" {
		t.Errorf("session disconnect: %v", a2.Err.Load())
	}
	api.ok("POST", "/api/disconnect", `{"user":"bob","code":4001,"reason":"bye"}`)
	<-bob.Done
	if ce, ok := bob.Err.Load().(*websocket.CloseError); !ok || ce.Code != 4001 || ce.Text != "bye" {
		t.Errorf("user disconnect: %v", bob.Err.Load())
	}
	// An id of a session that has gone is not an error.
	api.ok("POST", "/api/disconnect", `{"sid":"`+a2.SID+`"}`)
}

// TestAPIKey: with a key, every /api/ endpoint wants it; the operator
// endpoints do not.
func TestAPIKey(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("# metrics\n")) })
	_, api := startAPI(t, server.Config{}, lease.Config{}, Config{APIKey: "s3cret", Metrics: metrics}, server.NewRouter())
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", 401},
		{"Bearer", 401},
		{"Bearer wrong", 401},
		{"Bearer s3cret2", 401},
		{"Bearer s3cre", 401},
		{"Basic s3cret", 401},
		{"Bearer s3cret", 200},
		{"bearer s3cret", 200},
		{"apikey s3cret", 200},
	} {
		req, _ := http.NewRequest("GET", api.base+"/api/online", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res := api.send(req)
		if res.status != tc.want {
			t.Errorf("Authorization %q: %d %s, want %d", tc.auth, res.status, res.raw, tc.want)
		}
		if tc.want == 401 && (res.header.Get("WWW-Authenticate") == "" || res.body["code"] != 401.0) {
			t.Errorf("Authorization %q: 401 without WWW-Authenticate or code: %v %s", tc.auth, res.header, res.raw)
		}
	}
	key := api.key
	api.key = ""
	for _, p := range []string{"/api/session/start", "/api/publish", "/api/nope"} {
		api.fail("POST", p, `{}`, 401, "API key") // before anything else: no 404, no 400
	}
	api.key = key
	api.ok("POST", "/api/session/start", "")
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		resp, err := http.Get(api.base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s without the key: %d", p, resp.StatusCode)
		}
	}
}

// TestAPIErrors: bad requests get the documented 4xx and a clear message.
func TestAPIErrors(t *testing.T) {
	_, api := startAPI(t, server.Config{}, lease.Config{}, Config{MaxBodySize: 1024}, server.NewRouter())
	long := strings.Repeat("r", 257)
	tests := []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"POST", "/api/publish", `{"room":"r",`, 400, "malformed JSON"},
		{"POST", "/api/publish", `{"room":"r","payload":1} {}`, 400, "malformed JSON"},
		{"POST", "/api/publish", `[1]`, 400, "must be a JSON object"},
		{"POST", "/api/publish", ``, 400, "must be a JSON object"},
		{"POST", "/api/publish", `{"room":1,"payload":1}`, 400, "room: a number where a string was expected"},
		{"POST", "/api/publish", `{"payload":1}`, 400, "room required"},
		{"POST", "/api/publish", `{"room":"r"}`, 400, "payload required"},
		{"POST", "/api/publish", `{"room":"` + long + `","payload":1}`, 400, "room longer than 256 bytes"},
		{"POST", "/api/send", `{"payload":1}`, 400, "user required"},
		{"POST", "/api/broadcast", `{"cmd":"x"}`, 400, "data required"},
		{"POST", "/api/disconnect", `{}`, 400, "one of user and sid"},
		{"POST", "/api/disconnect", `{"user":"a","sid":"1"}`, 400, "one of user and sid"},
		{"POST", "/api/disconnect", `{"sid":"x"}`, 400, "not a session id"},
		{"POST", "/api/disconnect", `{"sid":"ff000000000000000000000000000001"}`, 404, "no such session"},
		{"POST", "/api/disconnect", `{"user":"a","code":1006}`, 400, "code 1006"},
		{"POST", "/api/disconnect", `{"user":"a","code":-1}`, 400, "code -1"},
		{"POST", "/api/disconnect", `{"user":"a","reason":"` + strings.Repeat("x", 124) + `"}`, 400, "reason longer"},
		{"POST", "/api/kick", `{"room":"r"}`, 400, "user required"},
		{"POST", "/api/members", `{}`, 400, "room required"},
		{"POST", "/api/members", `{"room":"r","limit":-1}`, 400, "limit"},
		{"GET", "/api/rooms/r/members?limit=x", ``, 400, "limit"},
		{"POST", "/api/session/start", `{"user":5}`, 400, "user: a number where a string was expected"},
		{"POST", "/api/session/heartbeat", `{}`, 400, "conn_id required"},
		{"POST", "/api/session/heartbeat", `{"conn_id":"nope"}`, 404, "unknown or expired conn_id"},
		{"POST", "/api/session/batch-heartbeat", `{}`, 400, "conn_ids required"},
		{"POST", "/api/session/batch-heartbeat", `{"conn_ids":"a"}`, 400, "conn_ids: a string where an array was expected"},
		{"POST", "/api/disconnect", `{"user":"a","code":1.5}`, 400, "code: a number where a whole number was expected"},
		{"POST", "/api/publish", `{"room":"r","payload":1,"room":"s"}`, 400, `duplicate key "room"`},
		{"POST", "/api/publish", `{"room":"r","payload":1,"Room":"s"}`, 400, `duplicate key "Room"`},
		{"POST", "/api/send", `{"user":"alice","payload":1,"uſer":"mallory"}`, 400, `duplicate key "uſer"`},
		{"POST", "/api/publish", `{"room":"r","payload":{"a":1,"a":2},"\u0072oom":"s"}`, 400, `duplicate key "room"`},
		{"POST", "/api/publish", "{\"room\":\"r\",\"payload\":\"\xff\"}", 400, "not valid UTF-8"},
		{"POST", "/api/broadcast", `{"data":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, 400, "nested too deeply"},
		{"POST", "/api/session/end", `{"conn_id":"nope"}`, 404, "unknown or expired conn_id"},
		{"POST", "/api/publish", `{"room":"r","payload":"` + strings.Repeat("x", 1024) + `"}`, 413, "over 1024 bytes"},
		{"GET", "/api/publish", ``, 405, "takes POST"},
		{"POST", "/api/online", `{}`, 405, "takes GET"},
		{"DELETE", "/api/session/start", ``, 405, "takes POST"},
		{"GET", "/api/nope", ``, 404, "no API endpoint /api/nope"},
		{"GET", "/api/rooms//members", ``, 404, "no API endpoint"},
	}
	for _, tt := range tests {
		res := api.fail(tt.method, tt.path, tt.body, tt.status, tt.msg)
		// A 400 says what is wrong in the API's words: no parser internals,
		// no piece of the body beyond a field name.
		if m, _ := res.body["message"].(string); tt.status == 400 &&
			(len(m) > 80 || strings.ContainsAny(m, "\n\t") || strings.Contains(strings.ToLower(m), "json:") ||
				strings.Contains(m, "offset") || strings.Contains(m, "payload\"")) {
			t.Errorf("%s %s %.40q: message %q is not a short message of the API's own", tt.method, tt.path, tt.body, m)
		}
		if tt.status == 405 {
			// The mux's Allow (GET routes take HEAD too), quoted in the message.
			m, _ := res.body["message"].(string)
			if allow := res.header.Get("Allow"); allow == "" || !strings.HasPrefix(allow, strings.TrimPrefix(tt.msg, "takes ")) || !strings.HasSuffix(m, "takes "+allow) {
				t.Errorf("%s %s: Allow %q, message %q", tt.method, tt.path, allow, m)
			}
		}
	}
	// A body without Content-Length (chunked) is cut at the limit too.
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte(`{"room":"r","payload":"` + strings.Repeat("x", 4096) + `"}`))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", api.base+"/api/publish", pr)
	if res := api.send(req); res.status != 413 {
		t.Errorf("chunked oversize body: %d %s", res.status, res.raw)
	}
}

// TestAPINotServing: the calls that need connections answer 503 before
// Serve and after Shutdown (Retry-After says when to come back), as does
// /readyz; /healthz answers 200 throughout.
func TestAPINotServing(t *testing.T) {
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", Logger: wstest.Logger(t)}, server.NewRouter())
	if err != nil {
		t.Fatal(err)
	}
	leases, err := lease.New(lease.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Server: srv, Leases: leases, Logger: wstest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	call := func(path, body string) (int, string, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader(body)))
		return rec.Code, rec.Body.String(), rec.Header().Get("Retry-After")
	}
	if get("/healthz") != 200 || get("/readyz") != 503 {
		t.Fatalf("before Serve: healthz %d readyz %d", get("/healthz"), get("/readyz"))
	}
	for _, p := range []string{"/api/publish", "/api/session/start"} {
		if code, body, ra := call(p, `{"room":"r","payload":1}`); code != 503 || ra != "1" || !strings.Contains(body, `"code":503,"message":"server not serving yet"`) {
			t.Errorf("%s before Serve: %d %s (Retry-After %q)", p, code, body, ra)
		}
	}
	_ = srv.Listen()
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	<-srv.Ready()
	if get("/readyz") != 200 {
		t.Fatalf("serving: readyz %d", get("/readyz"))
	}
	if code, body, _ := call("/api/session/start", ``); code != 200 {
		t.Errorf("session/start while serving: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	<-served
	if code, body, _ := call("/api/broadcast", `{"data":1}`); code != 503 || !strings.Contains(body, "shutting down") {
		t.Errorf("broadcast after Shutdown: %d %s", code, body)
	}
	if get("/readyz") != 503 || get("/healthz") != 200 {
		t.Fatalf("after Shutdown: readyz %d healthz %d", get("/readyz"), get("/healthz"))
	}
}

// TestEndPointHandler: an application's web server answers the end point
// as the API does.
func TestEndPointHandler(t *testing.T) {
	r, _ := startAPI(t, server.Config{}, lease.Config{}, Config{}, server.NewRouter())
	h, err := EndPointHandler(r.srv, "")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/anywhere", nil))
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 || got["end_point"] != r.url || got["error_code"] != 0.0 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != 405 || !strings.Contains(rec.Body.String(), `"error_code":405`) {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	if _, err := EndPointHandler(r.srv, "http://x"); err == nil {
		t.Error("a bad end point accepted")
	}
}
