// Rooms and pushes against a real wsloop server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { client, closeAll, startServer, waitFor } from '../test-support/harness.mjs';

let server;
before(async () => { server = await startServer(['--publish-rate=-1']); });
after(async () => {
  await closeAll();
  await server?.stop();
});

test('a publish reaches every member, the publisher too', { timeout: 10000 }, async () => {
  const a = client(server.url);
  const b = client(server.url);
  await Promise.all([a.connect(), b.connect()]);

  assert.deepEqual(await a.join('lobby', { name: 'A' }), { room: 'lobby', count: 1 });
  const entered = waitFor(a, 'enter_room');
  assert.deepEqual(await b.join('lobby'), { room: 'lobby', count: 2 });
  const enter = await entered;
  assert.equal(enter.room, 'lobby');
  assert.equal(enter.user, ''); // presence does not reveal anonymous members' sids
  assert.deepEqual(a.rooms, ['lobby']);

  const atA = waitFor(a, 'message');
  const atB = new Promise((resolve) => b.on('message', (data, msg) => resolve({ data, msg })));
  await b.publish('lobby', { text: 'hi' });
  // An anonymous sender is known by its sid in what it sends.
  assert.deepEqual(await atA, { room: 'lobby', from: b.sid, payload: { text: 'hi' } });
  const { data, msg } = await atB;
  assert.deepEqual(data, { room: 'lobby', from: b.sid, payload: { text: 'hi' } });
  assert.deepEqual(msg, { cmd: 'message', data });

  const members = await a.members('lobby');
  assert.equal(members.count, 2);
  assert.ok(members.members.some((m) => m.meta?.name === 'A'), JSON.stringify(members));
});

test('ptp publish and send reach only their target; leave is announced', { timeout: 10000 }, async () => {
  const a = client(server.url);
  const b = client(server.url);
  const c = client(server.url);
  await Promise.all([a.connect(), b.connect(), c.connect()]);
  await Promise.all([a.join('ptp'), b.join('ptp'), c.join('ptp')]);

  const atC = [];
  const offC = c.on('message', (data) => atC.push(data));
  const atB = waitFor(b, 'message');
  await a.publish('ptp', 'for b', { to: b.sid });
  assert.deepEqual(await atB, { room: 'ptp', from: a.sid, payload: 'for b' });

  const direct = waitFor(b, 'message');
  await a.send(b.sid, { direct: 1 });
  assert.deepEqual(await direct, { from: a.sid, payload: { direct: 1 } });
  offC();
  assert.deepEqual(atC, []);

  const exited = waitFor(a, 'exit_room');
  await b.leave('ptp');
  assert.deepEqual(b.rooms, []);
  const exit = await exited;
  assert.equal(exit.room, 'ptp');
  assert.equal(exit.reason, 'leave');
});

test('on() returns an unsubscribe function; off() works too', { timeout: 10000 }, async () => {
  const a = client(server.url);
  await a.connect();
  await a.join('subs');
  let n = 0;
  const fn = () => { n++; };
  const unsubscribe = a.on('message', fn);
  const got = waitFor(a, 'message');
  await a.publish('subs', 1);
  await got;
  unsubscribe();
  a.on('message', fn);
  a.off('message', fn);
  const got2 = waitFor(a, 'message');
  await a.publish('subs', 2);
  await got2;
  assert.equal(n, 1);
});
