// Behaviour that a real wsloop server does not provoke on demand (silence,
// dropped connections, application close codes), against scripted fake
// servers.
import assert from 'node:assert/strict';
import { after, afterEach, test } from 'node:test';
import { WsloopError } from '../wsloop.mjs';
import { client, closeAll, record, reply, sleep, startFakeServer, waitFor } from '../test-support/harness.mjs';

let fakes = [];
async function fake(onMessage, options) {
  const f = await startFakeServer(onMessage, options);
  fakes.push(f);
  return f;
}
afterEach(async () => {
  await closeAll();
  await Promise.all(fakes.map((f) => f.close()));
  fakes = [];
});
after(closeAll);

test('a request without a reply times out; its late reply is ignored', { timeout: 10000 }, async () => {
  const f = await fake((msg, ws) => {
    if (msg.cmd === 'slow') setTimeout(() => reply(ws, msg, 'late'), 300);
    if (msg.cmd === 'echo') reply(ws, msg, msg.data);
  });
  const c = client(f.url, { requestTimeout: 150 });
  await c.connect();
  const t0 = Date.now();
  await assert.rejects(c.request('slow', {}), (err) => {
    assert.ok(err instanceof WsloopError);
    assert.deepEqual([err.status, err.msg, err.cmd], [0, 'timeout', 'slow']);
    return true;
  });
  assert.ok(Date.now() - t0 >= 140);
  await assert.rejects(c.request('slow', {}, { timeout: 20 }), { msg: 'timeout' });
  await sleep(400); // the late replies arrive and are dropped
  assert.equal(await c.request('echo', 'fine'), 'fine');
  assert.equal(c.state, 'open');
});

test('a reply without data resolves with undefined; a failure keeps status and msg', { timeout: 10000 }, async () => {
  const f = await fake((msg, ws) => {
    if (msg.cmd === 'nodata') reply(ws, msg);
    else reply(ws, msg, undefined, 503, 'server busy, try again');
  });
  const c = client(f.url);
  await c.connect();
  assert.equal(await c.request('nodata'), undefined);
  assert.equal(f.received.at(-1).data, undefined); // no data key sent either
  await assert.rejects(c.request('busy', { x: 1 }), { status: 503, msg: 'server busy, try again', cmd: 'busy' });
});

test('a dropped connection rejects pending requests and reconnects', { timeout: 10000 }, async () => {
  const f = await fake((msg, ws) => {
    if (msg.cmd === 'crash') ws.close(1011, 'internal error');
    else if (msg.cmd !== 'hang') reply(ws, msg, msg.data);
  });
  const c = client(f.url, { reconnect: { minDelay: 20, maxDelay: 50 } });
  const log = record(c, ['$close', '$reconnecting']);
  const first = await c.connect();
  const reconnected = waitFor(c, '$reconnect');
  const hanging = c.request('hang', {}).catch((e) => e); // the fake never answers "hang"
  await assert.rejects(c.request('crash', {}), { status: 0, msg: 'connection closed', code: 1011, reason: 'internal error' });
  const err = await hanging;
  assert.equal(err.msg, 'connection closed');
  assert.deepEqual(log[0].payload, { code: 1011, reason: 'internal error', wasClean: true, willReconnect: true });
  assert.equal(log[1].name, '$reconnecting');
  assert.equal(log[1].payload.attempt, 1);
  assert.ok(log[1].payload.delay >= 0 && log[1].payload.delay <= 50);
  await reconnected;
  assert.notEqual(c.sid, first.sid);
  assert.equal(f.connections, 2);
  assert.equal(await c.request('echo', 2), 2);
});

test('a ping without a pong gives the connection up and reconnects', { timeout: 10000 }, async () => {
  const f = await fake((msg, ws) => {
    if (msg.cmd !== 'ping') reply(ws, msg, msg.data); // pings go unanswered
  }, { pingInterval: 1 });
  const c = client(f.url, { requestTimeout: 400, reconnect: { minDelay: 20, maxDelay: 50 } });
  await c.connect();
  assert.equal(c.pingInterval, 1);
  const closed = await waitFor(c, '$close', { timeout: 4000 });
  assert.deepEqual(closed, { code: 1006, reason: 'ping timeout', wasClean: false, willReconnect: true });
  await waitFor(c, '$reconnect');
  const pings = f.received.filter((m) => m.cmd === 'ping');
  assert.ok(pings.length >= 1);
  assert.deepEqual(pings[0].data, {}); // unsigned: no online_token in the welcome
});

test('signed pings carry the welcome\'s token, a rising timestamp and the sign', { timeout: 10000 }, async () => {
  const f = await startFakeServer((msg, ws) => reply(ws, msg, { timestamp: Date.now() }), { welcome: false });
  fakes.push(f);
  const calls = [];
  const c = client(f.url, {
    sign: async (token, sid, ts) => { calls.push([token, sid, ts]); return `sig-${ts}`; },
  });
  const welcomed = c.connect();
  // This fake sends its welcome by hand, with an online_token.
  await new Promise((resolve) => { const t = setInterval(() => { if (f.sockets.size) { clearInterval(t); resolve(); } }, 5); });
  for (const ws of f.sockets) {
    ws.send(JSON.stringify({ cmd: 'welcome', data: { sid: 'ab'.repeat(16), ping_interval: 1, online_token: 'cd'.repeat(16) } }));
  }
  await welcomed;
  assert.equal(c.onlineToken, 'cd'.repeat(16));
  // Two pings come about 1 s and 2 s after the welcome; allow for a slow machine.
  const pingsSoFar = () => f.received.filter((m) => m.cmd === 'ping');
  for (const deadline = Date.now() + 6000; pingsSoFar().length < 2 && Date.now() < deadline;) await sleep(50);
  const pings = pingsSoFar();
  assert.ok(pings.length >= 2, `${pings.length} pings`);
  for (const [i, p] of pings.entries()) {
    assert.deepEqual(Object.keys(p.data).sort(), ['online_token', 'sign', 'timestamp']);
    assert.equal(p.data.online_token, 'cd'.repeat(16));
    assert.equal(p.data.sign, `sig-${p.data.timestamp}`);
    assert.ok(Number.isInteger(p.data.timestamp));
    assert.ok(Math.abs(p.data.timestamp - Date.now() / 1000) < 5);
    if (i > 0) assert.ok(p.data.timestamp > pings[i - 1].data.timestamp);
    assert.deepEqual(calls[i], ['cd'.repeat(16), 'ab'.repeat(16), p.data.timestamp]);
  }
});

test('close codes 4000-4999 are not retried; shouldReconnect and reconnect:false decide', { timeout: 10000 }, async () => {
  const f = await fake((msg, ws) => ws.close(msg.data.code, msg.data.reason));
  const kicked = client(f.url, { reconnect: { minDelay: 10 } });
  await kicked.connect();
  kicked.request('bye', { code: 4001, reason: 'banned' }).catch(() => {});
  assert.deepEqual(await waitFor(kicked, '$close'), { code: 4001, reason: 'banned', wasClean: true, willReconnect: false });
  assert.equal(kicked.state, 'closed');

  const seen = [];
  const custom = client(f.url, {
    reconnect: { minDelay: 10 },
    shouldReconnect: (code, reason) => { seen.push([code, reason]); return true; },
  });
  await custom.connect();
  const back = waitFor(custom, '$reconnect');
  custom.request('bye', { code: 4001, reason: 'come back' }).catch(() => {});
  await back;
  assert.deepEqual(seen, [[4001, 'come back']]);

  const never = client(f.url, { reconnect: false });
  await never.connect();
  never.request('bye', { code: 1011, reason: 'oops' }).catch(() => {});
  assert.equal((await waitFor(never, '$close')).willReconnect, false);
  assert.equal(never.state, 'closed');
});

test('reconnecting gives up after maxAttempts; close() stops it early', { timeout: 10000 }, async () => {
  const f = await fake(() => {});
  const c = client(f.url, { reconnect: { minDelay: 10, maxDelay: 20, maxAttempts: 2 } });
  const log = record(c, ['$close', '$reconnecting']);
  await c.connect();
  const pending = c.request('never', {}).catch((e) => e);
  const gaveUp = waitFor(c, '$close', { filter: (e) => !e.willReconnect });
  await f.close(); // stops listening and drops the client
  const last = await gaveUp;
  assert.equal(last.code, 1006);
  assert.deepEqual(log.map((e) => e.name), ['$close', '$reconnecting', '$close', '$reconnecting', '$close']);
  assert.equal(c.state, 'closed');
  assert.equal((await pending).msg, 'connection closed');

  // A fresh client whose server is gone: close() while it waits to retry.
  const g = await fake(() => {});
  const d = client(g.url, { reconnect: { minDelay: 5000 } });
  await d.connect();
  const waiting = waitFor(d, '$reconnecting');
  await g.close();
  await waiting;
  assert.equal(d.state, 'reconnecting');
  const queued = d.request('echo', {}).catch((e) => e);
  const final = waitFor(d, '$close');
  await d.close();
  assert.deepEqual(await final, { code: 1000, reason: '', wasClean: true, willReconnect: false });
  assert.equal((await queued).msg, 'not connected');
  assert.equal(d.state, 'closed');
});

test('connect() rejects when no welcome comes in time', { timeout: 10000 }, async () => {
  const f = await fake(() => {}, { welcome: false });
  const c = client(f.url, { requestTimeout: 200 });
  await assert.rejects(c.connect(), { status: 0, code: 1006, reason: 'connect timeout' });
  assert.equal(c.state, 'closed');
});

test('pushes reach their listeners; "$" names are not pushes; listener errors become $error', { timeout: 10000 }, async () => {
  const f = await fake((msg, ws) => {
    ws.send(JSON.stringify({ cmd: '$close', data: { forged: true } }));
    ws.send(JSON.stringify({ cmd: 'news', data: { n: 1 } }));
    ws.send('not json');
    reply(ws, msg);
  });
  const c = client(f.url);
  const log = record(c, ['$close', '$error']);
  const news = [];
  c.on('news', (data) => { news.push(data); throw new Error('listener broke'); });
  await c.connect();
  await c.request('go');
  assert.deepEqual(news, [{ n: 1 }]);
  assert.deepEqual(log.map((e) => e.name), ['$error', '$error']);
  assert.equal(log[0].payload.message, 'listener broke');
  assert.match(log[1].payload.message, /not JSON/);
});

test('connect() rejects when the token function fails or close() interrupts it', { timeout: 10000 }, async () => {
  const f = await fake((msg, ws) => reply(ws, msg, msg.data));
  const broken = client(f.url, { token: () => { throw new Error('no token today'); } });
  const errors = record(broken, ['$error']);
  await assert.rejects(broken.connect(), { status: 0, code: 1006 });
  assert.equal(errors[0].payload.message, 'no token today');
  assert.equal(f.connections, 0);

  const slow = client(f.url, { token: () => sleep(100).then(() => 'tok') });
  const connecting = slow.connect();
  await slow.close();
  await assert.rejects(connecting, { msg: 'connection closed' });
  await sleep(200);
  assert.equal(slow.state, 'closed');
  assert.equal(f.connections, 0); // the attempt was abandoned before it opened a socket

  const eager = client(f.url);
  const opening = eager.connect();
  await eager.close();
  await assert.rejects(opening, { msg: 'connection closed' });
  assert.equal(eager.state, 'closed');
});
