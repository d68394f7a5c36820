// A real Node.js client (the `ws` package) for wsloop's tests, run by
// server/node_test.go as: node client.mjs <mode> <url>
//   mode "echo": the server runs server.EchoHandler (wsloop --echo)
//   mode "json": the server runs server.Router (the JSON protocol)
//   mode "rooms": the same; two clients in one room (join, enter_room,
//                 publish, members, exit_room)
// It prints one line per check and exits non-zero on the first failure.
import WebSocket from 'ws';
import { randomBytes } from 'node:crypto';

const [mode, url] = process.argv.slice(2);
const deadline = setTimeout(() => fail('timed out'), 20000);

function fail(why) {
  console.log(`FAIL ${why}`);
  process.exit(1);
}

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 4 << 20 });
    const queue = [];
    const waiters = [];
    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      if (waiters.length) waiters.shift()(m); else queue.push(m);
    });
    ws.next = () => new Promise((res) => {
      if (queue.length) res(queue.shift()); else waiters.push(res);
    });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function sendFragmented(ws, buf, pieces, binary) {
  const size = Math.ceil(buf.length / pieces);
  for (let off = 0; off < buf.length; off += size) {
    const end = Math.min(off + size, buf.length);
    ws.send(buf.subarray(off, end), { binary, fin: end === buf.length });
  }
}

async function echoChecks(ws) {
  ws.send('hello wsloop');
  let m = await ws.next();
  if (m.isBinary || m.data.toString() !== 'hello wsloop') fail(`text echo: got ${m.data}`);
  console.log('ok text echo');

  const bin = randomBytes(1000);
  ws.send(bin);
  m = await ws.next();
  if (!m.isBinary || !bin.equals(m.data)) fail('binary echo differs');
  console.log('ok binary echo');

  const big = Buffer.alloc(1 << 20, 'abcdefghijklmnopqrstuvwxyz');
  sendFragmented(ws, big, 16, false);
  m = await ws.next();
  if (m.isBinary || !big.equals(m.data)) fail(`fragmented 1 MiB: got ${m.data.length} bytes`);
  console.log('ok fragmented 1 MiB text echo');

  const bigBin = randomBytes(1 << 20);
  sendFragmented(ws, bigBin, 64, true);
  m = await ws.next();
  if (!m.isBinary || !bigBin.equals(m.data)) fail('fragmented 1 MiB binary differs');
  console.log('ok fragmented 1 MiB binary echo');
}

async function jsonChecks(ws) {
  const welcome = JSON.parse((await ws.next()).data);
  if (welcome.cmd !== 'welcome' || typeof welcome.data.sid !== 'string') fail(`welcome: ${JSON.stringify(welcome)}`);
  console.log('ok welcome');

  ws.send('{"cmd":"echo","seqno":"1","data":{"hello":"wsloop"}}');
  let raw = (await ws.next()).data.toString();
  if (raw !== '{"cmd":"echo","seqno":"1","status":0,"msg":"ok","data":{"hello":"wsloop"}}') fail(`json echo: ${raw}`);
  console.log('ok json echo');

  const big = 'x'.repeat(1 << 20);
  const req = Buffer.from(JSON.stringify({ cmd: 'echo', seqno: '2', data: big }));
  sendFragmented(ws, req, 16, false);
  const reply = JSON.parse((await ws.next()).data);
  if (reply.seqno !== '2' || reply.status !== 0 || reply.data !== big) fail('fragmented 1 MiB json echo differs');
  console.log('ok fragmented 1 MiB json echo');

  ws.send('{"cmd":"nope","seqno":"3"}');
  raw = (await ws.next()).data.toString();
  if (!raw.startsWith('{"cmd":"nope","seqno":"3","status":404')) fail(`unknown cmd: ${raw}`);
  console.log('ok unknown cmd 404');
}

// nextJSON returns the next message whose cmd is cmd, parsed.
async function nextJSON(ws, cmd) {
  for (;;) {
    const m = JSON.parse((await ws.next()).data);
    if (m.cmd === cmd) return m;
  }
}

async function roomsChecks(ws) {
  await nextJSON(ws, 'welcome');
  const other = await open();
  const otherSid = (await nextJSON(other, 'welcome')).data.sid;

  ws.send('{"cmd":"join","seqno":"1","data":{"room":"lobby"}}');
  let r = await nextJSON(ws, 'join');
  if (r.status !== 0 || r.data.room !== 'lobby') fail(`join: ${JSON.stringify(r)}`);
  other.send('{"cmd":"join","seqno":"1","data":{"room":"lobby","meta":{"nick":"node"}}}');
  await nextJSON(other, 'join');
  const enter = await nextJSON(ws, 'enter_room');
  if (enter.seqno !== undefined || enter.data.user !== otherSid || enter.data.meta.nick !== 'node') fail(`enter_room: ${JSON.stringify(enter)}`);
  console.log('ok join and enter_room');

  other.send('{"cmd":"publish","seqno":"2","data":{"room":"lobby","notify_type":"bc","payload":{"text":"hi"}}}');
  for (const c of [ws, other]) {
    const m = await nextJSON(c, 'message');
    if (m.seqno !== undefined || m.data.room !== 'lobby' || m.data.from !== otherSid || m.data.payload.text !== 'hi') fail(`message: ${JSON.stringify(m)}`);
  }
  console.log('ok publish reaches every member, the sender too');

  ws.send('{"cmd":"members","seqno":"3","data":{"room":"lobby"}}');
  r = await nextJSON(ws, 'members');
  if (r.data.count !== 2 || r.data.members.length !== 2) fail(`members: ${JSON.stringify(r)}`);
  console.log('ok members');

  other.close(1000, 'done');
  const exit = await nextJSON(ws, 'exit_room');
  if (exit.data.user !== otherSid || exit.data.reason !== 'disconnect') fail(`exit_room: ${JSON.stringify(exit)}`);
  console.log('ok exit_room on disconnect');
}

async function pingCheck(ws) {
  const payload = Buffer.from('are you there');
  const pong = new Promise((res) => ws.once('pong', res));
  ws.ping(payload);
  const got = await pong;
  if (!payload.equals(got)) fail(`pong payload: ${got}`);
  console.log('ok ping/pong');
}

async function closeCheck(ws) {
  const closed = new Promise((res) => ws.once('close', (code, reason) => res({ code, reason: reason.toString() })));
  ws.close(1000, 'bye');
  const c = await closed;
  if (c.code !== 1000) fail(`close code ${c.code}`);
  console.log('ok clean close');
}

try {
  const ws = await open();
  if (mode === 'echo') await echoChecks(ws);
  else if (mode === 'json') await jsonChecks(ws);
  else if (mode === 'rooms') await roomsChecks(ws);
  else fail(`unknown mode ${mode}`);
  await pingCheck(ws);
  await closeCheck(ws);
  clearTimeout(deadline);
  console.log('PASS');
} catch (e) {
  fail(String(e && e.stack || e));
}
