// Shared by the tests in ../test: starts wsloop servers (the binary named by
// WSLOOP_BIN) and scripted fake servers (the `ws` package's), makes
// clients, and waits for events with a bound. It lives outside test/ so
// that `node --test test/` does not count it as a test file.
import { spawn } from 'node:child_process';
import { randomBytes, createHmac } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket, { WebSocketServer } from 'ws';
import { WsloopClient } from '../wsloop.mjs';

export { sleep, WebSocket };

const BIN = process.env.WSLOOP_BIN;

// Servers still running when the process ends are killed, whatever
// happened to the tests that started them.
const running = new Set();
process.on('exit', () => {
  for (const proc of running) proc.kill('SIGKILL');
});

/** A loopback port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `$WSLOOP_BIN --addr 127.0.0.1:<port> ... args` and resolves once
 * it accepts TCP connections. stop() sends SIGTERM (graceful: clients get
 * 1001) and waits for the exit, killing it if it takes over 5 s.
 */
export async function startServer(args = [], { port } = {}) {
  if (!BIN) {
    throw new Error('WSLOOP_BIN must name a wsloop binary: cd ../.. && go build -o /tmp/wsloop-js ./cmd/wsloop');
  }
  port ??= await freePort();
  const proc = spawn(BIN, ['--addr', `127.0.0.1:${port}`, '--http-addr', '', '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(proc);
  // Its log (warnings about the open test configuration) is kept, not
  // printed, and shown only if the server fails to start.
  let log = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk) => { log = (log + chunk).slice(-4000); });
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      running.delete(proc);
      resolve({ code, signal });
    });
    proc.once('error', (err) => {
      running.delete(proc);
      resolve({ error: err });
    });
  });
  try {
    await waitForPort(port, exited, 5000);
  } catch (err) {
    proc.kill('SIGKILL');
    err.message += `\n${log}`;
    throw err;
  }
  return {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

async function waitForPort(port, exited, timeout) {
  let gone = null;
  exited.then((r) => { gone = r; });
  const deadline = Date.now() + timeout;
  for (;;) {
    if (gone) throw new Error(`wsloop exited before listening: ${JSON.stringify(gone)}`);
    const ok = await new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => { sock.destroy(); resolve(true); });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`wsloop did not listen on ${port} within ${timeout} ms`);
    await sleep(25);
  }
}

/**
 * A scripted server speaking just enough of the protocol: it sends a
 * welcome (sid: fresh random hex) on every connection and hands each parsed
 * message to onMessage(msg, socket, server). reply() answers a request.
 */
export async function startFakeServer(onMessage = () => {}, { pingInterval = 15, welcome = true } = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.once('listening', resolve));
  const server = {
    url: `ws://127.0.0.1:${wss.address().port}/ws`,
    connections: 0,
    sockets: wss.clients,
    received: [],
    close() {
      for (const ws of wss.clients) ws.terminate();
      return new Promise((resolve) => wss.close(() => resolve()));
    },
  };
  wss.on('connection', (ws) => {
    server.connections++;
    if (welcome) {
      ws.send(JSON.stringify({ cmd: 'welcome', data: { sid: randomBytes(16).toString('hex'), ping_interval: pingInterval } }));
    }
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString());
      server.received.push(msg);
      onMessage(msg, ws, server);
    });
  });
  return server;
}

/** Sends the success reply to msg on ws. */
export function reply(ws, msg, data, status = 0, text = 'ok') {
  ws.send(JSON.stringify({ cmd: msg.cmd, seqno: msg.seqno, status, msg: text, ...(data === undefined ? {} : { data }) }));
}

/** Clients made with client() are closed by closeAll(). */
const clients = new Set();

// WSLOOP_TEST_WEBSOCKET=global runs the clients on the runtime's own
// WebSocket (Node >= 22, or Node 20 with --experimental-websocket): the
// WHATWG one browsers have, rather than the `ws` package's.
const ClientWebSocket = process.env.WSLOOP_TEST_WEBSOCKET === 'global' ? globalThis.WebSocket : WebSocket;
if (!ClientWebSocket) throw new Error('WSLOOP_TEST_WEBSOCKET=global, but this Node has no global WebSocket');

export function client(url, options = {}) {
  const c = new WsloopClient(url, { WebSocket: ClientWebSocket, ...options });
  clients.add(c);
  return c;
}

export async function closeAll() {
  await Promise.all([...clients].map((c) => c.close().catch(() => {})));
  clients.clear();
}

/**
 * Resolves with the payload (a push's data) of the next `name` event or
 * push on c for which filter(...args) holds; rejects after timeout ms.
 */
export function waitFor(c, name, { timeout = 5000, filter = () => true } = {}) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${name} within ${timeout} ms`));
    }, timeout);
    const off = c.on(name, (...args) => {
      if (!filter(...args)) return;
      clearTimeout(timer);
      off();
      resolve(args[0]);
    });
  });
}

/** Records every event and push name on c, in order, with its payload. */
export function record(c, names) {
  const log = [];
  for (const name of names) c.on(name, (payload) => log.push({ name, payload }));
  return log;
}

/** An HS256 JWT for `wsloop --jwt-secret secret`. */
export function jwt(secret, claims) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}
