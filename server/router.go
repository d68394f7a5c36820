package server

import (
	"errors"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/bytedance/sonic"

	"github.com/wsloop/wsloop/codec"
	"github.com/wsloop/wsloop/protocol"
)

// HandlerFunc handles one request. It runs on the connection's event loop
// and must not block. c is valid only until the function returns.
type HandlerFunc func(c *Context)

// Middleware wraps a HandlerFunc; it may answer on its own (c.Fail) and not
// call next.
type Middleware func(next HandlerFunc) HandlerFunc

type route struct {
	name string
	fn   HandlerFunc // with middleware applied
	// ping: the built-in ping command, which Config.Heartbeat.Forms switches.
	ping bool
}

// Router is a Handler that speaks wsloop's JSON protocol (README "Protocol"):
// requests {"cmd","seqno","data"} are dispatched by cmd to the functions
// registered with Handle, through the middleware registered with Use.
// Replies echo cmd and seqno; unknown commands get status 404, malformed
// JSON 400, a panicking handler 500 (logged with its stack; the connection
// survives). A handler that returns without replying gets status 0 "ok".
//
// Configure a Router (Handle, Use, HandleOpen, HandleClose,
// DisableWelcome) before it handles its first connection; those setters
// are not safe for concurrent use, and once the Router routes they panic
// instead of changing it. The Router needs nothing from New: wrapped in
// any Handler (a decorator that checks tokens, say), it routes the same.
// One Router may serve several servers.
//
// Built-in commands: "echo" answers with the request's data; "ping" answers
// with cmd "pong" (switched by Config.Heartbeat.Forms, signed when
// Config.Heartbeat.Secret is set); "join", "leave", "publish", "send" and
// "members" are the room commands (see README "Rooms" for their data
// and replies). Any of them can be replaced with Handle, or guarded by
// middleware (e.g. one that refuses publish to rooms the user is not in). On open, the client receives the "welcome" event with its
// sid and the ping interval in seconds.
type Router struct {
	handlers map[string]HandlerFunc
	mw       []Middleware
	onOpen   func(s *Session, r *codec.Request) error
	onClose  func(s *Session, reason CloseReason)
	welcome  bool
	// builtinPing: "ping" is the built-in handler (switched by
	// Config.Heartbeat.Forms), not one the application registered.
	builtinPing bool

	// routes is built from handlers and mw once, when the Router first
	// handles a connection (on whichever loop that is); frozen then
	// refuses changes.
	once   sync.Once
	routes map[string]route
	frozen atomic.Bool
}

var _ Handler = (*Router)(nil)

// NewRouter returns a Router with the built-in commands registered.
func NewRouter() *Router {
	r := &Router{handlers: make(map[string]HandlerFunc), welcome: true}
	r.Handle("echo", func(c *Context) { c.reply(c.env.Cmd, 0, "ok", c.Data) })
	r.Handle("join", handleJoin)
	r.Handle("leave", handleLeave)
	r.Handle("publish", handlePublish)
	r.Handle("send", handleSend)
	r.Handle("members", handleMembers)
	r.Handle("ping", handlePing)
	r.builtinPing = true
	return r
}

// Handle registers fn for requests whose cmd is cmd, replacing any earlier
// registration (built-ins included). Not safe for concurrent use; panics
// once the Router routes.
func (r *Router) Handle(cmd string, fn HandlerFunc) {
	r.mustNotRoute("Handle")
	if cmd == "ping" {
		r.builtinPing = false
	}
	r.handlers[cmd] = fn
}

// Use appends middleware; it wraps every command, built-ins included, in
// the order given (the first is outermost). Not safe for concurrent use;
// panics once the Router routes.
func (r *Router) Use(mw ...Middleware) {
	r.mustNotRoute("Use")
	r.mw = append(r.mw, mw...)
}

// HandleOpen sets a function run when a connection opens, before the
// welcome event; an error refuses the connection (see Handler.OnOpen).
// It runs on the connection's event loop. Not safe for concurrent use;
// panics once the Router routes.
func (r *Router) HandleOpen(fn func(s *Session, req *codec.Request) error) {
	r.mustNotRoute("HandleOpen")
	r.onOpen = fn
}

// HandleClose sets a function run when a connection closes (one that
// HandleOpen did not refuse). It runs on the connection's event loop. Not
// safe for concurrent use; panics once the Router routes.
func (r *Router) HandleClose(fn func(s *Session, reason CloseReason)) {
	r.mustNotRoute("HandleClose")
	r.onClose = fn
}

// DisableWelcome stops the router from sending the welcome event on open.
// Not safe for concurrent use; panics once the Router routes.
func (r *Router) DisableWelcome() {
	r.mustNotRoute("DisableWelcome")
	r.welcome = false
}

func (r *Router) mustNotRoute(setter string) {
	if r.frozen.Load() {
		panic("server: Router." + setter + " called after the Router began routing; configure it before its first connection")
	}
}

// build makes the middleware chains, once, when the Router first handles a
// connection; from then on it is read-only.
func (r *Router) build() {
	r.frozen.Store(true)
	r.routes = make(map[string]route, len(r.handlers))
	for name, fn := range r.handlers {
		h := fn
		for i := len(r.mw) - 1; i >= 0; i-- {
			h = r.mw[i](h)
		}
		r.routes[name] = route{name: name, fn: h, ping: name == "ping" && r.builtinPing}
	}
}

// OnOpen implements Handler.
func (r *Router) OnOpen(s *Session, req *codec.Request) error {
	r.once.Do(r.build)
	if r.onOpen != nil {
		if err := r.onOpen(s, req); err != nil {
			return err
		}
	}
	if r.welcome {
		// The data goes in the reply scratch: pushEncoded encodes into
		// l.scratch, and no reply is being built during OnOpen.
		l := s.loop
		var sid [32]byte
		token := ""
		if secret := l.srv.cfg.Heartbeat.Secret; len(secret) > 0 {
			token = protocol.OnlineToken(secret, s.SID())
		}
		l.reply = protocol.AppendWelcome(l.reply[:0], AppendSID(sid[:0], s.id, s.tag), int64(l.srv.cfg.Heartbeat.PingInterval/time.Second), token)
		s.pushEncoded("welcome", l.reply)
	}
	return nil
}

// OnClose implements Handler.
func (r *Router) OnClose(s *Session, reason CloseReason) {
	if r.onClose != nil {
		r.onClose(s, reason)
	}
}

// OnMessage implements Handler: it decodes the envelope and dispatches.
//
// Binary messages carry the same JSON as text messages and are held to the
// same rules: one that is not valid UTF-8 closes the connection with 1007
// "invalid UTF-8 in message", as a text message would at the frame layer.
// Nothing a client sends can therefore put bytes that are not UTF-8 into the
// text frames other clients receive (data, payload and meta are copied into
// them as sent).
func (r *Router) OnMessage(s *Session, op codec.OpCode, p []byte) {
	if op == codec.OpBinary && !utf8.Valid(p) {
		s.loop.closeWith(s, codec.StatusInvalidPayload, invalidUTF8Message, CauseProtocol)
		return
	}
	r.once.Do(r.build) // done by OnOpen, unless a decorator skipped it
	c := &s.loop.ctx
	c.reset(s)
	err := c.env.Decode(p)
	c.Seqno, c.Data = c.env.Seqno, c.env.Data
	if err != nil {
		c.reply(c.env.Cmd, protocol.StatusBadRequest, protocol.ErrorText(err), nil)
		return
	}
	rt, ok := r.routes[string(c.env.Cmd)]
	if ok && rt.ping && s.loop.srv.cfg.Heartbeat.Forms&HeartbeatPingCmd == 0 {
		ok = false // the ping command is switched off
	}
	if !ok {
		c.reply(c.env.Cmd, 404, "unknown cmd", nil)
		return
	}
	c.Cmd = rt.name
	r.call(c, rt.fn)
	if !c.replied && c.s.state == stateOpen {
		c.reply(c.env.Cmd, 0, "ok", nil)
	}
}

// invalidUTF8Message is the close reason for a binary message that is not
// UTF-8 (a text one gets the frame layer's codec.ErrInvalidUTF8).
const invalidUTF8Message = "invalid UTF-8 in message"

func (r *Router) call(c *Context, fn HandlerFunc) {
	defer func() {
		if p := recover(); p != nil {
			c.s.loop.srv.log.Error("handler panic", "cmd", c.Cmd, "sid", c.s.id, "panic", p, "stack", string(debug.Stack()))
			if !c.replied {
				c.Fail(500, "internal error")
			}
		}
	}()
	fn(c)
}

// Context is one request being handled. It is reused for the next request
// of the same loop: c and every slice in it are valid only until the
// handler returns, and its methods must be called on the connection's
// event loop (from the handler).
type Context struct {
	// Cmd is the request's command.
	Cmd string
	// Seqno is the raw JSON token of the request's seqno (quotes included),
	// nil when absent. Replies echo it verbatim.
	Seqno []byte
	// Data is the raw JSON value of the request's data, nil when absent.
	Data []byte

	s       *Session
	env     protocol.Envelope
	replied bool
	vals    []ctxVal
}

type ctxVal struct {
	key string
	val any
}

func (c *Context) reset(s *Session) {
	c.s, c.Cmd, c.Seqno, c.Data, c.replied = s, "", nil, nil, false
	for i := range c.vals {
		c.vals[i] = ctxVal{}
	}
	c.vals = c.vals[:0]
}

// Session returns the session the request came from.
// Must be called on the connection's event loop.
func (c *Context) Session() *Session { return c.s }

// ErrNoData is returned by Bind when the request has no data.
var ErrNoData = errors.New("server: request has no data")

// Bind unmarshals the request's data into v with sonic.
// Must be called on the connection's event loop.
func (c *Context) Bind(v any) error {
	if len(c.Data) == 0 {
		return ErrNoData
	}
	return sonic.Unmarshal(c.Data, v)
}

// OK replies with status 0, msg "ok" and data marshalled with sonic (nil
// omits "data"). A marshalling error becomes a status 500 reply.
// Must be called on the connection's event loop.
func (c *Context) OK(data any) {
	raw, err := marshal(data)
	if err != nil {
		c.Fail(500, "internal error")
		return
	}
	c.reply(c.env.Cmd, 0, "ok", raw)
}

// OKRaw replies with status 0 and data as given (one JSON value; nil omits
// "data"). It allocates nothing. Data that is not one valid JSON value in
// valid UTF-8 is not sent: the request is answered with status 500
// "internal error" instead, the fault is logged, and OKRaw returns
// ErrInvalidJSON or ErrInvalidUTF8. Must be called on the connection's
// event loop.
func (c *Context) OKRaw(data []byte) error { return c.replyRaw(c.env.Cmd, 0, "ok", data) }

// Fail replies with a non-zero status and a message.
// Must be called on the connection's event loop.
func (c *Context) Fail(status int, msg string) { c.reply(c.env.Cmd, status, msg, nil) }

// Reply replies with another cmd than the request's (as "ping" answers
// "pong"), a status, a message and raw JSON data (nil omits "data"). Data
// is checked as OKRaw checks it. Must be called on the connection's event
// loop.
func (c *Context) Reply(cmd string, status int, msg string, data []byte) error {
	l := c.s.loop
	l.scratch = append(l.scratch[:0], cmd...)
	n := len(l.scratch)
	return c.replyRaw(l.scratch[:n:n], status, msg, data)
}

// replyRaw is reply for data from the handler, which is checked first.
func (c *Context) replyRaw(cmd []byte, status int, msg string, data []byte) error {
	if len(data) > 0 {
		if err := checkRaw(data); err != nil {
			c.s.loop.srv.log.Error("reply data refused", "cmd", c.Cmd, "sid", c.s.id, "err", err)
			c.reply(cmd, protocol.StatusInternal, "internal error", nil)
			return err
		}
	}
	c.reply(cmd, status, msg, data)
	return nil
}

func (c *Context) reply(cmd []byte, status int, msg string, data []byte) {
	if c.replied {
		return
	}
	c.replied = true
	s := c.s
	if s.state != stateOpen {
		return
	}
	l := s.loop
	l.reply = protocol.AppendReply(l.reply[:0], cmd, c.Seqno, status, msg, data)
	l.appendFrame(s, codec.OpText, l.reply)
	l.stats.msgsOut.Add(1)
}

// Defer takes the answer to this request out of the handler: the handler
// returns without replying (no automatic "ok"), and the returned Deferred
// answers later, from any goroutine, when what the answer needs (other
// nodes, a database) has come. Must be called on the connection's event
// loop.
func (c *Context) Defer() *Deferred {
	c.replied = true
	return &Deferred{srv: c.s.loop.srv, sid: c.s.id, cmd: string(c.env.Cmd), seqno: append([]byte(nil), c.Seqno...)}
}

// Deferred is a reply that a handler left for later (Context.Defer). Its
// methods are safe for concurrent use; the first call answers, later ones
// do nothing.
type Deferred struct {
	srv   *Server
	sid   uint64
	cmd   string
	seqno []byte
	done  atomic.Bool
}

// OK answers with status 0 and data marshalled with sonic (nil omits
// "data"); a marshalling error answers 500. A session that has closed
// meanwhile drops it. Safe for concurrent use.
func (d *Deferred) OK(data any) error {
	raw, err := marshal(data)
	if err != nil {
		_ = d.send(protocol.StatusInternal, "internal error", nil)
		return err
	}
	return d.send(protocol.StatusOK, "ok", raw)
}

// Fail answers with a non-zero status and a message. Safe for concurrent
// use.
func (d *Deferred) Fail(status int, msg string) error { return d.send(status, msg, nil) }

func (d *Deferred) send(status int, msg string, data []byte) error {
	if d.done.Swap(true) {
		return nil
	}
	l, err := d.srv.loopFor(d.sid)
	if err != nil {
		return err
	}
	f := frameOf(protocol.AppendReply(nil, []byte(d.cmd), d.seqno, status, msg, data))
	if err := l.enqueue(job{kind: jobPush, sid: d.sid, frame: f, reply: true}); err != nil {
		f.Release()
		return err
	}
	return nil
}

// Push sends an event {"cmd":cmd,"data":data} to the requesting session; it
// leaves in the same write as the reply. Must be called on the
// connection's event loop.
func (c *Context) Push(cmd string, data any) error {
	raw, err := marshal(data)
	if err != nil {
		return err
	}
	if c.s.state != stateOpen {
		return ErrClosed
	}
	c.s.pushEncoded(cmd, raw)
	return nil
}

// Set stores a request-scoped value (middleware to handler).
// Must be called on the connection's event loop.
func (c *Context) Set(key string, v any) {
	for i := range c.vals {
		if c.vals[i].key == key {
			c.vals[i].val = v
			return
		}
	}
	c.vals = append(c.vals, ctxVal{key, v})
}

// Get returns a request-scoped value stored with Set.
// Must be called on the connection's event loop.
func (c *Context) Get(key string) (any, bool) {
	for _, kv := range c.vals {
		if kv.key == key {
			return kv.val, true
		}
	}
	return nil, false
}

// Close closes the requesting session with a close frame after this
// request's replies. Must be called on the connection's event loop.
func (c *Context) Close(code codec.StatusCode, reason string) {
	c.s.loop.closeWith(c.s, code, reason, CauseServer)
}

// handlePing answers the ping command with pong and the server time in ms.
// With Config.Heartbeat.Secret set, the ping must be signed (see there).
func handlePing(c *Context) {
	l := c.s.loop
	if secret := l.srv.cfg.Heartbeat.Secret; len(secret) > 0 {
		var p protocol.SignedPing
		status, msg := protocol.StatusBadRequest, "online_token and timestamp required"
		if c.Bind(&p) == nil {
			sid := c.s.SID()
			var ts int64
			status, msg, ts = p.Check(secret, protocol.OnlineToken(secret, sid), sid, l.srv.clk.Now(), l.srv.cfg.Heartbeat.SignWindow)
			if x := c.s.x(); status == protocol.StatusOK {
				if ts <= x.lastSign {
					status, msg = protocol.StatusUnauthenticated, "replayed timestamp"
				} else {
					x.lastSign = ts
				}
			}
		}
		if status != protocol.StatusOK {
			c.s.notAlive = true
			c.Fail(status, msg)
			if status == protocol.StatusUnauthenticated {
				if c.s.badSigns++; c.s.badSigns >= maxBadSigns {
					c.Close(codec.StatusPolicyViolation, "bad heartbeat signature")
				}
			}
			return
		}
		c.s.badSigns = 0
	}
	l.pong = protocol.AppendPong(l.pong[:0], l.srv.clk.Now().UnixMilli())
	c.reply(pongCmd, 0, "ok", l.pong)
}

var pongCmd = []byte("pong")

// maxBadSigns rejected signed pings in a row close the connection.
const maxBadSigns = 3
