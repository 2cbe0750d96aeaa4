// The roomcast demo: a small chat on the client SDK (served at /roomcast.js). Plain JS, no framework.
import { createClient } from '/roomcast.js';

const $ = (id) => document.getElementById(id);
const STORE = 'roomcast-demo';
const LOBBY = 'chat:lobby';

/** name -> { handle, items: Map(key -> item), members: Map(sub -> member), unread, missed, firstMissed } */
const rooms = new Map();
let client = null;
let current = LOBBY;
const me = { name: '', sub: '' };

// ---- session: name, rooms and their positions survive a reload, so the page can resume ----

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE) ?? 'null');
  } catch {
    return null;
  }
}

function persist() {
  const positions = {};
  for (const [name, r] of rooms) positions[name] = r.handle.position;
  sessionStorage.setItem(STORE, JSON.stringify({ name: me.name, current, rooms: positions }));
}

async function fetchToken(name) {
  const res = await fetch('/demo/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  const body = await res.json();
  if (!body.ok) throw new Error(body.error.message);
  me.sub = body.sub;
  return body.token;
}

// ---- the SDK ----

function start(name, token, saved) {
  me.name = name;
  $('me').textContent = name;
  $('login').hidden = true;
  $('app').hidden = false;
  client = createClient({ token, getToken: () => fetchToken(name) });
  client.on('state', renderState);
  client.on('error', (e) => toast(`${e.code}: ${e.message}`));
  renderState(client.state);
  const names = Object.keys(saved?.rooms ?? {});
  for (const room of names.length ? names : [LOBBY]) join(room, saved?.rooms?.[room] ?? undefined);
  select(rooms.has(saved?.current) ? saved.current : [...rooms.keys()][0]);
  $('text').focus();
}

function join(name, since) {
  const handle = client.join(name, since ? { since } : {});
  const r = { handle, items: new Map(), members: new Map(), unread: 0, missed: 0, firstMissed: null };
  rooms.set(name, r);
  handle.on('*', (data, meta) => {
    if (meta.replayed) {
      r.missed++;
      r.firstMissed ??= meta.offset;
    }
    r.items.set(meta.offset, { kind: 'msg', data, meta, missed: meta.replayed });
    if (name !== current) r.unread++;
    persist();
    render(name);
  });
  handle.onJoined((e) => {
    if (e.first) void loadEarlier(r, since ? since.offset : e.offset);
    if (r.missed > 0) {
      const what = `${r.missed} missed message${r.missed === 1 ? '' : 's'} recovered`;
      notice(r, r.firstMissed - 0.5, e.first ? `Welcome back: ${what}` : `Reconnected: ${what}`);
    }
    r.missed = 0;
    r.firstMissed = null;
    void refreshPresence(r);
    persist();
    render(name);
  });
  handle.onPresence((c) => {
    if (c.action === 'join') r.members.set(c.member.sub, { ...c.member, connections: 1 });
    else r.members.delete(c.member.sub);
    render(name);
  });
  handle.onUnrecovered((e) => {
    notice(
      r,
      e.to.offset + 0.5,
      'Some messages could not be recovered: showing what history still has',
      true,
    );
    void loadEarlier(r, e.to.offset);
  });
  void handle.joined.then((res) => {
    if (res.ok) return;
    toast(`Cannot join ${name}: ${res.error.code}`);
    rooms.delete(name);
    if (current === name) select([...rooms.keys()][0] ?? LOBBY);
    persist();
    renderRooms();
  });
  return r;
}

/** The room's recent history up to `upTo`, shown above what came live (greyed). */
async function loadEarlier(r, upTo) {
  const res = await r.handle.history({ limit: 30 });
  if (!res.ok) return;
  for (const m of res.messages) {
    if (m.offset <= upTo && !r.items.has(m.offset)) {
      const { data, ...meta } = m;
      r.items.set(m.offset, { kind: 'msg', data, meta, earlier: true });
    }
  }
  render(r.handle.name);
}

async function refreshPresence(r) {
  const res = await r.handle.presence();
  if (!res.ok) return;
  r.members = new Map(res.members.map((m) => [m.sub, m]));
  render(r.handle.name);
}

function notice(r, key, text, bad = false) {
  r.items.set(key, { kind: 'notice', text, bad });
}

// ---- rendering (textContent only: messages are other people's input) ----

function select(name) {
  if (!name) return;
  current = name;
  const r = rooms.get(name);
  if (r) r.unread = 0;
  $('room-title').textContent = name;
  $('curl').textContent = curlFor(name);
  persist();
  render(name);
}

function render(name) {
  renderRooms();
  if (name !== current) return;
  const r = rooms.get(name);
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.replaceChildren();
  const items = r ? [...r.items.entries()].sort((a, b) => a[0] - b[0]).map(([, item]) => item) : [];
  if (items.length === 0) list.append(el('li', 'empty', 'No messages yet. Say hello!'));
  for (const item of items)
    list.append(
      item.kind === 'notice' ? el('li', `notice${item.bad ? ' bad' : ''}`, item.text) : messageEl(item),
    );
  if (atBottom) list.scrollTop = list.scrollHeight;
  const pos = r?.handle.position;
  $('position').textContent = pos ? `offset ${pos.offset} · epoch ${pos.epoch}` : '';
  renderMembers(r);
}

function messageEl({ data, meta, missed, earlier }) {
  const who = meta.from ? (meta.from.info?.name ?? meta.from.sub) : 'server';
  const li = el('li', 'msg');
  li.dataset.offset = String(meta.offset);
  if (meta.from && meta.from.sub === me.sub) li.classList.add('mine');
  if (missed) li.classList.add('missed');
  if (earlier) li.classList.add('earlier');
  li.append(avatar(who, meta.from ? meta.from.sub : ''));
  const body = el('div');
  const head = el('div');
  head.append(el('span', 'who', who));
  if (!meta.from) head.append(el('span', 'tag server', 'server'));
  if (missed) head.append(el('span', 'tag missed', 'missed'));
  head.append(el('span', 'meta', `#${meta.offset} · ${new Date(meta.ts).toLocaleTimeString()}`));
  const text = typeof data?.text === 'string' ? data.text : JSON.stringify(data);
  body.append(head, el('div', 'text', meta.event === 'msg' ? text : `${meta.event}: ${text}`));
  li.append(body);
  return li;
}

function renderRooms() {
  const ul = $('rooms');
  ul.replaceChildren();
  for (const [name, r] of rooms) {
    const li = el('li', name === current ? 'active' : '');
    li.dataset.room = name;
    li.append(el('span', '', name));
    const right = el('span');
    if (r.unread > 0) right.append(el('span', 'pill', String(r.unread)));
    if (rooms.size > 1) {
      const x = el('button', 'leave', '×');
      x.title = `Leave ${name}`;
      x.onclick = (ev) => {
        ev.stopPropagation();
        void leave(name);
      };
      right.append(x);
    }
    li.append(right);
    li.onclick = () => select(name);
    ul.append(li);
  }
}

function renderMembers(r) {
  const ul = $('members');
  ul.replaceChildren();
  const members = r ? [...r.members.values()] : [];
  $('count').textContent = String(members.length);
  for (const m of members.sort((a, b) => a.sub.localeCompare(b.sub))) {
    const name = m.info?.name ?? m.sub;
    const li = el('li');
    li.append(avatar(name, m.sub), el('span', '', name));
    if (m.sub === me.sub) li.append(el('small', '', '(you)'));
    ul.append(li);
  }
}

function renderState(state) {
  const badge = $('state');
  badge.hidden = false;
  badge.dataset.state = state;
  badge.querySelector('b').textContent = state;
  const button = $('toggle');
  button.hidden = false;
  button.disabled = state === 'connecting' || state === 'reconnecting';
  button.textContent = state === 'disconnected' ? 'Reconnect' : 'Drop connection';
}

function avatar(name, sub) {
  let hash = 0;
  for (const c of sub || 'server') hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  const a = el('span', 'avatar', (name[0] ?? '?').toUpperCase());
  a.style.background = sub ? `hsl(${hash % 360} 50% 45%)` : '#2b9a66';
  return a;
}

function el(tag, className = '', text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

let toastTimer;
function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    t.hidden = true;
  }, 4000);
}

function curlFor(room) {
  const data = JSON.stringify({ text: 'Hello' });
  return [
    'curl -X POST \\',
    `  ${location.origin}/v1/publish \\`,
    '  -H "Authorization: Bearer $API_KEY" \\',
    '  -H "Content-Type: application/json" \\',
    `  -d '{"room": "${room}",`,
    `       "event": "msg",`,
    `       "data": ${data}}'`,
  ].join('\n');
}

async function leave(name) {
  const r = rooms.get(name);
  if (!r) return;
  rooms.delete(name);
  const res = await r.handle.leave();
  if (!res.ok) toast(`leave ${name}: ${res.error.code}`);
  if (current === name) select([...rooms.keys()][0]);
  persist();
  renderRooms();
}

// ---- wiring ----

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = $('name').value.trim();
  $('login-error').textContent = '';
  try {
    start(name, await fetchToken(name), null);
    persist();
  } catch (err) {
    $('login-error').textContent = err.message;
  }
});

$('send-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('text');
  const text = input.value.trim();
  const r = rooms.get(current);
  if (!text || !r) return;
  input.value = '';
  const res = await r.handle.publish('msg', { text }, { echo: true });
  if (!res.ok) {
    toast(`Not sent (${res.error.code}): ${res.error.message}`);
    input.value = text;
  }
});

$('join-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $('join-room');
  let name = input.value.trim();
  if (!name) return;
  if (!name.includes(':')) name = `chat:${name}`;
  input.value = '';
  if (!rooms.has(name)) join(name);
  select(name);
});

$('toggle').addEventListener('click', () => {
  if (client.state === 'disconnected') client.connect();
  else client.disconnect();
});

const saved = load();
if (saved?.name) start(saved.name, undefined, saved);
else $('name').focus();
