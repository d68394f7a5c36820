// Tokens and the close codes a client must surface, against a real wsloop
// server with --require-auth.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WsloopError } from '../wsloop.mjs';
import { client, closeAll, jwt, record, sleep, startServer, waitFor } from '../test-support/harness.mjs';

const KEY = 'k';
let server;
before(async () => { server = await startServer(['--jwt-secret', KEY, '--require-auth']); });
after(async () => {
  await closeAll();
  await server?.stop();
});

const now = () => Math.floor(Date.now() / 1000);

test('without a token: close 1008 "token required", surfaced, not retried', { timeout: 10000 }, async () => {
  const c = client(server.url, { reconnect: { minDelay: 10 } });
  const log = record(c, ['$open', '$close', '$reconnecting']);
  const err = await c.connect().then(() => assert.fail('resolved'), (e) => e);
  assert.ok(err instanceof WsloopError);
  assert.equal(err.status, 0);
  assert.equal(err.code, 1008);
  assert.equal(err.reason, 'token required');
  await sleep(300); // room for a reconnect attempt that must not happen
  assert.deepEqual(log, [{ name: '$close', payload: { code: 1008, reason: 'token required', wasClean: true, willReconnect: false } }]);
  assert.equal(c.state, 'closed');
});

test('a bad token: close 1008 "invalid token"', { timeout: 10000 }, async () => {
  const c = client(server.url, { token: jwt('another key', { sub: 'mallory', exp: now() + 60 }) });
  await assert.rejects(c.connect(), { code: 1008, reason: 'invalid token' });
});

test('a token (string or function) is sent as the token query parameter', { timeout: 10000 }, async () => {
  const alice = client(server.url, { token: jwt(KEY, { sub: 'alice', exp: now() + 60 }) });
  let asked = 0;
  const bob = client(server.url, {
    token: async () => { asked++; return jwt(KEY, { sub: 'bob', exp: now() + 60 }); },
  });
  await Promise.all([alice.connect(), bob.connect()]);
  assert.equal(asked, 1);
  await Promise.all([alice.join('auth'), bob.join('auth')]);
  const got = waitFor(bob, 'message');
  await alice.publish('auth', 'hello bob');
  assert.deepEqual(await got, { room: 'auth', from: 'alice', payload: 'hello bob' });
});

test('a session whose token expires is closed with 1008 and not reconnected', { timeout: 10000 }, async () => {
  const c = client(server.url, {
    token: jwt(KEY, { sub: 'carol', exp: now() + 2 }),
    reconnect: { minDelay: 10 },
  });
  const log = record(c, ['$close', '$reconnecting']);
  await c.connect();
  const closed = await waitFor(c, '$close', { timeout: 6000 });
  assert.deepEqual(closed, { code: 1008, reason: 'token expired', wasClean: true, willReconnect: false });
  await sleep(200);
  assert.equal(log.length, 1);
  assert.equal(c.state, 'closed');
});
