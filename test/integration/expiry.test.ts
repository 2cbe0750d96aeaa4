import jwt from 'jsonwebtoken';
import { Manager } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  closeClients,
  collect,
  connect,
  connectError,
  nextEvent,
  type RunningBroker,
  request,
  SECRET,
  startBroker,
  type TestClient,
  testConfig,
  token,
  until,
} from '../helpers/broker.js';
import { closeRaw, rawConnect } from '../helpers/raw.js';

const LEAD_MS = 1500;
const OTHER = 'other-secret-0123456789abcdef01234';
// No clock tolerance here: a connection closes at `exp` (the tolerance has its own tests below).
const config = testConfig({
  tokenExpiryLeadMs: LEAD_MS,
  namespaces: {
    '/': { jwt: { clockToleranceSec: 0 } },
    '/other': { jwt: { secrets: [OTHER], clockToleranceSec: 0 } },
  },
});
let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker(config);
});
afterEach(() => {
  closeClients();
  closeRaw();
});
afterAll(() => b.close());

type Seen = { event: string; at: number; value: unknown };

/** Records token_expiring, closing and disconnect, in arrival order. */
function timeline(socket: TestClient): Seen[] {
  const seen: Seen[] = [];
  const on = socket.on.bind(socket) as (e: string, fn: (v: unknown) => void) => void;
  for (const event of ['token_expiring', 'closing', 'disconnect']) {
    on(event, (value) => seen.push({ event, at: Date.now(), value }));
  }
  return seen;
}

const expOf = (tok: string) =>
  JSON.parse(Buffer.from(tok.split('.')[1]!, 'base64url').toString()).exp as number;

describe('token expiry', () => {
  it.each(['websocket', 'polling'])(
    'warns, then closes with token_expired at expiry (%s)',
    async (transport) => {
      const tok = token('alice', undefined, { ttlSec: 3 });
      const expiresAt = expOf(tok) * 1000;
      let seen: Seen[] = [];
      await connect(b.url, tok, { transports: [transport], before: (s) => (seen = timeline(s)) });
      await until(() => seen.some((e) => e.event === 'disconnect'), 10_000, 'disconnect');
      expect(seen.map((s) => s.event)).toEqual(['token_expiring', 'closing', 'disconnect']);
      expect(seen[0]!.value).toEqual({ expiresAt });
      expect(seen[1]!.value).toEqual({ code: 'token_expired', message: expect.any(String) });
      // Warned before expiry, closed at expiry and not before it.
      expect(seen[0]!.at).toBeLessThan(expiresAt);
      expect(seen[1]!.at).toBeGreaterThanOrEqual(expiresAt - 50);
    },
  );

  it('warns at once when the token has less left than the lead time', async () => {
    // `exp` is in whole seconds: minted late in a second, a one-second token has almost nothing
    // left, and expires before the connection is up. Early in one, it has 0.7-1 s (the lead is 1.5).
    await until(() => Date.now() % 1000 < 300, 2000, 'the start of a second');
    const tok = token('alice', undefined, { ttlSec: 1 });
    let warning!: Promise<{ expiresAt: number }>;
    const c = await connect(b.url, tok, { before: (s) => (warning = nextEvent(s, 'token_expiring', 3000)) });
    const warned = await warning;
    expect(warned.expiresAt).toBe(expOf(tok) * 1000);
    expect(await nextEvent(c, 'closing', 5000)).toMatchObject({ code: 'token_expired' });
  });

  it('a refresh moves the expiry: the next warning names the new time and the old one passes', async () => {
    const first = token('alice', undefined, { ttlSec: 2 });
    let warning!: Promise<unknown>;
    const c = await connect(b.url, first, {
      before: (s) => (warning = nextEvent(s, 'token_expiring', 3000)),
    });
    await warning;
    const closings: unknown[] = [];
    c.on('closing', (v) => closings.push(v));
    const second = token('alice', undefined, { ttlSec: 5 });
    const newExpiry = expOf(second) * 1000;
    expect(await request(c, 'refresh', { token: second })).toEqual({
      ok: true,
      expiresAt: newExpiry,
    });
    const warned = await nextEvent<{ expiresAt: number }>(c, 'token_expiring', 8000);
    expect(warned.expiresAt).toBe(newExpiry);
    expect(Date.now()).toBeGreaterThan(expOf(first) * 1000);
    expect(c.connected).toBe(true);
    expect(closings).toEqual([]);
    expect(await request(c, 'join', { room: 'still:here' })).toMatchObject({ ok: true });
    expect(await nextEvent(c, 'closing', 5000)).toMatchObject({ code: 'token_expired' });
  });

  it('a refresh with fewer rights leaves the rooms it no longer allows and stops presence it hides', async () => {
    const all = { subscribe: ['*'], publish: ['*'], presence: ['*'] };
    const c = await connect(b.url, token('narrow', all));
    const watcher = await connect(b.url, token('watcher2', all));
    const seen: Array<[string, unknown]> = [];
    c.on('message', (m) => seen.push(['message', m.room]));
    c.on('presence', (p) => seen.push(['presence', p.room]));
    for (const room of ['keep:1', 'drop:1']) {
      expect(await request(c, 'join', { room })).toMatchObject({ ok: true });
      expect(await request(watcher, 'join', { room })).toMatchObject({ ok: true });
    }
    // c sees watcher join both rooms (events that may land after watcher's acks): wait for them.
    await until(() => seen.length === 2, 5000, "watcher's joins seen by c");
    expect(seen).toEqual([
      ['presence', 'keep:1'],
      ['presence', 'drop:1'],
    ]);
    seen.length = 0;
    const leaveSeen = nextEvent<{ room: string; action: string; member: { sub: string } }>(
      watcher,
      'presence',
    );
    const narrower = token('narrow', { subscribe: ['keep:*'], publish: [], presence: [] });
    expect(await request(c, 'refresh', { token: narrower })).toEqual({
      ok: true,
      expiresAt: expOf(narrower) * 1000,
      left: ['drop:1'],
    });
    expect(await leaveSeen).toMatchObject({ room: 'drop:1', action: 'leave', member: { sub: 'narrow' } });
    // Neither the dropped room's messages nor presence of the kept room reach it any more: both
    // are sent before a message it must get, on one node in order.
    await request(watcher, 'publish', { room: 'drop:1', event: 'x', data: 1 });
    const third = await connect(b.url, token('third', all));
    await request(third, 'join', { room: 'keep:1' });
    const got = nextEvent(c, 'message');
    await request(watcher, 'publish', { room: 'keep:1', event: 'x', data: 2 });
    await got;
    expect(seen).toEqual([['message', 'keep:1']]);
    // Its rights are the new ones: publish is gone, and so is history of the dropped room.
    expect(await request(c, 'publish', { room: 'keep:1', event: 'x', data: 3 })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await request(c, 'history', { room: 'drop:1' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await request(c, 'leave', { room: 'drop:1' })).toMatchObject({
      ok: false,
      error: { code: 'not_joined' },
    });
  });

  it('two refreshes in flight end with the rights and the expiry of the same (last) token', async () => {
    const c = await connect(b.url, token('racer', undefined, { ttlSec: 3600 }));
    expect(await request(c, 'join', { room: 'a:1' })).toMatchObject({ ok: true });
    // The first drops a:1 (its refresh awaits the leave); the second arrives in the same read.
    const narrowLong = token(
      'racer',
      { subscribe: ['b:*'], publish: [], presence: [] },
      { ttlSec: 30 * 86_400 },
    );
    const broadShort = token('racer', undefined, { ttlSec: 3 });
    const warned = nextEvent<{ expiresAt: number }>(c, 'token_expiring', 5000);
    const [first, second] = await Promise.all([
      request(c, 'refresh', { token: narrowLong }),
      request(c, 'refresh', { token: broadShort }),
    ]);
    expect(first).toMatchObject({ ok: true, left: ['a:1'] });
    expect(second).toEqual({ ok: true, expiresAt: expOf(broadShort) * 1000 });
    // In force: the broad rights and the short expiry, both of the second token.
    expect(await request(c, 'publish', { room: 'z:1', event: 'e', data: 1 })).toMatchObject({ ok: true });
    expect((await warned).expiresAt).toBe(expOf(broadShort) * 1000);
  });

  it('leaves the rooms of an expired connection (presence and membership)', async () => {
    const watcher = await connect(b.url, token('watcher'));
    await request(watcher, 'join', { room: 'exp:1' });
    // Collected from the start: shorty's join event may reach watcher after shorty's own join ack.
    const seen = collect<{ action: string; member: { sub: string } }>(watcher, 'presence');
    const short = await connect(b.url, token('shorty', undefined, { ttlSec: 2 }));
    await request(short, 'join', { room: 'exp:1' });
    await nextEvent(short, 'disconnect', 8000);
    await until(() => seen.length === 2, 5000, "shorty's join and leave");
    expect(seen.map((e) => [e.action, e.member.sub])).toEqual([
      ['join', 'shorty'],
      ['leave', 'shorty'],
    ]);
    const reply = await request<{ members: Array<{ sub: string }> }>(watcher, 'presence', { room: 'exp:1' });
    expect(reply.members?.map((m) => m.sub)).toEqual(['watcher']);
  });

  it('closes only the expired namespace of a multiplexed connection', async () => {
    const manager = new Manager(b.url, { transports: ['websocket'], reconnection: false });
    const short = manager.socket('/', { auth: { token: token('alice', undefined, { ttlSec: 2 }) } });
    const long = manager.socket('/other', {
      auth: { token: token('alice', undefined, { config, ns: '/other' }) },
    });
    short.connect();
    long.connect();
    try {
      await Promise.all([
        nextEvent(short as TestClient, 'connect'),
        nextEvent(long as TestClient, 'connect'),
      ]);
      const otherClosing: unknown[] = [];
      long.on('closing', (v: unknown) => otherClosing.push(v));
      const gone = nextEvent(short as TestClient, 'disconnect', 8000);
      expect(await nextEvent(short as TestClient, 'closing', 8000)).toMatchObject({ code: 'token_expired' });
      await gone;
      const reply = await (long as TestClient).timeout(5000).emitWithAck('join', { room: 'other:1' });
      expect(reply).toMatchObject({ ok: true });
      expect(long.connected).toBe(true);
      expect(otherClosing).toEqual([]);
    } finally {
      manager._close();
    }
  });

  it('closes the underlying connection of a client that does not close it itself', async () => {
    // 2 s: `exp` counts whole seconds, so a 1 s token can expire before a slow handshake ends.
    const raw = await rawConnect(b.url, { token: token('raw', undefined, { ttlSec: 2 }) });
    await raw.next((f) => f.startsWith('42["closing",{"code":"token_expired"'), 5000);
    await raw.next((f) => f === '41', 5000);
    await raw.closed;
  });
});

describe('token expiry with a clock tolerance', () => {
  const TOLERANCE = 3;
  let t: RunningBroker;
  beforeAll(async () => {
    t = await startBroker(
      testConfig({
        tokenExpiryLeadMs: LEAD_MS,
        namespaces: { '/': { jwt: { clockToleranceSec: TOLERANCE } } },
      }),
    );
  });
  afterAll(() => t.close());

  it('keeps a token accepted within the tolerance until exp + tolerance, warning first', async () => {
    const now = Math.floor(Date.now() / 1000);
    const tok = jwt.sign({ sub: 'late', rooms: { subscribe: ['*'] }, exp: now - 1 }, SECRET);
    let seen: Seen[] = [];
    const socket = await connect(t.url, tok, { before: (s) => (seen = timeline(s)) });
    // Closed at once before: the join below got no answer.
    expect(await request(socket, 'join', { room: 'tolerance:1' })).toMatchObject({ ok: true });
    expect(await request(socket, 'history', { room: 'tolerance:1' })).toMatchObject({ ok: true });
    expect(socket.connected).toBe(true);
    await until(() => seen.some((e) => e.event === 'disconnect'), 10_000, 'disconnect');
    expect(seen.map((s) => s.event)).toEqual(['token_expiring', 'closing', 'disconnect']);
    expect(seen[0]!.value).toEqual({ expiresAt: (now - 1) * 1000 });
    expect(seen[1]!.value).toMatchObject({ code: 'token_expired' });
  });

  it('refuses a token past exp + tolerance, on a socket and over SSE', async () => {
    const now = Math.floor(Date.now() / 1000);
    const tok = jwt.sign({ sub: 'later', rooms: { subscribe: ['*'] }, exp: now - TOLERANCE - 2 }, SECRET);
    expect((await connectError(t.url, tok)).message).toBe('token_expired');
    const res = await fetch(`${t.url}/v1/events?room=r&token=${tok}`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ ok: false, error: { code: 'token_expired' } });
  });
});
