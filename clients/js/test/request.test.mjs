// Requests and replies against a real wsloop server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WsloopClient, WsloopError } from '../wsloop.mjs';
import { client, closeAll, record, startServer, WebSocket } from '../test-support/harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => {
  await closeAll();
  await server?.stop();
});

test('connect resolves with the welcome; echo round-trips', { timeout: 10000 }, async () => {
  const c = client(server.url);
  assert.equal(c.state, 'closed');
  const welcome = await c.connect();
  assert.match(welcome.sid, /^[0-9a-f]{32}$/);
  assert.equal(c.sid, welcome.sid);
  assert.equal(c.pingInterval, 15); // the server's default
  assert.equal(c.onlineToken, null); // no heartbeat secret
  assert.equal(c.state, 'open');

  const data = { x: 1, s: 'héllo ✓', nested: { a: [1, 2, null] } };
  assert.deepEqual(await c.request('echo', data), data);
});

test('concurrent requests each get their own reply', { timeout: 10000 }, async () => {
  const c = client(server.url);
  await c.connect();
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => c.request('echo', { i })));
  assert.deepEqual(replies, Array.from({ length: 50 }, (_, i) => ({ i })));
});

test('an unknown cmd rejects with status 404 and the connection stays', { timeout: 10000 }, async () => {
  const c = client(server.url);
  await c.connect();
  const err = await c.request('no_such_cmd', {}).then(
    () => assert.fail('resolved'),
    (e) => e);
  assert.ok(err instanceof WsloopError);
  assert.equal(err.status, 404);
  assert.equal(err.cmd, 'no_such_cmd');
  assert.equal(typeof err.msg, 'string');
  assert.match(err.message, /no_such_cmd/);
  assert.deepEqual(await c.request('echo', { still: 'open' }), { still: 'open' });
});

test('a request waits while connecting; none is accepted while closed', { timeout: 10000 }, async () => {
  const c = client(server.url);
  await assert.rejects(c.request('echo', {}), { name: 'WsloopError', status: 0, msg: 'not connected' });
  const connecting = c.connect();
  assert.equal(c.state, 'connecting');
  const early = c.request('echo', { early: true });
  await connecting;
  assert.deepEqual(await early, { early: true });

  await c.close();
  assert.equal(c.state, 'closed');
  await assert.rejects(c.request('echo', {}), { status: 0, msg: 'not connected' });
});

test('close() reports code 1000, does not reconnect, and connect() works again', { timeout: 10000 }, async () => {
  const c = client(server.url);
  const log = record(c, ['$close', '$reconnecting']);
  const first = await c.connect();
  await c.close(1000, 'bye');
  // The close event carries the server's close frame: wsloop echoes the
  // code, without the reason.
  assert.deepEqual(log, [{ name: '$close', payload: { code: 1000, reason: '', wasClean: true, willReconnect: false } }]);
  const second = await c.connect();
  assert.notEqual(second.sid, first.sid);
  assert.throws(() => c.close(1001), RangeError); // browsers refuse it too
});

test('the first connection failing rejects connect()', { timeout: 10000 }, async () => {
  // A port where nothing listens: the one of a server that is gone.
  const gone = await startServer();
  await gone.stop();
  const c = client(gone.url, { reconnect: { minDelay: 10 } });
  const log = record(c, ['$close', '$reconnecting']);
  const err = await c.connect().then(() => assert.fail('resolved'), (e) => e);
  assert.ok(err instanceof WsloopError);
  assert.equal(err.code, 1006);
  assert.equal(c.state, 'closed');
  assert.equal(log.length, 1);
  assert.equal(log[0].payload.willReconnect, false);
});

test('the constructor checks its arguments', () => {
  if (!globalThis.WebSocket) { // Node 20 without --experimental-websocket
    assert.throws(() => new WsloopClient('ws://127.0.0.1:1/ws'), TypeError);
  }
  assert.throws(() => new WsloopClient('ftp://example.com/', { WebSocket }), TypeError);
  const c = new WsloopClient('http://127.0.0.1:1/ws', { WebSocket });
  assert.throws(() => c.on('$closed', () => {}), TypeError);
});
