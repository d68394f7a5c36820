// A real Node.js client (the `ws` package) for wsloop's tests, run by
// server/node_test.go as: node client.mjs <mode> <url>
//   mode "echo": the server runs server.EchoHandler (wsloop --echo)
//   mode "json": the server runs server.Router (the JSON protocol)
//   mode "rooms": the same; two clients in one room (join, enter_room,
//                 publish, members, exit_room)
//   mode "utf8": the same; a receiver in room "lobby" that prints
//                "SID <sid>" and then takes every push the Go test makes
//                other clients and the library cause (some of them from
//                bytes that are not UTF-8) until a "done" push; it fails on
//                any frame ws refuses. Then every reply kind, asked for
//                with binary JSON, and a binary message that is not UTF-8.
//   mode "deflate": the server runs server.Router with Compression on: ws
//                offers permessage-deflate (as it does by default), it is
//                negotiated, and compressed requests, replies and room
//                messages (to a member without the extension too) arrive
//                intact.
// It prints one line per check and exits non-zero on the first failure.
import WebSocket from 'ws';
import { randomBytes } from 'node:crypto';

const [mode, url] = process.argv.slice(2);
const deadline = setTimeout(() => fail('timed out'), 20000);

function fail(why) {
  console.log(`FAIL ${why}`);
  process.exit(1);
}

function open(options = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 4 << 20, ...options });
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
  // An anonymous member's session id is not shown in presence.
  if (enter.seqno !== undefined || enter.data.user !== '' || enter.data.meta.nick !== 'node') fail(`enter_room: ${JSON.stringify(enter)}`);
  console.log('ok join and enter_room, without the anonymous member\'s sid');

  other.send('{"cmd":"publish","seqno":"2","data":{"room":"lobby","notify_type":"bc","payload":{"text":"hi"}}}');
  for (const c of [ws, other]) {
    const m = await nextJSON(c, 'message');
    if (m.seqno !== undefined || m.data.room !== 'lobby' || m.data.from !== otherSid || m.data.payload.text !== 'hi') fail(`message: ${JSON.stringify(m)}`);
  }
  console.log('ok publish reaches every member, the sender too');

  ws.send('{"cmd":"members","seqno":"3","data":{"room":"lobby"}}');
  r = await nextJSON(ws, 'members');
  if (r.data.count !== 2 || r.data.members.length !== 2 || r.data.members.some((m) => m.user !== '' || m.anonymous !== true)) fail(`members: ${JSON.stringify(r)}`);
  console.log('ok members');

  other.close(1000, 'done');
  const exit = await nextJSON(ws, 'exit_room');
  if (exit.data.user !== '' || exit.data.reason !== 'disconnect') fail(`exit_room: ${JSON.stringify(exit)}`);
  console.log('ok exit_room on disconnect');
}

// utf8Checks: Node's ws fails the connection (1007, an 'error' event) on a
// text frame that is not UTF-8, so every push and reply it takes here is
// proof that none reached it.
async function utf8Checks(ws) {
  let failed = null;
  ws.on('error', (e) => { failed = `ws error: ${e.message}`; });
  ws.on('close', (code, reason) => { failed = failed || `closed ${code} ${reason}`; });
  const sid = (await nextJSON(ws, 'welcome')).data.sid;
  ws.send('{"cmd":"join","seqno":"1","data":{"room":"lobby"}}');
  await nextJSON(ws, 'join');
  console.log(`SID ${sid}`);

  // Pushes, until the Go test says done.
  const got = {};
  for (;;) {
    const m = JSON.parse((await ws.next()).data);
    if (m.cmd === 'done') break;
    const key = m.cmd === 'message' ? `message:${m.data.room === undefined ? 'send' : 'room'}:${JSON.stringify(m.data.payload)}` : m.cmd;
    got[key] = m.data;
  }
  if (failed) fail(failed);
  const want = {
    enter_room: (d) => d.meta && d.meta.nick === 'bín',
    exit_room: (d) => d.reason === 'leave',
    'message:room:"héllo"': (d) => d.room === 'lobby',
    'message:room:"ptp ü"': (d) => d.room === 'lobby',
    'message:send:"send ß"': () => true,
    note: (d) => d.t === 'a\ufffdb',
    news: (d) => d === 'x\ufffd',
    api: (d) => d.v === 'ok ✓',
  };
  for (const [k, ok] of Object.entries(want)) {
    if (!got[k] || !ok(got[k])) fail(`push ${k}: ${JSON.stringify(got[k])}; got ${Object.keys(got).join(', ')}`);
  }
  const extra = Object.keys(got).filter((k) => !(k in want));
  if (extra.length) fail(`unexpected pushes: ${extra.join(', ')}`);
  console.log('ok every push arrived, none with bytes that are not UTF-8');

  // Replies, to requests sent as binary JSON.
  const bin = (o) => ws.send(Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)), { binary: true });
  const replies = [
    [{ cmd: 'echo', seqno: 'e', data: { t: 'é' } }, (r) => r.status === 0 && r.data.t === 'é'],
    [{ cmd: 'join', seqno: 'j', data: { room: 'zimmer-ä' } }, (r) => r.status === 0 && r.data.room === 'zimmer-ä'],
    [{ cmd: 'members', seqno: 'm', data: { room: 'lobby' } }, (r) => r.status === 0 && r.data.count === 1],
    [{ cmd: 'publish', seqno: 'p', data: { room: 'nobody', payload: 'ø' } }, (r) => r.status === 0],
    [{ cmd: 'send', seqno: 's', data: { to: 'nobody', payload: 'ø' } }, (r) => r.status === 0],
    [{ cmd: 'leave', seqno: 'l', data: { room: 'zimmer-ä' } }, (r) => r.status === 0],
    [{ cmd: 'ping', seqno: 'g' }, (r) => r.cmd === 'pong' && r.status === 0],
    [{ cmd: 'nöpe', seqno: 'n' }, (r) => r.status === 404 && r.cmd === 'nöpe'],
    [{ cmd: 'join', seqno: 'b', data: 5 }, (r) => r.status === 400],
    ['{"cmd":"echo","seqno":"d","data":' + '['.repeat(64) + ']'.repeat(64) + '}', (r) => r.status === 400 && r.msg === 'too deeply nested' && r.seqno === 'd'],
    ['{"cmd":"echo","seqno":"x",', (r) => r.status === 400 && r.msg === 'malformed JSON'],
  ];
  for (const [req, ok] of replies) {
    bin(req);
    let r;
    do { r = JSON.parse((await ws.next()).data); } while (r.seqno === undefined && r.status === undefined);
    if (!ok(r)) fail(`reply to ${typeof req === 'string' ? req.slice(0, 40) : JSON.stringify(req)}: ${JSON.stringify(r)}`);
  }
  if (failed) fail(failed);
  console.log('ok every reply kind, to binary JSON requests');

  // A binary message that is not UTF-8 closes its sender with 1007.
  const bad = await open();
  await nextJSON(bad, 'welcome');
  const closed = new Promise((res) => bad.once('close', (code, reason) => res({ code, reason: reason.toString() })));
  bad.send(Buffer.concat([Buffer.from('{"cmd":"echo","data":"'), Buffer.from([0xff]), Buffer.from('"}')]), { binary: true });
  const c = await closed;
  if (c.code !== 1007 || c.reason !== 'invalid UTF-8 in message') fail(`bad sender closed with ${c.code} ${c.reason}`);
  console.log('ok a binary message that is not UTF-8 closes its sender with 1007');
  ws.removeAllListeners('close');
  ws.removeAllListeners('error');
}

async function deflateChecks(ws) {
  await nextJSON(ws, 'welcome');
  if (!ws.extensions.includes('permessage-deflate')) fail(`extensions: ${ws.extensions}`);
  console.log(`ok negotiated: ${ws.extensions}`);

  // A request big enough to be compressed both ways.
  const text = 'compress me please, '.repeat(500);
  ws.send(JSON.stringify({ cmd: 'echo', seqno: '1', data: { text } }));
  const reply = await nextJSON(ws, 'echo');
  if (reply.status !== 0 || reply.data.text !== text) fail('compressed echo differs');
  console.log('ok compressed echo');

  // A room message reaches a compressed and an uncompressed member alike.
  const plain = await open({ perMessageDeflate: false });
  await nextJSON(plain, 'welcome');
  if (plain.extensions !== '') fail(`plain connection negotiated ${plain.extensions}`);
  for (const c of [ws, plain]) {
    c.send('{"cmd":"join","seqno":"2","data":{"room":"z"}}');
    await nextJSON(c, 'join');
  }
  const payload = { list: Array.from({ length: 200 }, (_, i) => ({ user: `user-${i}`, seat: i % 8 })) };
  ws.send(JSON.stringify({ cmd: 'publish', seqno: '3', data: { room: 'z', payload } }));
  for (const c of [ws, plain]) {
    const m = await nextJSON(c, 'message');
    if (JSON.stringify(m.data.payload) !== JSON.stringify(payload)) fail('room message differs');
  }
  plain.close();
  console.log('ok one room message, compressed and plain members');
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
  else if (mode === 'utf8') await utf8Checks(ws);
  else if (mode === 'deflate') await deflateChecks(ws);
  else fail(`unknown mode ${mode}`);
  await pingCheck(ws);
  await closeCheck(ws);
  clearTimeout(deadline);
  console.log('PASS');
} catch (e) {
  fail(String(e && e.stack || e));
}
