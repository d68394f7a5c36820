// Reconnection against a real wsloop server that is restarted on the same
// port: the client comes back by itself, with a new session, its rooms
// joined again, and the requests made during the outage sent.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { client, closeAll, record, startServer, waitFor } from '../test-support/harness.mjs';

let server;
after(async () => {
  await closeAll();
  await server?.stop();
});

test('the client reconnects after a server restart and re-joins its rooms', { timeout: 20000 }, async () => {
  server = await startServer();
  const reconnect = { minDelay: 100, maxDelay: 400, factor: 2, jitter: 0.2 };
  const a = client(server.url, { reconnect });
  const log = record(a, ['$open', '$close', '$reconnecting', '$reconnect']);
  const first = await a.connect();
  await a.join('lobby', { name: 'A' });

  const closed = waitFor(a, '$close');
  const reconnected = waitFor(a, '$reconnect', { timeout: 10000 });
  const stopped = await server.stop(); // SIGTERM: a graceful shutdown
  assert.equal(stopped.code, 0);
  assert.deepEqual(await closed, { code: 1001, reason: 'server shutting down', wasClean: true, willReconnect: true });
  assert.ok(['reconnecting', 'connecting'].includes(a.state), a.state);

  // Made while the server is down: sent once the client is back.
  const during = a.request('echo', { during: 'outage' });

  server = await startServer([], { port: server.port });
  const info = await reconnected;
  assert.equal(a.state, 'open');
  assert.notEqual(a.sid, first.sid);
  assert.equal(info.welcome.sid, a.sid);
  assert.ok(info.attempt >= 1);
  assert.deepEqual(info.failedRooms, []);
  assert.deepEqual(await during, { during: 'outage' });
  assert.deepEqual(a.rooms, ['lobby']);

  const names = log.map((e) => e.name);
  assert.equal(names[0], '$open');
  assert.equal(names[1], '$close');
  assert.equal(names[2], '$reconnecting');
  assert.deepEqual(names.slice(-2), ['$open', '$reconnect']);
  assert.ok(log.filter((e) => e.name === '$reconnecting').every((e, i) => e.payload.attempt === i + 1));

  // The room was joined again on the new session: a publish reaches it.
  const b = client(server.url);
  await b.connect();
  const got = waitFor(a, 'message');
  await b.publish('lobby', 'after restart');
  assert.deepEqual(await got, { room: 'lobby', from: b.sid, payload: 'after restart' });
  assert.equal((await b.members('lobby')).count, 1); // a, and b has not joined
});

test('the reconnect hook can re-enter application state', { timeout: 20000 }, async () => {
  server ??= await startServer();
  const a = client(server.url, { reconnect: { minDelay: 50, maxDelay: 200 } });
  await a.connect();
  // The application's own "enter" (here: an echo standing in for it) is
  // sent again from the $reconnect listener, after the rooms are back.
  let reentered;
  const reentry = new Promise((resolve, reject) => { reentered = { resolve, reject }; });
  a.on('$reconnect', async () => {
    try {
      reentered.resolve(await a.request('echo', { enter: a.sid }));
    } catch (err) {
      reentered.reject(err);
    }
  });
  const port = server.port;
  await server.stop();
  server = await startServer([], { port });
  const timeout = setTimeout(() => reentered.reject(new Error('no re-entry within 10 s')), 10000);
  assert.deepEqual(await reentry, { enter: a.sid });
  clearTimeout(timeout);
});
