// Heartbeats against real wsloop servers with a 3 s heartbeat timeout: the
// client must stay connected for 5 s thanks to its pings, plain or signed.
// The scenarios run side by side, so the file takes about 5 s.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { hmacSign } from '../wsloop.mjs';
import { client, closeAll, record, sleep, startServer, waitFor, WebSocket } from '../test-support/harness.mjs';

const SECRET = 'heartbeat-s3cret';
const FAST = ['--ping-interval', '1s', '--heartbeat-timeout', '3s'];
let plain;
let signed;
before(async () => {
  [plain, signed] = await Promise.all([startServer(FAST), startServer([...FAST, '--heartbeat-secret', SECRET])]);
});
after(async () => {
  await closeAll();
  await Promise.all([plain?.stop(), signed?.stop()]);
});

test('hmacSign computes the server\'s sign', async () => {
  const sign = await hmacSign(SECRET)('0123456789abcdef0123456789abcdef', 'ffee', 1767225600);
  const want = createHmac('sha256', SECRET).update('0123456789abcdef0123456789abcdef.ffee.1767225600').digest('hex');
  assert.equal(sign, want);
});

test('pings keep connections alive past the heartbeat timeout', { timeout: 15000 }, async () => {
  // Control: a bare socket that never pings is closed after ~3 s, so the
  // server really does enforce the timeout the clients below survive.
  const bare = new WebSocket(plain.url);
  const bareClosed = new Promise((resolve) => bare.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));

  const a = client(plain.url);
  const b = client(signed.url, { sign: hmacSign(SECRET) });
  const bad = client(signed.url, { sign: hmacSign('not the secret') });
  const logA = record(a, ['$close', '$error']);
  const logB = record(b, ['$close', '$error']);
  const badErrors = record(bad, ['$error']);

  await Promise.all([a.connect(), b.connect(), bad.connect()]);
  assert.equal(a.pingInterval, 1);
  assert.equal(a.onlineToken, null);
  assert.match(b.onlineToken, /^[0-9a-f]{32}$/);
  const badClosed = waitFor(bad, '$close', { timeout: 8000 });
  const sidA = a.sid;
  const sidB = b.sid;

  await sleep(5000);

  assert.deepEqual(await bareClosed, { code: 1000, reason: 'heartbeat timeout' });
  assert.deepEqual(logA, []);
  assert.deepEqual(logB, []);
  assert.equal(a.state, 'open');
  assert.equal(b.state, 'open');
  assert.equal(a.sid, sidA); // the same session all along, not a reconnect
  assert.equal(b.sid, sidB);
  assert.deepEqual(await a.request('echo', 'alive'), 'alive');
  assert.deepEqual(await b.request('echo', 'alive'), 'alive');

  // A wrong secret: each ping is refused with 401, and the third refusal
  // closes the connection with 1008, which is not retried.
  assert.deepEqual(await badClosed, { code: 1008, reason: 'bad heartbeat signature', wasClean: true, willReconnect: false });
  assert.ok(badErrors.length >= 1);
  assert.equal(badErrors[0].payload.status, 401);
  assert.equal(badErrors[0].payload.msg, 'bad sign');
  assert.equal(bad.state, 'closed');
});
