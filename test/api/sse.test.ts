import { Agent, get as httpGet, request as httpRequest } from 'node:http';
import jwt from 'jsonwebtoken';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import {
  closeClients,
  connect,
  type RunningBroker,
  request,
  SECRET,
  startBroker,
  testConfig,
  token,
  until,
} from '../helpers/broker.js';
import { api, closeStreams, isRefusal, openSse, type SseEvent, type SseStreamClient } from './http.js';

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker(
    testConfig({ sse: { heartbeatMs: 100, maxStreamsPerUser: 2, maxRoomsPerStream: 3 } }),
  );
});
afterEach(() => {
  closeClients();
  closeStreams();
});
afterAll(() => b.close());

const reader = token('reader', { subscribe: ['feed:*'] });

async function stream(query: string, headers: Record<string, string> = {}): Promise<SseStreamClient> {
  const s = await openSse(`${b.url}/v1/events?${query}`, headers);
  if (isRefusal(s)) throw new Error(`refused: ${JSON.stringify(s.body)}`);
  // The stream opens with every room's position as an id-only block (joined by then).
  await until(() => s.lastEventId !== '', 3000, 'the first id');
  return s;
}

const publish = (room: string, data: unknown, event = 'note') =>
  api(b.url, 'POST', '/v1/publish', { room, event, data });
const isData = (data: unknown) => (e: SseEvent) =>
  e.event === 'note' && (JSON.parse(e.data) as Envelope).data === data;

describe('GET /v1/events', () => {
  it('streams each message as an event named after it, with the envelope as data', async () => {
    const s = await stream('room=feed:a&room=feed:b', { authorization: `Bearer ${reader}` });
    expect(s.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(s.lastEventId).toMatch(/^feed:a;[^;,]+;0,feed:b;[^;,]+;0$/);
    expect(s.events).toEqual([]);
    await publish('feed:a', 1);
    const socket = await connect(b.url, token('writer'));
    await request(socket, 'publish', { room: 'feed:b', event: 'note', data: 2 });
    const second = await s.next(isData(2));
    const first = s.events.find(isData(1))!;
    expect(JSON.parse(first.data)).toMatchObject({ room: 'feed:a', offset: 1, from: null, event: 'note' });
    expect(JSON.parse(second.data)).toMatchObject({ room: 'feed:b', from: { sub: 'writer' } });
    expect(second.id).toMatch(/^feed:a;[^;,]+;1,feed:b;[^;,]+;1$/);
    await publish('feed:other', 3);
    await publish('feed:a', 4);
    await s.next(isData(4));
    expect(s.events.some(isData(3))).toBe(false);
  });

  it('resumes every room with Last-Event-ID, without loss or duplicates', async () => {
    const auth = { authorization: `Bearer ${reader}` };
    const first = await stream('room=feed:r1&room=feed:r2', auth);
    const quietId = first.lastEventId;
    await publish('feed:r1', 'a1');
    await publish('feed:r2', 'b1');
    const seen = await first.next(isData('b1'));
    first.close();
    await first.ended;
    for (const data of ['a2', 'b2', 'a3']) await publish(`feed:r${data[0] === 'a' ? 1 : 2}`, data);
    const again = await stream('room=feed:r1&room=feed:r2', { ...auth, 'last-event-id': seen.id! });
    await again.next(isData('a3'));
    await publish('feed:r2', 'b3');
    await again.next(isData('b3'));
    const notes = again.events
      .filter((e) => e.event === 'note')
      .map((e) => (JSON.parse(e.data) as Envelope).data);
    // Each room in order; across rooms the replay interleaves by publish time (ms, so ties happen).
    expect(notes.filter((d) => String(d).startsWith('a'))).toEqual(['a2', 'a3']);
    expect(notes.filter((d) => String(d).startsWith('b'))).toEqual(['b2', 'b3']);
    expect(notes).toHaveLength(4);
    // The opening id alone (nothing received yet) also resumes from the start.
    const fromReady = await stream(
      `room=feed:r1&room=feed:r2&lastEventId=${encodeURIComponent(quietId)}`,
      auth,
    );
    await fromReady.next(isData('b3'));
    expect(fromReady.events.filter((e) => e.event === 'note')).toHaveLength(6);
    expect(fromReady.events.some((e) => e.event === 'roomcast:gap')).toBe(false);
  });

  it('resumes a replay of more megabytes than a stream may buffer, paced by the reader, whole and in order', async () => {
    // 100 messages of 60 KB (6 MB) missed: written at once they passed the 4 MiB bound and the
    // stream ended before the reader had any, and again on every retry.
    let epoch = '';
    for (let i = 0; i < 100; i++) {
      const res = await api<{ results: Array<{ epoch: string }> }>(b.url, 'POST', '/v1/publish', {
        room: 'feed:bulk',
        event: 'bulk',
        data: { i, text: 'x'.repeat(60_000) },
      });
      expect(res.status).toBe(200);
      epoch = res.body.results![0]!.epoch;
    }
    const s = await stream(`room=feed:bulk&token=${reader}`, { 'last-event-id': `feed:bulk;${epoch};0` });
    await until(() => s.events.filter((e) => e.event === 'bulk').length === 100, 20_000, 'the whole replay');
    const replayed = s.events
      .filter((e) => e.event === 'bulk')
      .map((e) => (JSON.parse(e.data) as Envelope).offset);
    expect(replayed).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    await publish('feed:bulk', 'live');
    await s.next(isData('live'));
  }, 30_000);

  it('tells which rooms could not be resumed with a roomcast:gap event', async () => {
    await publish('feed:g1', 'x');
    const stale = 'feed:g1;gone-epoch;5,feed:g2;gone-epoch;0';
    const s = await stream(`room=feed:g1&room=feed:g2&token=${reader}`, { 'last-event-id': stale });
    const gap = await s.next((e) => e.event === 'roomcast:gap');
    const rooms = (JSON.parse(gap.data) as { rooms: Array<{ room: string; offset: number }> }).rooms;
    expect(rooms.map((r) => [r.room, r.offset])).toEqual([
      ['feed:g1', 1],
      ['feed:g2', 0],
    ]);
    await publish('feed:g1', 'y');
    await s.next(isData('y'));
    expect(s.events.filter((e) => e.event === 'note')).toHaveLength(1);
  });

  it('accepts the token as ?token= and sends heartbeat comments', async () => {
    const s = await stream(`room=feed:hb&token=${reader}`);
    await until(() => s.comments >= 2, 3000, 'two heartbeats');
  });

  it('reads empty query parameters as absent (namespace=, lastEventId=)', async () => {
    const s = await stream(`namespace=&room=feed:blank&lastEventId=&token=${reader}`);
    expect(s.lastEventId).toMatch(/^feed:blank;[^;,]+;0$/);
    await publish('feed:blank', 'b');
    await s.next(isData('b'));
  });

  it.each([
    ['no token', 'room=feed:x', 401, 'token_missing'],
    ['a bad token', 'room=feed:x&token=abc', 401, 'token_invalid'],
    ['a room without the subscribe right', `room=feed:x&room=secret&token=${reader}`, 403, 'forbidden'],
    ['no room', `token=${reader}`, 400, 'bad_request'],
    ['an invalid room', `room=bad%20room&token=${reader}`, 400, 'invalid_room'],
    ['a room name too long', `room=${'r'.repeat(1001)}&token=${reader}`, 400, 'invalid_room'],
    [
      'too many rooms',
      `room=feed:1&room=feed:2&room=feed:3&room=feed:4&token=${reader}`,
      400,
      'too_many_rooms',
    ],
    ['an unknown namespace', `namespace=/nope&room=feed:x&token=${reader}`, 404, 'not_found'],
  ])('refuses %s before the stream starts', async (_what, query, status, code) => {
    const res = await openSse(`${b.url}/v1/events?${query}`);
    expect(isRefusal(res)).toBe(true);
    expect(res).toMatchObject({ status, body: { ok: false, error: { code } } });
  });

  it('opens no stream for HEAD: no member in presence, and the connection answers its next request', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    // The status of one request on the agent's one connection, its body read to the end.
    const statusOf = (path: string, method: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${b.url}${path}`, { method, agent, timeout: 5000 }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('timeout', () => req.destroy(new Error(`${method} ${path} got no reply`)));
        req.on('error', reject);
        req.end();
      });
    try {
      expect(await statusOf(`/v1/events?room=feed:head&token=${reader}`, 'HEAD')).toBe(404);
      const members = await api(b.url, 'GET', '/v1/rooms/feed%3Ahead/presence');
      expect(members.body).toMatchObject({ ok: true, members: [] });
      expect(await statusOf('/healthz', 'GET')).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  it('refuses an expired token and ends a stream when its token expires', async () => {
    const stale = jwt.sign({ sub: 'reader', exp: Math.floor(Date.now() / 1000) - 60 }, SECRET);
    const expired = await openSse(`${b.url}/v1/events?room=feed:x&token=${stale}`);
    expect(expired).toMatchObject({ status: 401, body: { error: { code: 'token_expired' } } });
    const short = token('reader', { subscribe: ['feed:*'] }, { ttlSec: 2 });
    const s = await stream(`room=feed:exp&token=${short}`);
    // At exp plus the clock tolerance (5 s by default), the bound within which it was accepted.
    const closing = await s.next((e) => e.event === 'roomcast:closing', 12_000);
    expect(JSON.parse(closing.data)).toMatchObject({ code: 'token_expired' });
    await s.ended;
  });

  it('limits streams per user (429) and frees the slot when a stream ends', async () => {
    const q = `room=feed:lim&token=${token('limited', { subscribe: ['feed:*'] })}`;
    const one = await stream(q);
    await stream(q);
    const third = await openSse(`${b.url}/v1/events?${q}`);
    expect(third).toMatchObject({ status: 429, body: { error: { code: 'rate_limited' } } });
    one.close();
    await one.ended;
    await until(async () => !isRefusal(await openSse(`${b.url}/v1/events?${q}`)), 3000, 'a free slot');
  });

  it('counts SSE streams as presence members and closes them on POST /v1/disconnect', async () => {
    const s = await stream(`room=feed:pres&token=${token('viewer', { subscribe: ['feed:*'] })}`);
    const presence = await api<{ members: Array<{ sub: string }> }>(
      b.url,
      'GET',
      '/v1/rooms/feed:pres/presence',
    );
    expect(presence.body.members?.map((m) => m.sub)).toEqual(['viewer']);
    const res = await api(b.url, 'POST', '/v1/disconnect', { sub: 'viewer' });
    expect(res.body).toEqual({ ok: true, disconnected: 1 });
    const closing = await s.next((e) => e.event === 'roomcast:closing');
    expect(JSON.parse(closing.data)).toMatchObject({ code: 'disconnected' });
    await s.ended;
    await until(
      async () =>
        (await api<{ members: unknown[] }>(b.url, 'GET', '/v1/rooms/feed:pres/presence')).body.members
          ?.length === 0,
      3000,
      'the stream to leave presence',
    );
  });

  it('cuts off a reader that stops reading, so it resumes from history instead of filling memory', async () => {
    const q = `room=feed:slow&token=${token('sloth', { subscribe: ['feed:*'] })}`;
    const req = httpGet(`${b.url}/v1/events?${q}`, (res) => res.pause());
    req.on('error', () => undefined);
    try {
      const members = async () =>
        (await api<{ members: unknown[] }>(b.url, 'GET', '/v1/rooms/feed:slow/presence')).body.members
          ?.length;
      await until(async () => (await members()) === 1, 3000, 'the stream to join');
      const data = 'x'.repeat(60_000);
      for (let round = 0; round < 20 && (await members()) === 1; round++) {
        await Promise.all(Array.from({ length: 10 }, () => publish('feed:slow', data)));
      }
      await until(async () => (await members()) === 0, 5000, 'the slow stream to be cut off');
    } finally {
      req.destroy();
    }
  });

  it('ends streams with closing shutting_down when the broker stops', async () => {
    const own = await startBroker();
    const s = await openSse(`${own.url}/v1/events?room=feed:bye&token=${reader}`);
    if (isRefusal(s)) throw new Error('refused');
    await until(() => s.lastEventId !== '', 3000, 'the first id');
    const closed = own.close();
    const closing = await s.next((e) => e.event === 'roomcast:closing');
    expect(JSON.parse(closing.data)).toMatchObject({ code: 'shutting_down' });
    await Promise.all([s.ended, closed]);
  });
});

// A join answers at most `limits.historyLimit` messages; a stream pages through history for the
// rest, as the socket SDK does, so nothing history still holds is lost to it.
describe('GET /v1/events resuming more than limits.historyLimit messages', () => {
  let small: RunningBroker;
  beforeAll(async () => {
    small = await startBroker(
      testConfig({
        namespaces: {
          '/': { limits: { historyLimit: 10 }, history: [{ pattern: '*', size: 40, ttlMs: 0 }] },
        },
      }),
    );
  });
  afterAll(() => small.close());

  /** Publishes `count` messages to `room` (data 1..count) and returns their epoch. */
  async function fill(room: string, count: number): Promise<string> {
    const res = await api<{ ok: boolean; results: Array<{ epoch: string }> }>(
      small.url,
      'POST',
      '/v1/batch',
      {
        messages: Array.from({ length: count }, (_, i) => ({ room, event: 'note', data: i + 1 })),
      },
    );
    expect(res.status).toBe(200);
    return res.body.results![0]!.epoch;
  }

  async function resume(room: string, lastEventId: string): Promise<SseStreamClient> {
    const s = await openSse(`${small.url}/v1/events?room=${room}&token=${reader}`, {
      'last-event-id': lastEventId,
    });
    if (isRefusal(s)) throw new Error(`refused: ${JSON.stringify(s.body)}`);
    return s;
  }

  const offsets = (s: SseStreamClient) =>
    s.events.filter((e) => e.event === 'note').map((e) => (JSON.parse(e.data) as Envelope).offset);

  it('replays all 30 missed messages, not the last 10 and a gap', async () => {
    const epoch = await fill('feed:deep', 31);
    const s = await resume('feed:deep', `feed:deep;${epoch};1`);
    await until(() => offsets(s).length === 30, 5000, 'the replay');
    expect(offsets(s)).toEqual(Array.from({ length: 30 }, (_, i) => i + 2));
    await api(small.url, 'POST', '/v1/publish', { room: 'feed:deep', event: 'note', data: 'live' });
    await s.next(isData('live'));
    expect(s.events.some((e) => e.event === 'roomcast:gap')).toBe(false);
  });

  it('starts at the oldest message history holds when it no longer reaches back, after a roomcast:gap', async () => {
    // 50 published, history keeps the last 40 (11..50): 2..10 are gone.
    const epoch = await fill('feed:trimmed', 50);
    const s = await resume('feed:trimmed', `feed:trimmed;${epoch};1`);
    await until(() => offsets(s).length === 40, 5000, 'the replay');
    expect(offsets(s)).toEqual(Array.from({ length: 40 }, (_, i) => i + 11));
    const gap = s.events.find((e) => e.event === 'roomcast:gap');
    // What follows continues from 10: the next event is 11.
    expect(JSON.parse(gap!.data)).toEqual({ rooms: [{ room: 'feed:trimmed', offset: 10, epoch }] });
    expect(s.events.indexOf(gap!)).toBeLessThan(s.events.findIndex((e) => e.event === 'note'));
  });
});
