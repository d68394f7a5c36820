// The voice-room page: the voice-room protocol spoken through wsloop.mjs.
// Plain DOM, no build step; every text from the network goes through
// textContent, never innerHTML.
import { WsloopClient, WsloopError, hmacSign } from '/wsloop.mjs';

const $ = (sel) => document.querySelector(sel);
const GIFTS = { 1: ['🌹', 'rose'], 2: ['🍰', 'cake'], 3: ['🚀', 'rocket'], 4: ['💎', 'diamond'] };

const state = {
  client: null,
  me: null, // {user_id, nickname, avatar_url, ...}
  room: '',
  seats: [], // [{id, status, microphone, user_id}]
  members: new Map(), // user_id -> profile
  call: null, // {peer, outgoing}
};

// ---- login and connection -------------------------------------------------

// avatarURL draws an emoji on a coloured disc, as an SVG data URL: the
// protocol carries avatar URLs, and this one needs no image server.
function avatarURL(emoji, seed) {
  let h = 0;
  for (const ch of seed) h = (h * 31 + ch.codePointAt(0)) % 360;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="32" r="32" fill="hsl(${h},70%,80%)"/><text x="32" y="44" font-size="34" text-anchor="middle">${emoji}</text></svg>`;
  return 'data:image/svg+xml,' + encodeURIComponent(svg);
}

// userID keeps one id per browser for a name, so that a reload is the
// same user (the server then knows it is a reconnect).
function userID(name) {
  const key = 'voiceroom.user.' + name;
  let id = localStorage.getItem(key);
  if (!id) {
    const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'guest';
    id = `${slug}-${Math.random().toString(16).slice(2, 6)}`;
    localStorage.setItem(key, id);
  }
  return id;
}

$('#login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = $('#login-name').value.trim();
  const room = $('#login-room').value.trim();
  if (!name || !room) return;
  $('#login-btn').disabled = true;
  $('#login-error').textContent = '';
  try {
    await login(name, room, $('#login-avatar').value);
  } catch (err) {
    $('#login-error').textContent = err.message || String(err);
    setStatus('offline');
  } finally {
    $('#login-btn').disabled = false;
  }
});

async function login(name, room, emoji) {
  const id = userID(name);
  const profile = { user_id: id, nickname: name, sex: 0, avatar_url: avatarURL(emoji, id), avatar_small_url: avatarURL(emoji, id) };
  const resp = await fetch('/api/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(profile) });
  const body = await resp.json();
  if (body.code !== 0) throw new Error(`login refused: ${body.message}`);

  state.client?.close(1000, 'new login');
  const client = new WsloopClient(body.data.ws_url, { sign: hmacSign(body.data.heartbeat_secret) });
  state.client = client;
  state.me = profile;
  listen(client);
  setStatus('connecting…');
  await client.connect();
  setStatus('online');
  await enter(room);
}

async function enter(room) {
  const data = await state.client.request('enter_room', { channel_name: room });
  state.room = data.channel_name;
  state.seats = data.seats;
  state.members = new Map(data.members.map((m) => [m.user_id, m]));
  $('#login').hidden = true;
  $('#room').hidden = false;
  $('#room-name').textContent = state.room;
  $('#me-name').textContent = state.me.nickname;
  render();
}

function setStatus(text) {
  const el = $('#status');
  el.textContent = text;
  el.dataset.state = text.replace(/\W.*/, '');
}

// ---- what the room tells us ----------------------------------------------

function listen(client) {
  client.on('enter_room', (d) => {
    if (d.channel_name !== state.room) return;
    state.members.set(d.user_id, d);
    logEvent(`${d.nickname} joined`);
    render();
  });
  client.on('exit_room', (d) => {
    if (d.channel_name !== state.room) return;
    const who = nick(d.user_id);
    state.members.delete(d.user_id);
    if (d.room_seat) freeSeat(d.room_seat.id);
    logEvent(d.room_seat ? `${who} left (seat ${d.room_seat.id} is free)` : `${who} left`);
    if (state.call?.peer === d.user_id) endCallUI(`${who} left: call ended`);
    render();
  });
  client.on('send_topic_msg', (d) => {
    if (d.channel_name !== state.room) return;
    addLine('#chat-log', [[d.nickname, 'who'], [': ', ''], [String(d.content), 'text']], d.user_id === state.me.user_id ? 'mine' : '');
  });
  client.on('send_gift', (d) => {
    if (d.channel_name !== state.room) return;
    const [icon, name] = GIFTS[d.gift.id] ?? ['🎁', d.gift.name];
    const to = d.receiver_id === state.me.user_id ? 'you' : d.receiver_nickname;
    addLine('#gift-log', [[d.sender_nickname, 'who'], [` sent ${d.gift.num} ${icon} ${name} to `, ''], [to, 'who'],
      [d.notify_type === 'ptp' ? ' (privately)' : '', 'private']], d.notify_type === 'ptp' ? 'ptp' : '');
    flashGift(icon);
  });
  client.on('up', (d) => {
    if (d.channel_name !== state.room) return;
    for (const s of state.seats) if (s.user_id === d.user_id) Object.assign(s, { status: 0, microphone: 0, user_id: '' });
    Object.assign(state.seats[d.current_room_seat_id - 1], { status: 1, microphone: 1, user_id: d.user_id });
    render();
  });
  client.on('down', (d) => {
    if (d.channel_name !== state.room) return;
    freeSeat(d.current_room_seat_id);
    render();
  });
  client.on('mic', (d) => {
    if (d.channel_name !== state.room) return;
    state.seats[d.room_seat.id - 1].microphone = d.room_seat.microphone;
    render();
  });
  client.on('call', (d) => {
    state.call = { peer: d.user_id, outgoing: false };
    showCall(`📞 ${nick(d.user_id)} is calling you`);
  });
  client.on('hang_up', (d) => endCallUI(`${nick(d.user_id)} hung up`));

  client.on('$close', (e) => {
    setStatus(e.willReconnect ? 'reconnecting…' : 'offline');
    if (!e.willReconnect && e.code !== 1000) {
      logEvent(`disconnected: ${e.code} ${e.reason || ''}`.trim());
    }
  });
  client.on('$reconnect', async () => {
    setStatus('online');
    // The voice-room protocol: ask whether the server still has us in a
    // room (it removes a user whose connection died), then enter again.
    try {
      const r = await fetch(`/api/user/current_room?user_id=${encodeURIComponent(state.me.user_id)}`).then((x) => x.json());
      logEvent(r.data?.current_room_id ? 'reconnected' : 'reconnected: you had been dropped, entering again');
      if (state.room) await enter(state.room);
    } catch (err) {
      logEvent(`could not enter again: ${err.message}`);
    }
  });
}

// ---- what we do -------------------------------------------------------------

// act runs a request; it reports whether the server said ok, and shows
// its refusal otherwise.
async function act(cmd, data) {
  try {
    await state.client.request(cmd, data);
    return true;
  } catch (err) {
    const msg = err instanceof WsloopError ? `${cmd}: ${err.msg || err.message} (${err.status})` : String(err);
    logEvent(msg, 'error');
    return false;
  }
}

$('#seats').addEventListener('click', (ev) => {
  const li = ev.target.closest('.seat');
  if (!li) return;
  const seat = state.seats[Number(li.dataset.seat) - 1];
  if (seat.status === 0) act('up', { channel_name: state.room, room_seat_id: seat.id });
});
$('#seat-leave').addEventListener('click', () => act('down', { channel_name: state.room }));
$('#mic-toggle').addEventListener('click', () => {
  const mine = mySeat();
  if (mine) act('mic', { channel_name: state.room, microphone: mine.microphone ? 0 : 1 });
});

$('#chat-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $('#chat-input');
  const content = input.value.trim();
  if (!content) return;
  input.value = '';
  act('send_topic_msg', { channel_name: state.room, content });
});

$('#gift-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const to = $('#gift-to').value;
  if (!to) return;
  const id = Number($('#gift-kind').value);
  const priv = $('#gift-private').checked;
  const gift = { id, name: GIFTS[id][1], dynamic_image_url: '', image_url: '', image_big_url: '', image_small_url: '', num: Number($('#gift-num').value) || 1 };
  const ok = await act('send_gift', { channel_name: state.room, receiver_id: to, notify_type: priv ? 'ptp' : 'bc', gift });
  // A private gift is for the receiver's eyes: the sender only hears it went.
  if (ok && priv) logEvent(`your ${GIFTS[id][0]} went to ${nick(to)} privately`);
});

$('#members').addEventListener('click', async (ev) => {
  const btn = ev.target.closest('button[data-call]');
  if (!btn) return;
  const peer = btn.dataset.call;
  if (await act('call', { receiver_id: peer, channel_name: state.room })) {
    state.call = { peer, outgoing: true };
    showCall(`📞 calling ${nick(peer)}…`);
  }
});
$('#call-hangup').addEventListener('click', async () => {
  await act('hang_up', {});
  endCallUI('call ended');
});

$('#leave-room').addEventListener('click', async () => {
  await act('exit_room', { channel_name: state.room });
  state.room = '';
  state.client.close(1000, 'left');
  $('#room').hidden = true;
  $('#login').hidden = false;
  setStatus('offline');
});

// ---- drawing ----------------------------------------------------------------

function nick(userID) {
  return state.members.get(userID)?.nickname ?? userID;
}

function mySeat() {
  return state.seats.find((s) => s.user_id === state.me?.user_id);
}

function freeSeat(id) {
  Object.assign(state.seats[id - 1], { status: 0, microphone: 0, user_id: '' });
}

function render() {
  const seats = $('#seats');
  seats.replaceChildren(...state.seats.map((s) => {
    const li = document.createElement('li');
    li.className = 'seat' + (s.status ? ' taken' : ' free') + (s.user_id === state.me.user_id ? ' mine' : '');
    li.dataset.seat = s.id;
    li.dataset.user = s.user_id;
    const m = state.members.get(s.user_id);
    const face = document.createElement(s.status ? 'img' : 'span');
    face.className = 'face';
    if (s.status && m) {
      face.src = m.avatar_small_url;
      face.alt = '';
    } else if (!s.status) {
      face.textContent = '+';
    }
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = s.status ? (m?.nickname ?? s.user_id) : `seat ${s.id}`;
    const mic = document.createElement('span');
    mic.className = 'mic';
    mic.textContent = s.status ? (s.microphone ? '🎤' : '🔇') : '';
    li.title = s.status ? '' : 'Take this seat';
    li.append(face, name, mic);
    return li;
  }));

  const mine = mySeat();
  $('#my-seat').hidden = !mine;
  if (mine) $('#mic-toggle').textContent = mine.microphone ? 'Mute' : 'Unmute';

  const members = [...state.members.values()].sort((a, b) => a.nickname.localeCompare(b.nickname));
  $('#member-count').textContent = `(${members.length})`;
  $('#members').replaceChildren(...members.map((m) => {
    const li = document.createElement('li');
    li.dataset.user = m.user_id;
    const img = document.createElement('img');
    img.src = m.avatar_small_url;
    img.alt = '';
    const name = document.createElement('span');
    name.textContent = m.nickname + (m.user_id === state.me.user_id ? ' (you)' : '');
    li.append(img, name);
    if (m.user_id !== state.me.user_id) {
      const call = document.createElement('button');
      call.type = 'button';
      call.dataset.call = m.user_id;
      call.title = `Call ${m.nickname}`;
      call.textContent = '📞';
      li.append(call);
    }
    return li;
  }));

  const to = $('#gift-to');
  const keep = to.value;
  to.replaceChildren(...members.filter((m) => m.user_id !== state.me.user_id).map((m) => {
    const o = document.createElement('option');
    o.value = m.user_id;
    o.textContent = m.nickname;
    return o;
  }));
  if ([...to.options].some((o) => o.value === keep)) to.value = keep;
  $('#gift-send').disabled = to.options.length === 0;
}

function addLine(list, parts, cls) {
  const li = document.createElement('li');
  if (cls) li.className = cls;
  for (const [text, c] of parts) {
    if (!text) continue;
    const span = document.createElement('span');
    if (c) span.className = c;
    span.textContent = text;
    li.append(span);
  }
  const ul = $(list);
  ul.prepend(li);
  while (ul.children.length > 100) ul.lastChild.remove();
}

function logEvent(text, cls) {
  addLine('#event-log', [[new Date().toLocaleTimeString() + ' ', 'time'], [text, 'text']], cls);
}

function showCall(text) {
  $('#call-text').textContent = text;
  $('#call').hidden = false;
}

function endCallUI(text) {
  state.call = null;
  $('#call').hidden = true;
  logEvent(text);
}

function flashGift(icon) {
  const el = document.createElement('div');
  el.className = 'gift-flash';
  el.textContent = icon;
  document.body.append(el);
  setTimeout(() => el.remove(), 1500);
}
