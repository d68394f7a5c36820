// wsloop client: the JSON protocol of the wsloop WebSocket server
// (requests with seqno-matched replies, pushes, rooms, heartbeats) plus
// automatic reconnection. One ES module without dependencies, for browsers
// and Node >= 18 (where the WebSocket constructor is passed in, e.g. the
// `ws` package's). README.md beside this file documents the API.

/** Lifecycle event names. They start with "$" so that they live in a
 *  namespace of their own: wsloop's commands never start with "$", and a
 *  push whose cmd does is ignored (see #dispatch). */
const EVENTS = new Set(['$open', '$close', '$reconnecting', '$reconnect', '$error']);

const DEFAULT_RECONNECT = Object.freeze({
  minDelay: 500,
  maxDelay: 30000,
  factor: 2,
  jitter: 0.3,
  maxAttempts: Infinity,
});

// Used only when the server's welcome lacks a usable ping_interval: the
// server's own default is 15 s.
const FALLBACK_PING_INTERVAL = 15;
const MAX_PING_INTERVAL = 2147483; // seconds: setInterval's limit is 2^31-1 ms

// How long close() waits for the server's close frame before giving up on
// the socket. RFC 6455 servers answer at once; wsloop does within a tick.
const CLOSE_TIMEOUT = 3000;

// How long a close event may lag behind an error event. Browsers fire both
// in the same task and `ws` within a few ticks, but some implementations
// (undici's WebSocket in Node 20, on a refused connection) fire the error
// alone and leave the socket "connecting" forever.
const ERROR_CLOSE_GRACE = 1000;

/** WebSocket.readyState OPEN, the same in browsers and `ws`. */
const WS_OPEN = 1;

/**
 * The error requests reject with.
 *
 * status is the reply's status (400, 401, 403, 404, 409, 413, 429, 500,
 * 503, ...) when the server refused the request, or 0 when no reply came:
 * msg "timeout", "not connected" (the client was closed when the request
 * was made, or was closed before it could be sent) or "connection closed"
 * (the connection dropped after it was sent: the server may or may not
 * have acted on it). For the last two, code and reason are those of the
 * close that caused it.
 */
export class WsloopError extends Error {
  /**
   * @param {number} status
   * @param {string} msg
   * @param {string} [cmd]
   * @param {{code?: number, reason?: string}} [close]
   */
  constructor(status, msg, cmd, close) {
    let text = `${cmd ? `wsloop ${cmd}` : 'wsloop'}: ${msg}`;
    if (status) text += ` (status ${status})`;
    if (close?.code) text += ` (close ${close.code}${close.reason ? ` ${close.reason}` : ''})`;
    super(text);
    this.name = 'WsloopError';
    this.status = status;
    this.msg = msg;
    this.cmd = cmd;
    if (close) {
      this.code = close.code;
      this.reason = close.reason;
    }
  }
}

/**
 * The default reconnect policy, exported so that an application can extend
 * it: reconnect after any close the client did not ask for, except
 * 1008 (policy violation: wsloop's "invalid token", "token expired",
 * "token required", "bad heartbeat signature", which the same connection
 * attempt would only repeat) and the application range 4000-4999 (by
 * convention a server's "do not come back").
 *
 * @param {number} code
 * @param {string} reason
 * @returns {boolean}
 */
export function defaultShouldReconnect(code, reason) { // eslint-disable-line no-unused-vars
  return code !== 1008 && !(code >= 4000 && code <= 4999);
}

/**
 * Returns a `sign` function for signed pings (`wsloop --heartbeat-secret`):
 * hex(HMAC-SHA256(secret, onlineToken + "." + sid + "." + timestamp)), as
 * the server computes it. It uses WebCrypto: globalThis.crypto.subtle
 * (browsers in secure contexts, Node >= 19) or node:crypto's webcrypto
 * (Node 18).
 *
 * Anyone holding the secret can sign, so use it where the secret is safe
 * (servers, tests, trusted devices); a browser page should get its signs
 * from its backend through a `sign` function of its own.
 *
 * @param {string | ArrayBuffer | ArrayBufferView} secret UTF-8 if a string
 * @returns {(onlineToken: string, sid: string, timestamp: number) => Promise<string>}
 */
export function hmacSign(secret) {
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  let key = null; // the imported key, as a promise: imported once, on first use
  return async (onlineToken, sid, timestamp) => {
    const subtle = await webCrypto();
    if (!key) {
      key = subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      key.catch(() => { key = null; }); // let a later call try again
    }
    const mac = await subtle.sign('HMAC', await key, new TextEncoder().encode(`${onlineToken}.${sid}.${timestamp}`));
    return hex(new Uint8Array(mac));
  };
}

let subtlePromise = null;

function webCrypto() {
  if (globalThis.crypto?.subtle) return Promise.resolve(globalThis.crypto.subtle);
  // Node 18 has no global crypto. The specifier is a variable, and the
  // comments ask bundlers to leave the import alone, so that browser builds
  // do not try to bundle node:crypto for a branch they never take.
  subtlePromise ??= (async () => {
    const specifier = 'node:crypto';
    const mod = await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier);
    if (!mod.webcrypto?.subtle) throw new Error('wsloop: no WebCrypto available for hmacSign');
    return mod.webcrypto.subtle;
  })();
  return subtlePromise;
}

function hex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Resolves url against the page (browsers) and maps http(s) to ws(s). */
function resolveUrl(url) {
  const base = globalThis.location?.href;
  const u = base ? new URL(url, base) : new URL(url);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new TypeError(`wsloop: not a WebSocket URL: ${u.href}`);
  }
  return u;
}

/** Turns whatever an error event carries into an Error. */
function eventError(ev) {
  if (ev instanceof Error) return ev;
  const err = new Error(`wsloop: WebSocket error${ev?.message ? `: ${ev.message}` : ''}`);
  if (ev?.error) err.cause = ev.error;
  return err;
}

const utf8 = new TextDecoder();

/**
 * A wsloop connection that reconnects by itself.
 *
 * States: "closed" (before connect(), after close(), or after giving up),
 * "connecting" (a WebSocket is opening and the welcome is awaited),
 * "open" (welcome received: requests go out at once), "reconnecting"
 * (waiting out the backoff delay before the next attempt), "closing"
 * (close() was called and the server's close frame is awaited).
 */
export class WsloopClient {
  // Options.
  #url;
  #token;
  #WebSocket;
  #requestTimeout;
  #sign;
  #reconnect;
  #shouldReconnect;

  // The current socket and what the client knows of its session.
  #ws = null;
  #state = 'closed';
  #welcome = null;
  #sid = null;
  #onlineToken = null;
  #pingInterval = null;
  #lastPingTimestamp = 0; // signed pings need a rising timestamp

  #seq = 0;
  #pending = new Map(); // seqno -> request sent on the current socket
  #queue = []; // requests made while connecting or reconnecting, not sent yet
  #listeners = new Map(); // push cmd or $event -> Set of functions

  #rooms = new Map(); // room -> meta it was joined with (undefined: none)
  #roomOps = new Map(); // room -> token of the latest join/leave call

  #hadSession = false; // a welcome arrived since construction or close(): rooms, $reconnect
  #established = false; // a welcome arrived since connect() left "closed": reconnect
  #closeRequested = false; // close() was called for the current socket
  #closeArgs = null; // its code and reason
  #attempt = 0; // reconnect attempts since the last welcome
  #attemptToken = 0; // bumped by every new attempt and by close()
  #openWaiters = []; // connect() calls waiting for a welcome
  #closeWaiters = []; // close() calls waiting for the socket to close

  #connectTimer = null;
  #reconnectTimer = null;
  #pingTimer = null;
  #closeTimer = null;
  #errorTimer = null;

  /**
   * @param {string | URL} url the endpoint, e.g. "wss://chat.example.com/ws"
   *   (in browsers it may be relative, and http(s) stands for ws(s))
   * @param {object} [options] see README.md
   */
  constructor(url, options = {}) {
    this.#url = resolveUrl(url);
    this.#token = options.token;
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WebSocket !== 'function') {
      throw new TypeError('wsloop: no WebSocket implementation: pass options.WebSocket (in Node < 22, the `ws` package\'s)');
    }
    this.#requestTimeout = options.requestTimeout ?? 10000;
    this.#sign = options.sign ?? null;
    this.#reconnect = options.reconnect === false ? null : { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.#shouldReconnect = options.shouldReconnect ?? defaultShouldReconnect;
  }

  /** "closed" | "connecting" | "open" | "reconnecting" | "closing" */
  get state() { return this.#state; }
  /** Session id of the latest welcome (null before the first one). */
  get sid() { return this.#sid; }
  /** Seconds between pings, as the latest welcome said (null before). */
  get pingInterval() { return this.#pingInterval; }
  /** online_token of the latest welcome (null when the server has no heartbeat secret). */
  get onlineToken() { return this.#onlineToken; }
  /** Data of the latest welcome (null before the first one). */
  get welcome() { return this.#welcome; }
  /** Rooms joined with join() and not left: re-joined after each reconnect. */
  get rooms() { return [...this.#rooms.keys()]; }

  /**
   * Opens the connection. Resolves with the welcome data once the server
   * sent it. The attempt started from "closed" is not retried: if it closes
   * before the welcome, the promise rejects with a WsloopError (status 0,
   * code and reason of the close) and the client is "closed" again;
   * reconnection starts only once a session was established. Called while
   * the client waits to reconnect, it skips the wait and resolves at the
   * next welcome (rejects if the client gives up first).
   *
   * @returns {Promise<object>}
   */
  connect() {
    if (this.#state === 'open') return Promise.resolve(this.#welcome);
    if (this.#state === 'closing') return Promise.reject(new WsloopError(0, 'closing'));
    // Registered before the attempt starts: it may fail synchronously.
    const opened = new Promise((resolve, reject) => this.#openWaiters.push({ resolve, reject }));
    if (this.#state === 'closed') {
      this.#attempt = 0;
      this.#open();
    } else if (this.#state === 'reconnecting') {
      clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = null;
      this.#open();
    } // 'connecting': an attempt is under way; wait for it.
    return opened;
  }

  /**
   * Sends a request and resolves with its reply's data (undefined when the
   * reply has none). Rejects with a WsloopError when the reply's status is
   * not 0, when no reply came within the timeout (status 0, "timeout"), when
   * the connection dropped before the reply (status 0, "connection
   * closed") or when the client is closed or closing (status 0, "not
   * connected"). While connecting or reconnecting the request waits for the
   * connection, within the same timeout.
   *
   * @param {string} cmd
   * @param {any} [data] omitted from the message when undefined
   * @param {{timeout?: number}} [options] timeout in ms (default: requestTimeout)
   * @returns {Promise<any>}
   */
  request(cmd, data, options = {}) {
    return new Promise((resolve, reject) => {
      if (typeof cmd !== 'string' || cmd === '') throw new TypeError('wsloop: cmd must be a non-empty string');
      if (this.#state === 'closed' || this.#state === 'closing') {
        throw new WsloopError(0, 'not connected', cmd);
      }
      const entry = { cmd, seqno: String(++this.#seq), data, resolve, reject, timer: null };
      entry.timer = setTimeout(() => {
        if (this.#pending.get(entry.seqno) === entry) this.#pending.delete(entry.seqno);
        else this.#queue = this.#queue.filter((e) => e !== entry);
        reject(new WsloopError(0, 'timeout', cmd));
      }, options.timeout ?? this.#requestTimeout);
      if (this.#state === 'open') this.#transmit(entry);
      else this.#queue.push(entry);
    });
  }

  /**
   * Joins room (optionally with meta) and remembers it, so that it is
   * joined again with the same meta after every reconnect. Resolves with the
   * reply's data: {room, count}.
   */
  async join(room, meta) {
    const op = {};
    this.#roomOps.set(room, op);
    try {
      const reply = await this.request('join', meta === undefined ? { room } : { room, meta });
      // A leave() or another join() called meanwhile has the last word.
      if (this.#roomOps.get(room) === op) this.#rooms.set(room, meta);
      return reply;
    } finally {
      if (this.#roomOps.get(room) === op) this.#roomOps.delete(room);
    }
  }

  /** Leaves room and forgets it at once (even if the request fails). */
  async leave(room) {
    const op = {};
    this.#roomOps.set(room, op);
    this.#rooms.delete(room);
    try {
      return await this.request('leave', { room });
    } finally {
      if (this.#roomOps.get(room) === op) this.#roomOps.delete(room);
    }
  }

  /**
   * Publishes payload to room: to every member ("bc"), or only to user or
   * session `to` in the room ("ptp") when options.to is given.
   */
  publish(room, payload, options = {}) {
    const data = options.to === undefined
      ? { room, payload, notify_type: 'bc' }
      : { room, payload, notify_type: 'ptp', to: options.to };
    return this.request('publish', data, options);
  }

  /** Sends payload to every connection of user `to` (or the session with that sid). */
  send(to, payload, options = {}) {
    return this.request('send', { to, payload }, options);
  }

  /** Presence of room: {room, count, conns, members: [{user, conns, meta}]}. */
  members(room, options = {}) {
    return this.request('members', { room }, options);
  }

  /**
   * Subscribes fn to pushes of cmd (fn(data, message)), or to a lifecycle
   * event when name is one of "$open", "$close", "$reconnecting",
   * "$reconnect", "$error" (fn(payload)). Returns a function that
   * unsubscribes.
   *
   * @param {string} name
   * @param {Function} fn
   * @returns {() => void}
   */
  on(name, fn) {
    if (typeof name !== 'string' || name === '') throw new TypeError('wsloop: event name must be a non-empty string');
    if (name.startsWith('$') && !EVENTS.has(name)) throw new TypeError(`wsloop: unknown event ${name}`);
    if (typeof fn !== 'function') throw new TypeError('wsloop: listener must be a function');
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(fn);
    return () => this.off(name, fn);
  }

  /** Unsubscribes fn from name. */
  off(name, fn) {
    const set = this.#listeners.get(name);
    if (set?.delete(fn) && set.size === 0) this.#listeners.delete(name);
  }

  /**
   * Closes the connection and stops reconnecting. Requests waiting to be
   * sent reject, as do requests still unanswered when the socket closes;
   * remembered rooms are forgotten. Resolves once the socket has closed
   * (at most about 3 s: a server that does not answer the close frame is
   * given up on). code must be 1000 or 3000-4999, as browsers require.
   *
   * @param {number} [code=1000]
   * @param {string} [reason='']
   * @returns {Promise<void>}
   */
  close(code = 1000, reason = '') {
    if (code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw new RangeError(`wsloop: close code must be 1000 or 3000-4999, not ${code}`);
    }
    this.#hadSession = false;
    this.#rooms.clear();
    this.#attemptToken++; // cancels an attempt waiting for its token
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;

    const ws = this.#ws;
    if (!ws) {
      // Closed already, waiting to reconnect, or fetching the token.
      if (this.#state !== 'closed') {
        this.#finish({ code, reason });
        this.#emit('$close', { code, reason, wasClean: true, willReconnect: false });
      }
      return Promise.resolve();
    }
    const done = new Promise((resolve) => this.#closeWaiters.push(resolve));
    if (this.#state === 'closing') return done;
    this.#closeRequested = true;
    this.#closeArgs = { code, reason };
    this.#state = 'closing';
    this.#stopTimers();
    this.#closeTimer = setTimeout(() => this.#abandon(ws, code, reason), CLOSE_TIMEOUT);
    try {
      ws.close(code, reason);
    } catch (err) {
      this.#abandon(ws, code, reason);
    }
    return done;
  }

  // ---- connection lifecycle ----

  /** Starts one connection attempt. */
  async #open() {
    const attempt = ++this.#attemptToken;
    this.#state = 'connecting';
    let url = this.#url;
    try {
      // A function token is asked anew for every attempt, so that a
      // reconnect presents a fresh JWT rather than one that expired.
      const token = typeof this.#token === 'function' ? await this.#token() : this.#token;
      if (attempt !== this.#attemptToken) return; // close() or connect() meanwhile
      if (token != null && token !== '') {
        url = new URL(url);
        url.searchParams.set('token', String(token));
      }
    } catch (err) {
      if (attempt !== this.#attemptToken) return;
      this.#emit('$error', err);
      if (attempt !== this.#attemptToken) return; // a listener called close()
      this.#lost(null, 1006, `token: ${err?.message ?? err}`, false);
      return;
    }

    let ws;
    try {
      ws = new this.#WebSocket(url.href);
    } catch (err) {
      this.#emit('$error', err);
      if (attempt !== this.#attemptToken) return; // a listener called close()
      this.#lost(null, 1006, String(err?.message ?? err), false);
      return;
    }
    this.#ws = ws;
    // Text frames arrive as strings; binary ones (wsloop never sends them
    // on its JSON endpoint, but a proxy might) as ArrayBuffers to decode.
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (ev) => { if (this.#ws === ws) this.#onMessage(ev.data); };
    ws.onerror = (ev) => {
      if (this.#ws !== ws) return;
      // Closing a socket that is still opening makes an error of its own.
      if (!this.#closeRequested) this.#emit('$error', eventError(ev));
      if (this.#ws !== ws) return; // a listener called close() or connect()
      this.#errorTimer ??= setTimeout(() => this.#abandon(ws, 1006, ''), ERROR_CLOSE_GRACE);
    };
    ws.onclose = (ev) => { if (this.#ws === ws) this.#lost(ws, ev.code, ev.reason, ev.wasClean); };
    // Neither a browser nor `ws` bounds how long an opening handshake or
    // a silent server may take; the welcome must come within requestTimeout.
    this.#connectTimer = setTimeout(() => this.#abandon(ws, 1006, 'connect timeout'), this.#requestTimeout);
  }

  #onWelcome(data) {
    if (this.#state !== 'connecting') return; // only one per connection counts
    clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
    const ws = this.#ws;
    const welcome = data && typeof data === 'object' ? data : {};
    const reconnected = this.#hadSession;
    const attempt = this.#attempt;
    this.#hadSession = true;
    this.#established = true;
    this.#attempt = 0;
    this.#welcome = welcome;
    this.#sid = typeof welcome.sid === 'string' ? welcome.sid : null;
    this.#onlineToken = typeof welcome.online_token === 'string' ? welcome.online_token : null;
    const interval = Number(welcome.ping_interval);
    // wsloop sends whole seconds (0 for a sub-second interval): ping at
    // least once a second then, never in a busy loop. The upper bound is
    // the largest delay timers take (beyond it they fire at once).
    this.#pingInterval = Number.isFinite(interval) ? Math.min(Math.max(1, interval), MAX_PING_INTERVAL) : FALLBACK_PING_INTERVAL;
    this.#lastPingTimestamp = 0; // the server's replay check is per connection
    this.#state = 'open';
    this.#pingTimer = setInterval(() => this.#ping(ws), this.#pingInterval * 1000);

    // Rooms first, then the requests made while (re)connecting: the server
    // handles one connection's messages in order, so a queued publish to a
    // room comes after the re-join.
    const rejoins = [...this.#rooms].map(([room, meta]) =>
      this.request('join', meta === undefined ? { room } : { room, meta }).then(
        () => null,
        (error) => ({ room, meta, error })));
    const queued = this.#queue;
    this.#queue = [];
    for (const entry of queued) this.#transmit(entry);

    const waiters = this.#openWaiters;
    this.#openWaiters = [];
    for (const w of waiters) w.resolve(welcome);
    this.#emit('$open', welcome);

    if (!reconnected) return;
    // '$reconnect' waits for the re-joins, so that its listeners (which may
    // re-send the application's own enter command) find the rooms joined.
    Promise.all(rejoins).then((results) => {
      if (this.#ws !== ws || this.#state !== 'open') return; // dropped again meanwhile
      const failed = results.filter(Boolean);
      for (const f of failed) {
        // A refusal (status != 0) is the server's answer and would come
        // again: forget the room. A dropped connection is retried next time.
        if (f.error?.status && !this.#roomOps.has(f.room) && this.#rooms.get(f.room) === f.meta) {
          this.#rooms.delete(f.room);
        }
        this.#emit('$error', f.error);
      }
      this.#emit('$reconnect', {
        welcome,
        attempt,
        failedRooms: failed.map(({ room, error }) => ({ room, error })),
      });
    });
  }

  /**
   * The socket closed (or was given up on, or never opened: ws is null).
   * Decides between reconnecting and stopping.
   */
  #lost(ws, code, reason, wasClean) {
    if (ws !== this.#ws) return;
    if (ws) detach(ws);
    this.#ws = null;
    this.#stopTimers();
    const err = new WsloopError(0, 'connection closed', undefined, { code, reason });
    for (const entry of this.#pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(new WsloopError(0, 'connection closed', entry.cmd, { code, reason }));
    }
    this.#pending.clear();

    let willReconnect = false;
    if (!this.#closeRequested && this.#reconnect && this.#established && this.#attempt < this.#reconnect.maxAttempts) {
      try {
        willReconnect = Boolean(this.#shouldReconnect(code, reason));
      } catch (e) {
        this.#emit('$error', e);
      }
    }

    if (willReconnect) {
      const attempt = ++this.#attempt;
      const delay = this.#backoff(attempt);
      this.#state = 'reconnecting';
      this.#reconnectTimer = setTimeout(() => {
        this.#reconnectTimer = null;
        this.#open();
      }, delay);
      this.#emit('$close', { code, reason, wasClean, willReconnect });
      // A $close listener may have called close() or connect() already.
      if (this.#state === 'reconnecting' && this.#reconnectTimer) {
        this.#emit('$reconnecting', { attempt, delay, code, reason });
      }
      return;
    }
    this.#finish({ code, reason }, err);
    this.#emit('$close', { code, reason, wasClean, willReconnect });
  }

  /** Ends the client's life until the next connect(). */
  #finish(close, err = new WsloopError(0, 'connection closed', undefined, close)) {
    this.#state = 'closed';
    this.#established = false;
    this.#closeRequested = false;
    this.#closeArgs = null;
    this.#attempt = 0;
    clearTimeout(this.#closeTimer);
    this.#closeTimer = null;
    const queued = this.#queue;
    this.#queue = [];
    for (const entry of queued) {
      clearTimeout(entry.timer);
      entry.reject(new WsloopError(0, 'not connected', entry.cmd, close));
    }
    const waiters = this.#openWaiters;
    this.#openWaiters = [];
    for (const w of waiters) w.reject(err);
    const closers = this.#closeWaiters;
    this.#closeWaiters = [];
    for (const resolve of closers) resolve();
  }

  /**
   * Gives up on ws without waiting for its close handshake (a silent
   * server, a dead network), and goes on as if it had closed.
   */
  #abandon(ws, code, reason) {
    if (ws !== this.#ws) return;
    if (this.#closeArgs) ({ code, reason } = this.#closeArgs);
    this.#lost(ws, code, reason, false);
    try {
      // `ws` can drop the TCP connection at once; a browser socket can only
      // be asked to close, and its events are ignored from now on.
      if (typeof ws.terminate === 'function') ws.terminate();
      else ws.close();
    } catch { /* it is gone either way */ }
  }

  #backoff(attempt) {
    const { minDelay, maxDelay, factor, jitter } = this.#reconnect;
    const base = Math.min(maxDelay, minDelay * factor ** (attempt - 1));
    // Spread clients that lost the same server over +-jitter of the delay,
    // so that they do not all come back in the same instant.
    const spread = base * jitter * (2 * Math.random() - 1);
    return Math.max(0, Math.min(maxDelay, Math.round(base + spread)));
  }

  #stopTimers() {
    clearTimeout(this.#connectTimer);
    clearInterval(this.#pingTimer);
    clearTimeout(this.#errorTimer);
    this.#connectTimer = null;
    this.#pingTimer = null;
    this.#errorTimer = null;
  }

  // ---- heartbeats ----

  /**
   * Sends one ping on ws. A ping without a reply within requestTimeout
   * means the connection is dead even if the socket has not noticed (a
   * network that dropped without a FIN): give it up and reconnect.
   */
  async #ping(ws) {
    let data = {};
    if (this.#onlineToken && this.#sign) {
      // Timestamps are whole seconds and must rise on each connection; a
      // timer that fires early must not repeat the previous second.
      const timestamp = Math.max(Math.floor(Date.now() / 1000), this.#lastPingTimestamp + 1);
      this.#lastPingTimestamp = timestamp;
      try {
        const sign = await this.#sign(this.#onlineToken, this.#sid, timestamp);
        data = { online_token: this.#onlineToken, timestamp, sign: String(sign) };
      } catch (err) {
        this.#emit('$error', err);
        return;
      }
    }
    if (this.#ws !== ws || this.#state !== 'open') return;
    try {
      await this.request('ping', data);
    } catch (err) {
      if (this.#ws !== ws) return;
      if (err instanceof WsloopError && err.status === 0 && err.msg === 'timeout') {
        this.#abandon(ws, 1006, 'ping timeout');
      } else {
        // A refused ping (401 bad sign...) is an answer: the connection is
        // alive, but the application should know.
        this.#emit('$error', err);
      }
    }
  }

  // ---- messages ----

  #transmit(entry) {
    let text;
    try {
      text = JSON.stringify(entry.data === undefined
        ? { cmd: entry.cmd, seqno: entry.seqno }
        : { cmd: entry.cmd, seqno: entry.seqno, data: entry.data });
    } catch (err) {
      clearTimeout(entry.timer);
      entry.reject(err);
      return;
    }
    const ws = this.#ws;
    if (!ws || ws.readyState !== WS_OPEN) {
      clearTimeout(entry.timer);
      entry.reject(new WsloopError(0, 'not connected', entry.cmd));
      return;
    }
    this.#pending.set(entry.seqno, entry);
    try {
      ws.send(text);
    } catch (err) {
      this.#pending.delete(entry.seqno);
      clearTimeout(entry.timer);
      entry.reject(err);
    }
  }

  #onMessage(raw) {
    let text = raw;
    if (typeof raw !== 'string') {
      if (raw instanceof ArrayBuffer || ArrayBuffer.isView(raw)) text = utf8.decode(raw);
      else return; // a Blob: only if someone changed binaryType
    }
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (err) {
      this.#emit('$error', new Error(`wsloop: message is not JSON: ${text.slice(0, 100)}`, { cause: err }));
      return;
    }
    if (!msg || typeof msg !== 'object' || typeof msg.cmd !== 'string') {
      this.#emit('$error', new Error(`wsloop: message without cmd: ${text.slice(0, 100)}`));
      return;
    }
    if (msg.seqno !== undefined && msg.seqno !== null) {
      // A reply. One whose request timed out is dropped.
      const entry = this.#pending.get(String(msg.seqno));
      if (!entry) return;
      this.#pending.delete(entry.seqno);
      clearTimeout(entry.timer);
      if (msg.status === 0) entry.resolve(msg.data);
      else entry.reject(new WsloopError(Number(msg.status) || 500, String(msg.msg ?? 'error'), entry.cmd));
      return;
    }
    if (msg.cmd === 'welcome') this.#onWelcome(msg.data);
    this.#dispatch(msg);
  }

  #dispatch(msg) {
    // "$" names are the lifecycle events: a push cannot pose as one.
    if (msg.cmd.startsWith('$')) return;
    this.#emit(msg.cmd, msg.data, msg);
  }

  #emit(name, ...args) {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        const r = fn(...args);
        if (r && typeof r.then === 'function') r.then(undefined, (err) => this.#listenerFailed(name, err));
      } catch (err) {
        this.#listenerFailed(name, err);
      }
    }
  }

  /** A listener threw: tell the $error listeners, but never loop. */
  #listenerFailed(name, err) {
    if (name === '$error') console.error('wsloop: $error listener failed:', err);
    else this.#emit('$error', err);
  }
}

/** Silences a socket the client is done with. Its handlers become no-ops
 *  rather than null: `ws` throws on an 'error' event nobody listens to. */
function detach(ws) {
  const noop = () => {};
  ws.onopen = noop;
  ws.onmessage = noop;
  ws.onerror = noop;
  ws.onclose = noop;
}

export default WsloopClient;
